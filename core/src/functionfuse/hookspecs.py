"""Hook specifications: the contracts between the core, backends, storages and plugins.

Every hook is named ``functionfuse_…`` and registered under the pluggy project name
``functionfuse``. An implementation declares only the arguments it uses (pluggy passes
them by name), so new arguments can be added to a spec without breaking anyone::

    from functionfuse import hookimpl

    class Timer:
        @hookimpl
        def functionfuse_node_finish(self, node_name, duration):
            print(f"{node_name}: {duration:.3f}s")

Register such an object with ``functionfuse.get_plugin_manager().register(Timer())`` or
publish it under the ``functionfuse.hooks`` entry-point group to have it auto-loaded
(``FUNCTIONFUSE_DISABLE_PLUGIN_AUTOLOAD=1`` turns auto-loading off).

Lifecycle hooks are called by every backend on the *driver* (the process that called
``run()``); their return values are ignored. Node-plugin hooks are described below.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from functionfuse.contracts import Storage

if TYPE_CHECKING:
    from functionfuse._resume import RerunReason

__all__ = [
    "PROJECT_NAME",
    "Storage",
    "functionfuse_local_initialize",
    "functionfuse_node_error",
    "functionfuse_node_finish",
    "functionfuse_node_rerun",
    "functionfuse_node_retry",
    "functionfuse_node_start",
    "functionfuse_remote_initialize",
    "functionfuse_workflow_finish",
    "functionfuse_workflow_start",
    "hookimpl",
    "hookspec",
]

PROJECT_NAME = "functionfuse"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------------------
# Workflow lifecycle (driver side)
# ---------------------------------------------------------------------------------------


@hookspec
def functionfuse_workflow_start(
    workflow_name: str, backend: str, node_names: Sequence[str]
) -> None:
    """Called once when ``run()`` starts, before any node is read or run.

    :param workflow_name: The workflow's name (also its folder in storage).
    :param backend: The backend's entry-point name, e.g. ``"local"`` or ``"ray"``.
    :param node_names: The names of every node of the run, in graph order.

    Added in 0.1.
    """


@hookspec
def functionfuse_workflow_finish(
    workflow_name: str, error: BaseException | None, duration: float
) -> None:
    """Called once when ``run()`` ends, also when it ends with an error.

    :param error: ``None`` on success, else the error ``run()`` is about to raise.
    :param duration: Wall-clock seconds since :func:`functionfuse_workflow_start`.

    Added in 0.1.
    """


# ---------------------------------------------------------------------------------------
# Node lifecycle (driver side)
# ---------------------------------------------------------------------------------------


@hookspec
def functionfuse_node_rerun(
    workflow_name: str, node_name: str, reasons: Sequence[str], causes: Sequence[RerunReason]
) -> None:
    """Called at the start of a run for each node that will run although a result is
    stored under its name, because that result is out of date — and for each node that
    cannot be fingerprinted, which runs on every run.

    :param reasons: Why, for people, naming the culprit: ``"code changed
        (helpers.scale)"``, ``"argument 'k' changed"``, ``"scikit-learn 1.5.2 → 1.6.0"``,
        ``"upstream changed ('load_0')"``, ``"stored without a fingerprint"``,
        ``"cannot be fingerprinted: ..."``, ``"upstream node 'x' cannot be
        fingerprinted"``. Not called with ``run(resume="name")`` or ``resume=False``.
    :param causes: The same, for programs: one :class:`functionfuse.RerunReason` per
        reason, in the same order (added in 0.2).

    Added in 0.1.
    """


@hookspec
def functionfuse_node_start(workflow_name: str, node_name: str) -> None:
    """Called when a backend starts a node: runs it (local) or submits it (Ray).

    Not called for a node whose result is read from storage.

    Added in 0.1.
    """


@hookspec
def functionfuse_node_finish(
    workflow_name: str, node_name: str, result: Any, duration: float, from_storage: bool
) -> None:
    """Called when a node's result is ready.

    :param result: The node's result. Backends that keep results remote (Ray) pass
        the remote reference instead of fetching the value to the driver; for a stored
        result that no running node needs (so it is not read), it is
        :data:`functionfuse.runtime.MISSING`.
    :param duration: Seconds from start to finish (for a stored result: the read).
    :param from_storage: True when the result was read from storage, not computed.

    Added in 0.1.
    """


@hookspec
def functionfuse_node_error(
    workflow_name: str, node_name: str, error: BaseException, duration: float
) -> None:
    """Called when a node raised. ``error`` is the user's exception.

    The backend raises :class:`functionfuse.NodeExecutionError` afterwards (unless it
    keeps going); every result finished before is already stored.

    Added in 0.1.
    """


@hookspec
def functionfuse_node_retry(
    workflow_name: str, node_name: str, attempt: int, error: BaseException, delay: float
) -> None:
    """Called when an attempt of a node with retries (``Query.set_retries``) raised and
    the node will run again after ``delay`` seconds.

    :param attempt: The number of the attempt that failed (1 for the first).
    :param error: That attempt's exception.

    Added in 0.1.
    """


# ---------------------------------------------------------------------------------------
# Node plugins: what runs around a node
# ---------------------------------------------------------------------------------------
# A node plugin is attached to nodes with ``workflow.set_plugin(pattern, plugin)`` or
# ``workflow.query(pattern).set_plugin(plugin)``. For each node it is attached to, the
# backend calls ``functionfuse_local_initialize`` on the driver, then
# ``functionfuse_remote_initialize``, whose callable is shipped to wherever the node runs
# and called there right before the node. Subclasses of :class:`functionfuse.Plugin`
# may implement the original Function Fuse methods ``local_initialize()`` and
# ``remote_initialize()`` instead.
#
# Hook plugins registered with the plugin manager may implement the same two hooks; they
# then run around *every* node of every workflow.


@hookspec
def functionfuse_local_initialize(workflow_name: str, node_name: str) -> None:
    """Driver side, once per node, in graph order, before the node is submitted.

    Called for every node of the workflow, also those whose result is read from
    storage instead of run, so that a resumed run sees the same sequence of nodes as a
    fresh one. The place for state that must advance in a fixed order, such as a seed
    counter.

    Added in 0.1.
    """


@hookspec
def functionfuse_remote_initialize(
    workflow_name: str, node_name: str
) -> Callable[[], object] | None:
    """Driver side, right after :func:`functionfuse_local_initialize`.

    :returns: ``None``, or a picklable callable taking no arguments that the backend
        calls on the worker right before the node runs (for the local backend, in the
        same process). Capture values, not references to driver-side state.

    Added in 0.1.
    """


# ---------------------------------------------------------------------------------------
# The storage contract lives in functionfuse.contracts (re-exported here, where 0.1
# defined it).
# ---------------------------------------------------------------------------------------
