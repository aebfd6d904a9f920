"""LocalWorkflow: runs every node in the current process, in graph order."""

from __future__ import annotations

from time import perf_counter
from typing import Any

from functionfuse import BaseWorkflow, NodeExecutionError
from functionfuse.runtime import (
    MISSING,
    ClassNode,
    GraphView,
    MethodNode,
    Node,
    NodeTask,
    RunPlan,
    call_with,
    node_failure,
    resolve_arguments,
)

__all__ = ["LocalWorkflow"]


class LocalWorkflow(BaseWorkflow):
    """Run a workflow in this process, resuming from storage when one is set.

    - Nodes run in graph order; each result is released as soon as every node that
      uses it has run (the results of the nodes given to the workflow are kept).
    - With a storage, every function and method result is saved right after it runs,
      with its fingerprint, and a node whose stored result is up to date (see
      ``resume``) is not run: its result is read only if a node that runs needs it (or
      it is a result of the workflow).
    - A class node's method calls resume as a chain: when any of their results is
      missing, the instance is built again and all its method calls run again.
    - A node that raises stops the run with :class:`functionfuse.NodeExecutionError`
      naming it; everything that finished before is already saved.
    """

    backend_name = "local"
    nodes_run_here = True

    def run(
        self,
        *,
        return_results: bool = True,
        keep_going: bool = False,
        resume: Any = None,
    ) -> Any:
        """Run the workflow; return the given node's result, or a list for several.

        A failing node stops the run, unless ``keep_going``: then every node that does
        not depend on a failed one still runs (and is stored), and the error raised at
        the end lists every failed node. ``resume``: ``"fingerprint"`` (the default),
        ``"name"`` or ``False``, as :class:`functionfuse.BaseWorkflow` explains.
        """
        with self.start_run(
            resume=resume, keep_going=keep_going, return_results=return_results
        ) as plan:
            if plan.plain:
                values = _run_plain(plan.view)
                return plan.results(values.__getitem__) if return_results else None
            run = _Run(plan)
            run.execute()
            if not return_results:
                return None
            run.values.update(plan.read_leaves(run.values))  # stored results: one batch
            return plan.results(run.value_of)


def _run_plain(view: GraphView) -> dict[Node, Any]:
    """Every node in order, nothing around the calls: the per-node cost floor."""
    values: dict[Node, Any] = {}
    remaining = view.consumer_counts()
    keep = view.leaf_nodes
    for node in view.order:
        try:
            values[node] = call_with(node, values)
        except Exception as error:
            raise node_failure(view.workflow_name, {view.name(node): error}, False) from error
        for parent in node.parents:
            left = remaining[parent] - 1
            remaining[parent] = left
            if left == 0 and parent not in keep:
                _forget(view, values, parent)
        if node not in remaining and node not in keep:
            _forget(view, values, node)
    return values


def _forget(view: GraphView, values: dict[Node, Any], node: Node) -> None:
    """Drop a result nobody needs any more (an instance lives until its last call)."""
    kind = type(node)
    if kind is MethodNode:
        values.pop(node, None)
        instance: ClassNode = node.instance  # type: ignore[attr-defined]
        if node is view.methods(instance)[-1] and instance not in view.leaf_nodes:
            values.pop(instance, None)
    elif kind is not ClassNode or not view.methods(node):  # type: ignore[arg-type]
        values.pop(node, None)


class _Run:
    """One run with storage, settings, hooks or ``keep_going``: values alive, consumers
    left, values read (or computed again) on demand."""

    def __init__(self, plan: RunPlan) -> None:
        self.plan = plan
        self.view = plan.view
        self.values: dict[Node, Any] = {}

    def execute(self) -> None:
        plan = self.plan
        view = self.view
        values = self.values
        remaining = view.consumer_counts()
        keep = view.leaf_nodes
        for node in view.order:
            task = plan.prepare(node)
            if task is not None:
                try:
                    values[node] = self._run(node, task)
                except NodeExecutionError:
                    if not plan.keep_going:
                        raise
                    # It failed, or a stored parent it needed could not be read nor run
                    # again (that parent is named by the error).
                    plan.block(node)
            for parent in node.parents:
                left = remaining[parent] - 1
                remaining[parent] = left
                if left == 0 and parent not in keep:
                    _forget(view, values, parent)
            if node not in remaining and node not in keep:
                _forget(view, values, node)  # nobody uses it: do not keep it alive
        error = plan.error()
        if error is not None:
            raise error

    def _run(self, node: Node, task: NodeTask, instance: Any = MISSING) -> Any:
        """Run one node here, between the hooks: arguments first (parents read or
        computed again as needed), then the task."""
        plan = self.plan
        plan.start(node)
        start = perf_counter()
        try:
            args, kwargs = resolve_arguments(node, self.value_of)
            if type(node) is MethodNode and instance is MISSING:
                instance = self.value_of(node.instance)
            call = self.view.callable_of(node, instance)
            result = task.execute(call, args, kwargs, plan.on_retry(node))
        except NodeExecutionError:
            raise  # a parent computed again on demand failed: already named
        except Exception as error:
            raise plan.fail(node, error, perf_counter() - start) from error
        plan.finish(node, result, perf_counter() - start)
        if task.save is not None:
            plan.stored(node)  # dropped and needed again (a rerun's parent): read it
        return result

    def value_of(self, node: Node) -> Any:
        """A node's value: kept from its run, else read from storage, else run again."""
        try:
            return self.values[node]
        except KeyError:
            pass
        plan = self.plan
        value = plan.read(node) if node in plan.readable else MISSING
        if value is MISSING:
            # Not stored (or unusable): run it again, reported to the hooks as a run
            # (they first heard of it as stored). A method call needs its instance in
            # the state its earlier calls left: replay the chain on a fresh instance.
            chain = plan.unusable(node)
            value = self._replay(chain, node) if len(chain) > 1 else self._rerun(node)
        self.values[node] = value
        return value

    def _rerun(self, node: Node) -> Any:
        return self._run(node, self.plan.task_for(node))

    def _replay(self, chain: list[Node], target: Node) -> Any:
        """Build a fresh instance and call its methods up to ``target`` (saved again)."""
        plan = self.plan
        instance = self._run(chain[0], plan.task_for(chain[0]))
        for method in chain[1:]:
            result = self._run(method, plan.task_for(method, save=method is target), instance)
            if method is target:
                return result
        raise AssertionError("unreachable: the target is one of its instance's methods")
