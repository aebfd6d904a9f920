"""``fuse tasks`` and ``fuse rm --pattern`` with hostile glob patterns: no crash, no
hang, nothing listed or removed outside the workflow named.

The pattern is matched against the workflow's stored task names (as ``fnmatchcase``),
never handed to a filesystem glob: ``**/../*`` or ``../other/*`` cannot reach another
workflow's folder, and a 100,000-character pattern answers at once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from functionfuse_fs import FileStorage

NAMES = ["a", "b/c", "../x", "[", "*", "fit_1", "a" * 300]
PATTERNS = [
    "[",
    "[!",
    "[]",
    "[z-a]",
    "\\",
    "**/../*",
    "*/*",
    "../*",
    "../other/*",
    "/*",
    "..",
    "-x",
]
#: Long patterns (as long as a command-line argument may be) and the names they match:
#: fnmatch alone takes minutes on some, quadratic in the unclosed brackets.
LONG = {"*" * 100_000: NAMES, "[" * 100_000: [], "[!" * 50_000: []}


def expected(pattern: str) -> list[str]:
    if pattern in LONG:
        return sorted(LONG[pattern])
    return sorted(n for n in NAMES if fnmatchcase(n, pattern))


def fuse(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = shutil.which("fuse", path=os.path.dirname(sys.executable))
    assert script is not None, "the fuse script is not installed beside this Python"
    env = {k: v for k, v in os.environ.items() if k != "FUNCTIONFUSE_STORAGE_KEY"}
    return subprocess.run(
        [script, *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    storage = FileStorage(root)
    for name in NAMES:
        storage.save("wf", name, name)
    storage.save("other", "secret", 1)
    storage.save("wf/../other", "secret2", 1)
    return root


@pytest.mark.parametrize("pattern", PATTERNS + list(LONG), ids=lambda p: repr(p[:8]) + f"x{len(p)}")
def test_fuse_tasks_with_a_hostile_pattern(store: Path, tmp_path: Path, pattern: str) -> None:
    done = fuse("tasks", str(store), "wf", "--", pattern, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[:2000]
    assert "Traceback" not in done.stderr
    listed = done.stdout.splitlines()
    assert listed == expected(pattern)
    assert not any("secret" in line for line in listed)
    assert len(done.stderr) < 500  # a long pattern is not echoed in full


@pytest.mark.parametrize("workflow", ["..", "../other", "*", "/", "wf/..", ".", ""])
def test_fuse_tasks_with_a_hostile_workflow_name(
    store: Path, tmp_path: Path, workflow: str
) -> None:
    done = fuse("tasks", str(store), workflow, "*", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # no such workflow: never another one's results
    assert "no stored results" in done.stderr


@pytest.mark.parametrize(
    "pattern",
    ["**/../*", "../other/*", "*/*", "[" * 100_000],
    ids=["**/../*", "../other/*", "*/*", "[x100000"],
)
def test_fuse_rm_with_a_hostile_pattern(store: Path, tmp_path: Path, pattern: str) -> None:
    done = fuse("rm", str(store), "wf", "--pattern", pattern, "--yes", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[:2000]
    storage = FileStorage(store)
    removed = set(expected(pattern))
    assert storage.list_tasks("wf") == sorted(set(NAMES) - removed)
    assert storage.list_tasks("other") == ["secret"]
    assert storage.list_tasks("wf/../other") == ["secret2"]
