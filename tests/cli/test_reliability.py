"""fuse run --keep-going, and retries set by a config rule."""

from __future__ import annotations

from pathlib import Path

from .conftest import Fuse, write

KEEP_GOING = """
import os
from functionfuse import workflow


def log(name):
    with open(os.environ["FLOW_LOG"], "a") as file:
        file.write(name + "\\n")


@workflow
def first():
    log("first")
    return 1


@workflow
def broken(x):
    log("broken")
    raise ValueError(f"boom {x}")


@workflow
def after(x):
    log("after")
    return x


@workflow
def other():
    log("other")
    return 2


@workflow
def flaky(marker):
    log("flaky")
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise OSError("first attempt fails")
    return "ok"


a = first().set_name("first")
b = after(broken(a).set_name("broken")).set_name("after")
c = other().set_name("other")
"""


def test_keep_going_runs_what_does_not_depend_on_the_failure(fuse: Fuse, tmp_path: Path) -> None:
    write(tmp_path / "flow.py", KEEP_GOING)
    done = fuse("run", "flow.py:build", "-q", "--storage", "results", "--keep-going")
    assert done.returncode == 2  # no 'build' in the file: a usage error
    done = fuse("run", "flow.py", "-q", "--storage", "results", "--keep-going")
    assert done.returncode == 1, done.stderr
    assert "'broken' (ValueError: boom 1)" in done.stderr
    log = (tmp_path / "ran.log").read_text().split()
    assert sorted(log) == ["broken", "first", "other"]  # 'after' waits on 'broken'
    assert sorted(
        p.name for p in (tmp_path / "results" / "flow").iterdir() if p.name != ".runs"
    ) == [
        "first",
        "other",
    ]
    (tmp_path / "ran.log").unlink()
    stopped = fuse("run", "flow.py", "-q", "--name", "plain")
    assert stopped.returncode == 1
    assert "other" not in (tmp_path / "ran.log").read_text().split()  # stopped at 'broken'


def test_a_retries_rule_runs_a_flaky_node_again(fuse: Fuse, tmp_path: Path) -> None:
    write(tmp_path / "flow.py", KEEP_GOING + '\nd = flaky("marker").set_name("flaky")\n')
    write(
        tmp_path / "fuse.toml",
        """
        [[rules]]
        pattern = "flaky"
        retries = {attempts = 2, exceptions = ["OSError"], delay = 0.01}

        [[rules]]
        pattern = "broken"
        storage = false
        """,
    )
    done = fuse("run", "flow.py", "-q", "--config", "fuse.toml", "--keep-going")
    assert done.returncode == 1  # 'broken' still fails
    assert (tmp_path / "ran.log").read_text().split().count("flaky") == 2
    assert "1 node(s) of workflow 'flow' failed: 'broken'" in done.stderr  # not 'flaky'


def test_a_bad_retries_rule_names_its_key(fuse: Fuse, tmp_path: Path) -> None:
    write(tmp_path / "flow.py", KEEP_GOING)
    write(
        tmp_path / "fuse.toml",
        """
        [[rules]]
        pattern = "other"
        retries = {attempts = 0}
        """,
    )
    done = fuse("run", "flow.py", "-q", "--config", "fuse.toml")
    assert done.returncode == 2
    assert "rules[0].retries" in done.stderr
    assert "attempts must be >= 1" in done.stderr
