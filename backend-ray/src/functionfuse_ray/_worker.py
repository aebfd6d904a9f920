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

from collections.abc import Callable
from typing import Any

from ray import cloudpickle

from functionfuse.hookspecs import Storage
from functionfuse.runtime import (
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


def execute(call: Callable[..., Any], spec: Spec, args: Any, kwargs: dict[str, Any]) -> Any:
    """Run one node where Ray put it; with a status, return ``(result, status)``."""
    if isinstance(spec, str):
        return _call(call, spec, args, kwargs)
    task, status = spec
    if isinstance(task, str):  # a status, and nothing around the call
        return _call(call, task, args, kwargs), None
    result, attempts = task.execute_remote(call, args, kwargs, cloudpickle.dumps)
    return (result, attempts or None) if status else result


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
        self.instance = execute(cls, spec, args, kwargs)

    def call(self, method: str, spec: Spec, previous: object, /, *args: Any, **kwargs: Any) -> Any:
        """Run the method node ``method`` on the instance."""
        return execute(getattr(self.instance, method), spec, args, kwargs)

    def get_instance(self, previous: object = None) -> Any:
        """The instance itself: a class node's result, when it is a workflow leaf."""
        return self.instance

    def ready(self) -> None:
        """Nothing; fails when the constructor failed, which the driver waits on."""


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
