"""`fuse run --resume`, the config's `resume`, and the reasons nodes run again."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import Fuse, write

Ran = Callable[[], list[str]]

#: data -> scale_0 (a literal factor) -> total; each node that runs logs its function.
STEPS = """
import os

from functionfuse import workflow


def log(name):
    with open(os.environ["FLOW_LOG"], "a") as file:
        file.write(name + "\\n")


@workflow
def load(n):
    log("load")
    return list(range(n))


@workflow
def scale(numbers, factor):
    log("scale")
    return [x * factor for x in numbers]


@workflow
def total(numbers):
    log("total")
    return sum(numbers)


data = load(4).set_name("data")
result = total(scale(data, FACTOR)).set_name("total")
"""


@pytest.fixture
def steps(tmp_path: Path, fuse: Fuse, ran: Ran) -> Callable[[int], None]:
    """Write ``steps.py`` with FACTOR 2, run it into ``results``; returns a function
    that edits the literal factor in the file."""
    path = tmp_path / "steps.py"
    path.write_text(STEPS.replace("FACTOR", "2"))
    first = fuse("run", "steps.py", "--storage", "results", "-q")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "total = 12\n"
    assert ran() == ["load", "scale", "total"]

    def edit(factor: int) -> None:
        # Another length as well as another value: a .pyc of the same size and mtime
        # second would be taken for the new source.
        assert len(str(factor)) != 1
        path.write_text(STEPS.replace("FACTOR", str(factor)))

    return edit


def test_run_after_editing_an_argument_says_what_reran_and_why(
    fuse: Fuse, steps: Callable[[int], None], ran: Ran
) -> None:
    steps(30)
    done = fuse("run", "steps.py", "--storage", "results")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "total = 180\n"
    assert ran() == ["scale", "total"]  # data is unchanged: read from storage
    lines = done.stderr.splitlines()
    assert lines[1:3] == [
        "rerun   scale_0: argument 'factor' changed",
        "rerun   total: upstream changed ('scale_0')",
    ]
    assert re.search(r"^\[\d/3\] re-ran  scale_0 \(", done.stderr, re.MULTILINE)
    assert re.search(r"^\[\d/3\] re-ran  total \(", done.stderr, re.MULTILINE)
    assert ": 0 ran, 2 re-ran, 1 from storage, 0 failed, 0 not run\n" in done.stderr
    assert done.stderr.endswith(
        "stored result out of date (2 nodes):\n"
        "  scale_0: argument 'factor' changed\n"
        "  total: upstream changed ('scale_0')\n"
    )

    again = fuse("run", "steps.py", "--storage", "results")
    assert again.returncode == 0, again.stderr
    assert ran() == []
    assert "rerun" not in again.stderr
    assert "re-ran" not in again.stderr


def test_resume_name_uses_the_stored_results_even_out_of_date(
    fuse: Fuse, steps: Callable[[int], None], ran: Ran
) -> None:
    steps(30)
    done = fuse("run", "steps.py", "--storage", "results", "--resume", "name")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "total = 12\n"  # the stored, out-of-date result
    assert ran() == []
    assert "rerun" not in done.stderr
    assert ": 0 ran, 3 from storage, 0 failed, 0 not run\n" in done.stderr


def test_resume_off_runs_everything_and_stores_it_again(
    fuse: Fuse, steps: Callable[[int], None], ran: Ran
) -> None:
    done = fuse("run", "steps.py", "--storage", "results", "--resume", "off")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "total = 12\n"
    assert ran() == ["load", "scale", "total"]
    assert ": 3 ran, 0 from storage, 0 failed, 0 not run\n" in done.stderr
    # What it stored is up to date: the default run reads it.
    default = fuse("run", "steps.py", "--storage", "results", "--resume", "fingerprint")
    assert default.returncode == 0, default.stderr
    assert ran() == []


def test_resume_takes_only_its_three_modes(fuse: Fuse, steps: Callable[[int], None]) -> None:
    done = fuse("run", "steps.py", "--storage", "results", "--resume", "false")
    assert done.returncode == 2
    assert "invalid choice: 'false'" in done.stderr
    assert "'fingerprint', 'name', 'off'" in done.stderr
    helped = fuse("run", "--help")
    assert helped.returncode == 0
    text = " ".join(helped.stdout.split())
    assert "--resume {fingerprint,name,off}" in text
    assert "name: any result stored under the node's name, even an out-of-date one" in text
    assert "off: run every node" in text


@pytest.mark.parametrize(
    ("config", "option", "reran"),
    [
        ('resume = "name"\n', [], []),
        ("resume = false\n", [], ["load", "scale", "total"]),
        ('resume = "name"\n', ["--resume", "fingerprint"], ["scale", "total"]),  # wins
        ("", ["--set", "resume=name"], []),
    ],
)
def test_config_resume(
    fuse: Fuse,
    steps: Callable[[int], None],
    ran: Ran,
    tmp_path: Path,
    config: str,
    option: list[str],
    reran: list[str],
) -> None:
    write(tmp_path / "fuse.toml", config + 'storage = "results"\n')
    steps(30)
    done = fuse("run", "steps.py", "--config", "fuse.toml", *option)
    assert done.returncode == 0, done.stderr
    assert ran() == reran
    assert done.stdout == ("total = 12\n" if not reran else "total = 180\n")


def test_config_resume_with_a_bad_value_names_the_file_and_key(fuse: Fuse, tmp_path: Path) -> None:
    write(tmp_path / "steps.py", STEPS.replace("FACTOR", "2"))
    write(tmp_path / "fuse.toml", 'resume = "off"\n')
    done = fuse("run", "steps.py", "--config", "fuse.toml")
    assert done.returncode == 2
    assert done.stderr.startswith(
        "fuse run: error: config file 'fuse.toml', key resume: must be \"fingerprint\""
    )
    assert "not the string 'off' (write false, without quotes)" in done.stderr


def test_resume_with_a_backend_whose_run_does_not_take_it() -> None:
    from functionfuse_cli._errors import Failure
    from functionfuse_cli._run import check_takes

    class Old:
        backend_name = "old"

        def run(self, *, return_results: bool = True) -> Any:
            return None

    class New:
        def run(self, *, resume: Any = None) -> Any:
            return None

    with pytest.raises(Failure, match=r"--resume: backend 'old' \(.*Old\) does not take"):
        check_takes(Old(), "resume", "--resume")
    check_takes(New(), "resume", "--resume")
