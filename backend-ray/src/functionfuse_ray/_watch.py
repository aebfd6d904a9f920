"""The tasks the driver watches: how they ended, the hooks, and the failures.

The driver watches few tasks when it can: the sinks of the graph (failures travel down
to them inside Ray), plus every task when ``max_pending_tasks`` bounds the tasks in
flight. When hooks listen for ``node_finish`` / ``node_error`` it watches every task,
through its *status*: a second, tiny return that says how the task ended without the
driver fetching its result.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Final, NoReturn

import ray

from functionfuse import FunctionFuseWarning
from functionfuse.runtime import LifecycleHooks
from functionfuse_ray._errors import failing_node, node_execution_error, original_error
from functionfuse_ray._worker import StaleStoredResult

__all__ = ["POLL_EVERY", "Restart", "Watcher"]

#: How often (seconds) the driver looks for finished tasks when hooks are registered.
POLL_EVERY: Final = 0.05


class Restart(Exception):
    """Stored results turned out unusable: run again without trusting these names."""

    def __init__(self, names: set[str]) -> None:
        super().__init__(names)
        self.names = names


class Watcher:
    """Watched ObjectRefs, and what the driver learnt from the ones that finished.

    ``refs`` holds every watched ref (the submit loop appends to it directly);
    ``statuses`` maps the refs whose outcome matters — statuses, actor readiness — to
    ``(node name, result ref, submit time)``. Other watched refs only count as in flight.
    """

    __slots__ = (
        "_last_poll",
        "actor_names",
        "failures",
        "hooks",
        "refs",
        "stale",
        "statuses",
        "track_all",
        "workflow_name",
    )

    def __init__(self, workflow_name: str, hooks: LifecycleHooks) -> None:
        self.workflow_name = workflow_name
        self.hooks = hooks
        self.track_all = hooks.node_finish is not None or hooks.node_error is not None
        self.refs: list[Any] = []
        self.statuses: dict[Any, tuple[str, Any, float]] = {}
        self.failures: dict[str, BaseException] = {}  # failing node -> its error
        self.stale: dict[str, str] = {}  # node with an unusable stored result -> why
        self.actor_names: dict[str, str] = {}  # actor id -> class node name
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
        try:
            ray.get([ref for ref, _ in finished])  # tiny objects, fetched in one call
        except Exception:
            for ref, _ in finished:
                try:
                    ray.get(ref)
                except Exception as failure:
                    errors[ref] = failure
        hooks = self.hooks
        end = time.perf_counter() if self.track_all else 0.0
        for ref, (name, result_ref, started) in finished:
            error = errors.get(ref)
            if error is None:
                if hooks.node_finish is not None and result_ref is not None:
                    hooks.node_finish(
                        workflow_name=self.workflow_name,
                        node_name=name,
                        result=result_ref,
                        duration=end - started,
                        from_storage=False,
                    )
                continue
            error = original_error(error)
            self.note_failure(name, error)
            if hooks.node_error is not None:
                cause = getattr(error, "cause", None)
                hooks.node_error(
                    workflow_name=self.workflow_name,
                    node_name=name,
                    error=cause if isinstance(cause, BaseException) else error,
                    duration=end - started,
                )

    def note_failure(self, seen_at: str, error: BaseException) -> None:
        """Record an error that reached the driver through node ``seen_at``."""
        error = original_error(error)
        cause = getattr(error, "cause", None)
        stale = cause if isinstance(cause, StaleStoredResult) else error
        if isinstance(stale, StaleStoredResult):
            self.stale.setdefault(stale.node_name, stale.reason)
            return
        origin = failing_node(error, seen_at, self.actor_names)
        self.failures.setdefault(origin, error)

    def raise_failures(self, stored: bool) -> NoReturn:
        """The NodeExecutionError for the failures, or a Restart for stale results."""
        if self.failures:
            raise node_execution_error(self.workflow_name, self.failures, stored=stored)
        for name, reason in self.stale.items():
            warnings.warn(
                f"stored result of node {name!r} in workflow {self.workflow_name!r} is not "
                f"usable ({reason}); running the node again.",
                FunctionFuseWarning,
                stacklevel=5,
            )
        raise Restart(set(self.stale))
