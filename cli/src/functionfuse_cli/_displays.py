"""How a ProgressReporter shows a run: nothing, plain lines, or a live line drawn by rich."""

from __future__ import annotations

import sys
from time import perf_counter
from typing import TYPE_CHECKING, TextIO, final

from functionfuse_cli._summary import (
    FAILED,
    FROM_STORAGE,
    INTERRUPTED,
    NOT_RUN,
    RAN,
    RERAN,
    NodeReport,
    RunSummary,
)

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

    from functionfuse_cli._progress import Active

__all__ = ["Display", "LiveDisplay", "PlainDisplay", "isatty"]


def isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except (OSError, ValueError):  # closed or detached
        return False


class Display:
    """Shows nothing (quiet); the base of the two displays."""

    def start(self, active: Active) -> None:
        pass

    def node_rerun(self, active: Active, report: NodeReport) -> None:
        pass

    def more_reruns(self, active: Active, count: int) -> None:
        pass

    def node_finished(self, active: Active, report: NodeReport) -> None:
        pass

    def finish(self, active: Active) -> None:
        pass

    def stop(self) -> None:
        pass

    def summarize(self, runs: list[RunSummary], max_rows: int, max_reasons: int) -> None:
        pass


@final
class PlainDisplay(Display):
    """Plain lines for logs and pipes: never a line per frame.

    Nodes read from storage are written as one line per batch (a resumed run of 100,000
    stored nodes writes one line, not 100,000).
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.pending_stored = 0

    def start(self, active: Active) -> None:
        run = active.run
        self._write(
            f"functionfuse: workflow {run.workflow_name!r} on {run.backend}, "
            f"{_plural(active.total, 'node')}\n"
        )

    def node_rerun(self, active: Active, report: NodeReport) -> None:
        self._write(f"rerun   {report.name}: {_one_line(_why(report))}\n")

    def more_reruns(self, active: Active, count: int) -> None:
        self._write(f"rerun   ... and {_plural(count, 'more node')}\n")

    def node_finished(self, active: Active, report: NodeReport) -> None:
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

    def finish(self, active: Active) -> None:
        run = active.run
        self._flush_stored(active, active.finished)
        outcome = "finished in" if run.error is None else "failed after"
        self._write(
            f"functionfuse: workflow {run.workflow_name!r} {outcome} "
            f"{_seconds(run.duration)}: {run.totals()}\n"
        )

    def _flush_stored(self, active: Active, position: int) -> None:
        count = self.pending_stored
        if count:
            self.pending_stored = 0
            prefix = self._position(active, position)
            self._write(f"{prefix} {_plural(count, 'node')} from storage\n")

    @staticmethod
    def _position(active: Active, position: int) -> str:
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
class LiveDisplay(Display):
    """A live line drawn by rich on a terminal; a rich table at the end.

    rich redraws the line about ten times a second from its own thread, reading the
    counters the hooks keep: the hooks themselves never draw.
    """

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console  # ImportError: the caller falls back to plain

        interactive = isatty(stream)
        self.console: Console = Console(file=stream, force_terminal=True)
        # Route the prints of nodes above the line, on a terminal only; and stdout only
        # when it is a terminal too: redirected to a file, the prints belong in the file.
        self.redirect_stderr = interactive
        self.redirect_stdout = interactive and isatty(sys.stdout)
        self.live: Live | None = None
        self.active: Active | None = None

    def start(self, active: Active) -> None:
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

    def node_rerun(self, active: Active, report: NodeReport) -> None:
        self._print("rerun", "magenta", f"{report.name}: {_one_line(_why(report))}")

    def more_reruns(self, active: Active, count: int) -> None:
        self._print("rerun", "magenta", f"... and {_plural(count, 'more node')}")

    def node_finished(self, active: Active, report: NodeReport) -> None:
        if report.status == FAILED:
            self._print("failed", "red", f"{report.name}: {_one_line(_reason(report.error))}")

    def _print(self, label: str, style: str, text: str) -> None:
        """A line above the live line (names are never read as markup)."""
        from rich.text import Text

        if self.live is not None:
            self.live.console.print(Text.assemble((label, style), " ", text), highlight=False)

    def finish(self, active: Active) -> None:
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
