"""One attempt at running a RayWorkflow: plan, submit in graph order, collect.

The driver submits every node when its turn comes in graph order, handing Ray the
parents' ObjectRefs; it never waits for a result in order to submit. It keeps an
ObjectRef only while something still needs it: until the node's last consumer has been
submitted, for the results to return, and while the task is watched (see
:mod:`functionfuse_ray._watch`). A node with consumers also has a *status*, a tiny
second return the watcher holds, so that a Ray system error (a killed worker, ...) seen
downstream can be traced to the node whose own task died.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import ray

from functionfuse import ConfigurationError
from functionfuse.hookspecs import Storage
from functionfuse.runtime import (
    MISSING,
    REMOTE_ARGS,
    RETRIES,
    STORAGE,
    ClassNode,
    FunctionNode,
    LifecycleHooks,
    MethodNode,
    Node,
    NodeItem,
    ResumePlan,
    Retries,
    node_of,
    replace_references,
)
from functionfuse_ray._arguments import (
    is_direct,
    referenced_nodes,
    template_of,
)
from functionfuse_ray._errors import submit_error
from functionfuse_ray._options import checked_options, method_options
from functionfuse_ray._remotes import remote_function, remote_helpers
from functionfuse_ray._watch import Watcher

if TYPE_CHECKING:
    from functionfuse_ray._workflow import RayWorkflow

__all__ = ["RunAttempt"]


class _SubmitFailed(Exception):
    """Submitting node ``name`` raised ``error`` on the driver."""

    def __init__(self, name: str, error: Exception) -> None:
        super().__init__(name, error)
        self.name = name
        self.error = error


def _no_stamp(node: Node) -> None:
    return None


class RunAttempt:
    """The state of one attempt; :meth:`execute` returns what ``run()`` returns."""

    def __init__(
        self,
        workflow: RayWorkflow,
        hooks: LifecycleHooks,
        *,
        return_results: bool,
        max_pending_tasks: int,
        stored_names: set[str],
        plan: ResumePlan | None = None,
        keep_going: bool = False,
    ) -> None:
        self.workflow = workflow
        self.workflow_name = workflow.workflow_name
        self.hooks = hooks
        self.return_results = return_results
        self.keep_going = keep_going
        self.max_pending = max_pending_tasks
        self.storage: Storage | None = workflow.storage
        self.plan = plan
        self.storage_options: dict[str, Any] = workflow.storage_remote_args()
        self.pinned = bool(self.storage_options)
        self.watcher = Watcher(self.workflow_name, hooks)
        self.watcher.suspects = self._suspects
        # With hooks listening for node_finish / node_error every task is watched.
        self.track_all = self.watcher.track_all
        self.tracking = self.track_all or max_pending_tasks > 0
        self.leaf_nodes = {node_of(leaf) for leaf in workflow.leaves}
        self.skip = self._plan_skips(stored_names) if stored_names else set()

        self.refs: dict[Node, Any] = {}  # results still needed by unsubmitted consumers
        self.remaining: dict[Node, int] = {}  # ... and how many consumers are left
        self.leaf_refs: dict[Node, Any] = {}
        self.actors: dict[ClassNode, Any] = {}
        self.actors_left: dict[ClassNode, int] = {}
        self.chain_status: dict[ClassNode, Any] = {}  # status of an instance's last call
        self._options: dict[tuple[Any, int, bool], Any] = {}
        self._method_options: dict[tuple[int, int], dict[str, Any]] = {}

    # -- planning --------------------------------------------------------------------

    def _plan_skips(self, stored_names: set[str]) -> set[Node]:
        """The nodes not to run because their results are stored.

        As on the local backend, a class node and its method calls resume as one chain:
        skipped together when every call's result is stored (and the instance is not
        itself a result of the workflow), otherwise built and called again in full, so
        that each call sees the instance in the state its earlier calls left.
        """
        settings_of = self.workflow.settings
        stored: set[Node] = set()
        for name, node in self.workflow.graph_traversal():
            if name in stored_names and type(node) is not ClassNode:
                settings = settings_of(node)
                if settings is None or settings.get(STORAGE) is not False:
                    stored.add(node)
        skip: set[Node] = {node for node in stored if type(node) is FunctionNode}
        for node in self.workflow.nodes:
            if isinstance(node, ClassNode) and node not in self.leaf_nodes:
                methods = node.methods
                if methods and all(method in stored for method in methods):
                    skip.add(node)
                    skip.update(methods)
        return skip

    def _consumers(self, node: Node) -> int:
        children = node.children
        skip = self.skip
        if not skip:
            return len(children)
        return sum(1 for child in children if child not in skip)

    # -- the submit loop -------------------------------------------------------------

    def execute(self) -> Any:
        """Submit every node, wait for the ones that matter, return the results."""
        watcher = self.watcher
        try:
            self._submit_all()
        except _SubmitFailed as failed:
            self._abandon(failed)
        others = list(self.leaf_refs.values())
        if watcher.stopped:
            # Stopped early: nodes whose consumers were never submitted are unwatched.
            others += self.refs.values()
        watcher.wait_all(others)
        if watcher.stopped:
            watcher.raise_failures(stored=self.storage is not None)
        return self._results()

    def _abandon(self, failed: _SubmitFailed) -> None:
        """Submitting a node raised on the driver: let what is in flight finish (and be
        stored), then raise a ConfigurationError or NodeExecutionError naming the node."""
        self.actors.clear()  # Ray ends each actor once its calls so far have run
        self.chain_status.clear()
        watcher = self.watcher
        watcher.wait_all([*self.leaf_refs.values(), *self.refs.values()])
        error = failed.error
        if isinstance(error, ConfigurationError):
            raise error
        hooks = self.hooks
        if hooks.node_error is not None:
            hooks.node_error(
                workflow_name=self.workflow_name, node_name=failed.name, error=error, duration=0.0
            )
        others = {n: e for n, e in watcher.failures.items() if n != failed.name}
        raise submit_error(
            self.workflow_name, failed.name, error, self.storage is not None, others
        ) from error

    def _submit_all(self) -> None:
        """Submit every node to run, in graph order (one loop, its names held locally:
        its cost per node is what separates this backend from hand-written Ray).

        For each node: the plugins' driver side; skip it if stored; make sure its
        parents' refs exist (a stored parent is read by a task); build its arguments
        (refs in place, or a template); submit it as a task, an actor or an actor call;
        watch it if needed; drop the parents' refs that nothing needs any more.
        """
        workflow = self.workflow
        workflow_name = self.workflow_name
        hooks = self.hooks
        settings_of = workflow.settings
        node_initializer = workflow.node_initializer
        skip = self.skip
        refs = self.refs
        remaining = self.remaining
        leaf_nodes = self.leaf_nodes
        leaf_refs = self.leaf_refs
        storage = self.storage
        stamp_of = self.plan.stamp if self.plan is not None else _no_stamp
        pinned = self.pinned
        track_all = self.track_all
        tracking = self.tracking
        fetch_leaves = self.return_results
        max_pending = self.max_pending
        batch = max(1, max_pending // 10)
        node_start = hooks.node_start
        node_finish = hooks.node_finish
        node_retry = hooks.node_retry
        watcher = self.watcher
        watch = watcher.refs
        statuses = watcher.statuses
        held = watcher.held
        now = time.perf_counter
        # keep_going: submit everything; Ray runs no task whose argument failed, so the
        # failed nodes' descendants do not run, and everything else does.
        keep_going = self.keep_going

        name = ""
        try:
            for name, node in workflow.graph_traversal():
                settings = settings_of(node)
                # Every node, stored or not, so plugins see the same sequence of nodes on
                # every run (a RandomStatePlugin's seeds do not shift on resume).
                initialize = node_initializer(hooks, node, name, settings)
                if skip and node in skip:
                    if node_finish is not None:
                        node_finish(
                            workflow_name=workflow_name,
                            node_name=name,
                            result=MISSING,
                            duration=0.0,
                            from_storage=True,
                        )
                    continue
                if watcher.stale or (watcher.failures and not keep_going):
                    break  # stop submitting; what is in flight still finishes (and saves)

                kind = type(node)
                remote_args: Mapping[str, Any] | None = None
                retries: Retries | None = None
                save = False
                if settings is not None:
                    remote_args = settings.get(REMOTE_ARGS)
                    retries = settings.get(RETRIES)
                    save = storage is not None and settings.get(STORAGE) is not False
                else:
                    save = storage is not None
                if kind is ClassNode:
                    save = False
                consumers = self._consumers(node)
                fetched = fetch_leaves and node in leaf_nodes
                watched = track_all or (consumers == 0 and not fetched and not (save and pinned))
                # A method call always has a status: the next call on its instance waits on
                # it (see ActorHost), so a failed call fails the later ones. A function node
                # with consumers has one for the watcher to hold (see _watch): a node
                # without has no descendant through which its task's death could be seen.
                # A class node has none: its actor's ``ready`` says how it was built.
                status = kind is MethodNode or (kind is FunctionNode and (watched or consumers > 0))
                if retries is not None and node_retry is not None and kind is not ClassNode:
                    # Retries happen on the worker; the status brings the failed attempts
                    # back to the node_retry hook, so it must be watched.
                    status = watched = True

                if node_start is not None:
                    node_start(workflow_name=workflow_name, node_name=name)
                started = now() if track_all else 0.0

                # -- arguments: parents' refs, read from storage when they were skipped ----
                parents = node.parents
                values: list[Any] | None = None
                deps = node.deps
                direct = deps is None or is_direct(deps)
                for parent in parents:
                    if type(parent) is not ClassNode and parent not in refs:
                        self._read_parent(parent)
                if deps is None:
                    args: Any = node.args
                    kwargs = node.kwargs if node.kwargs is not None else {}
                    template = None
                elif direct:
                    args, kwargs = replace_references(node, deps, refs.__getitem__)
                    template = None
                else:
                    inputs = [p for p in parents if type(p) is not ClassNode]
                    # A method's previous call is a parent for ordering; its value is
                    # shipped only if this call also takes it as an argument.
                    if (
                        kind is MethodNode
                        and type(parents[0]) is MethodNode
                        and parents[0] not in referenced_nodes(deps)
                    ):
                        inputs.remove(parents[0])
                    index_of = {p: i for i, p in enumerate(inputs)}
                    template = template_of(node, index_of)
                    values = [refs[p] for p in inputs]
                    args, kwargs = values, {}

                stamp = stamp_of(node) if save else None
                inline_save = (storage, workflow_name, stamp) if save and not pinned else None
                if retries is not None:
                    spec: Any = (name, template, initialize, inline_save, status, retries)
                elif template is None and initialize is None and inline_save is None and not status:
                    spec = name
                else:
                    spec = (name, template, initialize, inline_save, status)

                # -- submit ------------------------------------------------------------------
                status_ref = None
                if kind is ClassNode:
                    handle = self._create_actor(
                        cast(ClassNode, node), name, remote_args, spec, args, kwargs
                    )
                    if watched or (consumers == 0 and not fetched):
                        # The constructor's outcome; the hooks get the actor handle.
                        ready_ref = handle.ready.remote()
                        watch.append(ready_ref)
                        statuses[ready_ref] = (name, handle, started)
                    result_ref = None
                else:
                    if kind is MethodNode:
                        instance = cast(MethodNode, node).instance
                        options = (
                            self._call_options(name, instance, remote_args) if remote_args else None
                        )
                        method = self.actors[instance].call.options(
                            **(options or {}), num_returns=2
                        )
                        returned = method.remote(
                            cast(MethodNode, node).method,
                            spec,
                            self.chain_status.get(instance),
                            *args,
                            **kwargs,
                        )
                        self.chain_status[instance] = returned[1]
                    else:
                        func = cast(FunctionNode, node).func
                        returned = self._remote_for(name, func, remote_args, status).remote(
                            spec, *args, **kwargs
                        )
                    if status:
                        result_ref, status_ref = returned
                    else:
                        result_ref = returned
                    if save and pinned:
                        saved_ref, save_status = (
                            remote_helpers()["save"]
                            .options(**self.storage_options)
                            .remote(storage, workflow_name, name, result_ref, stamp)
                        )
                        if storage is not None and storage.always_read:
                            result_ref = saved_ref
                        watch.append(save_status)
                        statuses[save_status] = (name, None, started)

                # -- bookkeeping -------------------------------------------------------------
                if status_ref is not None:
                    held[name] = status_ref
                    if watched:
                        watch.append(status_ref)
                        statuses[status_ref] = (name, result_ref, started)
                    elif tracking:
                        watch.append(status_ref)
                        statuses[status_ref] = (name, None, started)
                elif tracking and result_ref is not None:
                    watch.append(result_ref)
                if result_ref is not None:
                    if node in leaf_nodes:
                        leaf_refs[node] = result_ref
                    if consumers:
                        refs[node] = result_ref
                        remaining[node] = consumers
                for parent in parents:
                    if type(parent) is ClassNode:
                        continue
                    left = remaining[parent] - 1
                    if left:
                        remaining[parent] = left
                    else:
                        del remaining[parent]
                        del refs[parent]
                if kind is MethodNode:
                    self._release_actor(cast(MethodNode, node).instance)

                if max_pending and len(watch) >= max_pending:
                    watcher.wait_for(len(watch) - max_pending + batch)
                elif track_all:
                    watcher.poll()
        except Exception as error:
            raise _SubmitFailed(name, error) from error

        # Class nodes given as leaves: their instance, after every method call.
        for node in list(self.actors):
            if node in leaf_nodes and fetch_leaves:
                leaf_refs[node] = self.actors[node].get_instance.remote(self.chain_status.get(node))
        self.actors.clear()
        self.chain_status.clear()

    def _remote_for(
        self,
        name: str,
        func: Callable[..., Any],
        remote_args: Mapping[str, Any] | None,
        status: bool,
    ) -> Any:
        remote = remote_function(func)
        if not remote_args and not status:
            return remote
        key = (remote, id(remote_args) if remote_args else 0, status)
        options = self._options.get(key)
        if options is None:
            extra = {"num_returns": 2} if status else {}
            options = self._options[key] = checked_options(
                self.workflow_name, name, "node", remote.options, remote_args or {}, **extra
            )
        return options

    def _call_options(
        self, name: str, instance: ClassNode, remote_args: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The options of a method node's actor call (see :mod:`._options`)."""
        settings = self.workflow.settings(instance)
        class_args = settings.get(REMOTE_ARGS) if settings is not None else None
        key = (id(remote_args), id(class_args))
        options = self._method_options.get(key)
        if options is None:
            options = self._method_options[key] = method_options(
                self.workflow_name,
                name,
                self.workflow.name_of(instance),
                remote_args,
                class_args,
            )
        return options

    def _create_actor(
        self,
        node: ClassNode,
        name: str,
        remote_args: Mapping[str, Any] | None,
        spec: Any,
        args: Any,
        kwargs: dict[str, Any],
    ) -> Any:
        actor_class = remote_helpers()["actor"]
        if remote_args:
            actor_class = checked_options(
                self.workflow_name, name, "class node", actor_class.options, remote_args
            )
        handle = actor_class.remote(node.cls, spec, *args, **kwargs)
        methods = sum(1 for method in node.methods if method not in self.skip)
        if methods or (node in self.leaf_nodes and self.return_results):
            self.actors[node] = handle
            self.actors_left[node] = methods
        actor_id = getattr(handle, "_actor_id", None)
        if actor_id is not None:
            self.watcher.actor_names[actor_id.hex()] = name
        return handle

    def _release_actor(self, instance: ClassNode) -> None:
        left = self.actors_left[instance] - 1
        self.actors_left[instance] = left
        if left == 0 and not (instance in self.leaf_nodes and self.return_results):
            # Ray ends the actor once its handle is gone and its calls have run.
            del self.actors[instance]
            del self.actors_left[instance]
            del self.chain_status[instance]

    def _read_parent(self, parent: Node) -> None:
        """A stored parent's result, read on a worker, for the consumers still to come."""
        storage = self.storage
        assert storage is not None, f"{parent!r} was skipped without a storage"
        name = self.workflow.name_of(parent)
        ref = (
            remote_helpers()["read"]
            .options(**self.storage_options)
            .remote(storage, self.workflow_name, name, (), self._expected(parent))
        )
        self.refs[parent] = ref
        self.remaining[parent] = self._consumers(parent)
        if parent in self.leaf_nodes:
            self.leaf_refs[parent] = ref  # read once, also for the results
        if self.tracking:
            self.watcher.refs.append(ref)

    def _expected(self, node: Node) -> bytes | None:
        """The fingerprint a stored result of ``node`` must still have when read."""
        return self.plan.expected(node) if self.plan is not None else None

    def _suspects(self, name: str) -> set[str]:
        """The nodes whose task's death could have failed node ``name``: its ancestors,
        and a class node's method nodes, whose actor it is (only asked when a Ray system
        error is seen; see :meth:`Watcher.note_failure`)."""
        workflow = self.workflow
        found = [node for node in workflow.nodes if workflow.name_of(node) == name]
        seen: set[Node] = set()
        stack = [parent for node in found for parent in node.parents]
        for node in found:
            if isinstance(node, ClassNode):
                stack.extend(node.methods)
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(node.parents)
        return {workflow.name_of(node) for node in seen}

    # -- the end -------------------------------------------------------------------------

    def _results(self) -> Any:
        if not self.return_results:
            return None
        refs = []
        helpers = remote_helpers()
        for leaf in self.workflow.leaves:
            node = node_of(leaf)
            indices: tuple[Any, ...] = leaf.indices if type(leaf) is NodeItem else ()
            ref = self.leaf_refs.get(node)
            if ref is None:  # stored, not run: read it where the storage is
                ref = (
                    helpers["read"]
                    .options(**self.storage_options)
                    .remote(
                        self.storage,
                        self.workflow_name,
                        self.workflow.name_of(node),
                        indices,
                        self._expected(node),
                    )
                )
            elif indices:
                ref = helpers["select"].remote(ref, indices)
            refs.append(ref)
        try:
            values = ray.get(refs)
        except Exception:
            for leaf, ref in zip(self.workflow.leaves, refs, strict=True):
                try:
                    ray.get(ref)
                except Exception as failure:
                    self.watcher.note_failure(self.workflow.name_of(leaf), failure)
            self.watcher.raise_failures(stored=self.storage is not None)
        return values[0] if len(values) == 1 else values
