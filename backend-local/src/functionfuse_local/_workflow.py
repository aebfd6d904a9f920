"""LocalWorkflow: runs every node in the current process, in graph order."""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter, sleep
from typing import Any

from functionfuse import BaseWorkflow, NodeExecutionError
from functionfuse.hookspecs import Storage
from functionfuse.runtime import (
    MISSING,
    RETRIES,
    STORAGE,
    ClassNode,
    FunctionNode,
    LifecycleHooks,
    MethodNode,
    Node,
    ResumePlan,
    Retries,
    lifecycle_hooks,
    read_stored,
    resolve_arguments,
    save_result,
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
        mode = self.resume_mode(resume)
        hooks = lifecycle_hooks()
        with self.lifecycle(hooks):
            run = _Run(self, hooks, mode)
            run.execute(keep_going)
            return self.collect_results(run.value_of) if return_results else None


class _Run:
    """The state of one run: values alive, consumers left, what storage holds."""

    def __init__(self, workflow: LocalWorkflow, hooks: LifecycleHooks, resume: Any) -> None:
        self.workflow = workflow
        self.hooks = hooks
        self.values: dict[Node, Any] = {}
        self.storage: Storage | None = workflow.storage
        self.stored: set[str] = set()
        # What to call before a skipped (stored) node if it has to run after all
        # (unreadable, or replayed): its plugins were initialized once, in graph order.
        self.deferred: dict[Node, Callable[[], object]] = {}
        self.methods: dict[ClassNode, list[MethodNode]] = {}
        self.plan: ResumePlan | None = None
        if self.storage is not None:
            self.storage.new_workflow(workflow.workflow_name)
            # One listing instead of a request per node, then the stored fingerprints.
            listed = set(self.storage.list_tasks(workflow.workflow_name))
            self.plan = workflow.resume_plan(hooks, listed, resume)
            # What may be read instead of run: stored and up to date.
            self.stored = set(self.plan.usable)

    @property
    def names(self) -> dict[Node, str]:
        return self.workflow._names

    # -- the main loop ----------------------------------------------------------------------

    def execute(self, keep_going: bool = False) -> None:
        workflow = self.workflow
        values = self.values
        keep = set(workflow._leaf_nodes)
        # Consumers left per node; a result is dropped when its count reaches zero.
        remaining = {
            node: len(node.children) for node in workflow._order if node._children is not None
        }
        settings_of = workflow.settings
        hooks = self.hooks
        watch = hooks.node_start is not None or hooks.node_finish is not None
        plugins_everywhere = hooks.any_node_plugin
        storage = self.storage
        if (
            storage is None
            and not watch
            and not plugins_everywhere
            and not workflow._settings
            and not keep_going
        ):
            self._execute_plain(remaining, keep)
            return
        names = self.names  # computed on first use: the plain loop never needs them
        stored = self.stored
        skipped_chains: set[ClassNode] = set()
        # keep_going: the failed nodes' errors, and every node that failed or waits on one.
        failed: dict[str, BaseException] = {}
        broken: set[Node] = set()

        for node in workflow._order:
            name = names[node]
            settings = settings_of(node)
            kind = type(node)
            # The driver side of the node plugins runs for every node, stored or not, so
            # that they see the same nodes on every run (a RandomStatePlugin's seeds do
            # not shift on resume); the worker side runs only if the node does.
            if settings is not None or plugins_everywhere:
                before = workflow.node_initializer(hooks, node, name, settings)
            else:
                before = None
            if storage is not None and (settings is None or settings.get(STORAGE, True)):
                if kind is ClassNode:
                    skip = node not in keep and self._chain_stored(node)  # type: ignore[arg-type]
                    if skip:
                        # Every call of the instance is stored: it is not built (reported
                        # as from storage, as on Ray).
                        skipped_chains.add(node)  # type: ignore[arg-type]
                else:
                    skip = name in stored and (
                        kind is not MethodNode or node.instance in skipped_chains  # type: ignore[attr-defined]
                    )
                if skip:
                    # Stored: read lazily, only if a running node or the caller needs it.
                    if hooks.node_finish is not None:
                        hooks.node_finish(
                            workflow_name=workflow.workflow_name,
                            node_name=name,
                            result=MISSING,
                            duration=0.0,
                            from_storage=True,
                        )
                    if before is not None:
                        self.deferred[node] = before
                    self._release(node.parents, remaining, keep)
                    continue
            if broken and not broken.isdisjoint(node.parents):
                broken.add(node)  # waits on a failed node: does not run
                self._release(node.parents, remaining, keep)
                continue
            try:
                if watch:
                    values[node] = self._reported(node, name, settings, before)
                else:
                    values[node] = self._compute(node, name, settings, before)
            except NodeExecutionError as error:
                if not keep_going:
                    raise
                # This node failed, or a stored parent it needed could not be read nor
                # run again (that parent is named by the error).
                failed.update(error.failed)
                broken.add(node)
                self._release(node.parents, remaining, keep)
                continue
            if node.parents:
                self._release(node.parents, remaining, keep)
            if node not in remaining and node not in keep:
                self._drop(node)  # nobody uses it: do not keep it alive
        if failed:
            raise self._failures(failed, len(broken) - len(failed))

    def _execute_plain(self, remaining: dict[Node, int], keep: set[Node]) -> None:
        """The loop without storage, hooks or settings: the per-node cost floor.

        Reads the core's ``Node._deps`` (lockstep with this backend) to call a node
        whose arguments are all nodes, or hold none, without ``resolve_arguments``.
        """
        values = self.values
        value_of = self.value_of
        for node in self.workflow._order:
            kind = type(node)
            if node._backend_info:  # a setting made on the node itself: general path
                settings = self.workflow.settings(node)
                before = self.workflow.node_initializer(
                    self.hooks, node, self.names[node], settings
                )
                values[node] = self._compute(node, self.names[node], settings, before)
            elif kind is FunctionNode:
                deps = node._deps
                kwargs = node.kwargs
                try:
                    if deps is None:  # no node among the arguments
                        args: Any = node.args
                    elif type(deps) is tuple:  # nodes inside containers, items, keywords
                        args, kwargs = resolve_arguments(node, value_of)
                    else:  # every positional argument a node, run before this one
                        args = [values[parent] for parent in node.args]
                    if kwargs:
                        values[node] = node.func(*args, **kwargs)  # type: ignore[attr-defined]
                    else:
                        values[node] = node.func(*args)  # type: ignore[attr-defined]
                except Exception as error:
                    raise self._failure(self.names[node], error) from error
            else:
                values[node] = self._compute(node, self.names[node], None, None)
            for parent in node.parents:
                left = remaining[parent] - 1
                remaining[parent] = left
                if left == 0 and parent not in keep:
                    if type(parent) is FunctionNode:
                        del values[parent]
                    else:
                        self._drop(parent)
            if node not in remaining and node not in keep:
                if kind is FunctionNode:
                    del values[node]
                else:
                    self._drop(node)

    def _release(
        self, parents: tuple[Node, ...], remaining: dict[Node, int], keep: set[Node]
    ) -> None:
        for parent in parents:
            left = remaining[parent] - 1
            remaining[parent] = left
            if left == 0 and parent not in keep:
                self._drop(parent)

    def _drop(self, node: Node) -> None:
        """Forget a result nobody needs any more (an instance lives until its last call)."""
        kind = type(node)
        if kind is MethodNode:
            self.values.pop(node, None)
            instance = node.instance  # type: ignore[attr-defined]
            if node is self._methods(instance)[-1] and instance not in self.workflow._leaf_nodes:
                self.values.pop(instance, None)
        elif kind is not ClassNode or not self._methods(node):  # type: ignore[arg-type]
            self.values.pop(node, None)

    def _methods(self, instance: ClassNode) -> list[MethodNode]:
        """The instance's method calls that belong to this workflow, in call order.

        Calls made on the instance after the workflow was built are not part of it.
        """
        methods = self.methods.get(instance)
        if methods is None:
            # Graph order is creation order: a later call is newer than every node here.
            last = self.workflow._order[-1].seq
            methods = self.methods[instance] = [m for m in instance.methods if m.seq <= last]
        return methods

    def _chain_stored(self, node: ClassNode) -> bool:
        """True when every method call of this instance has a stored result."""
        stored = self.stored
        names = self.names
        settings_of = self.workflow.settings
        for method in self._methods(node):
            settings = settings_of(method)
            if names[method] not in stored or (
                settings is not None and not settings.get(STORAGE, True)
            ):
                return False
        return True

    # -- running one node -------------------------------------------------------------

    def _compute(
        self,
        node: Node,
        name: str,
        settings: Any,
        before: Callable[[], object] | None,
        *,
        instance: Any = MISSING,
        save: bool = True,
    ) -> Any:
        workflow = self.workflow
        try:
            args, kwargs = resolve_arguments(node, self.value_of)
            if type(node) is MethodNode and instance is MISSING:
                instance = self.value_of(node.instance)
            retries: Retries | None = settings.get(RETRIES) if settings is not None else None
            attempt = 1
            while True:
                try:
                    if before is not None:
                        before()
                    if type(node) is MethodNode:
                        result = node.call_on(instance, args, kwargs)
                    else:
                        result = node.call(args, kwargs)  # type: ignore[attr-defined]
                    break
                except Exception as error:
                    if (
                        retries is None
                        or attempt >= retries.attempts
                        or not retries.retries_on(error)
                    ):
                        raise
                    self._retry(name, attempt, error, retries.delay)
                    attempt += 1
            if (
                save
                and self.storage is not None
                and type(node) is not ClassNode
                and (settings is None or settings.get(STORAGE, True))
            ):
                assert self.plan is not None, "a run with a storage has a plan"
                result = save_result(
                    self.storage, workflow.workflow_name, name, result, self.plan.stamp(node)
                )
                # Saved: if its value is dropped and needed again later (by a stored
                # node found unreadable and run again), it is read, not run again.
                self.stored.add(name)
        except NodeExecutionError:
            raise  # a parent recomputed on demand failed: already named
        except Exception as error:
            raise self._failure(name, error) from error
        return result

    def _retry(self, name: str, attempt: int, error: Exception, delay: float) -> None:
        """Report a failed attempt that will be followed by another; wait ``delay``."""
        if self.hooks.node_retry is not None:
            self.hooks.node_retry(
                workflow_name=self.workflow.workflow_name,
                node_name=name,
                attempt=attempt,
                error=error,
                delay=delay,
            )
        if delay:
            sleep(delay)

    def _failure(self, name: str, error: Exception) -> NodeExecutionError:
        """Report a node's exception to the hooks; the error to raise for it."""
        workflow_name = self.workflow.workflow_name
        if self.hooks.node_error is not None:
            self.hooks.node_error(
                workflow_name=workflow_name, node_name=name, error=error, duration=0.0
            )
        return NodeExecutionError(
            f"node {name!r} of workflow {workflow_name!r} failed with "
            f"{type(error).__name__}: {error}. Results of the nodes that finished "
            "before it are stored; fix the cause and run again to resume.",
            workflow_name=workflow_name,
            node_name=name,
            failed={name: error},
        )

    def _failures(self, failed: dict[str, BaseException], not_run: int) -> NodeExecutionError:
        """The error a ``keep_going`` run ends with: every failed node, the first chained."""
        workflow_name = self.workflow.workflow_name
        listing = "; ".join(
            f"{name!r} ({type(error).__name__}: {error})" for name, error in failed.items()
        )
        first, cause = next(iter(failed.items()))
        error = NodeExecutionError(
            f"{len(failed)} node(s) of workflow {workflow_name!r} failed: {listing}. "
            f"{not_run} node(s) that depend on them did not run; every other node ran "
            "and its result is stored. Fix the causes and run again to resume.",
            workflow_name=workflow_name,
            node_name=first,
            failed=dict(failed),
        )
        error.__cause__ = cause
        return error

    def _reported(
        self,
        node: Node,
        name: str,
        settings: Any,
        before: Callable[[], object] | None,
        **options: Any,
    ) -> Any:
        """``_compute`` between the node_start and node_finish hooks (when there are any)."""
        hooks = self.hooks
        if hooks.node_start is None and hooks.node_finish is None:
            return self._compute(node, name, settings, before, **options)
        workflow_name = self.workflow.workflow_name
        if hooks.node_start is not None:
            hooks.node_start(workflow_name=workflow_name, node_name=name)
        start = perf_counter()
        result = self._compute(node, name, settings, before, **options)
        if hooks.node_finish is not None:
            hooks.node_finish(
                workflow_name=workflow_name,
                node_name=name,
                result=result,
                duration=perf_counter() - start,
                from_storage=False,
            )
        return result

    # -- values on demand ---------------------------------------------------------------

    def value_of(self, node: Node) -> Any:
        """A node's value: kept from its run, else read from storage, else recomputed."""
        try:
            return self.values[node]
        except KeyError:
            pass
        value = self._materialize(node)
        self.values[node] = value
        return value

    def _materialize(self, node: Node) -> Any:
        name = self.names[node]
        workflow = self.workflow
        settings = workflow.settings(node)
        storage = self.storage
        if (
            storage is not None
            and type(node) is not ClassNode
            and name in self.stored
            and (settings is None or settings.get(STORAGE, True))
        ):
            assert self.plan is not None, "a run with a storage has a plan"
            value = read_stored(
                storage, workflow.workflow_name, name, fingerprint=self.plan.expected(node)
            )
            if value is not MISSING:
                return value
            self.stored.discard(name)
        # Not stored (or unreadable): compute it again, reported to the hooks as a run
        # (they first heard of it as stored). A method call needs its instance in the
        # state its earlier calls left: replay the chain.
        if type(node) is MethodNode:
            return self._replay(node)
        return self._reported(node, name, settings, self._initializer(node, name, settings))

    def _replay(self, target: MethodNode) -> Any:
        """Build a fresh instance and call its methods up to ``target`` (saved again)."""
        workflow = self.workflow
        instance_node = target.instance
        name = self.names[instance_node]
        settings = workflow.settings(instance_node)
        before = self._initializer(instance_node, name, settings)
        instance = self._reported(instance_node, name, settings, before)
        for method in self._methods(instance_node):
            name = self.names[method]
            settings = workflow.settings(method)
            before = self._initializer(method, name, settings)
            result = self._reported(
                method, name, settings, before, instance=instance, save=method is target
            )
            if method is target:
                return result
        raise AssertionError("unreachable: the target is one of its instance's methods")

    def _initializer(self, node: Node, name: str, settings: Any) -> Callable[[], object] | None:
        """What to call before a node that runs out of graph order (read or replayed)."""
        before = self.deferred.get(node)  # kept, not popped: a replay may run it again
        if before is not None:
            return before
        return self.workflow.node_initializer(self.hooks, node, name, settings)
