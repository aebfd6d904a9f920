"""Progress of workflow runs while they run, and a summary table when they are done.

:class:`ProgressReporter` is a hook plugin (see :mod:`functionfuse.hookspecs`) that is
registered only while a ``with`` block runs::

    from functionfuse import ProgressReporter

    with ProgressReporter() as reporter:
        wf.run()
    reporter.summary.nodes["fit"].status  # "ran", "re-ran", "from storage", "failed", ...
    reporter.summary.nodes["fit"].reasons  # ("code changed",): why it ran again

On a terminal with ``rich`` installed (``pip install 'functionfuse[cli]'``) it draws a
live line (a bar with done / total, from storage, re-ran, running, failed, elapsed);
anywhere else it writes plain lines: one per node that ran or failed, one per batch of
nodes read from storage, and a totals line per run. Either way, each node that runs
again although a result is stored (out of date), or that cannot be fingerprinted (so
runs every time), gets a line saying why when the run starts (the first
:attr:`ProgressReporter.max_reasons`, then a count). When the block ends it prints a
table of every node with its status and duration, then those reasons. ``quiet=True``
prints nothing but still collects :attr:`ProgressReporter.summary`.

Its hooks do a few dictionary updates per node (the live line is drawn by rich's own
refresh thread from counters), and a run without a reporter pays nothing for it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Final, TextIO, final

from functionfuse._hooks import get_plugin_manager
from functionfuse.hookspecs import hookimpl

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

__all__ = [
    "FAILED",
    "FROM_STORAGE",
    "INTERRUPTED",
    "NOT_RUN",
    "RAN",
    "RERAN",
    "RUNNING",
    "NodeReport",
    "ProgressReporter",
    "RunSummary",
]

# A node's status in a RunSummary.
RAN: Final = "ran"
RERAN: Final = "re-ran"  # ran again: its stored result was out of date
FROM_STORAGE: Final = "from storage"
FAILED: Final = "failed"
NOT_RUN: Final = "not run"
RUNNING: Final = "running"  # only while the run goes on
INTERRUPTED: Final = "interrupted"  # started, but the run ended before it finished

_STATUSES: Final = (RAN, RERAN, FROM_STORAGE, FAILED, NOT_RUN, INTERRUPTED)
_ENDED: Final = frozenset({RAN, RERAN, FROM_STORAGE, FAILED})
_TOTALS: Final = (RAN, FROM_STORAGE, FAILED, NOT_RUN)  # always in totals(); others if any


# Plain classes rather than dataclasses: ``import functionfuse`` imports this module,
# and each dataclass costs about a millisecond of import time.


@final
class NodeReport:
    """What happened to one node in one run.

    ``status``: ``"ran"``, ``"re-ran"`` (ran although a result was stored, because that
    result was out of date), ``"from storage"``, ``"failed"``, ``"not run"``,
    ``"interrupted"`` (started, but the run ended before it finished) or, while the run
    goes on, ``"running"``. ``duration``: seconds it ran (for a stored result, the read:
    0.0 when it was not read); ``None`` for a node that did not run. ``error``: the
    node's exception, for a failed node. ``reasons``: why the backend did not use a
    stored result (the ``functionfuse_node_rerun`` hook), e.g. ``("code changed",)``;
    empty when it did not say.
    """

    __slots__ = ("duration", "error", "name", "reasons", "status")

    def __init__(
        self,
        name: str,
        status: str = NOT_RUN,
        duration: float | None = None,
        error: BaseException | None = None,
        reasons: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.status = status
        self.duration = duration
        self.error = error
        self.reasons = tuple(reasons)

    @property
    def runs_every_time(self) -> bool:
        """Whether the reasons say it cannot be fingerprinted (itself or upstream)."""
        return any(_UNKNOWN in reason for reason in self.reasons)

    def __repr__(self) -> str:
        return f"NodeReport({self.name!r}, {self.status!r}, duration={self.duration!r})"


@final
class RunSummary:
    """One run of one workflow: every node's report, in graph order.

    ``duration``: wall-clock seconds of the whole run, ``None`` while it runs.
    ``error``: the error the run ended with, ``None`` on success (or while it runs).
    """

    __slots__ = ("backend", "duration", "error", "nodes", "workflow_name")

    def __init__(self, workflow_name: str, backend: str, nodes: dict[str, NodeReport]) -> None:
        self.workflow_name = workflow_name
        self.backend = backend
        self.nodes = nodes
        self.duration: float | None = None
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        state = "running" if self.duration is None else f"{self.duration:.3f}s"
        return f"<RunSummary {self.workflow_name!r} on {self.backend}, {state}: {self.totals()}>"

    @property
    def finished(self) -> bool:
        return self.duration is not None

    def counts(self) -> dict[str, int]:
        """How many nodes have each status (every status listed, zeros included)."""
        counts = dict.fromkeys(_STATUSES, 0)
        for report in self.nodes.values():
            counts[report.status] = counts.get(report.status, 0) + 1
        return counts

    def totals(self) -> str:
        """``"3 ran, 2 from storage, 0 failed, 0 not run"``; re-ran (after ran) and
        interrupted only when any."""
        counts = self.counts()
        parts = [f"{counts[status]} {status}" for status in _TOTALS]
        if counts[RERAN]:
            parts.insert(1, f"{counts[RERAN]} {RERAN}")
        parts.extend(
            f"{count} {status}"
            for status, count in counts.items()
            if count and status not in _TOTALS and status != RERAN
        )
        return ", ".join(parts)

    def reruns(self) -> tuple[list[NodeReport], list[NodeReport]]:
        """The nodes the backend said run again, in graph order: those whose stored
        result was out of date, and those that cannot be fingerprinted."""
        stale: list[NodeReport] = []
        unknown: list[NodeReport] = []
        for report in self.nodes.values():
            if report.reasons:
                (unknown if report.runs_every_time else stale).append(report)
        return stale, unknown


@final
class _Active:
    """A run in progress: its summary, live counters, start times of running nodes."""

    __slots__ = (
        "failed",
        "finished",
        "reran",
        "rerun_hidden",
        "rerun_shown",
        "run",
        "stale",
        "start",
        "started",
        "stored",
        "total",
    )

    def __init__(self, run: RunSummary) -> None:
        self.run = run
        self.start = perf_counter()
        self.total = len(run.nodes)
        self.finished = 0  # ran + re-ran + from storage + failed
        self.stored = 0
        self.failed = 0
        self.reran = 0
        self.stale = 0  # nodes reported out of date
        self.rerun_shown = 0  # rerun lines shown, ...
        self.rerun_hidden = 0  # ... and not shown yet: counted in one line
        self.started: dict[str, float] = {}  # running nodes -> perf_counter at start

    def settle(self, name: str, status: str, duration: float) -> NodeReport:
        """Record that a node ended with ``status``; keep the counters right even when
        a backend reports one node twice."""
        nodes = self.run.nodes
        report = nodes.get(name)
        if report is None:  # a node the start hook did not list
            report = nodes[name] = NodeReport(name)
        old = report.status
        if old in _ENDED:
            self.finished -= 1
            self.stored -= old == FROM_STORAGE
            self.failed -= old == FAILED
            self.reran -= old == RERAN
        self.finished += 1
        self.stored += status == FROM_STORAGE
        self.failed += status == FAILED
        self.reran += status == RERAN
        report.status = status
        report.duration = duration
        return report

    @property
    def done(self) -> int:
        """Nodes with a result: ran or from storage."""
        return self.finished - self.failed


@final
class ProgressReporter:
    """Show the progress of the workflows run inside a ``with`` block, then a summary.

    :param quiet: print nothing (the summary is still collected).
    :param stream: where to write; ``sys.stderr`` by default.
    :param live: a live line drawn with rich (``True``), plain lines (``False``), or
        ``None``: live when ``stream`` is a terminal and rich is installed. Without
        rich, it falls back to plain lines.

    Entering registers it with :func:`functionfuse.get_plugin_manager` (so start the
    runs inside the block); leaving unregisters it, also when the block raised. A
    reporter is used for one ``with`` block at a time, and expects its hooks to be
    called from one thread at a time, as every backend does (from the thread that
    called ``run()``).
    """

    #: Nodes shown in a summary table at most; beyond, failed and slowest first.
    max_rows: ClassVar[int] = 100
    #: Nodes whose reasons to run again are shown at most, per run (then a count): when
    #: the run starts, and in each of the summary's two lists.
    max_reasons: ClassVar[int] = 10

    __slots__ = ("_active", "_display", "live", "quiet", "stream", "summaries")

    def __init__(
        self, quiet: bool = False, stream: TextIO | None = None, live: bool | None = None
    ) -> None:
        self.quiet = quiet
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.live = live
        #: Every run started inside the block, in start order.
        self.summaries: list[RunSummary] = []
        self._active: dict[str, _Active] = {}
        self._display: _Display = _Display()

    @property
    def summary(self) -> RunSummary | None:
        """The latest run's summary (``None`` before any run started)."""
        return self.summaries[-1] if self.summaries else None

    # -- the with block ----------------------------------------------------------------

    def __enter__(self) -> ProgressReporter:
        if not self.quiet:
            self._display = self._make_display()
        get_plugin_manager().register(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            manager = get_plugin_manager()
            if manager.is_registered(self):
                manager.unregister(self)
        finally:
            display = self._display
            self._display = _Display()
            display.stop()
            for active in self._active.values():  # runs that never reported their end
                _close(active.run, perf_counter() - active.start, None)
            self._active.clear()
            if self.summaries:
                display.summarize(self.summaries, self.max_rows, self.max_reasons)

    def _make_display(self) -> _Display:
        live = self.live
        if live is None:
            live = _isatty(self.stream)
        if live:
            try:
                return _LiveDisplay(self.stream)
            except ImportError:  # rich is not installed: plain lines
                pass
        return _PlainDisplay(self.stream)

    # -- hooks -------------------------------------------------------------------------

    @hookimpl
    def functionfuse_workflow_start(
        self, workflow_name: str, backend: str, node_names: Sequence[str]
    ) -> None:
        run = RunSummary(workflow_name, backend, {name: NodeReport(name) for name in node_names})
        active = _Active(run)
        self._active[workflow_name] = active
        self.summaries.append(run)
        self._display.start(active)

    @hookimpl
    def functionfuse_node_rerun(
        self, workflow_name: str, node_name: str, reasons: Sequence[str]
    ) -> None:
        active = self._active.get(workflow_name)
        if active is None:
            return
        nodes = active.run.nodes
        report = nodes.get(node_name)
        if report is None:
            report = nodes[node_name] = NodeReport(node_name)
        again = bool(report.reasons)  # reported twice: count it once
        report.reasons = tuple(reasons)
        if not again and not report.runs_every_time:
            active.stale += 1
        if active.rerun_shown < self.max_reasons:
            active.rerun_shown += 1
            self._display.node_rerun(active, report)
        else:
            active.rerun_hidden += 1

    def _more_reruns(self, active: _Active) -> None:
        """Say how many rerun lines were left out (once nodes start)."""
        count = active.rerun_hidden
        active.rerun_hidden = 0
        self._display.more_reruns(active, count)

    @hookimpl
    def functionfuse_node_start(self, workflow_name: str, node_name: str) -> None:
        active = self._active.get(workflow_name)
        if active is None:
            return
        if active.rerun_hidden:
            self._more_reruns(active)
        active.started[node_name] = perf_counter()
        report = active.run.nodes.get(node_name)
        if report is None:
            report = active.run.nodes[node_name] = NodeReport(node_name)
        report.status = RUNNING

    @hookimpl
    def functionfuse_node_finish(
        self, workflow_name: str, node_name: str, duration: float, from_storage: bool
    ) -> None:
        active = self._active.get(workflow_name)
        if active is None:
            return
        if active.rerun_hidden:
            self._more_reruns(active)
        active.started.pop(node_name, None)
        status = FROM_STORAGE if from_storage else RAN
        if not from_storage and active.stale:
            known = active.run.nodes.get(node_name)
            if known is not None and known.reasons and not known.runs_every_time:
                status = RERAN
        report = active.settle(node_name, status, duration)
        self._display.node_finished(active, report)

    @hookimpl
    def functionfuse_node_error(
        self, workflow_name: str, node_name: str, error: BaseException, duration: float
    ) -> None:
        active = self._active.get(workflow_name)
        if active is None:
            return
        if active.rerun_hidden:
            self._more_reruns(active)
        started = active.started.pop(node_name, None)
        if not duration and started is not None:
            duration = perf_counter() - started  # the backend did not time it
        report = active.settle(node_name, FAILED, duration)
        report.error = error
        self._display.node_finished(active, report)

    @hookimpl
    def functionfuse_workflow_finish(
        self, workflow_name: str, error: BaseException | None, duration: float
    ) -> None:
        active = self._active.pop(workflow_name, None)
        if active is None:
            return
        if active.rerun_hidden:
            self._more_reruns(active)
        _close(active.run, duration, error)
        self._display.finish(active)

    def __repr__(self) -> str:
        return f"<ProgressReporter: {len(self.summaries)} runs>"


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except (OSError, ValueError):  # closed or detached
        return False


def _close(run: RunSummary, duration: float, error: BaseException | None) -> None:
    run.duration = duration
    run.error = error
    for report in run.nodes.values():
        if report.status == RUNNING:
            report.status = INTERRUPTED


# -- displays -------------------------------------------------------------------------


class _Display:
    """Shows nothing (quiet); the base of the two displays."""

    def start(self, active: _Active) -> None:
        pass

    def node_rerun(self, active: _Active, report: NodeReport) -> None:
        pass

    def more_reruns(self, active: _Active, count: int) -> None:
        pass

    def node_finished(self, active: _Active, report: NodeReport) -> None:
        pass

    def finish(self, active: _Active) -> None:
        pass

    def stop(self) -> None:
        pass

    def summarize(self, runs: list[RunSummary], max_rows: int, max_reasons: int) -> None:
        pass


@final
class _PlainDisplay(_Display):
    """Plain lines for logs and pipes: never a line per frame.

    Nodes read from storage are written as one line per batch (a resumed run of 100,000
    stored nodes writes one line, not 100,000).
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.pending_stored = 0

    def start(self, active: _Active) -> None:
        run = active.run
        self._write(
            f"functionfuse: workflow {run.workflow_name!r} on {run.backend}, "
            f"{_plural(active.total, 'node')}\n"
        )

    def node_rerun(self, active: _Active, report: NodeReport) -> None:
        self._write(f"rerun   {report.name}: {_one_line(_why(report))}\n")

    def more_reruns(self, active: _Active, count: int) -> None:
        self._write(f"rerun   ... and {_plural(count, 'more node')}\n")

    def node_finished(self, active: _Active, report: NodeReport) -> None:
        if report.status == FROM_STORAGE:
            self.pending_stored += 1
            return
        # The batch of stored nodes ended with the node before this one.
        self._flush_stored(active, active.finished - 1)
        prefix = self._position(active, active.finished)
        if report.status == FAILED:
            reason = _reason(report.error)
            self._write(f"{prefix} failed  {report.name}: {_one_line(reason)}\n")
        else:
            label = f"{report.status:<7}"  # ran, re-ran
            self._write(f"{prefix} {label} {report.name} ({_seconds(report.duration)})\n")

    def finish(self, active: _Active) -> None:
        run = active.run
        self._flush_stored(active, active.finished)
        outcome = "finished in" if run.error is None else "failed after"
        self._write(
            f"functionfuse: workflow {run.workflow_name!r} {outcome} "
            f"{_seconds(run.duration)}: {run.totals()}\n"
        )

    def _flush_stored(self, active: _Active, position: int) -> None:
        count = self.pending_stored
        if count:
            self.pending_stored = 0
            prefix = self._position(active, position)
            self._write(f"{prefix} {_plural(count, 'node')} from storage\n")

    @staticmethod
    def _position(active: _Active, position: int) -> str:
        return f"[{position:>{len(str(active.total))}}/{active.total}]"

    def summarize(self, runs: list[RunSummary], max_rows: int, max_reasons: int) -> None:
        lines: list[str] = []
        for run in runs:
            rows, hidden = _rows(run, max_rows)
            table = [("node", "status", "duration")]
            table.extend((r.name, r.status, _duration_cell(r)) for r in rows)
            widths = [max(len(row[i]) for row in table) for i in range(3)]
            lines.append("")
            if len(runs) > 1:
                lines.append(f"workflow {run.workflow_name!r} on {run.backend}:")
            for i, (name, status, duration) in enumerate(table):
                lines.append(
                    f"{name:<{widths[0]}}  {status:<{widths[1]}}  {duration:>{widths[2]}}".rstrip()
                )
                if i == 0:
                    lines.append("  ".join("-" * w for w in widths))
            if hidden:
                lines.append(f"... and {_hidden_note(hidden)}")
            reasons = _reason_lines(run, max_reasons)
            if reasons:
                lines.append("")
                lines.extend(reasons)
        self._write("\n".join(lines) + "\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


@final
class _LiveDisplay(_Display):
    """A live line drawn by rich on a terminal; a rich table at the end.

    rich redraws the line about ten times a second from its own thread, reading the
    counters the hooks keep: the hooks themselves never draw.
    """

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console  # ImportError: the caller falls back to plain

        interactive = _isatty(stream)
        self.console: Console = Console(file=stream, force_terminal=True)
        # Route the prints of nodes above the line, on a terminal only; and stdout only
        # when it is a terminal too: redirected to a file, the prints belong in the file.
        self.redirect_stderr = interactive
        self.redirect_stdout = interactive and _isatty(sys.stdout)
        self.live: Live | None = None
        self.active: _Active | None = None

    def start(self, active: _Active) -> None:
        from rich.live import Live

        self.stop()
        self.active = active
        self.live = Live(
            console=self.console,
            get_renderable=self._render,
            refresh_per_second=10,
            redirect_stdout=self.redirect_stdout,
            redirect_stderr=self.redirect_stderr,
        )
        self.live.start()

    def _render(self) -> RenderableType:
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        active = self.active
        grid = Table.grid(padding=(0, 1))
        if active is None:
            return grid
        run = active.run
        elapsed = run.duration if run.duration is not None else perf_counter() - active.start
        running = len(active.started)
        grid.add_row(
            Text(run.workflow_name, style="bold"),
            ProgressBar(total=max(active.total, 1), completed=active.done, width=30),
            Text(f"{active.done}/{active.total}"),
            Text(f"{active.stored} from storage", style="cyan"),
            *(
                [Text(f"{active.reran}/{active.stale} re-ran", style="magenta")]
                if active.stale
                else []
            ),
            Text(f"{running} running", style="yellow"),
            Text(f"{active.failed} failed", style="red" if active.failed else "dim"),
            Text(_seconds(elapsed), style="dim"),
        )
        return grid

    def node_rerun(self, active: _Active, report: NodeReport) -> None:
        self._print("rerun", "magenta", f"{report.name}: {_one_line(_why(report))}")

    def more_reruns(self, active: _Active, count: int) -> None:
        self._print("rerun", "magenta", f"... and {_plural(count, 'more node')}")

    def node_finished(self, active: _Active, report: NodeReport) -> None:
        if report.status == FAILED:
            self._print("failed", "red", f"{report.name}: {_one_line(_reason(report.error))}")

    def _print(self, label: str, style: str, text: str) -> None:
        """A line above the live line (names are never read as markup)."""
        from rich.text import Text

        if self.live is not None:
            self.live.console.print(Text.assemble((label, style), " ", text), highlight=False)

    def finish(self, active: _Active) -> None:
        self.stop()

    def stop(self) -> None:
        live, self.live = self.live, None
        if live is not None:
            live.stop()  # draws the final state once more

    def summarize(self, runs: list[RunSummary], max_rows: int, max_reasons: int) -> None:
        from rich.table import Table
        from rich.text import Text

        styles = {
            RAN: "green",
            RERAN: "magenta",
            FROM_STORAGE: "cyan",
            FAILED: "red",
            NOT_RUN: "dim",
        }
        for run in runs:
            rows, hidden = _rows(run, max_rows)
            outcome = "finished in" if run.error is None else "failed after"
            self.console.print(
                f"workflow {run.workflow_name!r} on {run.backend} {outcome} "
                f"{_seconds(run.duration)}: {run.totals()}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
            table = Table()
            table.add_column("node")
            table.add_column("status")
            table.add_column("duration", justify="right")
            for report in rows:
                style = styles.get(report.status, "yellow")
                table.add_row(report.name, Text(report.status, style=style), _duration_cell(report))
            if hidden:
                table.caption = f"... and {_hidden_note(hidden)}"
            self.console.print(table, highlight=False)
            for line in _reason_lines(run, max_reasons):
                self.console.print(line, highlight=False, markup=False, soft_wrap=True)


# -- formatting -------------------------------------------------------------------------


def _rows(run: RunSummary, max_rows: int) -> tuple[list[NodeReport], list[NodeReport]]:
    """The rows to show (graph order) and the ones left out.

    Beyond ``max_rows`` nodes: failed and interrupted nodes first, then the slowest
    that ran, then the rest.
    """
    reports = list(run.nodes.values())
    if len(reports) <= max_rows:
        return reports, []
    rank = {FAILED: 0, INTERRUPTED: 1, RAN: 2, RERAN: 2}
    order = sorted(
        range(len(reports)),
        key=lambda i: (rank.get(reports[i].status, 3), -(reports[i].duration or 0.0)),
    )
    shown = set(order[:max_rows])
    kept = [r for i, r in enumerate(reports) if i in shown]
    hidden = [r for i, r in enumerate(reports) if i not in shown]
    return kept, hidden


def _hidden_note(hidden: list[NodeReport]) -> str:
    counts: dict[str, int] = {}
    for report in hidden:
        counts[report.status] = counts.get(report.status, 0) + 1
    detail = ", ".join(f"{count} {status}" for status, count in counts.items())
    return f"{_plural(len(hidden), 'more node')} ({detail})"


#: In the reasons of a node that cannot be fingerprinted (see functionfuse._fingerprint).
_UNKNOWN: Final = "cannot be fingerprinted"


def _why(report: NodeReport) -> str:
    """A node's reasons to run again, on one line."""
    reasons = ", ".join(report.reasons)
    return f"runs every time: {reasons}" if report.runs_every_time else reasons


def _reason_lines(run: RunSummary, limit: int) -> list[str]:
    """The summary's lists of why nodes ran again: at most ``limit`` nodes per list."""
    lines: list[str] = []
    stale, unknown = run.reruns()
    for reports, heading in (
        (stale, "stored result out of date"),
        (unknown, "runs every time"),
    ):
        if not reports:
            continue
        lines.append(f"{heading} ({_plural(len(reports), 'node')}):")
        lines.extend(f"  {r.name}: {_one_line(', '.join(r.reasons))}" for r in reports[:limit])
        if len(reports) > limit:
            lines.append(f"  ... and {len(reports) - limit:,} more")
    return lines


def _duration_cell(report: NodeReport) -> str:
    duration = report.duration
    if duration is None or (report.status == FROM_STORAGE and not duration):
        return "-"
    return _seconds(duration)


def _seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return "<1ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}m{rest:04.1f}s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)}h{int(minutes):02d}m"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _reason(error: BaseException | None) -> str:
    if error is None:
        return "failed"
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
