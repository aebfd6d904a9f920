"""One run of a DaskWorkflow: plan, read what is stored, submit in graph order, collect.

The run plan (the core's :class:`~functionfuse.runtime.RunPlan`) says what each node
does — its node task, or nothing when it is stored — and hears of what happens; this
module only schedules:

1. every node's task, in graph order (node plugins' driver side), and its remote args
   checked — so that a bad option fails the run before anything runs;
2. the stored results that running nodes (or the caller) need, read on the workers with
   :func:`~functionfuse.runtime.read_result`, all at once; one that cannot be used (gone,
   damaged, replaced by another run) makes its node run after all, in this run, with a
   :class:`functionfuse.FunctionFuseWarning` (a method call: its whole chain);
3. each node submitted with its parents' futures, which Dask resolves on the workers;
   the driver drops a future as soon as every consumer has been submitted (leaves
   excepted), so that Dask frees the result once they have run;
4. the watched futures (see :mod:`functionfuse_dask._watch`) waited for, then the
   leaves gathered: the only values that reach the driver.
"""

from __future__ import annotations

import contextlib
import operator
import traceback
import uuid
import warnings
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import Any

from functionfuse import ConfigurationError, FunctionFuseWarning, NodeExecutionError
from functionfuse.runtime import (
    MISSING,
    REMOTE_ARGS,
    ClassNode,
    FunctionNode,
    MethodNode,
    Node,
    NodeItem,
    NodeRun,
    NodeTask,
    RunPlan,
    UnusableResult,
    inputs_of,
    is_direct,
    node_of,
    read_result,
    replace_whole,
    template_of,
)
from functionfuse_dask._options import pick_worker, submit_options
from functionfuse_dask._watch import Watcher, exception_of, wait_for
from functionfuse_dask._worker import (
    RUNS_TOPIC,
    call_method,
    code_of,
    get_instance,
    run_node,
    select_item,
)

__all__ = ["DaskRun"]

#: How long (seconds) to wait for a first worker when a class node must be placed on a
#: cluster that has none yet (an adaptive cluster scaled to zero).
_FIRST_WORKER_TIMEOUT = 60.0


def _prefixes() -> Callable[[Node], str]:
    """A node's key prefix: what it calls (``inc``, ``Model``, ``Model.fit``).

    Dask groups tasks by the start of their keys (``inc-...``): in its dashboard, and
    in its scheduling — a large group of tasks with few dependencies is queued and
    handed to workers as they free up. A key ``<prefix>-<node name>-<uuid>`` names the
    node, and groups the nodes that call one function as raw ``client.submit`` would.
    """
    cache: dict[Any, str] = {}

    def prefix_of(node: Node) -> str:
        kind = type(node)
        if kind is MethodNode:
            cls = node.instance.cls  # type: ignore[attr-defined]
            return f"{getattr(cls, '__name__', 'instance')}.{node.method}"  # type: ignore[attr-defined]
        code = node.func if kind is FunctionNode else node.cls  # type: ignore[attr-defined]
        try:
            return cache[code]
        except (KeyError, TypeError):
            pass
        name = getattr(code, "__name__", None)
        prefix = name.replace("-", "_") if isinstance(name, str) and name else "node"
        with contextlib.suppress(TypeError):
            cache[code] = prefix
        return prefix

    return prefix_of


class _SubmitFailed(Exception):
    """Preparing or submitting node ``node`` raised ``error`` on the driver."""

    def __init__(self, node: Node, error: Exception) -> None:
        super().__init__(node, error)
        self.node = node
        self.error = error


class DaskRun:
    """The state of one run; :meth:`execute` returns what ``run()`` returns."""

    def __init__(self, plan: RunPlan, client: Any, max_pending_tasks: int) -> None:
        self.plan = plan
        self.view = plan.view
        self.client = client
        self.max_pending = max_pending_tasks
        self.watcher = Watcher(plan, client)
        self.tracking = self.watcher.track_all or plan.keep_going or max_pending_tasks > 0
        self.tasks: dict[Node, NodeTask] = {}
        self.options: dict[Node, dict[str, Any]] = {}
        #: Futures of results still needed by consumers not yet submitted.
        self.values: dict[Node, Any] = {}
        self.leaf_values: dict[Node, Any] = {}
        #: With a recorded run: each submitted task's key, and its node's name.
        self.recording = plan.recording
        self.keys: dict[str, str] = {}

    # -- the run ---------------------------------------------------------------------------

    def execute(self) -> Any:
        try:
            return self._execute()
        finally:
            if self.recording and self.keys:
                self._collect_runs()

    def _collect_runs(self) -> None:
        """Where and when each node ran, from the scheduler's event log (one request):
        for the run record. Never raises: the run's own outcome matters more."""
        try:
            events = self.client.get_events(RUNS_TOPIC)
            keys = self.keys
            for _, message in events:
                key = message.get("key") if isinstance(message, dict) else None
                name = keys.get(key) if isinstance(key, str) else None
                if name is not None:
                    self.plan.ran(name, NodeRun(*message["run"]))
        except Exception:  # the scheduler is gone: the record goes without
            return

    def _execute(self) -> Any:
        plan = self.plan
        self._prepare_all()
        self._read_stored()
        if plan.failures and not plan.keep_going:
            raise self._error()
        self._check_options()
        self._pin_instances()
        try:
            self._submit_all()
        except _SubmitFailed as failed:
            self._abandon(failed)
        watcher = self.watcher
        watcher.wait_all()
        if watcher.stopped:
            watcher.cancel_all([*self.values.values(), *self.leaf_values.values()])
            self.values.clear()
            self.leaf_values.clear()
        if plan.failures:
            raise self._error()
        return self._results()

    def _error(self) -> NodeExecutionError:
        error = self.plan.error(self.watcher.detail)
        assert error is not None
        return error

    def _prepare_all(self) -> None:
        """Every node's task in graph order (node plugins see every node, stored or not,
        on every run)."""
        plan = self.plan
        for node in self.view.order:
            try:
                task = plan.prepare(node)
            except ConfigurationError:
                raise
            except Exception as error:
                raise self._driver_failure(node, error, "prepared") from error
            if task is not None:
                self.tasks[node] = task

    def _check_options(self) -> None:
        """The ``Client.submit`` keywords of every node that runs (those whose stored
        result turned out unusable included), from its remote args: a bad one fails the
        run before anything is submitted."""
        view = self.view
        if not view.configured:
            return
        names = view.names
        for node in self.tasks:
            settings = view.settings(node)
            remote_args: Mapping[str, Any] | None = (
                settings.get(REMOTE_ARGS) if settings is not None else None
            )
            if not remote_args:
                continue
            class_args = None
            if type(node) is MethodNode:
                class_settings = view.settings(node.instance)
                class_args = class_settings.get(REMOTE_ARGS) if class_settings is not None else None
            self.options[node] = submit_options(
                self.plan.workflow_name,
                names[node],
                remote_args,
                method=type(node) is MethodNode,
                class_args=class_args,
            )

    def _driver_failure(self, node: Node, error: Exception, what: str) -> NodeExecutionError:
        """The error for node ``node`` whose plugins or arguments raised on the driver."""
        lines = traceback.format_exception(type(error), error, error.__traceback__)
        self.watcher.detail = (
            f"It could not be {what} for Dask. Traceback on the driver:\n" + "".join(lines)
        ).rstrip()
        self.plan.fail(node, error)
        return self._error()

    # -- stored results --------------------------------------------------------------------

    def _read(self, node: Node) -> Any:
        """A task reading ``node``'s stored result on a worker, refused if it no longer
        has the fingerprint the plan decided on."""
        plan = self.plan
        name = self.view.name(node)
        future = self.client.submit(
            read_result,
            plan.storage,
            plan.workflow_name,
            name,
            plan.expected(node),
            key=f"read-{name}-{uuid.uuid4().hex}",
            pure=False,
        )
        return future

    def _read_stored(self) -> None:
        """Read, on the workers and all at once, the stored results that running nodes
        (or the caller) need (the core's :meth:`~functionfuse.runtime.RunPlan.read_needed`
        decides which; here a value is the future of a read). A result that cannot be
        used makes its node run, with a warning; one that fails to read otherwise is that
        node's failure, and its consumers do not run."""
        plan = self.plan
        if not plan.skip:
            return
        self.values.update(plan.read_needed(self.tasks, self._read_many))
        for node, future in self.values.items():
            if future.status == "error":
                self.watcher.fail(node, exception_of(future), 0.0, future)
        if len(self.tasks) > 1:  # tasks added out of order: submit in graph order
            order = {node: i for i, node in enumerate(self.view.order)}
            self.tasks = dict(sorted(self.tasks.items(), key=lambda item: order[item[0]]))

    def _read_many(self, read: Any, nodes: list[Node]) -> list[Any]:
        """``read_many`` of :meth:`~functionfuse.runtime.RunPlan.read_needed`: read tasks
        on the workers (not ``read``, which reads here); the future of each, or
        :data:`~functionfuse.runtime.MISSING` for a result that cannot be used."""
        futures = [self._read(node) for node in nodes]
        wait_for(futures)
        found: list[Any] = []
        for future in futures:
            if future.status == "error":
                error = exception_of(future)
                if isinstance(error, UnusableResult):
                    warnings.warn(
                        f"stored result of node {error.node_name!r} in workflow "
                        f"{self.plan.workflow_name!r} is not usable ({error.reason}); "
                        "running the node again.",
                        FunctionFuseWarning,
                        stacklevel=7,
                    )
                    found.append(MISSING)
                    continue
            found.append(future)
        return found

    # -- class nodes -------------------------------------------------------------------------

    def _pin_instances(self) -> None:
        """Choose the worker of every class node that runs (see :func:`pick_worker`)."""
        instances = [node for node in self.tasks if type(node) is ClassNode]
        if not instances:
            return
        client = self.client
        workers = client.scheduler_info()["workers"]
        if not workers:
            client.wait_for_workers(1, timeout=_FIRST_WORKER_TIMEOUT)
            workers = client.scheduler_info()["workers"]
        pinned: dict[str, int] = {}
        for instance in instances:
            assert isinstance(instance, ClassNode)
            options = self.options.get(instance, {})
            resources = dict(options.get("resources", {}))
            for method in self.view.methods(instance):
                for resource, amount in self.options.get(method, {}).get("resources", {}).items():
                    resources[resource] = max(resources.get(resource, 0), amount)
            worker = pick_worker(
                self.plan.workflow_name,
                self.view.name(instance),
                workers,
                options.get("workers"),
                resources,
                pinned,
            )
            pinned[worker] = pinned.get(worker, 0) + 1
            self.watcher.pins[instance] = worker

    # -- the submit loop ---------------------------------------------------------------------

    def _submit_all(self) -> None:
        """Submit every task in graph order, its parents' futures as its arguments."""
        plan = self.plan
        view = self.view
        names = view.names
        client = self.client
        submit = client.submit
        watcher = self.watcher
        watch = watcher.watch
        values = self.values
        leaf_values = self.leaf_values
        leaf_nodes = view.leaf_nodes
        return_results = plan.return_results
        tracking = self.tracking
        max_pending = self.max_pending
        batch = max(1, max_pending // 10)
        node_retry = plan.hooks.node_retry
        options_of = self.options
        pins = watcher.pins
        recording = self.recording
        keys = self.keys
        now = perf_counter
        prefix_of = _prefixes()

        # How many consumers of each node are still to be submitted.
        remaining: dict[Node, int] = {}
        for node in self.tasks:
            for parent in node.parents:
                if type(parent) is not ClassNode:
                    remaining[parent] = remaining.get(parent, 0) + 1
        instances: dict[ClassNode, Any] = {}
        last_call: dict[ClassNode, Any] = {}

        current: Node | None = None
        try:
            for node, task in self.tasks.items():
                current = node
                if watcher.stopped:
                    break  # a failure stops the run: submit nothing more
                kind = type(node)
                name = names[node]
                options = options_of.get(node)
                # The failed attempts come back for the node_retry hook and the record.
                status = task.retries is not None and (node_retry is not None or recording)
                plan.start(name)
                started = now()

                # -- arguments: futures in place, or a template and the parents' futures ---
                if is_direct(node):
                    args, kwargs = replace_whole(node, values.__getitem__)
                else:
                    inputs = inputs_of(node)
                    task.template = template_of(node, inputs)
                    args, kwargs = [values[p] for p in inputs], {}
                spec: Any = (task, status)
                if (
                    not status
                    and task.template is None
                    and task.initialize is None
                    and task.retries is None
                    and task.save is None
                ):
                    spec = name  # nothing around the call: ship the name alone
                key = f"{prefix_of(node)}-{name}-{uuid.uuid4().hex}"
                if recording:
                    spec = (name if isinstance(spec, str) else task, status, True)
                    keys[key] = name

                # -- submit ----------------------------------------------------------------
                instance: ClassNode | None = None
                if kind is FunctionNode:
                    raw = submit(
                        run_node,
                        code_of(node.func),  # type: ignore[attr-defined]
                        spec,
                        kwargs or None,
                        *args,
                        key=key,
                        pure=False,
                        **(options or {}),
                    )
                else:
                    instance = node if type(node) is ClassNode else node.instance  # type: ignore[attr-defined]
                    assert isinstance(instance, ClassNode)
                    placed = {
                        **(options or {}),
                        "workers": [pins[instance]],
                        "allow_other_workers": False,
                    }
                    if kind is ClassNode:
                        raw = submit(
                            run_node,
                            code_of(view.callable_of(node)),
                            spec,
                            kwargs or None,
                            *args,
                            key=key,
                            pure=False,
                            **placed,
                        )
                        instances[instance] = raw
                        last_call[instance] = None
                    else:
                        raw = submit(
                            call_method,
                            node.method,  # type: ignore[attr-defined]
                            spec,
                            instances[instance],
                            last_call[instance],
                            kwargs or None,
                            *args,
                            key=key,
                            pure=False,
                            **placed,
                        )
                        last_call[instance] = raw
                value = raw
                watched = raw
                if status:
                    # (result, attempts): split on the worker; the driver fetches attempts.
                    place = {"workers": [pins[instance]]} if instance is not None else {}
                    value = submit(
                        operator.getitem, raw, 0, key=f"{key}-value", pure=False, **place
                    )
                    watched = submit(
                        operator.getitem, raw, 1, key=f"{key}-status", pure=False, **place
                    )
                    if kind is ClassNode:
                        instances[node] = value  # type: ignore[index]
                    elif kind is MethodNode:
                        last_call[instance] = value  # type: ignore[index]

                # -- bookkeeping -----------------------------------------------------------
                consumers = remaining.get(node, 0)
                if consumers:
                    values[node] = value
                if node in leaf_nodes and return_results and kind is not ClassNode:
                    leaf_values[node] = value
                if (
                    tracking
                    or consumers == 0
                    or instance is not None
                    or status
                    or (node in leaf_nodes)
                ):
                    watch(
                        watched,
                        node,
                        started,
                        result=value,
                        status=status,
                        instance=instance,
                    )
                for parent in node.parents:
                    if type(parent) is not ClassNode:
                        left = remaining[parent] - 1
                        if left:
                            remaining[parent] = left
                        else:
                            del remaining[parent]
                            values.pop(parent, None)

                if max_pending and len(watcher) >= max_pending:
                    watcher.wait_below(max_pending - batch + 1)
                elif tracking:
                    watcher.poll()
        except Exception as error:
            assert current is not None
            raise _SubmitFailed(current, error) from error

        # Class nodes given as leaves: their instance, after every method call.
        if return_results and not watcher.stopped:
            for instance, future in instances.items():
                if instance in leaf_nodes:
                    leaf_values[instance] = submit(
                        get_instance,
                        future,
                        last_call[instance],
                        key=f"{prefix_of(instance)}-{names[instance]}-{uuid.uuid4().hex}-instance",
                        pure=False,
                        workers=[pins[instance]],
                    )
                    watch(leaf_values[instance], instance, now(), instance=instance)

    def _abandon(self, failed: _SubmitFailed) -> None:
        """Preparing or submitting a node raised on the driver: stop the run, then raise
        a ConfigurationError or a NodeExecutionError naming the node."""
        self.watcher.cancel_all([*self.values.values(), *self.leaf_values.values()])
        self.values.clear()
        self.leaf_values.clear()
        error = failed.error
        if isinstance(error, ConfigurationError):
            raise error
        raise self._driver_failure(failed.node, error, "submitted") from error

    # -- the end -----------------------------------------------------------------------------

    def _results(self) -> Any:
        plan = self.plan
        if not plan.return_results:
            return None
        leaves = self.view.leaves
        futures = []
        for leaf in leaves:
            node = node_of(leaf)
            future = self.leaf_values.get(node)
            if future is None:  # a stored leaf: its read
                future = self.values[node]
            if type(leaf) is NodeItem:
                future = self.client.submit(select_item, future, leaf.indices, pure=False)
            futures.append(future)
        try:
            values = self.client.gather(futures)
        except Exception as error:
            # An item that is not there (node[3] of a pair): the leaf's node is named.
            for leaf, future in zip(leaves, futures, strict=True):
                if future.status == "error":
                    self.watcher.fail(node_of(leaf), exception_of(future), 0.0, future)
                    break
            else:
                raise
            raise self._error() from error
        return values[0] if len(values) == 1 else values
