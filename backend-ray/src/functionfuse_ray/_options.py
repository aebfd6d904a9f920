"""Checking a node's remote args before they reach Ray's ``.options()``.

A function node's args go to its task's ``.options()`` and a class node's to its actor's;
Ray validates both and raises a plain ``ValueError`` or ``TypeError``, which becomes a
:class:`functionfuse.ConfigurationError` naming the workflow and the node here.

A method node is a call on its class node's actor. Ray's actor method calls accept only
a few options (``name``, ``max_task_retries``, ``retry_exceptions``, ...; the set is read
from the installed Ray); the rest — resources, ``num_cpus``, ``max_retries``,
``scheduling_strategy``, ... — belong to the actor. Such an option on a method node is
refused, unless the class node has the very same value for it (as when one pattern,
``query("model.*")``, matches the class node and its methods): the actor already has it,
and the method call simply goes without it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Final

from functionfuse import ConfigurationError

__all__ = ["checked_options", "method_options", "method_option_keys"]

#: What functionfuse-ray sets itself on every call that has options.
_RESERVED: Final = frozenset({"num_returns"})
#: Actor method options when the installed Ray's cannot be read.
_FALLBACK_METHOD_KEYS: Final = frozenset(
    {"name", "max_task_retries", "retry_exceptions", "concurrency_group", "enable_task_events"}
)


@functools.cache
def method_option_keys() -> frozenset[str]:
    """The options Ray's actor method calls accept (``ActorMethod._remote``'s keywords)."""
    try:
        from ray.actor import ActorMethod

        parameters = inspect.signature(ActorMethod._remote).parameters
    except Exception:  # pragma: no cover - a Ray without that method
        return _FALLBACK_METHOD_KEYS
    keys = {
        name
        for name, parameter in parameters.items()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    }
    # Not options: the call's arguments; and what cannot be set per call.
    keys -= {"self", "args", "kwargs", "_num_objects_per_yield"}
    return frozenset(keys - _RESERVED) or _FALLBACK_METHOD_KEYS


def _refuse_reserved(workflow_name: str, name: str, remote_args: Mapping[str, Any]) -> None:
    reserved = sorted(_RESERVED.intersection(remote_args))
    if reserved:
        raise ConfigurationError(
            f"remote args of node {name!r} in workflow {workflow_name!r} set "
            f"{', '.join(reserved)}, which functionfuse-ray sets itself (a node has one "
            "result); remove it from set_remote_args()."
        )


def checked_options(
    workflow_name: str,
    name: str,
    what: str,
    make: Callable[..., Any],
    remote_args: Mapping[str, Any],
    **extra: Any,
) -> Any:
    """``make(**remote_args, **extra)`` (a task's or an actor's ``.options``), with Ray's
    complaints about the options turned into a ConfigurationError naming the node."""
    _refuse_reserved(workflow_name, name, remote_args)
    try:
        return make(**remote_args, **extra)
    except (ValueError, TypeError) as error:
        raise ConfigurationError(
            f"Ray refused the remote args {dict(remote_args)!r} of {what} {name!r} in "
            f"workflow {workflow_name!r}: {error}. Fix the options given to "
            "set_remote_args() for this node."
        ) from error


def method_options(
    workflow_name: str,
    name: str,
    class_name: str,
    remote_args: Mapping[str, Any],
    class_args: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The options of a method node's actor call (see the module's doc)."""
    _refuse_reserved(workflow_name, name, remote_args)
    allowed = method_option_keys()
    options: dict[str, Any] = {}
    refused: list[str] = []
    for key, value in remote_args.items():
        if key in allowed:
            options[key] = value
        elif class_args is None or key not in class_args or not _same(class_args[key], value):
            refused.append(key)
    if refused:
        raise ConfigurationError(
            f"remote args {', '.join(map(repr, refused))} of method node {name!r} in "
            f"workflow {workflow_name!r} are not options of an actor method call. "
            f"Resources and the other actor options belong to the class node: set them "
            f"with query({class_name!r}).set_remote_args({{...}}) (a pattern matching the "
            "class node and its methods with the same values also works). A method call "
            f"accepts {', '.join(sorted(allowed))}."
        )
    return options


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:
        return False
