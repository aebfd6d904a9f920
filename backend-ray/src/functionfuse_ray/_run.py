"""One attempt at running a RayWorkflow: submit in graph order, collect.

The run plan (the core's :class:`~functionfuse.runtime.RunPlan`) says what each node
does — its node task, or nothing when it is stored — and hears of what happens; this
module only schedules. The driver submits every node when its turn comes in graph
order, handing Ray the parents' ObjectRefs; it never waits for a result in order to
submit. It keeps an ObjectRef only while something still needs it: until the node's
last consumer has been submitted, for the results to return, and while the task is
watched (see :mod:`functionfuse_ray._watch`). A node with consumers also has a *status*,
a tiny second return the watcher holds, so that a Ray system error (a killed worker,
...) seen downstream can be traced to the node whose own task died.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import ray

from functionfuse import ConfigurationError
from functionfuse.runtime import (
    REMOTE_ARGS,
    ClassNode,
    FunctionNode,
    MethodNode,
    Node,
    NodeItem,
    RunPlan,
    inputs_of,
    is_direct,
    node_of,
    replace_whole,
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


class RunAttempt:
    """The state of one attempt; :meth:`execute` returns what ``run()`` returns."""

    def __init__(self, workflow: RayWorkflow, plan: RunPlan, max_pending_tasks: int) -> None:
        self.plan = plan
        self.view = plan.view
        self.workflow_name = plan.workflow_name
        self.max_pending = max_pending_tasks
        self.storage_options: dict[str, Any] = workflow.storage_remote_args()
        self.pinned = bool(self.storage_options)
        self.watcher = Watcher(plan)
        self.watcher.suspects = self._suspects
        # With hooks listening for node_finish / node_error every task is watched.
        self.track_all = self.watcher.track_all
        # A run recorded to storage fetches every node's status: where and when it ran.
        self.recording = plan.recording
        self.tracking = self.track_all or max_pending_tasks > 0 or self.recording
        self.skip = plan.skip

        self.refs: dict[Node, Any] = {}  # results still needed by unsubmitted consumers
        self.remaining: dict[Node, int] = {}  # ... and how many consumers are left
        self.leaf_refs: dict[Node, Any] = {}
        self.actors: dict[ClassNode, Any] = {}
        self.actors_left: dict[ClassNode, int] = {}
        self.chain_status: dict[ClassNode, Any] = {}  # status of an instance's last call
        self._options: dict[tuple[Any, int, bool], Any] = {}
        self._method_options: dict[tuple[int, int], dict[str, Any]] = {}

    def _consumers(self, node: Node) -> int:
        """How many nodes that run take ``node`` as a parent. Counted when the node is
        submitted, not for the whole graph up front: the driver holds counts only for
        the results it holds. (A node called on after the workflow was built has a
        child outside it: its result is then held until the run ends.)"""
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
            watcher.raise_failures()
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
        self.plan.fail(failed.name, error)
        others = {n: e for n, e in watcher.failures.items() if n != failed.name}
        raise submit_error(
            self.workflow_name, failed.name, error, self.plan.storage is not None, others
        ) from error

    def _submit_all(self) -> None:
        """Submit every node to run, in graph order (one loop, its names held locally:
        its cost per node is what separates this backend from hand-written Ray).

        For each node: the plan's task (the plugins' driver side; none when stored);
        make sure its parents' refs exist (a stored parent is read by a task); build its
        arguments (refs in place, or a template); submit it as a task, an actor or an
        actor call; watch it if needed; drop the parents' refs nothing needs any more.
        """
        plan = self.plan
        view = self.view
        prepare = plan.prepare
        names = view.names
        settings_of = view.settings
        configured = view.configured
        refs = self.refs
        remaining = self.remaining
        consumers_of = self._consumers
        leaf_nodes = view.leaf_nodes
        leaf_refs = self.leaf_refs
        pinned = self.pinned
        track_all = self.track_all
        tracking = self.tracking
        recording = self.recording
        fetch_leaves = plan.return_results
        max_pending = self.max_pending
        batch = max(1, max_pending // 10)
        node_retry = plan.hooks.node_retry
        watcher = self.watcher
        watch = watcher.refs
        statuses = watcher.statuses
        held = watcher.held
        now = time.perf_counter
        # keep_going: submit everything; Ray runs no task whose argument failed, so the
        # failed nodes' descendants do not run, and everything else does.
        keep_going = plan.keep_going

        name = ""
        try:
            for node in view.order:
                # Every node, stored or not, so plugins see the same sequence of nodes on
                # every run (a RandomStatePlugin's seeds do not shift on resume). With
                # Ray's keep_going no node is blocked: Ray itself runs none whose
                # argument failed; so None means stored (and reported so).
                name = names[node]
                task = prepare(node)
                if task is None:
                    continue
                if watcher.stale or (watcher.failures and not keep_going):
                    break  # stop submitting; what is in flight still finishes (and saves)

                kind = type(node)
                settings = settings_of(node) if configured else None
                remote_args: Mapping[str, Any] | None = (
                    settings.get(REMOTE_ARGS) if settings is not None else None
                )
                save = task.save
                consumers = consumers_of(node)
                fetched = fetch_leaves and node in leaf_nodes
                watched = track_all or (
                    consumers == 0 and not fetched and not (save is not None and pinned)
                )
                # A method call always has a status: the next call on its instance waits on
                # it (see ActorHost), so a failed call fails the later ones. A function node
                # with consumers has one for the watcher to hold (see _watch): a node
                # without has no descendant through which its task's death could be seen.
                # A class node has none: its actor's ``ready`` says how it was built.
                status = kind is MethodNode or (
                    kind is FunctionNode and (watched or consumers > 0 or recording)
                )
                if task.retries is not None and node_retry is not None and kind is not ClassNode:
                    # Retries happen on the worker; the status brings the failed attempts
                    # back to the node_retry hook, so it must be watched.
                    status = watched = True

                plan.start(name)
                started = now() if track_all else 0.0

                # -- arguments: parents' refs, read from storage when they were skipped ----
                parents = node.parents
                for parent in parents:
                    if type(parent) is not ClassNode and parent not in refs:
                        self._read_parent(parent)
                if is_direct(node):
                    args, kwargs = replace_whole(node, refs.__getitem__)
                else:
                    # Items and nested references are rebuilt on the worker from the
                    # parents' values, passed as top-level arguments for Ray to resolve.
                    inputs = inputs_of(node)
                    task.template = template_of(node, inputs)
                    args, kwargs = [refs[p] for p in inputs], {}

                if save is not None and pinned:
                    task.save = None  # saved by a task on a storage machine (below)
                spec: Any
                if (
                    task.template is None
                    and task.initialize is None
                    and task.retries is None
                    and task.save is None
                ):
                    # Nothing around the call: ship the name, not the task (Ray sends
                    # strings and flags as they are, an object pickled).
                    spec = (name, True) if status or (recording and kind is ClassNode) else name
                else:
                    spec = (task, status or (recording and kind is ClassNode))

                # -- submit ------------------------------------------------------------------
                status_ref = None
                if kind is ClassNode:
                    handle = self._create_actor(
                        cast(ClassNode, node), name, remote_args, spec, args, kwargs
                    )
                    outcome = watched or (consumers == 0 and not fetched)
                    if outcome or recording:
                        # The constructor's outcome; the hooks get the actor handle. For
                        # the record alone (where and when it was built) the handle is
                        # not kept: the actor must end once its calls have run, or it
                        # holds its resources until the run ends.
                        ready_ref = handle.ready.remote()
                        watch.append(ready_ref)
                        statuses[ready_ref] = (name, handle if outcome else None, started)
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
                    if save is not None and pinned:
                        saved_ref, save_status = (
                            remote_helpers()["save"]
                            .options(**self.storage_options)
                            .remote(save, name, result_ref)
                        )
                        if save.storage.always_read:
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
        settings = self.view.settings(instance)
        class_args = settings.get(REMOTE_ARGS) if settings is not None else None
        key = (id(remote_args), id(class_args))
        options = self._method_options.get(key)
        if options is None:
            options = self._method_options[key] = method_options(
                self.workflow_name, name, self.view.name(instance), remote_args, class_args
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
        handle = actor_class.remote(self.view.callable_of(node), spec, *args, **kwargs)
        methods = sum(1 for method in self.view.methods(node) if method not in self.skip)
        if methods or (node in self.view.leaf_nodes and self.plan.return_results):
            self.actors[node] = handle
            self.actors_left[node] = methods
        actor_id = getattr(handle, "_actor_id", None)  # Ray's handle: no public accessor
        if actor_id is not None:
            self.watcher.actor_names[actor_id.hex()] = name
        return handle

    def _release_actor(self, instance: ClassNode) -> None:
        left = self.actors_left[instance] - 1
        self.actors_left[instance] = left
        if left == 0 and not (instance in self.view.leaf_nodes and self.plan.return_results):
            # Ray ends the actor once its handle is gone and its calls have run.
            del self.actors[instance]
            del self.actors_left[instance]
            del self.chain_status[instance]

    def _read(self, node: Node, indices: tuple[Any, ...] = ()) -> Any:
        """A task reading ``node``'s stored result (or an item of it) where the storage
        is, refused if it no longer has the fingerprint the plan decided on."""
        return (
            remote_helpers()["read"]
            .options(**self.storage_options)
            .remote(
                self.plan.storage,
                self.workflow_name,
                self.view.name(node),
                self.plan.expected(node),
                indices,
            )
        )

    def _read_parent(self, parent: Node) -> None:
        """A stored parent's result, read on a worker, for the consumers still to come."""
        ref = self.refs[parent] = self._read(parent)
        self.remaining[parent] = self._consumers(parent)
        if parent in self.view.leaf_nodes:
            self.leaf_refs[parent] = ref  # read once, also for the results
        if self.tracking:
            self.watcher.refs.append(ref)

    def _suspects(self, name: str) -> set[str]:
        """The nodes whose task's death could have failed node ``name``: its ancestors,
        and a class node's method nodes, whose actor it is (only asked when a Ray system
        error is seen; see :meth:`Watcher.note_failure`)."""
        view = self.view
        found = self.plan.node_named(name)
        if found is None:
            return set()
        stack = list(found.parents)
        if type(found) is ClassNode:
            stack.extend(view.methods(found))
        seen: set[Node] = set()
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(node.parents)
        return {view.names[node] for node in seen}

    # -- the end -------------------------------------------------------------------------

    def _results(self) -> Any:
        if not self.plan.return_results:
            return None
        refs = []
        leaves = self.view.leaves
        select = remote_helpers()["select"]
        for leaf in leaves:
            node = node_of(leaf)
            indices: tuple[Any, ...] = leaf.indices if type(leaf) is NodeItem else ()
            ref = self.leaf_refs.get(node)
            if ref is None:  # stored, not run: read it where the storage is
                ref = self._read(node, indices)
            elif indices:
                ref = select.remote(ref, indices)
            refs.append(ref)
        try:
            values = ray.get(refs)
        except Exception:
            for leaf, ref in zip(leaves, refs, strict=True):
                try:
                    ray.get(ref)
                except Exception as failure:
                    self.watcher.note_failure(self.view.name(node_of(leaf)), failure)
            self.watcher.raise_failures()
        return values[0] if len(values) == 1 else values
