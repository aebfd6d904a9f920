"""ProgressReporter: plain lines, the summary, quiet, registration, the live display."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import functionfuse
from functionfuse import NodeExecutionError, get_plugin_manager, workflow
from functionfuse_cli import ProgressReporter, RunSummary
from functionfuse_local import LocalWorkflow


@workflow
def load(n: int) -> list[int]:
    return list(range(n))


@workflow
def double(xs: list[int]) -> list[int]:
    return [2 * x for x in xs]


@workflow
def fail(xs: list[int]) -> int:
    raise ValueError(f"cannot use {len(xs)} values")


@workflow
def interrupt(xs: list[int]) -> int:
    raise KeyboardInterrupt


@workflow
def combine(a: Any, b: Any) -> int:
    return int(sum(a) + sum(b))


def pipeline(middle: Any = double) -> Any:
    data = load(4).set_name("data")
    doubled = double(data).set_name("doubled")
    checked = middle(doubled).set_name("checked")
    return combine(checked, data).set_name("total")


def run(wf: LocalWorkflow, **options: Any) -> tuple[str, ProgressReporter, Any]:
    stream = io.StringIO()
    with ProgressReporter(stream=stream, **options) as reporter:
        result = wf.run()
    return stream.getvalue(), reporter, result


def statuses(summary: RunSummary | None) -> dict[str, str]:
    assert summary is not None
    return {name: report.status for name, report in summary.nodes.items()}


def test_plain_lines_and_summary_then_resume_from_storage(tmp_path: Path) -> None:
    wf = LocalWorkflow(pipeline(), workflow_name="progress")
    wf.set_storage(str(tmp_path))

    text, reporter, result = run(wf)
    assert result == 2 * (0 + 2 + 4 + 6) + 6
    lines = text.splitlines()
    assert lines[0] == "functionfuse: workflow 'progress' on local, 4 nodes"
    assert [line.split()[:3] for line in lines[1:5]] == [
        ["[1/4]", "ran", "data"],
        ["[2/4]", "ran", "doubled"],
        ["[3/4]", "ran", "checked"],
        ["[4/4]", "ran", "total"],
    ]
    assert lines[5].startswith("functionfuse: workflow 'progress' finished in ")
    assert lines[5].endswith(": 4 ran, 0 from storage, 0 failed, 0 not run")
    table = lines[lines.index("") + 1 :]
    assert table[0].split() == ["node", "status", "duration"]
    assert [row.split()[:2] for row in table[2:]] == [
        ["data", "ran"],
        ["doubled", "ran"],
        ["checked", "ran"],
        ["total", "ran"],
    ]
    summary = reporter.summary
    assert summary is not None
    assert summary.error is None
    assert summary.finished
    assert (summary.workflow_name, summary.backend) == ("progress", "local")
    assert statuses(summary) == dict.fromkeys(["data", "doubled", "checked", "total"], "ran")
    assert all(r.duration is not None and r.duration >= 0 for r in summary.nodes.values())

    text, reporter, result = run(wf)
    assert result == 30
    assert statuses(reporter.summary) == dict.fromkeys(
        ["data", "doubled", "checked", "total"], "from storage"
    )
    lines = text.splitlines()
    # Stored nodes are one line per batch, not one per node.
    assert lines[1] == "[4/4] 4 nodes from storage"
    assert lines[2].endswith(": 0 ran, 4 from storage, 0 failed, 0 not run")
    rows = [line.split() for line in lines[lines.index("") + 3 :]]
    assert rows == [
        [name, "from", "storage", "-"] for name in ("data", "doubled", "checked", "total")
    ]


def test_a_failing_node_is_failed_and_the_rest_not_run() -> None:
    wf = LocalWorkflow(pipeline(middle=fail), workflow_name="failing")
    stream = io.StringIO()
    with (
        pytest.raises(NodeExecutionError, match="'checked'") as raised,
        ProgressReporter(stream=stream) as reporter,
    ):
        wf.run()
    summary = reporter.summary
    assert statuses(summary) == {
        "data": "ran",
        "doubled": "ran",
        "checked": "failed",
        "total": "not run",
    }
    assert summary is not None
    assert summary.error is raised.value
    assert isinstance(summary.nodes["checked"].error, ValueError)
    assert summary.nodes["checked"].duration is not None
    assert summary.nodes["total"].duration is None
    assert summary.counts() == {
        "ran": 2,
        "re-ran": 0,
        "from storage": 0,
        "failed": 1,
        "not run": 1,
        "interrupted": 0,
    }
    text = stream.getvalue()
    assert "[3/4] failed  checked: ValueError: cannot use 4 values\n" in text
    assert "workflow 'failing' failed after " in text
    assert text.count(": 2 ran, 0 from storage, 1 failed, 1 not run") == 1
    rows = [line.split() for line in text.splitlines()[-4:]]
    assert [row[:2] for row in rows[:3]] == [
        ["data", "ran"],
        ["doubled", "ran"],
        ["checked", "failed"],
    ]
    assert rows[3] == ["total", "not", "run", "-"]


def test_a_node_interrupted_by_keyboard_interrupt() -> None:
    wf = LocalWorkflow(pipeline(middle=interrupt), workflow_name="interrupted")
    stream = io.StringIO()
    with pytest.raises(KeyboardInterrupt), ProgressReporter(stream=stream) as reporter:
        wf.run()
    assert statuses(reporter.summary)["checked"] == "interrupted"
    assert statuses(reporter.summary)["total"] == "not run"
    assert "1 interrupted" in stream.getvalue()


def test_quiet_prints_nothing_and_still_summarizes() -> None:
    wf = LocalWorkflow(pipeline(), workflow_name="quiet")
    text, reporter, _ = run(wf, quiet=True)
    assert text == ""
    assert statuses(reporter.summary) == dict.fromkeys(
        ["data", "doubled", "checked", "total"], "ran"
    )


def test_registered_only_inside_the_block_also_on_errors() -> None:
    manager = get_plugin_manager()
    reporter = ProgressReporter(quiet=True)
    with reporter:
        assert manager.is_registered(reporter)
    assert not manager.is_registered(reporter)

    wf = LocalWorkflow(pipeline(middle=fail), workflow_name="unregistered")
    failing = ProgressReporter(quiet=True)
    with pytest.raises(NodeExecutionError), failing:
        wf.run()
    assert not manager.is_registered(failing)

    other = ProgressReporter(stream=io.StringIO())
    with pytest.raises(RuntimeError, match="not from a node"), other:
        raise RuntimeError("not from a node")
    assert not manager.is_registered(other)
    assert other.summary is None  # nothing ran: nothing to report


def test_runs_outside_the_block_are_not_seen() -> None:
    reporter = ProgressReporter(quiet=True)
    with reporter:
        pass
    LocalWorkflow(pipeline(), workflow_name="after").run()
    assert reporter.summaries == []


def test_each_run_in_the_block_gets_a_summary() -> None:
    stream = io.StringIO()
    with ProgressReporter(stream=stream) as reporter:
        LocalWorkflow(load(2).set_name("a"), workflow_name="first").run()
        LocalWorkflow(load(3).set_name("b"), workflow_name="second").run()
    assert [s.workflow_name for s in reporter.summaries] == ["first", "second"]
    assert reporter.summary is reporter.summaries[-1]
    text = stream.getvalue()
    assert "workflow 'first' on local:\n" in text
    assert "workflow 'second' on local:\n" in text


def test_a_large_summary_shows_failures_first_and_counts_the_rest() -> None:
    parts = [load(i).set_name(f"part_{i:03d}") for i in range(120)]

    @workflow
    def gather(*lists: list[int]) -> int:
        return sum(len(xs) for xs in lists)

    bad = fail(parts[0]).set_name("bad")
    wf = LocalWorkflow(gather(*parts), bad, workflow_name="large")
    stream = io.StringIO()
    with pytest.raises(NodeExecutionError), ProgressReporter(stream=stream) as reporter:
        wf.run()
    assert reporter.summary is not None
    assert len(reporter.summary.nodes) == 122
    table = stream.getvalue().split("\n\n", 1)[1].splitlines()
    rows = table[2:-1]
    assert len(rows) == ProgressReporter.max_rows
    assert any(row.split()[:2] == ["bad", "failed"] for row in rows)
    assert table[-1].startswith("... and 22 more nodes (")


def test_live_display_with_rich_on_a_forced_terminal() -> None:
    pytest.importorskip("rich")
    stream = io.StringIO()
    wf = LocalWorkflow(pipeline(), workflow_name="live")
    with ProgressReporter(stream=stream, live=True) as reporter:
        assert wf.run() == 30
    text = stream.getvalue()
    assert "\x1b[" in text  # drawn for a terminal
    assert "4/4" in text
    assert "0 failed" in text
    assert "from storage" in text
    assert "running" in text
    for name in ("data", "doubled", "checked", "total"):
        assert name in text
    assert "4 ran, 0 from storage, 0 failed, 0 not run" in text
    assert statuses(reporter.summary) == dict.fromkeys(
        ["data", "doubled", "checked", "total"], "ran"
    )


def test_live_display_reports_a_failure() -> None:
    pytest.importorskip("rich")
    stream = io.StringIO()
    wf = LocalWorkflow(pipeline(middle=fail), workflow_name="live_fail")
    with pytest.raises(NodeExecutionError), ProgressReporter(stream=stream, live=True):
        wf.run()
    text = stream.getvalue()
    assert "checked" in text
    assert "ValueError: cannot use 4 values" in text
    assert "1 failed" in text
    assert "not run" in text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@workflow
def chatty(xs: list[int]) -> int:
    print("printed by the node")
    return len(xs)


@pytest.mark.parametrize("stdout_is_a_terminal", [False, True])
def test_node_prints_go_to_stdout_unless_both_are_terminals(
    monkeypatch: pytest.MonkeyPatch, stdout_is_a_terminal: bool
) -> None:
    """stderr a terminal, stdout redirected to a file: the prints land in the file."""
    pytest.importorskip("rich")
    stderr = _Terminal()
    stdout = _Terminal() if stdout_is_a_terminal else io.StringIO()
    monkeypatch.setattr(sys, "stdout", stdout)
    wf = LocalWorkflow(chatty(load(3)), workflow_name="prints")
    with ProgressReporter(stream=stderr):
        assert wf.run() == 3
    if stdout_is_a_terminal:  # drawn above the live line, on the terminal
        assert "printed by the node" in stderr.getvalue()
    else:
        assert stdout.getvalue() == "printed by the node\n"
        assert "printed by the node" not in stderr.getvalue()


def test_not_a_terminal_means_plain_lines() -> None:
    wf = LocalWorkflow(pipeline(), workflow_name="auto")
    text, _, _ = run(wf)  # live=None on a StringIO
    assert "\x1b[" not in text
    assert "[4/4] ran     total" in text


def run_fresh(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_without_rich_live_falls_back_to_plain_and_import_stays_light() -> None:
    out = run_fresh(
        """
        import io, sys
        sys.modules["rich"] = None  # as if rich were not installed
        import functionfuse
        from functionfuse import workflow
        from functionfuse_cli import ProgressReporter

        @workflow
        def one():
            return 1

        stream = io.StringIO()
        with ProgressReporter(stream=stream, live=True):
            functionfuse.backend("local")(one().set_name("one"), workflow_name="w").run()
        print(stream.getvalue())
        """
    )
    assert "[1/1] ran     one" in out
    assert "1 ran, 0 from storage, 0 failed, 0 not run" in out

    out = run_fresh(
        """
        import io, sys
        import functionfuse
        from functionfuse_cli import ProgressReporter
        with ProgressReporter(stream=io.StringIO()):
            pass
        print(sorted(m for m in sys.modules if m == "rich" or m.startswith("rich.")))
        """
    )
    assert out.strip() == "[]"


def test_the_report_writer_loads_when_first_used() -> None:
    out = run_fresh(
        """
        import sys
        import functionfuse_cli
        before = "functionfuse_cli._report" in sys.modules
        from functionfuse_cli import write_report
        print(before, write_report.__module__)
        """
    )
    assert out.strip() == "False functionfuse_cli._report"


def test_public_names() -> None:
    import functionfuse_cli
    from functionfuse_cli import _progress, _summary

    assert functionfuse_cli.ProgressReporter is _progress.ProgressReporter
    assert functionfuse_cli.RunSummary is _summary.RunSummary
    assert not hasattr(functionfuse, "ProgressReporter")  # it left the core
