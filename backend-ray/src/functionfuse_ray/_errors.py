"""Turning what a failed Ray task left behind into a NodeExecutionError."""

from __future__ import annotations

import re
import traceback
from typing import Final

from ray.exceptions import ObjectLostError, RayActorError, RayError, RayTaskError

from functionfuse import NodeExecutionError
from functionfuse.runtime import (
    NodeTask,
    UnpicklableNodeError,
    failed_node,
    node_failure,
    save_result,
)
from functionfuse_ray import _worker

__all__ = [
    "actor_started",
    "failing_node",
    "lost_object_id",
    "node_execution_error",
    "original_error",
    "own_system_error",
    "submit_error",
    "system_error",
]

_COLOURS: Final = re.compile(r"\x1b\[[0-9;]*m")
# What Ray prints for every task that did not run because an argument failed.
_PROPAGATED: Final = "At least one of the input arguments for this task could not be computed:\n"
# Frames of the code that runs a node on the worker (this package's and the core's node
# task), by module path: the remote traceback shows the user's code without them.
_OWN_FRAMES: Final = tuple(
    module.replace(".", "/") + ".py"
    for module in (_worker.__name__, NodeTask.__module__, save_result.__module__)
)


def original_error(error: BaseException) -> BaseException:
    """The error as raised where it started, out of the actor errors wrapped around it.

    A class node whose constructor fails — or never runs because an argument failed —
    kills its actor; every call on it, and every task that depends on one, then fails
    with an ``ActorDiedError`` (perhaps inside a ``RayTaskError``). That error keeps the
    creation task's error (the user's exception, or the failed argument's, say a stale
    stored result) as the one argument Ray constructed it with: use that one, made an
    instance of the user's exception class like any other task error.
    """
    for _ in range(16):  # a chain of class nodes nests one actor error per link
        if isinstance(error, RayTaskError):  # a task's error, perhaps "an argument failed"
            cause = getattr(error, "cause", None)
            if not isinstance(cause, RayActorError):
                return error
            error = cause
        if not isinstance(error, RayActorError) or not error.actor_init_failed:
            return error
        inner = error.args[0] if error.args else None
        if not isinstance(inner, RayTaskError):
            return error
        try:
            error = inner.as_instanceof_cause()  # type: ignore[no-untyped-call]
        except Exception:  # a cause class Ray cannot combine with: keep Ray's own
            error = inner
    return error


def failing_node(error: BaseException, seen_at: str, actor_names: dict[str, str]) -> str | None:
    """The node whose own code raised ``error`` (which may have reached us through
    ``seen_at``, a node that depends on it); ``None`` for a Ray system error (see
    :func:`system_error`), which names no node: the driver looks for it among the tasks
    of ``seen_at``'s ancestors."""
    name = failed_node(error)
    if name is not None:
        return name
    if isinstance(error, RayActorError) and error.actor_init_failed:
        owner = actor_names.get(error.actor_id or "")
        if owner is not None:
            return owner
    if system_error(error) is not None:
        return None
    return seen_at


def system_error(error: BaseException) -> RayError | None:
    """The Ray system error in ``error`` — a task's worker or node died, its object was
    lost, it ran out of memory, its actor died, ... — or ``None`` for a node's own
    exception. ``error`` is the system error itself when the task it came from is the
    one that died, or a ``RayTaskError`` holding it as ``cause`` when it reached a task
    that depends on that one (Ray's "an argument could not be computed")."""
    if isinstance(error, RayTaskError):
        cause = getattr(error, "cause", None)
        return cause if isinstance(cause, RayError) and _is_system(cause) else None
    return error if isinstance(error, RayError) and _is_system(error) else None


def own_system_error(error: BaseException) -> bool:
    """True when ``error``, the outcome of a node's own task, says that task died."""
    return not isinstance(error, RayTaskError) and system_error(error) is not None


def _is_system(error: RayError) -> bool:
    if isinstance(error, RayTaskError):
        return False
    # A constructor that raised is the user's error, handled by original_error().
    return not (isinstance(error, RayActorError) and error.actor_init_failed)


def actor_started(actor_id: str) -> bool:
    """Whether the actor ``actor_id`` (hex) was ever built — its constructor returned —
    as the cluster's actor table says; ``True`` when it cannot tell.

    Ray reports an actor whose process died in the same way whether the constructor or
    a method was running; only the table's start time (0 until it is built) differs.
    Asked only when an actor has died.
    """
    try:
        from ray._private import state

        info = state.actors(actor_id=actor_id)
        return bool(info.get("StartTime", 1)) or int(info.get("NumRestarts", 0)) > 0
    except Exception:  # a private table: if it changes, fall back to the method nodes
        return True


def lost_object_id(error: BaseException) -> str | None:
    """For a lost object, its hex id (which starts with the id of the task that made
    it); ``None`` for any other error."""
    lost = system_error(error)
    if isinstance(lost, ObjectLostError):
        object_hex = getattr(lost, "object_ref_hex", None)
        if isinstance(object_hex, str) and object_hex:
            return object_hex
    return None


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
            path = line.replace("\\", "/")
            skipping = any(frame in path for frame in _OWN_FRAMES)
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
    if isinstance(cause, UnpicklableNodeError):
        kind = cause.type_name.rsplit(".", 1)[-1]
    elif isinstance(cause, BaseException):
        kind = type(cause).__name__
    else:
        kind = type(error).__name__
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


def submit_error(
    workflow_name: str,
    name: str,
    error: Exception,
    stored: bool,
    others: dict[str, BaseException],
) -> NodeExecutionError:
    """The error ``run()`` raises when submitting node ``name`` raised on the driver
    (a node plugin's driver side, arguments Ray cannot send, ...): the core's, with the
    driver's traceback."""
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    detail = "It could not be submitted to Ray. Traceback on the driver:\n" + "".join(lines)
    return node_failure(workflow_name, {name: error, **others}, stored, detail.rstrip())
