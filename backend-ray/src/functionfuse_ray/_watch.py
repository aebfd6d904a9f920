"""The tasks the driver watches: how they ended, the hooks, and the failures.

The driver watches few tasks when it can: the sinks of the graph (failures travel down
to them inside Ray), plus every task when ``max_pending_tasks`` bounds the tasks in
flight. When hooks listen for ``node_finish`` / ``node_error`` it watches every task,
through its *status*: a second, tiny return that says how the task ended without the
driver fetching its result.

A Ray system error — a worker killed, a node lost, out of memory — names no node: it
reaches the driver as itself from the task that died, or inside the error of every task
that depends on it. Every node that has consumers therefore gets a status too, which the
watcher holds until it has seen it succeed (until the end of the run when it watches
only the sinks); on such an error it looks among those of the node's ancestors for the
first one whose own task died (see :meth:`Watcher.note_failure`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any, Final, NoReturn

import ray
from ray.exceptions import RayActorError

from functionfuse import FunctionFuseWarning
from functionfuse.runtime import ATTEMPTS_ATTRIBUTE, MISSING, NodeRun, RunPlan, UnusableResult
from functionfuse_ray._errors import (
    actor_started,
    failing_node,
    lost_object_id,
    node_execution_error,
    original_error,
    own_system_error,
    system_error,
)

__all__ = ["POLL_EVERY", "Restart", "Watcher"]

#: How often (seconds) the driver looks for finished tasks when hooks are registered.
POLL_EVERY: Final = 0.05
#: How long (seconds) to wait for the ancestors' statuses when looking for the task that
#: died (they have all ended by then: a task runs once its arguments exist).
_LOCATE_TIMEOUT: Final = 5.0


class Restart(Exception):
    """Stored results turned out unusable: run again without trusting these names."""

    def __init__(self, names: set[str]) -> None:
        super().__init__(names)
        self.names = names


class Watcher:
    """Watched ObjectRefs, and what the driver learnt from the ones that finished; the
    run's ``plan`` hears of each node that finished, retried or failed (its hooks).

    ``refs`` holds every watched ref (the submit loop appends to it directly);
    ``statuses`` maps the refs whose outcome matters — statuses, actor readiness — to
    ``(node name, result ref, submit time)``. Other watched refs only count as in flight.
    ``held`` maps a node's name to its task's status until the status is seen to succeed
    (in graph order); ``suspects`` gives the names of the nodes whose task's death could
    have failed a node: its ancestors, and a class node's method nodes.
    """

    __slots__ = (
        "_last_poll",
        "actor_names",
        "failures",
        "held",
        "plan",
        "refs",
        "stale",
        "statuses",
        "suspects",
        "track_all",
    )

    def __init__(self, plan: RunPlan) -> None:
        self.plan = plan
        hooks = plan.hooks
        self.track_all = hooks.node_finish is not None or hooks.node_error is not None
        self.refs: list[Any] = []
        self.statuses: dict[Any, tuple[str, Any, float]] = {}
        self.failures: dict[str, BaseException] = {}  # failing node -> its error
        self.stale: dict[str, str] = {}  # node with an unusable stored result -> why
        self.actor_names: dict[str, str] = {}  # actor id -> class node name
        self.held: dict[str, Any] = {}  # node name -> its task's status ref
        self.suspects: Callable[[str], set[str]] = lambda name: set()
        self._last_poll = 0.0

    @property
    def stopped(self) -> bool:
        """True once something failed: submit nothing more."""
        return bool(self.failures or self.stale)

    def wait_for(self, count: int) -> None:
        """Block until ``count`` watched tasks have finished (bounds the tasks in flight)."""
        ready, rest = ray.wait(self.refs, num_returns=count, fetch_local=False)
        self.refs[:] = rest  # in place: the submit loop holds this list
        self.settle(ready)

    def poll(self) -> None:
        """Settle whatever has finished, without blocking, at most every POLL_EVERY s."""
        now = time.perf_counter()
        if now - self._last_poll < POLL_EVERY or not self.refs:
            return
        self._last_poll = now
        ready, rest = ray.wait(self.refs, num_returns=len(self.refs), timeout=0, fetch_local=False)
        self.refs[:] = rest
        self.settle(ready)

    def wait_all(self, others: list[Any]) -> None:
        """Wait for every watched task and ``others`` (so every finished node is saved)."""
        pending = list(dict.fromkeys([*self.refs, *others]))
        self.refs.clear()
        timeout = POLL_EVERY * 4 if self.track_all else None
        while pending:
            ready, pending = ray.wait(
                pending, num_returns=len(pending), timeout=timeout, fetch_local=False
            )
            self.settle(ready)

    def settle(self, ready: list[Any]) -> None:
        """Learn how finished tasks ended; call the hooks; note failures."""
        statuses = self.statuses
        finished = [(ref, statuses.pop(ref)) for ref in ready if ref in statuses]
        if not finished:
            return
        errors: dict[Any, BaseException] = {}
        values: dict[Any, Any] = {}
        try:
            # Tiny objects, fetched in one call: None, or a node's failed attempts.
            refs = [ref for ref, _ in finished]
            values = dict(zip(refs, ray.get(refs), strict=True))
        except Exception:
            for ref, _ in finished:
                try:
                    values[ref] = ray.get(ref)
                except Exception as failure:
                    errors[ref] = failure
        plan = self.plan
        retries = plan.hooks.node_retry is not None or plan.recording  # hook, record
        end = time.perf_counter() if self.track_all else 0.0
        held = self.held
        for ref, (name, result_ref, started) in finished:
            error = errors.get(ref)
            value = values.get(ref)
            if retries:
                self._report_attempts(name, value, error)
            if error is None:
                if held:
                    held.pop(name, None)
                # A status (attempts, NodeRun), or an actor's NodeRun: where it ran.
                ran = value[1] if type(value) is tuple else value
                if not isinstance(ran, NodeRun):
                    ran = None
                if result_ref is not None or ran is not None:
                    # (Without node_finish hooks, this only feeds the run record.)
                    result = result_ref if result_ref is not None else MISSING
                    plan.finish(name, result, end - started, ran=ran)
                continue
            error = original_error(error)
            self.note_failure(name, error)
            cause = getattr(error, "cause", None)
            plan.fail(name, cause if isinstance(cause, BaseException) else error, end - started)

    def _report_attempts(self, name: str, value: Any, error: BaseException | None) -> None:
        """Tell the node_retry hook of the attempts that failed before the last one
        (brought back by the status, or on the node's final exception)."""
        if error is not None:
            cause = getattr(original_error(error), "cause", None)
            value = getattr(cause, ATTEMPTS_ATTRIBUTE, None)
        elif type(value) is tuple:  # a status: (attempts or None, NodeRun)
            value = value[0]
        if not isinstance(value, list):
            return
        for attempt, failure, delay in value:
            self.plan.retry(name, attempt, failure, delay)

    def note_failure(self, seen_at: str, error: BaseException) -> None:
        """Record an error that reached the driver through node ``seen_at``."""
        error = original_error(error)
        cause = getattr(error, "cause", None)
        stale = cause if isinstance(cause, UnusableResult) else error
        if isinstance(stale, UnusableResult):
            self.stale.setdefault(stale.node_name, stale.reason)
            return
        origin = failing_node(error, seen_at, self.actor_names)
        if origin is None:  # a Ray system error: find the task that died
            origin, error = self._locate(seen_at, error)
        self.failures.setdefault(origin, error)

    def _locate(self, seen_at: str, error: BaseException) -> tuple[str, BaseException]:
        """The node whose own task died of the system error ``error``, seen at node
        ``seen_at``, and that task's own error: the class node when its actor died
        before it was built; else the first of ``seen_at``'s suspects (see ``suspects``),
        in graph order, whose status is the system error itself (or, for a lost object,
        the one whose task made it); else ``seen_at``.
        """
        died = system_error(error)
        if isinstance(died, RayActorError) and died.actor_id:
            owner = self.actor_names.get(died.actor_id)
            if owner is not None and not actor_started(died.actor_id):
                return owner, error
        held = self.held
        if not held:
            return seen_at, error
        suspects = self.suspects(seen_at)
        candidates = [(name, ref) for name, ref in held.items() if name in suspects]
        if not candidates:
            return seen_at, error
        lost = lost_object_id(error)
        if lost is not None:
            for name, ref in candidates:
                if lost.startswith(ref.task_id().hex()):
                    return name, error
        refs = [ref for _, ref in candidates]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=_LOCATE_TIMEOUT, fetch_local=False)
        ended = set(ready)
        for name, ref in candidates:
            if ref not in ended:
                continue
            try:
                ray.get(ref)
            except Exception as failure:
                own = original_error(failure)
                if own_system_error(own):
                    return name, own
        return seen_at, error

    def raise_failures(self) -> NoReturn:
        """The NodeExecutionError for the failures, or a Restart for stale results."""
        plan = self.plan
        if self.failures:
            raise node_execution_error(
                plan.workflow_name, self.failures, stored=plan.storage is not None
            )
        for name, reason in self.stale.items():
            warnings.warn(
                f"stored result of node {name!r} in workflow {plan.workflow_name!r} is not "
                f"usable ({reason}); running the node again.",
                FunctionFuseWarning,
                stacklevel=5,
            )
        raise Restart(set(self.stale))
