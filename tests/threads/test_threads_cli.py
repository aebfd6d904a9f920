"""The installed threads backend picked by name from a config file and from `fuse run`.

`fuse` is this environment's console script, run with the example's install folder on
``PYTHONPATH`` (see conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

RunChecked = Callable[[list[str], Path, dict[str, str]], str]
Fuse = Callable[..., subprocess.CompletedProcess[str]]

#: Two nodes that meet at a barrier: the run completes only if they run at the same time.
#: Every node that runs appends its name to the file $FLOW_LOG.
FLOW = """
import os
import threading

from functionfuse import workflow

barrier = threading.Barrier(2, timeout=float(os.environ.get("FLOW_TIMEOUT", "10")))


def log(name):
    with open(os.environ["FLOW_LOG"], "a") as file:
        file.write(name + "\\n")


@workflow
def meet(tag):
    log(tag)
    barrier.wait()
    return tag


@workflow
def join(a, b):
    log("join")
    return a + b


result = join(meet("a").set_name("a"), meet("b").set_name("b")).set_name("joined")
"""


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    path = tmp_path / "flow.py"
    path.write_text(FLOW)
    return path


def fuse_command() -> list[str]:
    script = Path(sys.executable).with_name("fuse")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "functionfuse_cli"]


@pytest.fixture
def fuse(threads_env: dict[str, str], tmp_path: Path) -> Fuse:
    """Run `fuse ARGS...` in ``tmp_path``; nodes of FLOW log to ``tmp_path/ran.log``."""

    def run(*args: str, timeout: str = "10") -> subprocess.CompletedProcess[str]:
        env = dict(threads_env, FLOW_LOG=str(tmp_path / "ran.log"), FLOW_TIMEOUT=timeout)
        return subprocess.run(
            [*fuse_command(), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def ran(cwd: Path) -> list[str]:
    log = cwd / "ran.log"
    names = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted(names)


def test_fuse_run_backend_threads_then_resume(fuse: Fuse, flow: Path, tmp_path: Path) -> None:
    done = fuse("run", "flow.py", "--backend", "threads", "--storage", "st")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "joined = 'ab'"
    assert "functionfuse: workflow 'flow' on threads, 3 nodes" in done.stderr
    assert "3 ran, 0 from storage, 0 failed, 0 not run" in done.stderr
    assert ran(tmp_path) == ["a", "b", "join"]

    done = fuse("run", "flow.py", "--backend", "threads", "--storage", "st")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "joined = 'ab'"
    assert "[3/3] 3 nodes from storage" in done.stderr
    assert ran(tmp_path) == []

    done = fuse("run", "flow.py", "--backend", "threads", "-q")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_fuse_run_one_thread_fails_the_barrier_with_exit_code_1(
    fuse: Fuse, flow: Path, tmp_path: Path
) -> None:
    done = fuse(
        "run",
        "flow.py",
        "--backend",
        "threads",
        "--set",
        "backend.options.max_workers=1",
        timeout="0.5",
    )
    assert done.returncode == 1, done.stderr
    assert "of workflow 'flow' failed with BrokenBarrierError" in done.stderr
    assert "0 ran, 0 from storage, 1 failed, 2 not run" in done.stderr


def write_config(folder: Path, options: str = "{max_workers = 2}") -> Path:
    config = folder / "fuse.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            workflow_name = "configured"

            [backend]
            name = "threads"
            options = {options}

            [storage]
            url = "{(folder / "st").as_posix()}"

            [[rules]]
            pattern = "joined"
            storage = false
            """
        )
    )
    return config


def test_fuse_run_with_a_config_file(fuse: Fuse, flow: Path, tmp_path: Path) -> None:
    write_config(tmp_path)
    done = fuse("run", "flow.py", "--config", "fuse.toml")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "joined = 'ab'"
    assert "workflow 'configured' on threads" in done.stderr
    assert ran(tmp_path) == ["a", "b", "join"]
    # `joined` is kept out of storage by the rule: it runs again, its parents do not.
    done = fuse("run", "flow.py", "--config", "fuse.toml")
    assert done.returncode == 0, done.stderr
    assert ran(tmp_path) == ["join"]


def test_a_wrong_backend_option_in_a_config_is_exit_code_2(
    fuse: Fuse, flow: Path, tmp_path: Path
) -> None:
    write_config(tmp_path, options="{max_threads = 2}")
    done = fuse("run", "flow.py", "--config", "fuse.toml")
    assert done.returncode == 2, done.stderr
    assert "max_threads" in done.stderr
    assert "max_workers" in done.stderr
    assert ran(tmp_path) == []


def test_from_config_in_python(
    threads_env: dict[str, str], run_checked: RunChecked, flow: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    code = f"""
import json, runpy
import functionfuse

flow = runpy.run_path({str(flow)!r})
wf = functionfuse.from_config({str(config)!r}, flow["result"])
print(json.dumps([type(wf).__name__, wf.backend_name, wf.max_workers, wf.workflow_name,
                  wf.run()]))
"""
    env = dict(threads_env, FLOW_LOG=str(tmp_path / "ran.log"))
    out = run_checked([sys.executable, "-c", code], tmp_path, env)
    assert json.loads(out.strip().splitlines()[-1]) == [
        "ThreadWorkflow",
        "threads",
        2,
        "configured",
        "ab",
    ]
    assert ran(tmp_path) == ["a", "b", "join"]


def test_fuse_plugins_lists_it(fuse: Fuse) -> None:
    done = fuse("plugins", "--check")
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if "functionfuse-threads" in line)
    assert line.split()[:3] == ["threads", "functionfuse-threads", "0.1.0"]
