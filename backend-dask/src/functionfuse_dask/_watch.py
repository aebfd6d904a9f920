"""The futures the driver waits on, and what it learns when they end.

The driver watches few futures when it can: the sinks of the run (a node's failure
travels down to them inside Dask: a task whose argument failed fails with that same
exception, which carries the failed node's name), the leaves, and every call on a class
node's instance (see :meth:`Watcher.check_pins`). With hooks listening for
``node_finish`` / ``node_error``, with ``keep_going`` or with ``max_pending_tasks`` it
watches every task. A future's end is heard through ``add_done_callback``, which only
queues it: hooks, failures and bookkeeping all happen on the thread that called
``run()``.
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Iterable
from time import perf_counter
from typing import Any, Final, NamedTuple

from distributed import KilledWorker

from functionfuse.runtime import (
    ATTEMPTS_ATTRIBUTE,
    ClassNode,
    Node,
    NodeTask,
    RunPlan,
    failed_node,
    save_result,
)
from functionfuse_dask import _worker

__all__ = ["POLL_EVERY", "InstanceLost", "Watcher", "exception_of", "node_name_of", "wait_for"]

#: How long (seconds) the driver waits for a future to end before it checks that the
#: workers holding class nodes' instances are still there.
POLL_EVERY: Final = 1.0
# Frames of the code around a node on the worker, left out of the remote traceback.
_OWN_FRAMES: Final = tuple(
    module.replace(".", "/") + ".py"
    for module in (_worker.__name__, NodeTask.__module__, save_result.__module__)
)


class InstanceLost(RuntimeError):
    """The worker holding a class node's instance left the cluster before its calls ran."""


class _Watched(NamedTuple):
    future: Any
    node: Node
    started: float
    result: Any  # what the hooks get (the value, when ``future`` is a status)
    status: bool  # ``future`` holds the node's failed attempts (its retries)


class Watcher:
    """Watched futures by key; the run's ``plan`` hears of each node that finished,
    retried or failed. ``pins`` maps a class node to the worker holding its instance;
    ``pinned`` holds the keys of its calls still running, per class node."""

    def __init__(self, plan: RunPlan, client: Any):
        self.plan = plan
        self.client = client
        hooks = plan.hooks
        self.track_all = hooks.node_finish is not None or hooks.node_error is not None
        self.watched: dict[Any, _Watched] = {}
        self.ended: queue.SimpleQueue[tuple[Any, float]] = queue.SimpleQueue()
        self.pins: dict[ClassNode, str] = {}
        self.pinned: dict[ClassNode, set[Any]] = {}
        self.pinned_by_key: dict[Any, ClassNode] = {}
        #: The remote traceback of the first failure, for the error's message.
        self.detail = ""

    @property
    def stopped(self) -> bool:
        """True once a node failed and the run does not keep going: submit no more."""
        return bool(self.plan.failures) and not self.plan.keep_going

    def __len__(self) -> int:
        return len(self.watched)

    def watch(
        self,
        future: Any,
        node: Node,
        started: float,
        *,
        result: Any = None,
        status: bool = False,
        instance: ClassNode | None = None,
    ) -> None:
        """Hear of ``future``'s end (``instance``: it runs on that class node's worker)."""
        key = future.key
        self.watched[key] = _Watched(future, node, started, result, status)
        if instance is not None:
            self.pinned.setdefault(instance, set()).add(key)
            self.pinned_by_key[key] = instance
        future.add_done_callback(self._ended)

    def _ended(self, future: Any) -> None:
        # On Dask's callback thread: only queue it.
        self.ended.put((future, perf_counter()))

    # -- waiting ---------------------------------------------------------------------------

    def poll(self) -> None:
        """Settle whatever has ended, without blocking."""
        if not self.ended.empty():
            self._settle_queued(block=False)

    def wait_below(self, count: int) -> None:
        """Block until fewer than ``count`` watched futures are running (or a failure
        stops the run)."""
        while len(self.watched) >= count and not self.stopped:
            self._settle_queued(block=True)

    def wait_all(self) -> None:
        """Block until every watched future has ended (or a failure stops the run)."""
        while self.watched and not self.stopped:
            self._settle_queued(block=True)

    def _settle_queued(self, block: bool) -> None:
        batch: list[tuple[Any, float]] = []
        if block:
            try:
                batch.append(self.ended.get(timeout=POLL_EVERY))
            except queue.Empty:
                self.check_pins()
                return
        while True:
            try:
                batch.append(self.ended.get_nowait())
            except queue.Empty:
                break
        for future, ended in batch:
            self.settle(future, ended)

    # -- outcomes --------------------------------------------------------------------------

    def settle(self, future: Any, ended: float) -> None:
        """Learn how a watched future ended; call the hooks; note failures."""
        watched = self.watched.pop(future.key, None)
        if watched is None:
            return  # settled already (a lost instance's call), or not watched
        instance = self.pinned_by_key.pop(future.key, None)
        if instance is not None:
            keys = self.pinned[instance]
            keys.discard(future.key)
            if not keys:
                del self.pinned[instance]
        plan = self.plan
        node = watched.node
        name = plan.view.name(node)
        duration = ended - watched.started
        status = future.status
        if status == "finished":
            if watched.status:  # asked for by the node_retry hook or the run record
                for attempt, error, delay in future.result() or ():
                    plan.retry(name, attempt, error, delay)
            plan.finish(name, future if watched.result is None else watched.result, duration)
            return
        if status == "cancelled":
            if plan.failures:
                plan.block(node)  # cancelled because the run stopped
            else:
                self.fail(node, InstanceLost(f"Dask cancelled node {name!r}'s task"), duration)
            return
        error = exception_of(future)
        self.note_failure(node, error, duration, future)

    def note_failure(
        self, seen_at: Node, error: BaseException, duration: float, future: Any
    ) -> None:
        """An error reached the driver through node ``seen_at``: its own, or a parent's
        that Dask passed down (that one failed, and ``seen_at`` did not run)."""
        origin_name = failed_node(error)
        if origin_name is None and isinstance(error, KilledWorker):
            origin_name = node_name_of(error.task)
        origin = seen_at if origin_name is None else self.plan.node_named(origin_name)
        if origin is None:
            origin = seen_at
        elif origin is not seen_at:
            self.plan.block(seen_at)
            if origin_name in self.plan.failures:
                return
            duration = 0.0
        elif origin_name is None and any(p in self.plan.broken for p in seen_at.parents):
            # An error that names no node, after a parent failed: that parent's.
            self.plan.block(seen_at)
            return
        self.fail(origin, error, duration, future)

    def fail(
        self,
        node: Node,
        error: BaseException,
        duration: float,
        future: Any = None,
    ) -> None:
        """Report node ``node``'s failure (and the retries before it) to the plan."""
        plan = self.plan
        name = plan.view.name(node)
        if name in plan.failures:
            return
        for attempt, failure, delay in getattr(error, ATTEMPTS_ATTRIBUTE, None) or ():
            plan.retry(name, attempt, failure, delay)
        if not self.detail and future is not None:
            self.detail = _remote_traceback(future, error)
        plan.fail(node, error, duration)

    def check_pins(self) -> None:
        """Fail the class nodes whose instance's worker has left the cluster while calls
        on it were still to run (Dask would wait for that worker forever)."""
        if not self.pinned:
            return
        try:
            alive = set(self.client.scheduler_info()["workers"])
        except Exception:  # the scheduler is unreachable: the futures will say so
            return
        for instance, keys in list(self.pinned.items()):
            worker = self.pins[instance]
            if worker in alive:
                continue
            name = self.plan.view.name(instance)
            lost = InstanceLost(
                f"the Dask worker {worker} holding the instance of class node {name!r} left "
                f"the cluster (it died, or was retired) before {len(keys)} call(s) on it "
                "could run; the instance is lost with it"
            )
            futures = [self.watched[key].future for key in keys if key in self.watched]
            del self.pinned[instance]
            self.fail(instance, lost, 0.0)
            for future in futures:
                watched = self.watched.pop(future.key)
                self.pinned_by_key.pop(future.key, None)
                if watched.node is not instance:
                    self.plan.block(watched.node)
            self.client.cancel(futures)

    def cancel_all(self, others: Iterable[Any] = ()) -> None:
        """Stop the run: cancel every task not finished (running ones end on their
        worker, and are saved, but nobody waits for them)."""
        futures = [watched.future for watched in self.watched.values()]
        futures += list(others)
        self.watched.clear()
        self.pinned.clear()
        self.pinned_by_key.clear()
        if futures:
            self.client.cancel(futures)


#: What follows a node's key for the tasks that split a ``(result, attempts)`` pair, and
#: for the one that returns a class node's instance.
_SUFFIXES: Final = ("-value", "-status", "-instance")


def node_name_of(key: Any) -> str | None:
    """The node name in a task's key: ``<prefix>-<node name>-<uuid>[-suffix]`` (the
    prefix, what the node calls or ``read``, has no ``-``; see ``_run``)."""
    if not isinstance(key, str):
        return None
    for suffix in _SUFFIXES:
        if key.endswith(suffix):
            key = key[: -len(suffix)]
            break
    _, _, rest = key.partition("-")
    name, _, token = rest.rpartition("-")
    return name if name and len(token) == 32 else None


def wait_for(futures: Iterable[Any]) -> None:
    """Block until every future has ended (whatever its client: ``distributed.wait``
    asks for the process's default client, which a workflow's client need not be)."""
    pending = list(futures)
    if not pending:
        return
    left = [len(pending)]
    lock = threading.Lock()
    done = threading.Event()

    def ended(_: Any) -> None:
        with lock:
            left[0] -= 1
            if left[0] == 0:
                done.set()

    for future in pending:
        future.add_done_callback(ended)
    done.wait()


def exception_of(future: Any) -> BaseException:
    """The exception of a future that erred (or why it cannot be had)."""
    try:
        error = future.exception()
    except BaseException as failure:  # the scheduler lost it, or the client closed
        return failure
    return error if isinstance(error, BaseException) else RuntimeError(repr(error))


def _remote_traceback(future: Any, error: BaseException) -> str:
    """The user's frames of the worker's traceback, as a ``detail`` for the error."""
    try:
        remote = future.traceback()
    except BaseException:
        return ""
    if remote is None:
        return ""
    frames = [
        frame
        for frame in traceback.extract_tb(remote)
        if not any(own in frame.filename.replace("\\", "/") for own in _OWN_FRAMES)
    ]
    if not frames:
        return ""
    lines = traceback.format_list(frames)
    last = traceback.format_exception_only(type(error), error)
    return "Remote traceback (on a Dask worker):\n" + "".join(lines + last).rstrip()
