"""`fuse tasks` and `fuse rm` through a workflow folder that is a link (issue 20, defect 3).

A workflow folder may be a symbolic link to another disk: results are listed, read and
saved through it. Before the fix, `fuse tasks` listed every file of the folder the link
points to, and `fuse rm --pattern '*' --yes` deleted them all; now only results are
listed, and nothing is deleted through the link.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .conftest import Fuse


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_tasks_and_rm_through_a_linked_workflow_folder(
    fuse: Fuse, flow: Path, tmp_path: Path, ran: Callable[[], list[str]]
) -> None:
    done = fuse("run", "flow.py:build", "--storage", "results", "-q")
    assert done.returncode == 0, done.stderr
    other_disk = tmp_path / "other-disk"
    other_disk.mkdir()
    link = tmp_path / "results" / "flow"
    link.rename(other_disk / "flow")
    link.symlink_to(other_disk / "flow", target_is_directory=True)
    (other_disk / "flow" / "notes.txt").write_text("not a result")
    (other_disk / "flow" / "thesis").write_text("not a result either")
    ran()

    listed = fuse("tasks", "results", "flow")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["data", "draw", "total"]

    before = contents(other_disk)
    for which in (["--pattern", "*"], ["total"], []):
        done = fuse("rm", "results", "flow", *which, "--yes")
        assert done.returncode == 1, (which, done.stdout, done.stderr)
        assert str(link) in done.stderr
        assert "symbolic link" in done.stderr
        assert "Traceback" not in done.stderr
        assert contents(other_disk) == before
        assert link.is_symlink()

    # Reading through the link still works: the next run reads every result.
    done = fuse("run", "flow.py:build", "--storage", "results", "-q")
    assert done.returncode == 0, done.stderr
    assert ran() == []
