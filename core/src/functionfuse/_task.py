"""The node task: what runs where a node runs — in-process, a thread, another process, a
Ray or Dask worker. One implementation of the worker half of the node protocol.

A :class:`NodeTask` is small and picklable: the node's name, how to rebuild its
arguments (an :class:`~functionfuse.runtime.ArgumentsTemplate`, or none when the backend
passes them ready), its node plugins' worker-side callable, its retries and where to save
its result. The backend supplies what to call (the function, the class, or the bound
method on its instance) and the arguments; :meth:`NodeTask.execute` does the rest.
:func:`read_result` is the same for a stored result.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any, Final, NamedTuple, final

from functionfuse._arguments import ArgumentsTemplate
from functionfuse._errors import StaleResultError, StorageIntegrityError
from functionfuse._resume import save_sized
from functionfuse._retries import Retries
from functionfuse.hookspecs import Storage

__all__ = [
    "ATTEMPTS_ATTRIBUTE",
    "NODE_ATTRIBUTE",
    "RAN_ATTRIBUTE",
    "TRACEBACK_ATTRIBUTE",
    "NodeRun",
    "NodeTask",
    "SaveTo",
    "UnpicklableNodeError",
    "UnusableResult",
    "failed_node",
    "portable_error",
    "read_result",
    "worker_label",
]

#: Set on a node's exception where it ran, so that the driver can name the node that
#: failed even when the error reaches it through a dependent task.
NODE_ATTRIBUTE: Final = "__functionfuse_node__"
#: Set on a node's final exception: its earlier failed attempts ``(attempt, error,
#: delay)``, for the driver's ``node_retry`` hook when the task ran elsewhere.
ATTEMPTS_ATTRIBUTE: Final = "__functionfuse_attempts__"

#: Set on a node's final exception where it ran elsewhere: its :class:`NodeRun`.
RAN_ATTRIBUTE: Final = "__functionfuse_ran__"
#: Set on a node's final exception where it ran elsewhere: its traceback as text (an
#: exception that travels loses its frames).
TRACEBACK_ATTRIBUTE: Final = "__functionfuse_traceback__"

#: ``on_retry(attempt, error, delay)``: an attempt failed and another follows.
OnRetry = Callable[[int, BaseException, float], object]


class NodeRun(NamedTuple):
    """Where and when a node ran, as the worker saw it — carried back to the driver
    with the node's result (see :meth:`NodeTask.execute_reported`) for the run record.
    Backends pass it through to :meth:`~functionfuse.runtime.RunPlan.finish` unread."""

    start: float  # Unix seconds, on the worker's clock
    end: float
    worker: str  # "pid 4242 on host", or what the backend calls its worker
    size: int | None  # bytes of the stored result, when the storage says


_label: tuple[int, str] | None = None


def worker_label() -> str:
    """``"pid N on HOST"``: this process, as a run record names where a node ran."""
    global _label
    pid = os.getpid()
    if _label is None or _label[0] != pid:  # made again in a forked child
        _label = (pid, f"pid {pid} on {socket.gethostname()}")
    return _label[1]


class SaveTo(NamedTuple):
    """Where a node task saves its result: the storage, the workflow and the stamp."""

    storage: Storage
    workflow_name: str
    stamp: bytes | None


@final
class NodeTask:
    """The worker half of the node protocol for one node; picklable, graph-free.

    ``execute`` rebuilds the arguments (with ``template``), runs the node plugins'
    worker side (``initialize``) and the call — again while it raises, as ``retries``
    says, reporting each retry to ``on_retry`` — then saves the result with its stamp
    (``save``) and, with ``always_read`` storages, returns it as read back. Any
    exception leaves with the node's name on it (see :func:`failed_node`).
    ``saved_size`` is then the stored result's size in bytes, when the storage said.
    """

    __slots__ = ("initialize", "name", "retries", "save", "saved_size", "template")

    def __init__(
        self,
        name: str,
        *,
        initialize: Callable[[], object] | None = None,
        retries: Retries | None = None,
        save: SaveTo | None = None,
        template: ArgumentsTemplate | None = None,
    ) -> None:
        self.name = name
        self.initialize = initialize
        self.retries = retries
        self.save = save
        self.template = template
        self.saved_size: int | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.name, self.initialize, self.retries, self.save, self.template))

    def __repr__(self) -> str:
        return f"NodeTask({self.name!r})"

    def execute(
        self,
        call: Callable[..., Any],
        args: Any = (),
        kwargs: dict[str, Any] | None = None,
        on_retry: OnRetry | None = None,
    ) -> Any:
        """Run the node: ``call(*args, **kwargs)`` between its plugins and its save.

        With a ``template``, ``args`` is the list of the parents' values it indexes.
        """
        try:
            if self.template is not None:
                args, kwargs = self.template.resolve(args)
            result = self._attempts(call, args, kwargs or {}, on_retry)
            save = self.save
            if save is not None:
                result, self.saved_size = save_sized(
                    save.storage, save.workflow_name, self.name, result, save.stamp
                )
        except BaseException as error:
            _mark(error, NODE_ATTRIBUTE, self.name)
            raise
        return result

    def execute_remote(
        self,
        call: Callable[..., Any],
        args: Any = (),
        kwargs: dict[str, Any] | None = None,
        dumps: Callable[[Any], bytes] = pickle.dumps,
    ) -> tuple[Any, list[tuple[int, BaseException, float]]]:
        """:meth:`execute` where the driver is another process: ``(result, failed
        attempts)``, each attempt's error fit to travel (see :func:`portable_error`,
        with ``dumps`` the transport's pickler). A failure is raised fit to travel too,
        carrying the attempts before it on :data:`ATTEMPTS_ATTRIBUTE`."""
        result, attempts, _ = self.execute_reported(call, args, kwargs, dumps)
        return result, attempts

    def execute_reported(
        self,
        call: Callable[..., Any],
        args: Any = (),
        kwargs: dict[str, Any] | None = None,
        dumps: Callable[[Any], bytes] = pickle.dumps,
        worker: str | None = None,
    ) -> tuple[Any, list[tuple[int, BaseException, float]], NodeRun]:
        """:meth:`execute_remote`, plus where and when the node ran: ``(result,
        failed attempts, run)``, ``run`` a :class:`NodeRun` for the driver's run record
        (``worker``: how the backend names this worker; this process by default). A
        failure carries its run on :data:`RAN_ATTRIBUTE` and its traceback, as text, on
        :data:`TRACEBACK_ATTRIBUTE`."""
        attempts: list[tuple[int, BaseException, float]] = []
        name = self.name

        def on_retry(attempt: int, error: BaseException, delay: float) -> None:
            attempts.append((attempt, portable_error(error, name, dumps), delay))

        start = time.time()
        try:
            result = self.execute(call, args, kwargs, on_retry)
            if self.save is not None:
                # Durable before the driver hears of it (a storage that writes behind):
                # this node's save only, where the storage can say (another run's
                # session on a shared storage object is left alone); else a flush.
                storage = self.save.storage
                make_durable = getattr(storage, "make_durable", None)
                if make_durable is not None:
                    make_durable(self.save.workflow_name, name)
                else:
                    flush = getattr(storage, "flush", None)
                    if flush is not None:
                        flush()
        except BaseException as error:
            ran = NodeRun(start, time.time(), worker or worker_label(), None)
            _mark(error, TRACEBACK_ATTRIBUTE, "".join(traceback.format_exception(error)))
            failure = portable_error(error, name, dumps)
            _mark(failure, RAN_ATTRIBUTE, ran)
            if failure is not error:
                _mark(failure, TRACEBACK_ATTRIBUTE, getattr(error, TRACEBACK_ATTRIBUTE, None))
            if attempts:
                _mark(failure, ATTEMPTS_ATTRIBUTE, attempts)
            if failure is error:
                raise
            raise failure from error
        return (
            result,
            attempts,
            NodeRun(start, time.time(), worker or worker_label(), self.saved_size),
        )

    def _attempts(
        self,
        call: Callable[..., Any],
        args: Any,
        kwargs: dict[str, Any],
        on_retry: OnRetry | None,
    ) -> Any:
        initialize = self.initialize
        retries = self.retries
        attempt = 1
        failures: list[tuple[int, BaseException, float]] | None = None
        while True:
            try:
                if initialize is not None:
                    initialize()
                return call(*args, **kwargs)
            except Exception as error:
                if retries is None or attempt >= retries.attempts or not retries.retries_on(error):
                    if failures:
                        _mark(error, ATTEMPTS_ATTRIBUTE, failures)
                    raise
                if on_retry is not None:
                    on_retry(attempt, error, retries.delay)
                else:
                    failures = failures or []
                    failures.append((attempt, error, retries.delay))
                if retries.delay:
                    time.sleep(retries.delay)
                attempt += 1


def _rebuild(
    name: str,
    initialize: Callable[[], object] | None,
    retries: Retries | None,
    save: SaveTo | None,
    template: ArgumentsTemplate | None,
) -> NodeTask:
    return NodeTask(name, initialize=initialize, retries=retries, save=save, template=template)


def _mark(error: BaseException, attribute: str, value: object) -> None:
    if getattr(error, attribute, None) is None:
        # An exception type that refuses attributes stays unmarked.
        with contextlib.suppress(Exception):
            setattr(error, attribute, value)


def failed_node(error: BaseException) -> str | None:
    """The name of the node whose task raised ``error`` (or its cause), if known."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = getattr(current, NODE_ATTRIBUTE, None)
        if isinstance(name, str):
            return name
        current = current.__cause__ or getattr(current, "cause", None)
    return None


class UnusableResult(Exception):
    """A stored result the run planned to read could not be used: it is gone, damaged,
    or was replaced by another run's. The backend runs the node again."""

    def __init__(self, node_name: str, reason: str) -> None:
        super().__init__(node_name, reason)
        self.node_name = node_name
        self.reason = reason

    def __str__(self) -> str:
        return f"stored result of node {self.node_name!r} is not usable: {self.reason}"


def read_result(
    storage: Storage,
    workflow_name: str,
    name: str,
    fingerprint: bytes | None = None,
    indices: tuple[Any, ...] = (),
) -> Any:
    """A stored result (or an item of it, ``node[i]...``), read where the call runs,
    only if it still has ``fingerprint`` (the one the run's plan decided on).

    Raises :class:`UnusableResult` when it is gone, cannot be trusted or was replaced.
    """
    try:
        if fingerprint is None:
            value = storage.read_task(workflow_name, name)
        else:
            value = storage.read_task(workflow_name, name, fingerprint=fingerprint)  # type: ignore[call-arg]
    except FileNotFoundError as error:
        raise UnusableResult(name, f"it disappeared ({error})") from None
    except (StorageIntegrityError, StaleResultError) as error:
        raise UnusableResult(name, str(error)) from None
    except BaseException as error:
        _mark(error, NODE_ATTRIBUTE, name)
        raise
    for index in indices:
        value = value[index]
    return value


class UnpicklableNodeError(Exception):
    """Stands in for a node's exception that cannot reach the driver as itself.

    A task's exception travels to the driver pickled. An exception class whose
    instances do not unpickle — typically a custom ``__init__(self, a, b)`` that passes
    one message to ``Exception.__init__`` — would arrive as an unrelated error, with
    neither its type nor its node. This carries the node's name, the original type's
    qualified name and message instead.
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


def portable_error(
    error: BaseException, name: str, dumps: Callable[[Any], bytes] = pickle.dumps
) -> BaseException:
    """``error``, or a stand-in naming node ``name`` when ``error`` would not survive
    ``dumps`` then ``pickle.loads`` (the trip from a worker to the driver)."""
    _mark(error, NODE_ATTRIBUTE, name)
    if not isinstance(error, Exception):
        return error
    try:
        pickle.loads(dumps(error))
    except Exception:
        kind = type(error)
        stand_in = UnpicklableNodeError(name, f"{kind.__module__}.{kind.__qualname__}", str(error))
        _mark(stand_in, NODE_ATTRIBUTE, name)
        return stand_in
    return error
