"""ThreadWorkflow: runs the nodes of a workflow on a pool of threads, as soon as they can.

Built only on the public backend toolkit, :mod:`functionfuse.runtime`: the core's run
plan decides what runs and reports it, its node tasks run the nodes; this module only
schedules. All the bookkeeping — which node is ready, which values are alive, every
lifecycle hook — happens on the thread that called ``run()``; pool threads run node
tasks (plugins, the call, retries, the save) and read stored results.
"""

from __future__ import annotations

import contextvars
import heapq
import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from time import perf_counter
from typing import Any

from functionfuse import BaseWorkflow, ConfigurationError
from functionfuse.runtime import (
    ClassNode,
    Instance,
    MethodNode,
    Node,
    NodeItem,
    NodeTask,
    RunPlan,
    resolve_arguments,
)

__all__ = ["ThreadWorkflow"]

# What a pool thread hands back for one node: (ok, result or exception, seconds, retries).
_Outcome = tuple[bool, Any, float, list[tuple[int, BaseException, float]]]


class ThreadWorkflow(BaseWorkflow):
    """Run a workflow on ``max_workers`` threads of this process.

    - A node starts as soon as all of its parents have finished, so independent nodes
      run at the same time. That pays for nodes that wait (files, network, ``sleep``,
      subprocesses) or release the GIL (numpy, most compiled libraries); pure-Python
      CPU-bound nodes take turns on the GIL. At most ``max_workers`` nodes run at once
      (default: ``min(32, cpu count + 4)``, as :class:`~concurrent.futures.ThreadPoolExecutor`);
      with ``max_workers=1`` nodes run one at a time in graph order.
    - A class node's method calls run one after the other, in call order, on the one
      instance its class node built.
    - Storage, resume, retries and node plugins work as on every backend (the core's
      run plan and node tasks); stored results a running node needs are read on the
      pool before anything runs.
    - The first node that raises stops new nodes from starting (unless ``keep_going``);
      the running ones finish and are saved, then :class:`functionfuse.NodeExecutionError`
      names the node (``failed`` lists every node that failed).
    - Lifecycle hooks are all called on the thread that called ``run()``; node plugins'
      initializers run on the pool thread right before their node. Generators seeded
      by ``random_state`` are process-wide: with nodes running at once their draws
      interleave, so use ``max_workers=1`` when a run must draw the same numbers.
    """

    backend_name = "threads"
    nodes_run_here = True

    def __init__(
        self,
        *nodes: Node | NodeItem | Instance,
        workflow_name: str,
        max_workers: int | None = None,
    ) -> None:
        super().__init__(*nodes, workflow_name=workflow_name)
        if max_workers is None:
            max_workers = min(32, (os.cpu_count() or 1) + 4)
        elif isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ConfigurationError(
                f"max_workers of ThreadWorkflow {workflow_name!r} must be a positive "
                f"integer (the number of threads), got {max_workers!r}."
            )
        self.max_workers = max_workers

    def run(
        self, *, return_results: bool = True, keep_going: bool = False, resume: Any = None
    ) -> Any:
        """Run the workflow; return the given node's result, or a list for several.

        ``keep_going`` and ``resume`` work as on every backend (see
        :class:`functionfuse.BaseWorkflow`).
        """
        with self.start_run(
            resume=resume, keep_going=keep_going, return_results=return_results
        ) as plan:
            with ThreadPoolExecutor(
                max_workers=self.max_workers,
                thread_name_prefix=f"functionfuse-{self.workflow_name}",
            ) as pool:
                values = _Run(plan, pool, self.max_workers).execute()
            return plan.results(values.__getitem__) if return_results else None


class _Run:
    """One run: the plan's tasks, then the stored results they need, then the pool."""

    def __init__(self, plan: RunPlan, pool: ThreadPoolExecutor, limit: int) -> None:
        self.plan = plan
        self.view = plan.view
        self.pool = pool
        self.limit = limit
        self.values: dict[Node, Any] = {}
        self.index = {node: i for i, node in enumerate(self.view.order)}
        # In graph order on this thread: node plugins' driver side, for every node.
        self.tasks: dict[Node, NodeTask] = {}
        for node in self.view.order:
            task = plan.prepare(node)
            if task is not None:
                self.tasks[node] = task

    def execute(self) -> dict[Node, Any]:
        # Stored results the running nodes need, read on the pool before anything runs.
        self.values.update(self.plan.read_needed(self.tasks, self.pool.map))
        self._run_nodes()
        error = self.plan.error()
        if error is not None:
            raise error
        return self.values

    def _run_nodes(self) -> None:
        tasks = self.tasks
        index = self.index
        order = self.view.order
        plan = self.plan
        # Parents still running, per node waiting; how many running nodes use each value.
        waiting: dict[Node, int] = {}
        self.consumers: dict[Node, int] = {}
        ready: list[int] = []  # a heap of graph positions: one thread runs in graph order
        for node in tasks:
            pending = 0
            for parent in node.parents:
                self.consumers[parent] = self.consumers.get(parent, 0) + 1
                if parent in tasks:
                    pending += 1
            if pending:
                waiting[node] = pending
            else:
                ready.append(index[node])
        heapq.heapify(ready)
        in_flight: dict[Future[_Outcome], Node] = {}
        while True:
            stop = plan.failures and not plan.keep_going
            while ready and not stop and len(in_flight) < self.limit:
                node = order[heapq.heappop(ready)]
                future = self._submit(node)
                if future is not None:
                    in_flight[future] = node
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: index[in_flight[f]]):
                node = in_flight.pop(future)
                ok, value, duration, retries = future.result()
                for attempt, error, delay in retries:
                    plan.retry(node, attempt, error, delay)
                if not ok:
                    self._fail(node, value, duration)
                    continue
                self._finish(node, value, duration)
                for child in node.children:
                    left = waiting.get(child)
                    if left is not None:
                        if left == 1:
                            del waiting[child]
                            heapq.heappush(ready, index[child])
                        else:
                            waiting[child] = left - 1

    def _submit(self, node: Node) -> Future[_Outcome] | None:
        self.plan.start(node)
        try:
            args, kwargs = resolve_arguments(node, self.values.__getitem__)
            instance = self.values[node.instance] if type(node) is MethodNode else None
        except Exception as error:  # e.g. node[3] of a 2-tuple
            self._fail(node, error, 0.0)
            return None
        call = self.view.callable_of(node, instance)
        # In a copy of the run's context: the storage's write-behind session is there
        # (saves made outside it are durable before save() returns, so slower).
        run_in_context = contextvars.copy_context().run
        return self.pool.submit(run_in_context, _execute, self.tasks[node], call, args, kwargs)

    def _finish(self, node: Node, result: Any, duration: float) -> None:
        values = self.values
        values[node] = result
        self.plan.finish(node, result, duration)
        # Forget what nobody needs any more; an instance lives until its last call.
        leaves = self.view.leaf_nodes
        consumers = self.consumers
        for parent in node.parents:
            left = consumers[parent] - 1
            consumers[parent] = left
            if left == 0 and parent not in leaves and type(parent) is not ClassNode:
                values.pop(parent, None)
        if type(node) is MethodNode:
            instance: ClassNode = node.instance
            if node is self.view.methods(instance)[-1] and instance not in leaves:
                values.pop(instance, None)
        if node not in consumers and node not in leaves and type(node) is not ClassNode:
            values.pop(node, None)

    def _fail(self, node: Node, error: BaseException, duration: float) -> None:
        """Report a node's exception; its descendants will not run."""
        self.plan.fail(node, error, duration)
        stack = list(self.view.consumers(node))
        while stack:
            child = stack.pop()
            if child in self.tasks and child not in self.plan.broken:
                self.plan.block(child)
                stack.extend(self.view.consumers(child))


def _execute(task: NodeTask, call: Any, args: Any, kwargs: dict[str, Any]) -> _Outcome:
    """Pool side: run one node task; its retries go back to the driver thread."""
    retries: list[tuple[int, BaseException, float]] = []
    start = perf_counter()
    try:
        result = task.execute(call, args, kwargs, lambda *attempt: retries.append(attempt))
    except Exception as error:
        return False, error, perf_counter() - start, retries
    return True, result, perf_counter() - start, retries
