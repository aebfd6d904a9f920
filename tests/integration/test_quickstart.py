"""The README's first command: the quickstart runs, then resumes from ./storage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


def run_quickstart(cwd: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, str(QUICKSTART)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_quickstart_runs_then_resumes_from_storage(tmp_path: Path) -> None:
    first = run_quickstart(tmp_path)
    assert (tmp_path / "storage" / "quickstart").is_dir()
    ran = [line.split()[0] for line in first if "ran in" in line]
    assert ran == ["data", "split", "model", "fit", "predict", "rmse"]
    second = run_quickstart(tmp_path)
    assert not [line for line in second if "ran in" in line]
    from_storage = [line.split()[0] for line in second if "from storage" in line]
    assert from_storage == ["data", "split", "model", "fit", "predict", "rmse"]
    # Same numbers, read back instead of computed.
    assert [line for line in first if line.startswith("weights")] == [
        line for line in second if line.startswith("weights")
    ]
    assert "delete that folder" in second[-1]
