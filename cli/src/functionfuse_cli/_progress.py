"""Progress of workflow runs while they run, and a summary table when they are done.

:class:`ProgressReporter` is a hook plugin (see :mod:`functionfuse.hookspecs`) that is
registered only while a ``with`` block runs::

    from functionfuse_cli import ProgressReporter

    with ProgressReporter() as reporter:
        wf.run()
    reporter.summary.nodes["fit"].status  # "ran", "re-ran", "from storage", "failed", ...
    reporter.summary.nodes["fit"].reasons  # ("code changed",): why it ran again

On a terminal it draws a live line with ``rich`` (a bar with done / total, from
storage, re-ran, running, failed, elapsed); anywhere else it writes plain lines: one
per node that ran or failed, one per batch of nodes read from storage, and a totals
line per run. Either way, each node that runs again although a result is stored (out
of date), or that cannot be fingerprinted (so runs every time), gets a line saying
why when the run starts (the first
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
from typing import ClassVar, TextIO, final

from functionfuse import get_plugin_manager, hookimpl
from functionfuse_cli._displays import Display, LiveDisplay, PlainDisplay, isatty
from functionfuse_cli._summary import (
    ENDED,
    FAILED,
    FROM_STORAGE,
    INTERRUPTED,
    RAN,
    RERAN,
    RUNNING,
    NodeReport,
    RunSummary,
)

__all__ = ["INTERRUPTED", "Active", "NodeReport", "ProgressReporter", "RunSummary"]


@final
class Active:
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
        if old in ENDED:
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
        self._active: dict[str, Active] = {}
        self._display: Display = Display()

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
            self._display = Display()
            display.stop()
            for active in self._active.values():  # runs that never reported their end
                _close(active.run, perf_counter() - active.start, None)
            self._active.clear()
            if self.summaries:
                display.summarize(self.summaries, self.max_rows, self.max_reasons)

    def _make_display(self) -> Display:
        live = self.live
        if live is None:
            live = isatty(self.stream)
        if live:
            try:
                return LiveDisplay(self.stream)
            except ImportError:  # rich is not installed: plain lines
                pass
        return PlainDisplay(self.stream)

    # -- hooks -------------------------------------------------------------------------

    @hookimpl
    def functionfuse_workflow_start(
        self, workflow_name: str, backend: str, node_names: Sequence[str]
    ) -> None:
        run = RunSummary(workflow_name, backend, {name: NodeReport(name) for name in node_names})
        active = Active(run)
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

    def _more_reruns(self, active: Active) -> None:
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


def _close(run: RunSummary, duration: float, error: BaseException | None) -> None:
    run.duration = duration
    run.error = error
    for report in run.nodes.values():
        if report.status == RUNNING:
            report.status = INTERRUPTED
