"""ProgressReporter and the node_rerun hook: out-of-date results and unfingerprintable nodes."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest

from functionfuse import FunctionFuseWarning, workflow
from functionfuse_cli import ProgressReporter, RunSummary
from functionfuse_local import LocalWorkflow


@workflow
def load(n: int) -> list[int]:
    return list(range(n))


@workflow
def combine(a: list[int], b: list[int]) -> int:
    return sum(a) + sum(b)


@workflow
def hold(xs: Any, lock: Any) -> Any:
    return xs


def graph(b_size: int, extra: bool = False) -> list[Any]:
    """a, b -> total; ``extra`` adds a node ``c`` that was never stored."""
    a = load(4).set_name("a")
    b = load(b_size).set_name("b")
    leaves = [combine(a, b).set_name("total")]
    if extra:
        leaves.append(load(1).set_name("c"))
    return leaves


def run(
    wf: LocalWorkflow, stream: io.StringIO | None = None, **options: Any
) -> tuple[str, ProgressReporter]:
    stream = stream if stream is not None else io.StringIO()
    with ProgressReporter(stream=stream, **options) as reporter:
        wf.run()
    return stream.getvalue(), reporter


def statuses(summary: RunSummary | None) -> dict[str, str]:
    assert summary is not None
    return {name: report.status for name, report in summary.nodes.items()}


def stored_then_changed(tmp_path: Path) -> LocalWorkflow:
    """Run a, b(5) -> total into storage; return the workflow with b(6) and a new c."""
    first = LocalWorkflow(*graph(5), workflow_name="edits")
    first.set_storage(str(tmp_path))
    first.run()
    wf = LocalWorkflow(*graph(6, extra=True), workflow_name="edits")
    wf.set_storage(str(tmp_path))
    return wf


def test_plain_lines_and_summary_say_which_nodes_reran_and_why(tmp_path: Path) -> None:
    wf = stored_then_changed(tmp_path)
    text, reporter = run(wf)
    summary = reporter.summary
    assert statuses(summary) == {
        "a": "from storage",
        "b": "re-ran",
        "total": "re-ran",
        "c": "ran",  # new: nothing was stored, so not a re-run
    }
    assert summary is not None
    assert summary.nodes["b"].reasons == ("argument 'n' changed",)
    assert summary.nodes["total"].reasons == ("upstream changed ('b')",)
    assert summary.nodes["a"].reasons == summary.nodes["c"].reasons == ()
    assert summary.counts()["re-ran"] == 2
    assert summary.totals() == "1 ran, 2 re-ran, 1 from storage, 0 failed, 0 not run"

    lines = text.splitlines()
    # The reasons come first, before any node runs.
    assert lines[1:3] == [
        "rerun   b: argument 'n' changed",
        "rerun   total: upstream changed ('b')",
    ]
    assert lines[3].startswith("[")
    assert any(line.startswith("[") and "re-ran  b (" in line for line in lines)
    assert any(line.startswith("[") and "ran     c (" in line for line in lines)
    assert text.count(": 1 ran, 2 re-ran, 1 from storage, 0 failed, 0 not run\n") == 1
    table = text.split("\n\n", 1)[1].splitlines()
    rows = {row.split()[0]: " ".join(row.split()[1:-1]) for row in table[2:6]}
    assert rows == {"a": "from storage", "b": "re-ran", "total": "re-ran", "c": "ran"}
    assert table[6:] == [
        "",
        "stored result out of date (2 nodes):",
        "  b: argument 'n' changed",
        "  total: upstream changed ('b')",
    ]


def test_quiet_still_collects_the_reasons(tmp_path: Path) -> None:
    wf = stored_then_changed(tmp_path)
    text, reporter = run(wf, quiet=True)
    assert text == ""
    assert statuses(reporter.summary)["b"] == "re-ran"
    assert reporter.summary is not None
    assert reporter.summary.nodes["b"].reasons == ("argument 'n' changed",)


def test_nothing_changed_means_no_reasons(tmp_path: Path) -> None:
    first = LocalWorkflow(*graph(5), workflow_name="same")
    first.set_storage(str(tmp_path))
    first.run()
    text, reporter = run(first)
    assert "rerun" not in text
    assert "out of date" not in text
    assert "re-ran" not in text
    assert set(statuses(reporter.summary).values()) == {"from storage"}


def test_reasons_beyond_max_reasons_are_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ProgressReporter, "max_reasons", 2)

    def chain(n: int) -> Any:
        node = load(n).set_name("n0")
        for i in range(1, 6):
            node = hold(node, i).set_name(f"n{i}")
        return node

    first = LocalWorkflow(chain(3), workflow_name="many")
    first.set_storage(str(tmp_path))
    first.run()
    wf = LocalWorkflow(chain(4), workflow_name="many")
    wf.set_storage(str(tmp_path))
    text, reporter = run(wf)
    assert statuses(reporter.summary) == {f"n{i}": "re-ran" for i in range(6)}
    lines = text.splitlines()
    assert lines[1:4] == [
        "rerun   n0: argument 'n' changed",
        "rerun   n1: upstream changed ('n0')",
        "rerun   ... and 4 more nodes",
    ]
    assert lines[4].startswith("[1/6] re-ran  n0 (")
    assert text.endswith(
        "stored result out of date (6 nodes):\n"
        "  n0: argument 'n' changed\n"
        "  n1: upstream changed ('n0')\n"
        "  ... and 4 more\n"
    )


def test_a_node_that_cannot_be_fingerprinted_runs_every_time(tmp_path: Path) -> None:
    lock = threading.Lock()
    data = load(3).set_name("data")
    held = hold(data, lock).set_name("held")
    after = combine(load(1).set_name("one"), [0]).set_name("after")
    downstream = hold(held, None).set_name("downstream")
    wf = LocalWorkflow(downstream, after, workflow_name="unknown")
    wf.set_storage(str(tmp_path))
    for attempt in range(2):  # the second run has stored results: still runs them
        with pytest.warns(FunctionFuseWarning, match="cannot be fingerprinted"):
            text, reporter = run(wf)
        summary = reporter.summary
        assert summary is not None
        expected = "ran" if attempt == 0 else "from storage"
        assert statuses(summary) == {
            "data": expected,
            "held": "ran",  # never "re-ran": it runs every time
            "downstream": "ran",
            "one": expected,
            "after": expected,
        }
        assert summary.nodes["held"].reasons[0].startswith("cannot be fingerprinted: ")
        assert summary.nodes["downstream"].reasons == (
            "upstream node 'held' cannot be fingerprinted",
        )
        assert "re-ran" not in summary.totals()
        assert "rerun   held: runs every time: cannot be fingerprinted: " in text
        assert (
            "rerun   downstream: runs every time: upstream node 'held' cannot be fingerprinted"
            in text
        )
        reasons = text.split("runs every time (2 nodes):\n", 1)[1].splitlines()
        assert reasons[0].startswith("  held: cannot be fingerprinted: ")
        assert reasons[1] == "  downstream: upstream node 'held' cannot be fingerprinted"
        assert "stored result out of date" not in text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_display_shows_reruns_and_their_reasons(tmp_path: Path) -> None:
    pytest.importorskip("rich")
    first = LocalWorkflow(load(2).set_name("b[red]x"), workflow_name="live")
    first.set_storage(str(tmp_path))
    first.run()
    wf = LocalWorkflow(load(3).set_name("b[red]x"), workflow_name="live")
    wf.set_storage(str(tmp_path))
    stream = _Terminal()
    text, reporter = run(wf, stream=stream)  # a terminal: the live display
    assert "\x1b[" in text
    assert statuses(reporter.summary) == {"b[red]x": "re-ran"}
    # The name is printed as it is, never read as rich markup.
    assert "b[red]x: argument 'n' changed" in text
    assert "1/1 re-ran" in text  # the live line
    assert "0 ran, 1 re-ran, 0 from storage, 0 failed, 0 not run" in text
    assert "stored result out of date (1 node):" in text
