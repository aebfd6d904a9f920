"""What runs on the Dask workers: node tasks, class nodes' instances and method calls.

Everything here is shipped small: the node's callable (by reference when it can be), a
*spec* and the arguments, whose futures Dask resolves on the worker. The graph never
leaves the driver. The spec is the node's name alone when nothing happens around the
call (no plugins, retries, save or arguments template); otherwise ``(task, status)``:

- ``task``: the core's :class:`~functionfuse.runtime.NodeTask` — the node plugins'
  worker side, the retries, the save with the node's stamp, the ``always_read`` re-read,
  and the :class:`~functionfuse.runtime.ArgumentsTemplate` when the arguments are not
  ready to use (the positional values are then the parents' values it indexes);
- ``status``: the task returns ``(result, attempts)`` — the attempts that failed before
  a retry succeeded, for the driver's ``node_retry`` hook — and the driver splits the
  pair with :func:`operator.getitem` tasks, on the worker;
- ``record`` (a third item, when the run's record goes to storage): where and when the
  node ran (the core's :class:`~functionfuse.runtime.NodeRun`) goes to the scheduler's
  event log under :data:`RUNS_TOPIC`, keyed by the task's key, and the driver reads the
  run's events once at its end — no extra task or transfer per node.

The task itself runs with the core's :meth:`~functionfuse.runtime.NodeTask.execute_remote`:
an exception leaves named after its node, in a form the driver can unpickle (see
:func:`functionfuse.runtime.portable_error`), with the attempts before it.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Callable
from typing import Any, final

from distributed import get_worker
from distributed.protocol import pickle as dask_pickle

from functionfuse.runtime import NodeTask, dumps, portable_error

__all__ = [
    "RUNS_TOPIC",
    "Code",
    "Spec",
    "call_method",
    "code_of",
    "execute",
    "get_instance",
    "run_node",
    "select_item",
]

Spec = str | tuple[NodeTask | str, bool] | tuple[NodeTask | str, bool, bool]

#: The scheduler event topic where node tasks say where and when they ran.
RUNS_TOPIC = "functionfuse-runs"


@final
class Code:
    """A node's function or class, pickled by reference (:func:`functionfuse.runtime.dumps`
    finds it through its ``@workflow`` factory) and loaded once per worker process.

    Dask's pickling would send a decorated function by value (the module attribute of its
    name is the factory, not the function): a copy per task, and module globals copied
    with it — state a node plugin sets on the worker would not be the state it reads.
    """

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __reduce__(self) -> tuple[Any, ...]:
        return (Code, (self.payload,))

    def load(self) -> Callable[..., Any]:
        found = _loaded.get(self.payload)
        if found is None:
            found = _loaded[self.payload] = pickle.loads(self.payload)
        return found


_loaded: dict[bytes, Callable[..., Any]] = {}
_codes: dict[Any, Code | Callable[..., Any]] = {}


def code_of(func: Callable[..., Any]) -> Code | Callable[..., Any]:
    """What a task ships for ``func``: a :class:`Code` when it can be found by name where
    the task runs, else ``func`` itself (Dask sends it by value: ``__main__``, local
    functions, lambdas)."""
    try:
        return _codes[func]
    except (KeyError, TypeError):
        pass
    shipped: Code | Callable[..., Any] = func
    if getattr(func, "__module__", "__main__") != "__main__":
        with contextlib.suppress(Exception):
            shipped = Code(dumps(func))
    with contextlib.suppress(TypeError):  # unhashable: made again each time
        if len(_codes) < 4096:
            _codes[func] = shipped
    return shipped


def execute(call: Callable[..., Any], spec: Spec, args: Any, kwargs: dict[str, Any]) -> Any:
    """Run one node where Dask put it; with a status, return ``(result, attempts)``."""
    if isinstance(spec, str):
        try:
            return call(*args, **kwargs)
        except BaseException as error:
            failure = portable_error(error, spec, dask_pickle.dumps)
            if failure is error:
                raise
            raise failure from error
    task, status = spec[0], spec[1]
    if isinstance(task, str):  # nothing around the call
        task = NodeTask(task)
    if len(spec) > 2 and spec[2]:
        worker = get_worker()
        result, attempts, ran = task.execute_reported(
            call, args, kwargs, dask_pickle.dumps, f"dask worker {worker.address}"
        )
        worker.log_event(RUNS_TOPIC, {"key": worker.get_current_task(), "run": list(ran)})
    else:
        result, attempts = task.execute_remote(call, args, kwargs, dask_pickle.dumps)
    return (result, attempts) if status else result


def run_node(
    call: Code | Callable[..., Any], spec: Spec, kwargs: dict[str, Any] | None, /, *args: Any
) -> Any:
    """A function node, or a class node's constructor (its instance stays on the worker).

    The node's keyword arguments come as one dict (Dask resolves the futures in it): as
    keywords of ``Client.submit`` they could collide with its own (``key``, ``priority``).
    """
    if type(call) is Code:
        call = call.load()
    return execute(call, spec, args, kwargs or {})


def call_method(
    method: str,
    spec: Spec,
    instance: Any,
    previous: object,
    kwargs: dict[str, Any] | None,
    /,
    *args: Any,
) -> Any:
    """A method node, on the instance its class node built on this worker.

    ``previous`` is the previous call's result, taken only so that Dask runs the calls in
    order — and fails this one when an earlier one failed, rather than letting it run on
    an instance missing that call's changes.
    """
    return execute(getattr(instance, method), spec, args, kwargs or {})


def get_instance(instance: Any, previous: object = None) -> Any:
    """The instance itself, after its last call: a class node's result when it is a leaf."""
    return instance


def select_item(value: Any, indices: tuple[Any, ...]) -> Any:
    """``node[i][j]...`` for a leaf, on a worker, so only the item reaches the driver."""
    for index in indices:
        value = value[index]
    return value
