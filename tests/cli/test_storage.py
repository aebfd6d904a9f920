"""`fuse tasks`, `fuse show` and `fuse rm` on a real file storage."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import Fuse


@pytest.fixture
def stored(fuse: Fuse, flow: Path, tmp_path: Path) -> Path:
    """``results/`` holding workflow ``flow``: data, total, draw."""
    done = fuse("run", "flow.py:build", "--storage", "results", "-q")
    assert done.returncode == 0, done.stderr
    return tmp_path / "results"


def test_tasks_lists_stored_results(fuse: Fuse, stored: Path) -> None:
    done = fuse("tasks", "results", "flow")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["data", "draw", "total"]
    assert fuse("tasks", "results", "flow", "d*").stdout.split() == ["data", "draw"]
    empty = fuse("tasks", "results", "other")
    assert empty.returncode == 0
    assert empty.stdout == ""
    assert "no stored results for workflow 'other'" in empty.stderr


def test_show_prints_header_and_result(fuse: Fuse, stored: Path) -> None:
    done = fuse("show", str(stored), "flow", "data")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["workflow:", "flow"]
    assert lines[1].split() == ["task:", "data"]
    assert "codec:" in done.stdout  # from FileStorage.read_header
    assert "type:           builtins.list" in done.stdout
    assert lines[-1] == "[0, 1, 2, 3]"


def test_show_shortens_long_results(fuse: Fuse, flow: Path, tmp_path: Path) -> None:
    done = fuse("run", "flow.py:data", "--storage", "results", "-q", env={"FLOW_N": "5000"})
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) < 200  # the printed result is shortened too
    short = fuse("show", "results", "flow", "data")
    assert short.stdout.splitlines()[-1] == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, ...]"
    full = fuse("show", "results", "flow", "data", "--full")
    assert full.stdout.splitlines()[-1] == repr(list(range(5000)))


def _fingerprint_line(stdout: str) -> str:
    (line,) = [line for line in stdout.splitlines() if line.startswith("fingerprint:")]
    return line.removeprefix("fingerprint:").strip()


def test_show_prints_the_fingerprint_by_its_parts(fuse: Fuse, flow: Path, tmp_path: Path) -> None:
    from functionfuse_fs import FileStorage

    stamp = re.compile(
        r"([0-9a-f]{32}) \(code ([0-9a-f]{32}), arguments ([0-9a-f]{32})\); code: load, log"
    )
    assert fuse("run", "flow.py:data", "--storage", "results", "-q").returncode == 0
    before = stamp.fullmatch(_fingerprint_line(fuse("show", "results", "flow", "data").stdout))
    assert before is not None
    header = FileStorage(str(tmp_path / "results")).read_header("flow", "data")
    assert header.fingerprint.startswith(b"ff2:")
    assert before.groups() == tuple(
        header.fingerprint[4 + 16 * i : 20 + 16 * i].hex() for i in range(3)
    )

    # Another literal argument: another node and argument fingerprint, the same code.
    done = fuse("run", "flow.py:data", "--storage", "results", "-q", env={"FLOW_N": "5"})
    assert done.returncode == 0, done.stderr
    after = stamp.fullmatch(_fingerprint_line(fuse("show", "results", "flow", "data").stdout))
    assert after is not None
    assert after.group(1) != before.group(1)
    assert after.group(2) == before.group(2)
    assert after.group(3) != before.group(3)


@pytest.mark.parametrize(
    ("fingerprint", "shown"),
    [(None, "(none)"), (b"v2:" + bytes(range(40)), (b"v2:" + bytes(range(29))).hex() + "...")],
)
def test_show_prints_other_fingerprints_as_before(
    fuse: Fuse, tmp_path: Path, fingerprint: bytes | None, shown: str
) -> None:
    from functionfuse_fs import FileStorage

    FileStorage(str(tmp_path / "results")).save("w", "t", [1], fingerprint=fingerprint)
    done = fuse("show", "results", "w", "t")
    assert done.returncode == 0, done.stderr
    assert _fingerprint_line(done.stdout) == shown


def test_show_missing_task_exits_2(fuse: Fuse, stored: Path) -> None:
    done = fuse("show", "results", "flow", "nope")
    assert done.returncode == 2
    assert "no stored result named 'nope' in workflow 'flow'" in done.stderr
    assert "its stored results: data, draw, total" in done.stderr


def test_show_corrupt_result_exits_1(fuse: Fuse, stored: Path) -> None:
    path = stored / "flow" / "total"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    done = fuse("show", "results", "flow", "total")
    assert done.returncode == 1
    assert "fuse show: error:" in done.stderr
    assert "total" in done.stderr
    assert "Traceback" not in done.stderr


def test_rm_one_task_a_pattern_and_a_workflow(fuse: Fuse, stored: Path) -> None:
    done = fuse("rm", "results", "flow", "total", "--yes")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (stored / "flow").iterdir() if p.name != ".runs") == [
        "data",
        "draw",
    ]
    done = fuse("rm", "results", "flow", "--pattern", "dr*", "-y")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (stored / "flow").iterdir() if p.name != ".runs") == ["data"]
    nothing = fuse("rm", "results", "flow", "--pattern", "zz*", "-y")
    assert nothing.returncode == 0
    assert "Nothing to remove" in nothing.stdout
    done = fuse("rm", "results", "flow", "--yes")
    assert done.returncode == 0, done.stderr
    assert not (stored / "flow").exists()


def test_rm_refuses_without_yes_when_stdin_is_not_a_terminal(fuse: Fuse, stored: Path) -> None:
    done = fuse("rm", "results", "flow")
    assert done.returncode == 2
    assert "stdin is not a terminal" in done.stderr
    assert "--yes" in done.stderr
    assert sorted(p.name for p in (stored / "flow").iterdir() if p.name != ".runs") == [
        "data",
        "draw",
        "total",
    ]


def test_rm_missing_task_and_bad_usage_exit_2(fuse: Fuse, stored: Path) -> None:
    done = fuse("rm", "results", "flow", "nope", "--yes")
    assert done.returncode == 2
    assert "no stored result named 'nope'" in done.stderr
    # A task and a pattern together are a usage error.
    assert fuse("rm", "results", "flow", "data", "--pattern", "d*", "--yes").returncode == 2


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
@pytest.mark.parametrize(("answer", "removed"), [(b"y\n", True), (b"n\n", False)])
def test_rm_asks_on_a_terminal(stored: Path, tmp_path: Path, answer: bytes, removed: bool) -> None:
    import pty

    primary, secondary = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "functionfuse_cli", "rm", "results", "flow", "total"],
            cwd=tmp_path,
            stdin=secondary,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(secondary)
        secondary = -1
        time.sleep(0.2)
        os.write(primary, answer)
        out, err = process.communicate(timeout=60)
    finally:
        os.close(primary)
        if secondary != -1:
            os.close(secondary)
    assert process.returncode == 0, err
    assert "About to remove the stored result 'total' of workflow 'flow'" in out
    assert "Remove them? [y/N]" in out
    assert (stored / "flow" / "total").exists() is not removed
    assert ("Removed" in out) is removed


def error_lines(stderr: str, command: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"fuse {command}: error:")]


def test_a_storage_that_fails_in_a_run_is_one_line_exit_1(fuse: Fuse, flow: Path) -> None:
    done = fuse("run", "flow.py", "--storage", "./flow.py")  # a file, not a folder
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    [line] = error_lines(done.stderr, "run")
    assert "storage FileStorage(" in line
    assert "flow.py" in line
    assert "NotADirectoryError" in line
    assert "folder" in line  # what to do
    with_traceback = fuse("run", "flow.py", "--storage", "./flow.py", "-q", "--traceback")
    assert with_traceback.returncode == 1
    assert "Traceback" in with_traceback.stderr


NO_AWS_CREDENTIALS: dict[str, str | None] = {
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,
    "AWS_DEFAULT_PROFILE": None,
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def test_storage_commands_failing_in_the_storage_are_one_line_exit_1(fuse: Fuse) -> None:
    pytest.importorskip("s3fs")
    done = fuse("tasks", "s3://functionfuse-no-such-bucket/x", "wf", env=NO_AWS_CREDENTIALS)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    [line] = error_lines(done.stderr, "tasks")
    assert "s3://functionfuse-no-such-bucket" in line
    assert "NoCredentialsError" in line
    assert "credentials" in line.split("NoCredentialsError")[1].lower()  # what to do
    assert done.stderr.strip() == line
    with_traceback = fuse(
        "tasks", "s3://functionfuse-no-such-bucket/x", "wf", "--traceback", env=NO_AWS_CREDENTIALS
    )
    assert with_traceback.returncode == 1
    assert "Traceback" in with_traceback.stderr


POINT_FLOW = """
from functionfuse import workflow


class Point:
    def __init__(self, x):
        self.x = x

    def __repr__(self):
        return f"Point({self.x})"


@workflow
def make():
    return Point(3)


point = make().set_name("point")
"""


@pytest.mark.parametrize("file_name", ["my-flow.py", "2nd flow.py"])  # not module names
def test_show_a_result_whose_class_is_defined_in_a_target_file(
    fuse: Fuse, tmp_path: Path, file_name: str
) -> None:
    (tmp_path / file_name).write_text(POINT_FLOW)
    done = fuse("run", file_name, "--storage", "results", "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "point = Point(3)\n"
    workflow_name = file_name.removesuffix(".py")
    shown = fuse("show", "results", workflow_name, "point")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[-1] == "Point(3)"
    assert "type:" in shown.stdout
    module = "_fuse_target_" + workflow_name.replace("-", "_").replace(" ", "_")
    assert f"{module}.Point" in shown.stdout
