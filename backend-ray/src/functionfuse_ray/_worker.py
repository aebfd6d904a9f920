"""What runs on the Ray workers: nodes, the actors of class nodes, storage reads.

Everything here is shipped small. A task receives the node's callable (in the closure
of a remote function made once per function), a *spec* and the arguments; the graph
itself never leaves the driver. A spec is the node's name alone in the common case, or
``(name, template, initialize, save, status)``:

- ``template``: ``None`` when the arguments arrive ready to use (parents' ObjectRefs
  passed as top-level arguments, which Ray resolves); otherwise an :class:`ArgsTemplate`
  whose node references are ``NodeItem(index, indices)`` into the task's positional
  values, rebuilt here by :func:`functionfuse.runtime.resolve_arguments`;
- ``initialize``: the node plugins' worker-side callable, or ``None``;
- ``save``: ``(storage, workflow_name, stamp)`` to save the result from here (with the
  node's fingerprint stamp, or ``None``), or ``None``;
- ``status``: the task has two returns, the result and a tiny status object the driver
  fetches to learn whether the node failed without fetching its result (``None``, or the
  attempts that failed before a retry succeeded);
- a sixth element, only for nodes with ``query().set_retries()``: the :class:`Retries`
  applied here, around the call (and the plugins' worker side, run before each attempt).
"""

from __future__ import annotations

import contextlib
import pickle
import time
from collections.abc import Callable
from typing import Any, Final, final

from functionfuse import StaleResultError, StorageIntegrityError
from functionfuse.hookspecs import Storage
from functionfuse.runtime import Retries, read_fingerprints, resolve_arguments, save_result

__all__ = [
    "ATTEMPTS_ATTRIBUTE",
    "NODE_ATTRIBUTE",
    "ActorHost",
    "ArgsTemplate",
    "StaleStoredResult",
    "UnpicklableNodeError",
    "execute",
    "read_stored_result",
    "save_pinned",
    "select_item",
    "storage_fingerprints",
    "storage_setup",
    "task_function",
]

#: Set on a node's exception on the worker, so the driver can name the node that failed
#: even when the error reaches it through a dependent task.
NODE_ATTRIBUTE: Final = "__functionfuse_node__"

Spec = Any  # str | tuple[str, ArgsTemplate | None, Callable | None, tuple | None, bool]
#           (+ a sixth element, the node's Retries, when it has some)
#: Set on a node's final exception: its earlier failed attempts, for the driver's hooks.
ATTEMPTS_ATTRIBUTE: Final = "__functionfuse_attempts__"


@final
class ArgsTemplate:
    """A node's arguments with each node reference replaced by an index into the values.

    It has the attributes :func:`functionfuse.runtime.resolve_arguments` reads from a
    node (``args``, ``kwargs`` and the dependency tuple, which the core keeps in
    ``_deps``), and nothing that leads back to the graph.
    """

    __slots__ = ("_deps", "args", "kwargs")

    def __init__(
        self, args: tuple[Any, ...], kwargs: dict[str, Any] | None, deps: tuple[Any, ...]
    ) -> None:
        self.args = args
        self.kwargs = kwargs
        self._deps = deps

    @property
    def deps(self) -> tuple[Any, ...]:
        return self._deps

    def __reduce__(self) -> tuple[type[ArgsTemplate], tuple[Any, ...]]:
        return (ArgsTemplate, (self.args, self.kwargs, self._deps))


class StaleStoredResult(Exception):
    """A stored result listed at the start of the run could not be used when read."""

    def __init__(self, node_name: str, reason: str) -> None:
        super().__init__(node_name, reason)
        self.node_name = node_name
        self.reason = reason

    def __str__(self) -> str:
        return f"stored result of node {self.node_name!r} is not usable: {self.reason}"


class UnpicklableNodeError(Exception):
    """Stands in for a node's exception that could not reach the driver as itself.

    Ray sends a task's exception to the driver pickled. An exception class whose
    instances do not unpickle — typically a custom ``__init__(self, a, b)`` that passes
    one message to ``Exception.__init__`` — would arrive as Ray's
    ``UnserializableException``, with neither its type nor the node that raised it. The
    worker sends this instead: the node's name, the original type's qualified name and
    message; the original traceback is in the remote traceback.
    """

    def __init__(self, node_name: str, type_name: str, message: str) -> None:
        super().__init__(node_name, type_name, message)
        self.node_name = node_name
        self.type_name = type_name
        self.message = message

    def __str__(self) -> str:
        return (
            f"{self.type_name}: {self.message} (raised by node {self.node_name!r}; "
            "its exception class cannot be unpickled, so this stands in for it)"
        )


def _mark(error: BaseException, name: str) -> None:
    if getattr(error, NODE_ATTRIBUTE, None) is None:
        # An exception type that refuses attributes stays unnamed.
        with contextlib.suppress(Exception):
            setattr(error, NODE_ATTRIBUTE, name)


def _travels(error: BaseException) -> bool:
    """True when ``error`` survives the trip to the driver (pickled, then unpickled)."""
    try:
        from ray import cloudpickle

        pickle.loads(cloudpickle.dumps(error))  # type: ignore[no-untyped-call]
    except Exception:
        return False
    return True


def _failed(error: BaseException, name: str) -> BaseException:
    """Name the node in its exception; replace an exception that cannot travel."""
    _mark(error, name)
    if not isinstance(error, Exception) or _travels(error):
        return error
    kind = type(error)
    stand_in = UnpicklableNodeError(name, f"{kind.__module__}.{kind.__qualname__}", str(error))
    _mark(stand_in, name)
    return stand_in


def execute(func: Callable[..., Any], spec: Spec, args: Any, kwargs: dict[str, Any]) -> Any:
    """Run one node: plugins, arguments, the call, the save; name it in any error."""
    if type(spec) is str:
        try:
            return func(*args, **kwargs)
        except BaseException as error:
            failure = _failed(error, spec)
            if failure is error:
                raise
            raise failure from error
    name, template, initialize, save, status, *more = spec
    retries: Retries | None = more[0] if more else None
    attempts: list[tuple[int, BaseException, float]] | None = None
    try:
        if template is not None:
            args, kwargs = resolve_arguments(template, args.__getitem__)
        attempt = 1
        while True:
            try:
                if initialize is not None:
                    initialize()
                result = func(*args, **kwargs)
                break
            except Exception as error:
                if retries is None or attempt >= retries.attempts or not retries.retries_on(error):
                    if attempts:
                        # The attempts before the last reach the driver's hooks with it.
                        with contextlib.suppress(Exception):
                            setattr(error, ATTEMPTS_ATTRIBUTE, attempts)
                    raise
                if attempts is None:
                    attempts = []
                attempts.append((attempt, _failed(error, name), retries.delay))
                if retries.delay:
                    time.sleep(retries.delay)
                attempt += 1
        if save is not None:
            result = save_result(save[0], save[1], name, result, save[2])
    except BaseException as error:
        failure = _failed(error, name)
        if failure is error:
            raise
        raise failure from error
    # The status: None, or the failed attempts (query().set_retries()) for the hooks.
    return (result, attempts) if status else result


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


def save_pinned(
    storage: Storage, workflow_name: str, name: str, result: Any, stamp: bytes | None
) -> tuple[Any, None]:
    """The save task of a node when storage is pinned to nodes holding a resource.

    Two returns: the result read back (with ``always_read``; else ``None``) and a status.
    """
    try:
        value = save_result(storage, workflow_name, name, result, stamp)
    except BaseException as error:
        _mark(error, name)
        raise
    return (value if storage.always_read else None), None


def read_stored_result(
    storage: Storage,
    workflow_name: str,
    name: str,
    indices: tuple[Any, ...] = (),
    fingerprint: bytes | None = None,
) -> Any:
    """A stored result (or an item of it), read where the task runs.

    A result that has gone missing, cannot be trusted or was replaced by one with
    another ``fingerprint`` than the run planned on raises :class:`StaleStoredResult`;
    the driver then runs the node again.
    """
    try:
        if fingerprint is None:
            value = storage.read_task(workflow_name, name)
        else:
            value = storage.read_task(workflow_name, name, fingerprint=fingerprint)  # type: ignore[call-arg]
    except FileNotFoundError as error:
        raise StaleStoredResult(name, f"it disappeared ({error})") from None
    except (StorageIntegrityError, StaleResultError) as error:
        raise StaleStoredResult(name, str(error)) from None
    except BaseException as error:
        _mark(error, name)
        raise
    for index in indices:
        value = value[index]
    return value


def select_item(value: Any, indices: tuple[Any, ...]) -> Any:
    """``node[i][j]...`` for a leaf, on a worker, so only the item reaches the driver."""
    for index in indices:
        value = value[index]
    return value


def storage_setup(storage: Storage, workflow_name: str) -> list[str]:
    """Prepare the workflow's folder and list what is stored, where the storage lives."""
    storage.new_workflow(workflow_name)
    return storage.list_tasks(workflow_name)


def storage_fingerprints(
    storage: Storage, workflow_name: str, names: list[str]
) -> dict[str, bytes | Exception | None]:
    """The fingerprint stamps stored with these results, read where the storage lives."""
    return read_fingerprints(storage, workflow_name, names)
