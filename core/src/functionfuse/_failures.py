"""The error a run ends with when nodes failed: it names the workflow and every failed
node, chains the first node's exception, and says what to do."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from functionfuse._errors import NodeExecutionError, error_line

__all__ = ["node_failure"]


def node_failure(
    workflow_name: str,
    failures: Mapping[str, BaseException],
    stored: bool,
    detail: str = "",
    *,
    not_run: int = 0,
    kept_going: bool = False,
) -> NodeExecutionError:
    """The :class:`NodeExecutionError` for failed nodes: names the workflow and every
    failed node, chains the first node's exception, says what to do."""
    name, first = next(iter(failures.items()))
    if kept_going:
        listing = "; ".join(f"{n!r} ({error_line(e)})" for n, e in _first(failures.items()))
        more = f" and {len(failures) - 5} more" if len(failures) > 5 else ""
        message = (
            f"{len(failures)} node(s) of workflow {workflow_name!r} failed: {listing}{more}. "
            f"{not_run} node(s) that depend on them did not run; every other node ran"
            + (" and its result is stored" if stored else "")
            + ". Fix the causes and run again"
            + (" to resume." if stored else ".")
        )
    else:
        others = [n for n in failures if n != name]
        also = f" (also failed: {', '.join(map(repr, others[:5]))})" if others else ""
        after = (
            "Results of the nodes that finished before it are stored; fix the cause and "
            "run again to resume."
            if stored
            else "Fix the cause and run again."
        )
        message = (
            f"node {name!r} of workflow {workflow_name!r} failed with {_described(first)}"
            f"{also}. {after}"
        )
    if detail:
        message = f"{message}\n{detail}"
    error = NodeExecutionError(
        message, workflow_name=workflow_name, node_name=name, failed=dict(failures)
    )
    error.__cause__ = first
    return error


def _described(error: BaseException) -> str:
    """The node's error in full (one node failed: its whole message is the news)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _first(items: Iterable[tuple[str, BaseException]], limit: int = 5) -> list[Any]:
    return list(items)[:limit]
