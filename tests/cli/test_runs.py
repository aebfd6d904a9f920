"""`fuse runs STORAGE WORKFLOW`: the recorded runs of a workflow, newest first."""

from __future__ import annotations

import json
from pathlib import Path

from functionfuse.run_records import list_runs

from .conftest import FAILING, Fuse


def test_runs_lists_the_recorded_runs_newest_first(fuse: Fuse, flow: Path, tmp_path: Path) -> None:
    for _ in range(2):
        done = fuse("run", "flow.py:build", "--storage", "results", "-q")
        assert done.returncode == 0, done.stderr
    (tmp_path / "failing.py").write_text(FAILING)
    done = fuse("run", "failing.py", "--storage", "results", "--name", "flow", "-q")
    assert done.returncode == 1

    listed = fuse("runs", "results", "flow")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == [
        "RUN", "STARTED", "TOOK", "STATE", "BACKEND", "RAN", "STORED", "RERAN", "FAILED", "BLOCKED"
    ]  # fmt: skip
    runs = list_runs(str(tmp_path / "results"), "flow")
    assert [row.split()[0] for row in rows] == [run["run_id"] for run in runs]
    # run id, date, time, took, state, backend, then the counts.
    cells = [row.split()[4:] for row in rows]
    assert cells == [
        ["failed", "local", "1", "0", "0", "1", "0"],
        ["finished", "local", "0", "3", "0", "0", "0"],
        ["finished", "local", "3", "0", "0", "0", "0"],
    ]

    as_json = fuse("runs", "results", "flow", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == runs


def test_runs_of_a_workflow_never_recorded_says_what_to_do(fuse: Fuse, tmp_path: Path) -> None:
    done = fuse("runs", str(tmp_path / "results"), "nothing")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "fuse runs: error: no runs recorded for workflow 'nothing'" in done.stderr
    assert "run it with this storage first" in done.stderr


OLD_CORE = """
import sys
sys.modules["functionfuse.run_records"] = None  # a core from before run records
from functionfuse_cli._cli import main
print("plan", main(["plan", "flow.py:build"]))
print("runs", main(["runs", "results", "flow"]))
"""


def test_a_core_without_run_records_runs_every_other_command(flow: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", OLD_CORE], cwd=tmp_path, capture_output=True, text=True
    )
    assert "plan 0" in done.stdout, done.stderr
    assert "runs 2" in done.stdout, done.stderr  # a Failure, as `fuse report` gives
    assert "does not record runs" in done.stderr
    assert "upgrade functionfuse" in done.stderr
