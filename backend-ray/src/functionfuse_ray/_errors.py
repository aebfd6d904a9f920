"""Turning what a failed Ray task left behind into a NodeExecutionError."""

from __future__ import annotations

import re
from typing import Final

from ray.exceptions import RayActorError

from functionfuse import NodeExecutionError
from functionfuse_ray._worker import NODE_ATTRIBUTE

__all__ = ["failing_node", "node_execution_error"]

_COLOURS: Final = re.compile(r"\x1b\[[0-9;]*m")
# What Ray prints for every task that did not run because an argument failed.
_PROPAGATED: Final = "At least one of the input arguments for this task could not be computed:\n"
_OWN_FRAME: Final = "functionfuse_ray/_worker.py"


def failing_node(error: BaseException, seen_at: str, actor_names: dict[str, str]) -> str:
    """The node whose own code raised ``error`` (which may have reached us through
    ``seen_at``, a node that depends on it)."""
    name = getattr(error, NODE_ATTRIBUTE, None)
    if isinstance(name, str):
        return name
    if isinstance(error, RayActorError) and error.actor_init_failed:
        owner = actor_names.get(error.actor_id or "")
        if owner is not None:
            return owner
    return seen_at


def remote_traceback(error: BaseException) -> str:
    """Ray's text for the error, from the task that raised it, without colour codes."""
    text = _COLOURS.sub("", str(error))
    if _PROPAGATED in text:
        text = text.rsplit(_PROPAGATED, 1)[1]
    return "\n".join(_without_own_frames(text.strip().splitlines()))


def _without_own_frames(lines: list[str]) -> list[str]:
    """Drop this package's frames (and stray caret lines): the user's code is what matters."""
    kept: list[str] = []
    skipping = False
    for line in lines:
        if line.startswith('  File "'):
            skipping = _OWN_FRAME in line.replace("\\", "/")
        elif not (skipping and line.startswith("    ")):
            skipping = False
        if skipping:
            continue
        stripped = line.strip()
        if stripped and set(stripped) <= {"^", "~"}:
            previous = kept[-1] if kept else ""
            if not previous.startswith("    ") or set(previous.strip()) <= {"^", "~"}:
                continue
        kept.append(line)
    return kept


def node_execution_error(
    workflow_name: str,
    failures: dict[str, BaseException],
    stored: bool,
) -> NodeExecutionError:
    """The error ``run()`` raises: the first failed node, its remote traceback, the fix."""
    name, error = next(iter(failures.items()))
    cause = getattr(error, "cause", None)
    kind = type(cause).__name__ if isinstance(cause, BaseException) else type(error).__name__
    others = [n for n in failures if n != name]
    also = ""
    if others:
        listed = ", ".join(repr(n) for n in others[:5])
        more = f" and {len(others) - 5} more" if len(others) > 5 else ""
        also = f"\nAlso failed: {listed}{more} (see the error's .failed)."
    after = (
        "Every node that finished is stored; fix the node and run the workflow again to "
        "resume from storage."
        if stored
        else "Fix the node and run the workflow again."
    )
    message = (
        f"node {name!r} of workflow {workflow_name!r} failed on Ray with {kind}.\n"
        f"Remote traceback:\n{remote_traceback(error)}{also}\n{after}"
    )
    failure = NodeExecutionError(
        message, workflow_name=workflow_name, node_name=name, failed=dict(failures)
    )
    failure.__cause__ = error
    return failure
