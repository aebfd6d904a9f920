"""ThreadWorkflow: runs the nodes of a workflow on a pool of threads, as soon as they can.

Built only on the public backend toolkit, :mod:`functionfuse.runtime`. All the
bookkeeping — which node is ready, which values are alive, every lifecycle hook —
happens on the thread that called ``run()``; pool threads only call nodes (with their
node plugins' initializers) and save their results.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from time import perf_counter
from typing import Any

from functionfuse import BaseWorkflow, ConfigurationError, NodeExecutionError
from functionfuse.hookspecs import Storage
from functionfuse.runtime import (
    MISSING,
    STORAGE,
    ClassNode,
    FunctionNode,
    Instance,
    LifecycleHooks,
    MethodNode,
    Node,
    NodeItem,
    ResumePlan,
    lifecycle_hooks,
    node_of,
    read_stored,
    resolve_arguments,
    save_result,
)

__all__ = ["ThreadWorkflow"]

# What a pool thread hands back for one node: (ok, result or exception, seconds).
_Outcome = tuple[bool, Any, float]


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
    - Storage works as on the local backend: every function and method result is saved
      by the thread that computed it, right after it; a stored node is not run, and is
      read (before anything runs) only if a running node needs it or it is a result of
      the workflow; a class node's calls resume as one chain.
    - The first node that raises stops new nodes from starting; the running ones finish
      and are saved, then :class:`functionfuse.NodeExecutionError` names the node
      (``failed`` lists every node that failed).
    - Lifecycle hooks are all called on the thread that called ``run()``; node plugins'
      initializers run on the pool thread right before their node. Generators seeded
      by ``random_state`` are process-wide: with nodes running at once their draws
      interleave, so use ``max_workers=1`` when a run must draw the same numbers.
    """

    backend_name = "threads"

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

        The first failure stops the run (nodes already running finish and are saved);
        ``keep_going`` is not supported. ``resume`` works as on every backend (see
        :class:`functionfuse.BaseWorkflow`).
        """
        if keep_going:
            raise ConfigurationError(
                f"workflow {self.workflow_name!r}: the threads backend stops at the first "
                "failure; keep_going=True is not supported (use the local or ray backend)."
            )
        mode = self.resume_mode(resume)
        hooks = lifecycle_hooks()
        with self.lifecycle(hooks):
            values = _Run(self, hooks, return_results, mode).execute()
            return self.collect_results(values.__getitem__) if return_results else None


class _Run:
    """One run: the plan (what is stored, what runs), then reads, then the pool."""

    def __init__(
        self, workflow: ThreadWorkflow, hooks: LifecycleHooks, fetch: bool, resume: Any
    ) -> None:
        self.workflow = workflow
        self.workflow_name = workflow.workflow_name
        self.hooks = hooks
        self.fetch = fetch
        self.storage: Storage | None = workflow.storage
        self.order = workflow.nodes
        self.index = {node: i for i, node in enumerate(self.order)}
        self.names = {node: name for name, node in workflow.graph_traversal()}
        self.leaves = {node_of(leaf) for leaf in workflow.leaves}
        self.values: dict[Node, Any] = {}
        self.failures: dict[str, BaseException] = {}
        self.first_failure: tuple[str, BaseException] | None = None
        # The driver side of node plugins, for every node in graph order (stored ones
        # too, so a resumed run sees the same sequence as a fresh one).
        self.before: dict[Node, Callable[[], object]] = {}
        self.saved: set[Node] = set()  # nodes whose result goes to storage
        any_plugin = hooks.any_node_plugin
        for name, node in workflow.graph_traversal():
            settings = workflow.settings(node)
            if settings is not None or any_plugin:
                call = workflow.node_initializer(hooks, node, name, settings)
                if call is not None:
                    self.before[node] = call
            if self.storage is not None and _storage_on(settings):
                self.saved.add(node)
        self.plan: ResumePlan | None = None
        self.skip = self._stored_nodes(resume)

    # -- the plan ----------------------------------------------------------------------

    def _stored_nodes(self, resume: Any) -> set[Node]:
        """The nodes not to run: stored functions, and class nodes with every call stored
        (stored and up to date, as the workflow's resume plan says).

        As on the local backend, a class node and its method calls resume as one chain:
        skipped together, or built and called again in full, so that each call sees the
        instance in the state its earlier calls left.
        """
        storage = self.storage
        if storage is None:
            return set()
        storage.new_workflow(self.workflow_name)
        listed = set(storage.list_tasks(self.workflow_name))  # one listing, not one per node
        self.plan = self.workflow.resume_plan(self.hooks, listed, resume)
        stored = self.plan.usable
        if not stored:
            return set()
        names = self.names
        saved = self.saved
        skip: set[Node] = set()
        for node in self.order:
            kind = type(node)
            if kind is FunctionNode:
                if node in saved and names[node] in stored:
                    skip.add(node)
            elif kind is ClassNode and node in saved and node not in self.leaves:
                methods: list[MethodNode] = node.methods  # type: ignore[attr-defined]
                if all(m in saved and names[m] in stored for m in methods):
                    skip.add(node)
                    skip.update(methods)
        return skip

    def _unskip(self, node: Node) -> list[Node]:
        """A stored result turned out unreadable: run the node (its chain) after all."""
        if type(node) is MethodNode:
            instance = node.instance
            chain: list[Node] = [instance, *instance.methods]
        else:
            chain = [node]
        for member in chain:
            self.skip.discard(member)
            self.values.pop(member, None)  # a call read before the chain broke
        return chain

    # -- running -----------------------------------------------------------------------

    def execute(self) -> dict[Node, Any]:
        """Run every node that has to run; the values of the workflow's results."""
        with ThreadPoolExecutor(
            max_workers=self.workflow.max_workers,
            thread_name_prefix=f"functionfuse-{self.workflow_name}",
        ) as pool:
            if self.skip:
                read_seconds = self._read_stored(pool)
                self._report_stored(read_seconds)
            self._run_nodes(pool)
        return self.values

    def _read_stored(self, pool: ThreadPoolExecutor) -> dict[Node, float]:
        """Read, in parallel, the stored results that running nodes (or the caller) need.

        Done before any node runs, so that a result that cannot be read (its node then
        has to run, maybe with parents of its own to read) changes the plan before it
        is carried out.
        """
        skip = self.skip
        parents = [p for n in self.order if n not in skip for p in n.parents if p in skip]
        if self.fetch:
            parents += [leaf for leaf in self.order if leaf in self.leaves and leaf in skip]
        seconds: dict[Node, float] = {}
        requested: set[Node] = set()
        batch = [p for p in dict.fromkeys(parents) if type(p) is not ClassNode]
        while batch:
            requested.update(batch)
            futures = {pool.submit(self._read, node): node for node in batch}
            batch = []
            for future in futures:
                node = futures[future]
                ok, value, duration = future.result()
                if not ok:
                    self._fail(node, value, duration)
                    continue
                if node not in skip:
                    continue  # its chain broke while it was read: it runs
                if value is not MISSING:
                    self.values[node] = value
                    seconds[node] = duration
                    continue
                for member in self._unskip(node):
                    batch.extend(
                        p
                        for p in member.parents
                        if p in skip and p not in requested and type(p) is not ClassNode
                    )
            batch = list(dict.fromkeys(batch))
        if self.first_failure is not None:
            raise self._error()
        return seconds

    def _read(self, node: Node) -> _Outcome:
        """Pool side: one stored result (``MISSING`` when its node has to run)."""
        start = perf_counter()
        expected = self.plan.expected(node) if self.plan is not None else None
        try:
            value = read_stored(
                self.storage,  # type: ignore[arg-type]
                self.workflow_name,
                self.names[node],
                fingerprint=expected,
            )
        except Exception as error:
            return False, error, perf_counter() - start
        return True, value, perf_counter() - start

    def _report_stored(self, read_seconds: dict[Node, float]) -> None:
        node_finish = self.hooks.node_finish
        if node_finish is None:
            return
        values = self.values
        for node in self.order:
            if node in self.skip:
                node_finish(
                    workflow_name=self.workflow_name,
                    node_name=self.names[node],
                    result=values.get(node, MISSING),
                    duration=read_seconds.get(node, 0.0),
                    from_storage=True,
                )

    def _run_nodes(self, pool: ThreadPoolExecutor) -> None:
        skip = self.skip
        index = self.index
        # Parents still running, per node waiting; how many running nodes use each value.
        waiting: dict[Node, int] = {}
        consumers: dict[Node, int] = {}
        ready: list[int] = []  # a heap of graph positions: one thread runs in graph order
        for node in self.order:
            if node in skip:
                continue
            pending = 0
            for parent in node.parents:
                consumers[parent] = consumers.get(parent, 0) + 1
                if parent not in skip:
                    pending += 1
            if pending:
                waiting[node] = pending
            else:
                ready.append(index[node])
        heapq.heapify(ready)
        order = self.order
        limit = self.workflow.max_workers
        in_flight: dict[Future[_Outcome], Node] = {}
        while True:
            while ready and self.first_failure is None and len(in_flight) < limit:
                node = order[heapq.heappop(ready)]
                future = self._submit(pool, node)
                if future is not None:
                    in_flight[future] = node
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: index[in_flight[f]]):
                node = in_flight.pop(future)
                ok, value, duration = future.result()
                if not ok:
                    self._fail(node, value, duration)
                    continue
                self._finish(node, value, duration, consumers)
                for child in node.children:
                    left = waiting.get(child)
                    if left is not None:
                        if left == 1:
                            del waiting[child]
                            heapq.heappush(ready, index[child])
                        else:
                            waiting[child] = left - 1
        if self.first_failure is not None:
            raise self._error()

    def _submit(self, pool: ThreadPoolExecutor, node: Node) -> Future[_Outcome] | None:
        name = self.names[node]
        hooks = self.hooks
        if hooks.node_start is not None:
            hooks.node_start(workflow_name=self.workflow_name, node_name=name)
        try:
            args, kwargs = resolve_arguments(node, self.values.__getitem__)
        except Exception as error:  # e.g. node[3] of a 2-tuple
            self._fail(node, error, 0.0)
            return None
        instance = self.values[node.instance] if type(node) is MethodNode else MISSING
        save = node in self.saved and type(node) is not ClassNode
        stamp = self.plan.stamp(node) if save and self.plan is not None else None
        return pool.submit(
            self._call, node, name, args, kwargs, self.before.get(node), instance, save, stamp
        )

    def _call(
        self,
        node: Node,
        name: str,
        args: tuple[Any, ...] | list[Any],
        kwargs: dict[str, Any],
        before: Callable[[], object] | None,
        instance: Any,
        save: bool,
        stamp: bytes | None,
    ) -> _Outcome:
        """Pool side: run one node and save its result (with its fingerprint stamp)."""
        start = perf_counter()
        try:
            if before is not None:
                before()
            if type(node) is MethodNode:
                result = node.call_on(instance, args, kwargs)
            else:
                result = node.call(args, kwargs)  # type: ignore[attr-defined]
            storage = self.storage
            if save and storage is not None:
                result = save_result(storage, self.workflow_name, name, result, stamp)
        except Exception as error:
            return False, error, perf_counter() - start
        return True, result, perf_counter() - start

    def _finish(self, node: Node, result: Any, duration: float, consumers: dict[Node, int]) -> None:
        values = self.values
        values[node] = result
        if self.hooks.node_finish is not None:
            self.hooks.node_finish(
                workflow_name=self.workflow_name,
                node_name=self.names[node],
                result=result,
                duration=duration,
                from_storage=False,
            )
        # Forget what nobody needs any more; an instance lives until its last call.
        leaves = self.leaves
        for parent in node.parents:
            left = consumers[parent] - 1
            consumers[parent] = left
            if left == 0 and parent not in leaves and type(parent) is not ClassNode:
                values.pop(parent, None)
        kind = type(node)
        if kind is MethodNode:
            instance = node.instance  # type: ignore[attr-defined]
            if node is instance.methods[-1] and instance not in leaves:
                values.pop(instance, None)
        if node not in consumers and node not in leaves and kind is not ClassNode:
            values.pop(node, None)

    # -- failures ----------------------------------------------------------------------

    def _fail(self, node: Node, error: BaseException, duration: float) -> None:
        """Record a node's exception and report it; raised once the pool is idle."""
        name = self.names[node]
        self.failures[name] = error
        if self.first_failure is None:
            self.first_failure = (name, error)
        if self.hooks.node_error is not None:
            self.hooks.node_error(
                workflow_name=self.workflow_name, node_name=name, error=error, duration=duration
            )

    def _error(self) -> NodeExecutionError:
        assert self.first_failure is not None
        name, error = self.first_failure
        others = [other for other in self.failures if other != name]
        also = f" (also failed: {', '.join(map(repr, others))})" if others else ""
        resume = (
            "Results of the nodes that finished are stored; fix the cause and run again to resume."
            if self.storage is not None
            else "Fix the cause and run again."
        )
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        failure = NodeExecutionError(
            f"node {name!r} of workflow {self.workflow_name!r} failed with {reason}{also}. "
            f"{resume}",
            workflow_name=self.workflow_name,
            node_name=name,
            failed=dict(self.failures),
        )
        failure.__cause__ = error
        return failure


def _storage_on(settings: Mapping[str, Any] | None) -> bool:
    """False when ``query(...).set_storage(False)`` keeps a node out of storage."""
    return settings is None or bool(settings.get(STORAGE, True))
