"""What happened in a run, node by node: :class:`RunSummary` and :class:`NodeReport`.

A :class:`~functionfuse_cli.ProgressReporter` fills one RunSummary per run from the
lifecycle hooks; its statuses are the constants below.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, final

__all__ = [
    "ENDED",
    "FAILED",
    "FROM_STORAGE",
    "INTERRUPTED",
    "NOT_RUN",
    "RAN",
    "RERAN",
    "RUNNING",
    "UNKNOWN",
    "NodeReport",
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
#: The statuses of a node that has finished, one way or another.
ENDED: Final = frozenset({RAN, RERAN, FROM_STORAGE, FAILED})
_TOTALS: Final = (RAN, FROM_STORAGE, FAILED, NOT_RUN)  # always in totals(); others if any

#: In the reasons of a node that cannot be fingerprinted (the core's words: see the
#: ``functionfuse_node_rerun`` hook), so that it runs every time.
UNKNOWN: Final = "cannot be fingerprinted"

# Plain classes rather than dataclasses: each dataclass costs about a millisecond of
# import time, and ``fuse --help`` should start fast.


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
        return any(UNKNOWN in reason for reason in self.reasons)

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
