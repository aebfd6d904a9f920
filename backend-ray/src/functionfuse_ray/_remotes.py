"""The Ray remote functions and actor class the driver submits, made once per process.

Ray exports a remote function's code to the cluster the first time it is called, and
then only each call's arguments travel. Making one remote function per distinct node
function (cached here) is what keeps a functionfuse task as cheap as a hand-written one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import ray

from functionfuse.runtime import read_fingerprints, read_result
from functionfuse_ray._worker import (
    ActorHost,
    save_pinned,
    select_item,
    storage_setup,
    task_function,
)

__all__ = ["remote_function", "remote_helpers"]


@functools.lru_cache(maxsize=1024)
def _cached_remote(func: Callable[..., Any]) -> Any:
    return ray.remote(task_function(func))


def remote_function(func: Callable[..., Any]) -> Any:
    """The remote function that runs ``func``'s nodes (see :func:`task_function`)."""
    try:
        return _cached_remote(func)
    except TypeError:  # an unhashable callable: one per node, then
        return ray.remote(task_function(func))


@functools.cache
def remote_helpers() -> dict[str, Any]:
    """The actor class of class nodes, and the storage and item-selection tasks (a
    stored result is read with the core's :func:`~functionfuse.runtime.read_result`,
    which refuses one replaced since the run was planned)."""
    return {
        "actor": ray.remote(ActorHost),
        "read": ray.remote(read_result),
        "save": ray.remote(num_returns=2)(save_pinned),
        "select": ray.remote(select_item),
        "setup": ray.remote(storage_setup),
        "fingerprints": ray.remote(read_fingerprints),
    }
