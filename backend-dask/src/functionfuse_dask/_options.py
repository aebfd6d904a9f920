"""A node's remote args as ``Client.submit`` keywords, and the worker a class node lives on.

``query(pattern).set_remote_args({...})`` takes Dask's per-task options: ``resources``
(``{"GPU": 1}``: abstract resources the worker must have), ``workers`` (addresses,
hostnames or worker names that may run the node), ``allow_other_workers`` (``workers``
becomes a preference), ``retries`` (Dask runs the task again when it raises) and
``priority`` (higher runs first). Anything else is a
:class:`functionfuse.ConfigurationError` naming the node and the keys it takes.

A class node's instance lives on one worker, chosen when the node is submitted (see
:func:`pick_worker`); its constructor and method calls run there. Its own ``workers``
and ``resources`` choose that worker; a method call may ask for ``resources`` (the
worker is chosen to have them), ``retries`` and ``priority``, but not for a worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from functionfuse import ConfigurationError

__all__ = ["ALLOWED_KEYS", "METHOD_KEYS", "pick_worker", "submit_options"]

#: The remote args a function or class node takes (``Client.submit``'s keywords).
ALLOWED_KEYS: Final = ("allow_other_workers", "priority", "resources", "retries", "workers")
#: Those a method node takes: its worker is its instance's.
METHOD_KEYS: Final = ("priority", "resources", "retries")


def submit_options(
    workflow_name: str,
    name: str,
    remote_args: Mapping[str, Any],
    *,
    method: bool = False,
    class_args: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``Client.submit`` keywords of node ``name``: its remote args, checked.

    ``method``: the node is a method call, whose class node has ``class_args``; it may
    repeat a worker option of its class node (one pattern matching both) but not set one.
    """
    allowed = METHOD_KEYS if method else ALLOWED_KEYS
    options: dict[str, Any] = {}
    for key, value in remote_args.items():
        if key not in allowed:
            if method and key in ALLOWED_KEYS and _same_as_class(key, value, class_args):
                continue  # the instance's worker already follows it
            if method and key in ALLOWED_KEYS:
                raise ConfigurationError(
                    f"remote args of method node {name!r} in workflow {workflow_name!r} set "
                    f"{key!r}, but a method call runs on the worker that holds its instance: "
                    "set it on the class node (query(<class node>).set_remote_args(...)). "
                    f"A method node takes {', '.join(METHOD_KEYS)}."
                )
            raise ConfigurationError(
                f"remote args of node {name!r} in workflow {workflow_name!r} have the "
                f"unknown key {key!r}; functionfuse-dask takes "
                f"{', '.join(allowed)} (the keywords of Dask's Client.submit)."
            )
        options[key] = _checked(workflow_name, name, key, value)
    if options.get("allow_other_workers") and "workers" not in options:
        raise ConfigurationError(
            f"remote args of node {name!r} in workflow {workflow_name!r} set "
            "allow_other_workers without workers; add workers=[...] or remove it."
        )
    return options


def _same_as_class(key: str, value: Any, class_args: Mapping[str, Any] | None) -> bool:
    if class_args is None or key not in class_args:
        return False
    try:
        return bool(class_args[key] == value)
    except Exception:
        return False


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _checked(workflow_name: str, name: str, key: str, value: Any) -> Any:
    """``value`` in the form Dask takes, or a ConfigurationError saying what was expected."""
    where = f"remote arg {key!r} of node {name!r} in workflow {workflow_name!r}"
    if key == "resources":
        if isinstance(value, Mapping) and all(
            isinstance(k, str) and _number(v) and v >= 0 for k, v in value.items()
        ):
            return dict(value)
        expected = "a dict of resource names to amounts, e.g. {'GPU': 1}"
    elif key == "workers":
        if isinstance(value, str) and value:
            return [value]
        if (
            isinstance(value, (list, tuple, set, frozenset))
            and value
            and all(isinstance(w, str) and w for w in value)
        ):
            return list(value)
        expected = "a worker address, hostname or name, or a list of them"
    elif key == "retries":
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        expected = "an int >= 0"
    elif key == "priority":
        if _number(value):
            return value
        expected = "a number (higher runs first)"
    else:  # allow_other_workers
        if isinstance(value, bool):
            return value
        expected = "True or False"
    raise ConfigurationError(f"{where} must be {expected}, got {value!r}.")


def pick_worker(
    workflow_name: str,
    name: str,
    workers: Mapping[str, Mapping[str, Any]],
    wanted: list[str] | None,
    resources: Mapping[str, float],
    pinned: Mapping[str, int],
) -> str:
    """The address of the worker that will hold class node ``name``'s instance.

    ``workers``: the scheduler's worker table (address -> info with ``name``, ``host``,
    ``resources``); ``wanted``: the node's ``workers`` option; ``resources``: what its
    constructor and method calls ask for, each at its largest; ``pinned``: how many
    instances of this run each worker holds already — the least loaded is chosen.
    """
    eligible = []
    for address, info in workers.items():
        if wanted is not None and not _matches(address, info, wanted):
            continue
        have = info.get("resources") or {}
        if all(have.get(resource, 0) >= amount for resource, amount in resources.items()):
            eligible.append(address)
    if not eligible:
        needs = []
        if wanted is not None:
            needs.append(f"is one of {wanted!r}")
        if resources:
            needs.append(f"has the resources {dict(resources)!r}")
        raise ConfigurationError(
            f"class node {name!r} of workflow {workflow_name!r} needs a worker that "
            f"{' and '.join(needs) or 'is connected'}, and none of the "
            f"{len(workers)} worker(s) connected does. Its instance lives on one worker, "
            "chosen when it is submitted: start such a worker, or change the node's "
            "remote args (and its method calls' resources)."
        )
    return min(eligible, key=lambda address: pinned.get(address, 0))


def _matches(address: str, info: Mapping[str, Any], wanted: list[str]) -> bool:
    """Whether a worker is named by ``wanted``, as Dask's ``workers=`` reads it: by
    address, by host, or by the worker's name."""
    host = info.get("host")
    name = info.get("name")
    return any(entry in (address, host, str(name)) for entry in wanted)
