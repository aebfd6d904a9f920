"""Fixtures of the core's tests: throw-away distributions and subprocess runs."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

CORE_SRC = Path(__file__).resolve().parents[2] / "core" / "src"

_counter = itertools.count()


class Distributions:
    """Writes throw-away distributions (a ``*.dist-info`` plus modules) into one folder.

    The folder is put on ``sys.path`` by the ``distributions`` fixture, which also
    forgets every module written here when the test ends.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []

    def module_name(self, stem: str) -> str:
        """A module name no other test uses, so sys.modules never hides a fresh import."""
        return f"ff_test_{stem}_{os.getpid()}_{next(_counter)}"

    def add(
        self,
        name: str,
        entry_points: Mapping[str, Mapping[str, str]],
        modules: Mapping[str, str] = {},
        version: str = "1.2.3",
    ) -> None:
        """A distribution ``name`` declaring ``entry_points`` {group: {name: value}}."""
        dist_info = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        lines = []
        for group, names in entry_points.items():
            lines.append(f"[{group}]")
            lines.extend(f"{key} = {value}" for key, value in names.items())
            lines.append("")
        (dist_info / "entry_points.txt").write_text("\n".join(lines))
        for module, source in modules.items():
            (self.root / f"{module}.py").write_text(textwrap.dedent(source))
            self.modules.append(module)


@pytest.fixture
def distributions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Distributions]:
    """A folder on ``sys.path`` for throw-away distributions (removed after the test).

    Changing ``sys.path`` also makes the registry rescan installed components.
    """
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    dists = Distributions(root)
    yield dists
    for module in dists.modules:
        sys.modules.pop(module, None)


RunPython = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_python() -> RunPython:
    """Run code in a fresh interpreter of this environment; fail the test if it fails.

    ``path`` entries are prepended to ``PYTHONPATH``; ``env`` adds variables.
    """

    def run(
        code: str,
        *,
        path: list[Path] | tuple[Path, ...] = (),
        env: Mapping[str, str] | None = None,
        args: tuple[str, ...] = (),
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        environment = dict(os.environ)
        environment.pop("FUNCTIONFUSE_DISABLE_PLUGIN_AUTOLOAD", None)
        if env:
            environment.update(env)
        pythonpath = [str(p) for p in path]
        if environment.get("PYTHONPATH"):
            pythonpath.append(environment["PYTHONPATH"])
        environment["PYTHONPATH"] = os.pathsep.join(pythonpath)
        result = subprocess.run(
            [sys.executable, *args, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"subprocess failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    return run
