"""ProcessWorkflow: independent nodes at the same time, in worker processes of this machine."""

from __future__ import annotations

import heapq
import os
from multiprocessing.connection import wait
from time import perf_counter
from typing import Any

from functionfuse import BaseWorkflow, ConfigurationError
from functionfuse.runtime import (
    MISSING,
    ClassNode,
    Instance,
    MethodNode,
    Node,
    NodeItem,
    NodeTask,
    RunPlan,
    inputs_of,
    template_of,
)
from functionfuse_local._pool import METHOD, Worker, run_message, start_workers

__all__ = ["ProcessWorkflow"]


class ProcessWorkflow(BaseWorkflow):
    """Run a workflow on ``max_workers`` worker processes (default: one per CPU).

    - A node starts as soon as its parents have finished, in a free worker process, so
      CPU-bound Python nodes run in parallel. Each run starts fresh workers (so they
      run the code as it is now) with ``start_method``: ``"spawn"`` (as on macOS and
      Windows) or ``"forkserver"`` (the default where there is one: milliseconds per
      worker). As with ``multiprocessing``, put the code that runs a workflow under
      ``if __name__ == "__main__":`` in a script.
    - Each worker keeps the results it computed; a result goes to another process only
      when a node there needs it (through the driver), or when ``run()`` returns it.
    - A class node lives in one worker; its method calls run there, in call order.
    - Storage, resume, retries, node plugins (run in the worker, right before their
      node) and ``keep_going`` work as on every backend; results are saved by the
      workers. A ``memory://`` storage lives in one process and is refused.
    """

    backend_name = "processes"

    def __init__(
        self,
        *nodes: Node | NodeItem | Instance,
        workflow_name: str,
        max_workers: int | None = None,
        start_method: str | None = None,
    ) -> None:
        super().__init__(*nodes, workflow_name=workflow_name)
        if start_method not in (None, "spawn", "forkserver"):
            raise ConfigurationError(
                f"start_method of ProcessWorkflow {workflow_name!r} must be 'spawn' or "
                f"'forkserver' (or None: forkserver where there is one), got {start_method!r}."
            )
        self.start_method = start_method
        if max_workers is None:
            max_workers = os.cpu_count() or 1
        elif isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ConfigurationError(
                f"max_workers of ProcessWorkflow {workflow_name!r} must be a positive "
                f"integer (the number of processes), got {max_workers!r}."
            )
        self.max_workers = max_workers

    def run(
        self, *, return_results: bool = True, keep_going: bool = False, resume: Any = None
    ) -> Any:
        """Run the workflow; return the given node's result, or a list for several."""
        self.refuse_process_local_storage("the worker processes")
        with self.start_run(
            resume=resume, keep_going=keep_going, return_results=return_results
        ) as plan:
            run = _Run(plan)
            count = max(1, min(self.max_workers, len(run.tasks)))
            workers = start_workers(count, self.start_method)
            try:
                run.execute(workers)
            finally:
                for worker in workers:
                    worker.stop()
            return plan.results(run.values.__getitem__) if return_results else None


class _Run:
    """One run: the plan's tasks, where each result lives, the ready queue."""

    def __init__(self, plan: RunPlan) -> None:
        self.plan = plan
        self.view = view = plan.view
        self.key = {node: i for i, node in enumerate(view.order)}
        self.tasks: dict[Node, NodeTask] = {}
        for node in view.order:  # in graph order: node plugins' driver side
            task = plan.prepare(node)
            if task is not None:
                self.tasks[node] = task
        #: Values at the driver: read from storage, fetched for a consumer or a result.
        self.values = plan.read_needed(self.tasks)
        self.holder: dict[Node, Worker] = {}  # the worker that computed each value
        self.pinned: dict[ClassNode, Worker] = {}  # each instance's worker
        self.started: dict[Node, float] = {}
        self.running: dict[Worker, Node] = {}
        self.fetching: set[Node] = set()

    def execute(self, workers: list[Worker]) -> None:
        plan, tasks, key = self.plan, self.tasks, self.key
        order = self.view.order
        self.left = {n: sum(1 for c in self.view.consumers(n) if c in tasks) for n in order}
        waiting: dict[Node, int] = {}
        ready: list[int] = []
        for node in tasks:
            pending = sum(1 for parent in node.parents if parent in tasks)
            if pending:
                waiting[node] = pending
            else:
                ready.append(key[node])
        heapq.heapify(ready)
        by_conn = {worker.conn: worker for worker in workers}
        while True:
            stop = plan.failures and not plan.keep_going
            if not stop:
                ready = self._dispatch(ready, workers)
            if not self.running and not self.fetching:
                break
            for conn in wait(list(by_conn)):
                worker = by_conn[conn]
                try:
                    message = worker.receive()
                except (EOFError, OSError) as error:
                    self._died(worker, by_conn, error)
                    continue
                kind, index = message[0], message[1]
                node = order[index]
                if kind == "value":
                    self.values[node] = message[2]
                    self.fetching.discard(node)
                    continue
                del self.running[worker]
                worker.busy = False
                duration = perf_counter() - self.started[node]
                for attempt, failure, delay in message[-1]:
                    plan.retry(node, attempt, failure, delay)
                if kind == "failed":
                    self._fail(node, message[2], duration)
                    continue
                worker.keys.add(index)
                self.holder[node] = worker
                if message[2] is not None:
                    self.values[node] = message[2]
                plan.finish(node, self.values.get(node, MISSING), duration, ran=message[3])
                self._release(node)
                for child in self.view.consumers(node):
                    count = waiting.get(child)
                    if count is not None:
                        if count == 1:
                            del waiting[child]
                            heapq.heappush(ready, key[child])
                        else:
                            waiting[child] = count - 1
        self._fetch_results()
        failed = plan.error()
        if failed is not None:
            raise failed

    def _dispatch(self, ready: list[int], workers: list[Worker]) -> list[int]:
        """Start every ready node that has a free worker; the nodes still waiting."""
        order = self.view.order
        later: list[int] = []
        while ready:
            index = heapq.heappop(ready)
            node = order[index]
            worker = self._worker_for(node, workers)
            if worker is None or not self._inputs_on(worker, node):
                later.append(index)
                continue
            self._start(node, worker)
        heapq.heapify(later)
        return later

    def _worker_for(self, node: Node, workers: list[Worker]) -> Worker | None:
        if type(node) is MethodNode:
            worker = self.pinned[node.instance]
            return None if worker.busy else worker
        free = [worker for worker in workers if not worker.busy]
        if not free:
            return None
        if type(node) is ClassNode:  # the least used worker holds the instance
            return min(free, key=lambda w: sum(1 for p in self.pinned.values() if p is w))
        keys = [self.key[p] for p in node.parents]
        return max(free, key=lambda w: sum(1 for k in keys if k in w.keys))

    def _inputs_on(self, worker: Worker, node: Node) -> bool:
        """Send ``worker`` the parents' values it lacks; False while some are fetched."""
        complete = True
        for parent in inputs_of(node):
            index = self.key[parent]
            if index in worker.keys:
                continue
            if parent in self.values:
                worker.send("put", index, self.values[parent])
                worker.keys.add(index)
            else:  # on another worker: fetched through the driver, then sent on
                complete = False
                if parent not in self.fetching:
                    self.fetching.add(parent)
                    self.holder[parent].send("get", index)
        return complete

    def _start(self, node: Node, worker: Worker) -> None:
        task = self.tasks[node]
        kind = type(node)
        call: Any
        if kind is MethodNode:
            call = (METHOD, self.key[node.instance], node.method)  # type: ignore[attr-defined]
        elif kind is ClassNode:
            call = node.cls  # type: ignore[attr-defined]
            self.pinned[node] = worker  # type: ignore[index]
        else:
            call = node.func  # type: ignore[attr-defined]
        inputs = inputs_of(node)
        args: Any = node.args
        kwargs: dict[str, Any] | None = node.kwargs or {}
        keys = None
        if inputs:
            task.template = template_of(node, inputs)
            keys = [self.key[parent] for parent in inputs]
            args, kwargs = (), None
        back = node in self.view.leaf_nodes and self.plan.return_results and kind is not ClassNode
        self.plan.start(node)
        self.started[node] = perf_counter()
        worker.busy = True
        self.running[worker] = node
        name = self.view.name(node)
        worker.send(*run_message(self.key[node], name, task, call, args, kwargs, keys, back))

    def _release(self, node: Node) -> None:
        """Forget the values no node left to run needs (``run()``'s results are kept;
        an instance lives until its last method call)."""
        left = self.left
        gone = [node] if left[node] == 0 and type(node) is not ClassNode else []
        for parent in node.parents:
            if type(parent) is not ClassNode:
                left[parent] -= 1
                if left[parent] == 0:
                    gone.append(parent)
        if type(node) is MethodNode:
            instance: ClassNode = node.instance
            if node is self.view.methods(instance)[-1]:
                gone.append(instance)
        for done in gone:
            if done in self.view.leaf_nodes:
                continue
            self.values.pop(done, None)
            holder = self.holder.get(done)
            if holder is not None and self.key[done] in holder.keys:
                holder.keys.discard(self.key[done])
                holder.send("drop", [self.key[done]])

    def _fetch_results(self) -> None:
        """The results ``run()`` returns that are still on their workers."""
        if not self.plan.return_results or (self.plan.failures and not self.plan.keep_going):
            return
        for node in self.view.leaf_nodes:
            holder = self.holder.get(node)
            if node in self.values or holder is None:
                continue
            holder.send("get", self.key[node])
            while True:
                message = holder.receive()
                if message[0] == "value" and message[1] == self.key[node]:
                    self.values[node] = message[2]
                    break

    def _fail(self, node: Node, error: BaseException, duration: float) -> None:
        self.plan.fail(node, error, duration)
        stack = list(self.view.consumers(node))
        while stack:  # its descendants will not run
            child = stack.pop()
            if child in self.tasks and child not in self.plan.broken:
                self.plan.block(child)
                stack.extend(self.view.consumers(child))

    def _died(self, worker: Worker, by_conn: dict[Any, Worker], error: BaseException) -> None:
        del by_conn[worker.conn]
        node = self.running.pop(worker, None)
        if node is not None:
            failure = RuntimeError(f"its worker process died ({type(error).__name__}: {error})")
            self._fail(node, failure, perf_counter() - self.started[node])
        for lost in [n for n, w in self.holder.items() if w is worker]:
            del self.holder[lost]
