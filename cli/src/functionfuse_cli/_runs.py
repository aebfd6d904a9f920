"""``fuse runs``: the recorded runs of a workflow, newest first (see
:mod:`functionfuse.run_records`)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from functionfuse_cli._displays import _seconds
from functionfuse_cli._report import run_records
from functionfuse_cli._storage import _open

__all__ = ["runs", "runs_table"]

#: The counts a row shows, by status, with their column titles.
_COUNTS = (
    ("ran", "RAN"),
    ("stored", "STORED"),
    ("reran", "RERAN"),
    ("failed", "FAILED"),
    ("blocked", "BLOCKED"),
)


def _when(started: Any) -> str:
    if not isinstance(started, (int, float)):
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))


def _took(started: Any, ended: Any) -> str:
    if not isinstance(started, (int, float)) or not isinstance(ended, (int, float)):
        return "-"
    return _seconds(max(0.0, ended - started))  # as the progress shows durations


def runs_table(summaries: list[dict[str, Any]]) -> str:
    """The table ``fuse runs`` prints: one row per run, as ``list_runs`` orders them."""
    header = ["RUN", "STARTED", "TOOK", "STATE", "BACKEND", *(title for _, title in _COUNTS)]
    rows = [header]
    for run in summaries:
        counts = run.get("counts") or {}
        ran = counts.get("ran", 0) + counts.get("not_saved", 0)  # not_saved ran too
        rows.append(
            [
                str(run.get("run_id")),
                _when(run.get("started")),
                _took(run.get("started"), run.get("ended")),
                str(run.get("state")),
                str(run.get("backend")),
                str(ran),
                *(str(counts.get(status, 0)) for status, _ in _COUNTS[1:]),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    numeric = len(header) - len(_COUNTS)
    lines = []
    for row in rows:
        cells = [
            cell.ljust(width) if i < numeric else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def runs(args: argparse.Namespace) -> int:
    """``fuse runs STORAGE WORKFLOW``; with a core older than run records, a failure
    that says to upgrade it (imported here: every other command works with that core)."""
    list_runs = run_records().list_runs
    storage = _open(args)
    summaries = list_runs(storage, args.workflow)
    if args.json:
        print(json.dumps(summaries, indent=2))
    else:
        print(runs_table(summaries))
    return 0
