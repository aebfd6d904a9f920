"""What runs on the Ray workers: node tasks, the actors of class nodes, storage calls.

Everything here is shipped small. A task receives the node's callable (in the closure of
a remote function made once per function), a *spec* and the arguments; the graph itself
never leaves the driver. The spec is the node's name alone when nothing happens around
the call (no plugins, retries, save or arguments template, no status), and
``(name, True)`` with a status; otherwise ``(task, status)`` (a node task travels
pickled, a name and a flag as they are):

- ``task``: the core's :class:`~functionfuse.runtime.NodeTask` — the node plugins'
  worker side, the retries, the save with the node's stamp (unless storage is pinned to
  other machines: then a separate save task does it), the ``always_read`` re-read, and
  the :class:`~functionfuse.runtime.ArgumentsTemplate` when the arguments are not ready
  to use (the task's positional values are then the parents' values it indexes);
- ``status``: the task has two returns, the result and a tiny status the driver fetches
  to learn whether the node failed without fetching its result (``None``, or the
  attempts that failed before a retry succeeded, for the driver's ``node_retry`` hook).

An exception leaves named after its node and in a form the driver can unpickle (see
:func:`functionfuse.runtime.portable_error`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import ray
from ray import cloudpickle

from functionfuse.hookspecs import Storage
from functionfuse.runtime import (
    NodeRun,
    NodeTask,
    SaveTo,
    portable_error,
    save_result,
)

__all__ = [
    "ActorHost",
    "Spec",
    "execute",
    "save_pinned",
    "select_item",
    "storage_setup",
    "task_function",
]

Spec = str | tuple[NodeTask | str, bool]


def _call(call: Callable[..., Any], name: str, args: Any, kwargs: dict[str, Any]) -> Any:
    """``call(*args, **kwargs)``; an exception leaves named, and fit to travel."""
    try:
        return call(*args, **kwargs)
    except BaseException as error:
        failure = portable_error(error, name, cloudpickle.dumps)
        if failure is error:
            raise
        raise failure from error


_label: tuple[int, str] | None = None


def worker_label() -> str:
    """How a run record names this Ray worker: ``ray worker 1a2b3c4d on 10.0.0.5 (pid
    N)`` (its worker id's start, its node's address); made once per process."""
    global _label
    pid = os.getpid()
    if _label is None or _label[0] != pid:
        try:
            worker = ray.get_runtime_context().get_worker_id()[:8]
            address = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
            text = f"ray worker {worker} on {address} (pid {pid})"
        except Exception:  # not in a Ray worker (a local-mode call)
            text = f"ray, pid {pid}"
        _label = (pid, text)
    return _label[1]


def execute(call: Callable[..., Any], spec: Spec, args: Any, kwargs: dict[str, Any]) -> Any:
    """Run one node where Ray put it; with a status, return ``(result, status)``: the
    status is ``(failed attempts or None, NodeRun)`` — the retries for the driver's
    ``node_retry`` hook, where and when it ran for the run record."""
    if isinstance(spec, str):
        return _call(call, spec, args, kwargs)
    task, status = spec
    if isinstance(task, str):  # a status, and nothing around the call
        task = NodeTask(task)
    if not status:
        return task.execute_remote(call, args, kwargs, cloudpickle.dumps)[0]
    result, attempts, ran = task.execute_reported(
        call, args, kwargs, cloudpickle.dumps, worker_label()
    )
    return result, (attempts or None, ran)


def task_function(func: Callable[..., Any]) -> Callable[..., Any]:
    """The function Ray runs for a function node: ``execute`` with ``func`` built in.

    Made (and exported to the cluster by Ray) once per distinct function, so a task
    ships only its spec and arguments, never the function itself. It carries the
    function's names, so Ray's dashboard and error messages show them.
    """

    def run_node(spec: Spec, /, *args: Any, **kwargs: Any) -> Any:
        return execute(func, spec, args, kwargs)

    run_node.__name__ = getattr(func, "__name__", run_node.__name__)
    run_node.__qualname__ = getattr(func, "__qualname__", run_node.__qualname__)
    return run_node


class ActorHost:
    """The Ray actor of a class node: builds the instance, then runs its method nodes.

    One actor per class node; Ray runs the calls made through one handle in submission
    order, which is the order of the method nodes. Each call also receives the previous
    call's *status* ObjectRef (``previous``, a tiny object): a call that failed — or never
    ran because one of its arguments failed — then fails the later ones, which would
    otherwise run on an instance missing its changes, and be stored.
    """

    def __init__(self, cls: Callable[..., Any], spec: Spec, /, *args: Any, **kwargs: Any) -> None:
        #: Where and when the constructor ran (with a status), for ``ready``.
        self.ran: NodeRun | None = None
        if isinstance(spec, str) or not spec[1]:
            self.instance = execute(cls, spec, args, kwargs)
        else:
            self.instance, (_, self.ran) = execute(cls, spec, args, kwargs)

    def call(self, method: str, spec: Spec, previous: object, /, *args: Any, **kwargs: Any) -> Any:
        """Run the method node ``method`` on the instance."""
        return execute(getattr(self.instance, method), spec, args, kwargs)

    def get_instance(self, previous: object = None) -> Any:
        """The instance itself: a class node's result, when it is a workflow leaf."""
        return self.instance

    def ready(self) -> NodeRun | None:
        """Where and when the constructor ran (``None`` unless asked, with a status);
        fails when the constructor failed, which the driver waits on."""
        return self.ran


def save_pinned(save: SaveTo, name: str, result: Any) -> tuple[Any, None]:
    """The save task of node ``name`` when storage is pinned to the machines holding a
    resource: the core's save, with the node's stamp.

    Two returns: the result read back (with ``always_read``; else ``None``) and a status.
    """
    saved = (save.storage, save.workflow_name, name, result, save.stamp)
    value = _call(save_result, name, saved, {})
    return (value if save.storage.always_read else None), None


def select_item(value: Any, indices: tuple[Any, ...]) -> Any:
    """``node[i][j]...`` for a leaf, on a worker, so only the item reaches the driver."""
    for index in indices:
        value = value[index]
    return value


def storage_setup(storage: Storage, workflow_name: str) -> list[str]:
    """Prepare the workflow's folder and list what is stored, where the storage lives."""
    storage.new_workflow(workflow_name)
    return storage.list_tasks(workflow_name)
