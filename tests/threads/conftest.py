"""Fixtures of the threads tests: examples/functionfuse-threads, built and installed.

The example is built as a wheel and installed with uv into a folder of its own (the
workspace's environment is left alone); tests run fresh interpreters with that folder
on ``PYTHONPATH`` (``threads_env``), where the backend is found by its entry-point name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "functionfuse-threads"

RunChecked = Callable[[list[str], Path, dict[str, str]], str]


def _uv() -> list[str]:
    """The uv that runs this suite (``uv run`` sets ``UV``), else the one on PATH."""
    found = os.environ.get("UV") or shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def _run_checked(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


@pytest.fixture(scope="session")
def run_checked() -> RunChecked:
    """Run a command; fail the test with its output if it fails; its stdout."""
    return _run_checked


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding functionfuse-threads installed from a freshly built wheel."""
    work = tmp_path_factory.mktemp("threads")
    dist, target = work / "dist", work / "site"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    # `uv build` always builds from the sources (`uv pip install <folder>` may reuse a
    # cached wheel of the same version).
    _run_checked(
        [*_uv(), "build", "--no-config", "--wheel", "-o", str(dist), str(EXAMPLE)], work, env
    )
    wheels = list(dist.glob("functionfuse_threads-*.whl"))
    assert len(wheels) == 1, wheels
    _run_checked(
        [
            *_uv(),
            "pip",
            "install",
            "--no-config",
            "--no-deps",
            "--no-cache",
            "--target",
            str(target),
            str(wheels[0]),
        ],
        work,
        env,
    )
    assert (target / "functionfuse_threads" / "py.typed").is_file()
    return target


@pytest.fixture
def threads_env(site: Path) -> dict[str, str]:
    """This process's environment with the installed example first on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "FUNCTIONFUSE_DISABLE_PLUGIN_AUTOLOAD"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return env
