"""RunPlan: the driver half of the node protocol, made once per run.

A backend asks it, in graph order, what to do with each node (:meth:`RunPlan.prepare`:
a :class:`~functionfuse.runtime.NodeTask` to run, or ``None`` — the result is stored
and up to date, or a parent failed), runs those tasks however it schedules, and reports
back (:meth:`~RunPlan.start`, :meth:`~RunPlan.finish`, :meth:`~RunPlan.fail`). The plan
holds what every backend must do alike: the resume decisions and their reasons, the
class-chain rule, the fingerprint stamps, the node plugins' driver side, ``keep_going``
bookkeeping, the lifecycle hooks, the errors that name the node, and the run record
(:attr:`RunPlan.recorder`, see :mod:`functionfuse._records`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Container, Iterable, Mapping
from typing import TYPE_CHECKING, Any, final

from functionfuse._errors import (
    NodeExecutionError,
    StorageError,
)
from functionfuse._failures import node_failure
from functionfuse._hooks import LifecycleHooks
from functionfuse._nodes import ClassNode, FunctionNode, MethodNode, Node, NodeItem, node_of
from functionfuse._records import RunRecorder
from functionfuse._resume import ResumeMode, ResumePlan
from functionfuse._retries import RETRIES
from functionfuse._storage import MISSING, missing_after, read_stored
from functionfuse._task import NodeRun, NodeTask, OnRetry, SaveTo
from functionfuse._view import GraphView

if TYPE_CHECKING:
    from functionfuse._workflow import BaseWorkflow

__all__ = ["RunPlan"]

#: The settings key of ``query().set_storage()`` (kept here to avoid a cycle).
_STORAGE = "storage"


@final
class RunPlan:
    """What one run does with each node, and what it reports.

    Made by :meth:`functionfuse.BaseWorkflow.start_run`. ``skip`` holds the nodes whose
    stored result is used instead of running them: functions and method calls stored
    and up to date; a class node when every one of its method calls is (a class node
    and its calls resume as one chain, so that each call sees the instance as its
    earlier calls left it) and it is not a result of the workflow.
    """

    def __init__(
        self,
        workflow: BaseWorkflow,
        hooks: LifecycleHooks,
        *,
        mode: ResumeMode,
        keep_going: bool = False,
        return_results: bool = True,
        listed: Collection[str] | None = None,
        read_stamps: Callable[[list[str]], Mapping[str, bytes | Exception | None]] | None = None,
    ) -> None:
        self.view: GraphView = workflow.view()
        self._names = self.view.names
        self.hooks = hooks
        self.workflow_name = workflow.workflow_name
        self.keep_going = keep_going
        self.return_results = return_results
        self._workflow = workflow
        self.storage = storage = workflow.storage
        #: What the storage's ``write_behind()`` returned, for its ``flush()``.
        self.write_session: object = None
        self.resume: ResumePlan | None = None
        #: The failed nodes' names and errors, in the order they failed.
        self.failures: dict[str, BaseException] = {}
        #: The nodes that failed or wait on a failed node (they do not run).
        self.broken: set[Node] = set()
        # Node plugins' worker side of skipped nodes, in case they must run after all.
        self._deferred: dict[Node, Callable[[], object]] = {}
        self.skip: set[Node] = set()
        #: The nodes whose stored result may be read (those skipped, and those saved by
        #: this run), until a read fails.
        self.readable: set[Node] = set()
        self._by_name: dict[str, Node] | None = None
        #: Whether the backend runs nodes in this process (see ``BaseWorkflow``).
        self.nodes_run_here: bool = workflow.nodes_run_here
        if storage is not None:
            if listed is None:
                storage.new_workflow(self.workflow_name)
                listed = storage.list_tasks(self.workflow_name)  # one listing, not one per node
            listed = set(listed)
            self.resume = ResumePlan(workflow, storage, listed, mode, hooks, read_stamps)
            self.skip = self._skipped(self.resume.usable)
            self.readable = {node for node in self.skip if type(node) is not ClassNode}
        #: What this run did with each node, for its run record (see ``close``).
        self.recorder = RunRecorder(
            self,
            backend=workflow.backend_name,
            resume=mode,
            listed=listed,
            interval=workflow.run_record_interval,
        )

    @property
    def recording(self) -> bool:
        """True when this run's record goes to its storage (one that keeps run records):
        a backend that learns where and when a node ran only by fetching something
        per node (Ray's, Dask's statuses) fetches it then, and only then."""
        return self.recorder.storage is not None

    # -- deciding --------------------------------------------------------------------------

    @property
    def plain(self) -> bool:
        """True when nothing but the calls themselves has to happen: no storage, no
        settings, no hooks around nodes, no ``keep_going`` — a backend may then call
        nodes directly (see :func:`functionfuse.runtime.call_with`)."""
        hooks = self.hooks
        return (
            self.storage is None
            and not self.view.configured
            and not self.keep_going
            and hooks.node_start is None
            and hooks.node_finish is None
            and hooks.node_error is None
            and not hooks.any_node_plugin
        )

    def saved(self, node: Node) -> bool:
        """Whether ``node``'s result goes to storage (never a class node's)."""
        if self.storage is None or type(node) is ClassNode:
            return False
        settings = self.view.settings(node)
        return settings is None or settings.get(_STORAGE, True) is not False

    def _skipped(self, usable: Collection[str]) -> set[Node]:
        skip: set[Node] = set()
        if not usable:
            return skip
        view = self.view
        names = view.names
        saved = self.saved
        for node in view.order:
            kind = type(node)
            if kind is FunctionNode:
                if names[node] in usable and saved(node):
                    skip.add(node)
            elif kind is ClassNode and node not in view.leaf_nodes:
                methods = view.methods(node)  # type: ignore[arg-type]
                if all(names[m] in usable and saved(m) for m in methods):
                    skip.add(node)
                    skip.update(methods)
        return skip

    def refresh(self, listed: Collection[str], untrusted: Collection[str] = ()) -> None:
        """Decide again from a new listing (a backend that starts a run over); results
        named in ``untrusted`` are not used."""
        if self.resume is None:
            return
        self.resume.refresh(set(listed))
        self.skip = self._skipped(self.resume.usable - set(untrusted))
        self.readable = {node for node in self.skip if type(node) is not ClassNode}

    def prepare(self, node: Node) -> NodeTask | None:
        """Call for every node, in graph order: the node plugins' driver side runs (for
        stored nodes too, so that they see the same nodes on every run), then the task
        to run, or ``None`` when the node is stored (reported as from storage) or, with
        ``keep_going``, waits on a failed node."""
        view = self.view
        hooks = self.hooks
        settings = view.settings(node) if view.configured else None
        initialize = None
        if settings is not None or hooks.any_node_plugin:
            initialize = self._workflow.node_initializer(hooks, node, view.name(node), settings)
        if node in self.skip:
            if initialize is not None:
                self._deferred[node] = initialize
            self.recorder.stored(view.name(node))
            if hooks.node_finish is not None:
                self.finish(node, MISSING, 0.0, from_storage=True)
            return None
        if self.broken and not self.broken.isdisjoint(node.parents):
            self.broken.add(node)
            self.recorder.blocked(view.name(node))
            return None
        return self._task(node, settings, initialize)

    def task_for(self, node: Node, save: bool = True) -> NodeTask:
        """The task of a node that runs out of graph order (a stored result that could
        not be read, or a class chain replayed): its plugins' driver side ran already."""
        settings = self.view.settings(node)
        initialize = self._deferred.get(node)
        if initialize is None:
            initialize = self._workflow.node_initializer(
                self.hooks, node, self.view.name(node), settings
            )
        return self._task(node, settings, initialize, save)

    def _task(
        self,
        node: Node,
        settings: Mapping[str, Any] | None,
        initialize: Callable[[], object] | None,
        save: bool = True,
    ) -> NodeTask:
        name = self.view.name(node)
        target = None
        if save and self.saved(node):
            assert self.storage is not None
            stamp = self.resume.stamp(node) if self.resume is not None else None
            target = SaveTo(self.storage, self.workflow_name, stamp)
            recorder = self.recorder
            if stamp is not None and name in recorder.listed:
                recorder.stamps[name] = stamp  # it runs again: the record says why
        retries = settings.get(RETRIES) if settings is not None else None
        task = NodeTask(name, initialize=initialize, retries=retries, save=target)
        if target is not None and self.recording and self.nodes_run_here:
            self.recorder.tasks[name] = task  # its stored size (elsewhere: in its NodeRun)
        return task

    def expected(self, node: Node) -> bytes | None:
        """The fingerprint a stored result of ``node`` must still have when it is read."""
        return self.resume.expected(node) if self.resume is not None else None

    def read(self, node: Node) -> Any:
        """``node``'s stored result, read here; :data:`~functionfuse.runtime.MISSING`
        (with a warning saying why) when it cannot be used — then run it after all,
        with :meth:`unusable`."""
        assert self.storage is not None, "only a run with a storage skips nodes"
        name = self.view.name(node)
        value = read_stored(self.storage, self.workflow_name, name, fingerprint=self.expected(node))
        if value is MISSING:
            self._runs_after_all(node, name)
        return value

    def _runs_after_all(self, node: Node, name: str) -> None:
        """``node``'s stored result could not be used: it runs."""
        self.readable.discard(node)
        self.recorder.unusable.add(name)

    def read_many(self, nodes: list[Node]) -> list[Any]:
        """:meth:`read` of each node, in one batch when the storage reads many results
        at once (``read_tasks``: concurrently, on remote filesystems)."""
        read_tasks = getattr(self.storage, "read_tasks", None)
        if read_tasks is None or len(nodes) < 2:
            return [self.read(node) for node in nodes]
        names = [self.view.name(node) for node in nodes]
        found = read_tasks(self.workflow_name, names, [self.expected(node) for node in nodes])
        values = []
        for node, name, (value, error) in zip(nodes, names, found, strict=True):
            if error is not None:  # as read(): gone or unusable (warned), it runs
                value = missing_after(self.workflow_name, name, error, stacklevel=2)
                self._runs_after_all(node, name)
            values.append(value)
        return values

    def read_leaves(self, have: Container[Node]) -> dict[Node, Any]:
        """The stored results of ``run()``'s results that are not in ``have``, read in
        one batch (see :meth:`read_many`); those that cannot be used are left out (read
        or run them one by one)."""
        leaves = [
            leaf
            for leaf in self.view.leaf_nodes
            if leaf in self.readable and leaf not in have and type(leaf) is not ClassNode
        ]
        if len(leaves) < 2:
            return {}
        found = self.read_many(leaves)
        pairs = zip(leaves, found, strict=True)
        return {leaf: value for leaf, value in pairs if value is not MISSING}

    def read_needed(
        self,
        tasks: dict[Node, NodeTask],
        read_many: Callable[[Callable[[Node], Any], list[Node]], Iterable[Any]] | None = None,
    ) -> dict[Node, Any]:
        """Read the stored results that the nodes of ``tasks`` (and ``run()``'s results)
        need, before anything runs: their values. A result that cannot be read makes its
        node run after all (a method call: its chain) — its task is added to ``tasks``,
        and its own stored parents are read in turn. ``read_many(read, nodes)`` may read
        concurrently (e.g. a thread pool's ``map``); by default, :meth:`read_many`."""
        skip = self.skip
        wanted = [p for n in tasks for p in n.parents if p in skip]
        if self.return_results:
            wanted += [leaf for leaf in self.view.leaf_nodes if leaf in skip]
        values: dict[Node, Any] = {}
        requested: set[Node] = set()
        batch = [p for p in dict.fromkeys(wanted) if type(p) is not ClassNode]
        while batch:
            requested.update(batch)
            if read_many is None:
                found = self.read_many(batch)
            else:
                found = list(read_many(self.read, batch))
            new: list[Node] = []
            for node, value in zip(batch, found, strict=True):
                if node not in skip:
                    continue  # its chain broke while it was read: it runs
                if value is not MISSING:
                    values[node] = value
                    continue
                for member in self.unusable(node):
                    values.pop(member, None)  # a call read before the chain broke
                    tasks[member] = self.task_for(member)
                    new += [
                        p
                        for p in member.parents
                        if p in skip and p not in requested and type(p) is not ClassNode
                    ]
            batch = list(dict.fromkeys(new))
        return values

    def write_behind(self) -> None:
        """The run starts: the storage may finish its saves in the background (its
        optional ``write_behind()``) until :meth:`flush`, which is given back what
        ``write_behind()`` returned (its session), if anything."""
        write_behind = getattr(self.storage, "write_behind", None)
        if write_behind is not None:
            self.write_session = write_behind()

    def flush(self, failing: bool = False) -> None:
        """The run ends: return once every result it saved is durable (the storage's
        optional ``flush()``). A save that failed fails the run, naming its node
        (:class:`NodeExecutionError`); when the run is ``failing`` already, that node is
        reported failed too, and the run's own error is the one raised."""
        flush = getattr(self.storage, "flush", None)
        if flush is None:
            return
        session, self.write_session = self.write_session, None
        try:
            if session is None:
                flush()
            else:
                flush(session)
        except StorageError as error:
            name = getattr(error, "task_name", None)
            if not isinstance(name, str):
                if failing:
                    return
                raise
            failure = self.fail(name, error)
            if not failing:
                raise failure from error

    def stored(self, node: Node) -> None:
        """``node`` ran and its result was saved: should it be needed again once its
        value is gone, :meth:`read` it rather than run it."""
        self.readable.add(node)

    def unusable(self, node: Node) -> list[Node]:
        """``node``'s stored result could not be read (or it has none): the nodes that
        run instead, in order — the node itself, or for a method call its whole chain (a
        fresh instance and every call on it), which leave :attr:`skip` (the other calls'
        stored results stay :attr:`readable`)."""
        if type(node) is MethodNode:
            instance: ClassNode = node.instance
            chain: list[Node] = [instance, *self.view.methods(instance)]
        else:
            chain = [node]
        self.readable.discard(node)
        for member in chain:
            self.skip.discard(member)
        return chain

    # -- reporting -------------------------------------------------------------------------

    # A node is given as itself or by its name (a remote backend's outcomes carry names).

    def start(self, node: Node | str) -> None:
        """The node starts running (or is submitted)."""
        self.recorder.started(self._name(node))
        if self.hooks.node_start is not None:
            self.hooks.node_start(workflow_name=self.workflow_name, node_name=self._name(node))

    def finish(
        self,
        node: Node | str,
        result: Any,
        duration: float,
        from_storage: bool = False,
        ran: NodeRun | None = None,
    ) -> None:
        """The node's result is ready (``from_storage``: read, or left in storage).

        ``ran``: where and when it ran, when that was elsewhere — what the node task
        returned with it (:meth:`~functionfuse.runtime.NodeTask.execute_reported`)."""
        if not from_storage:
            self.recorder.finished(
                None if isinstance(node, str) else node, self._name(node), result, ran
            )
        if self.hooks.node_finish is not None:
            self.hooks.node_finish(
                workflow_name=self.workflow_name,
                node_name=self._name(node),
                result=result,
                duration=duration,
                from_storage=from_storage,
            )

    def ran(self, node: Node | str, ran: NodeRun) -> None:
        """Where and when ``node`` ran, heard apart from its result (Dask's event log)."""
        self.recorder.placed(self._name(node), ran)

    def retry(self, node: Node | str, attempt: int, error: BaseException, delay: float) -> None:
        """An attempt of the node failed and another follows (``on_retry`` of a task)."""
        self.recorder.retried(self._name(node))
        if self.hooks.node_retry is not None:
            self.hooks.node_retry(
                workflow_name=self.workflow_name,
                node_name=self._name(node),
                attempt=attempt,
                error=error,
                delay=delay,
            )

    def _name(self, node: Node | str) -> str:
        return node if isinstance(node, str) else self._names[node]

    def node_named(self, name: str) -> Node | None:
        """The node of this name (``None``: none has it)."""
        by_name = self._by_name
        if by_name is None:
            by_name = self._by_name = {n: node for node, n in self.view.names.items()}
        return by_name.get(name)

    def on_retry(self, node: Node) -> OnRetry | None:
        """What a task run here calls for each retry (``None``: it has no retries)."""
        if self.view.retries(node) is None:
            return None
        name = self.view.name(node)
        return lambda attempt, error, delay: self.retry(name, attempt, error, delay)

    def fail(
        self, node: Node | str, error: BaseException, duration: float = 0.0, detail: str = ""
    ) -> NodeExecutionError:
        """The node raised ``error``: report it, remember it (with ``keep_going`` its
        descendants do not run), and return the error to raise when the run stops at
        the first failure. ``detail``: more to say (a remote traceback)."""
        if isinstance(node, str):
            name = node
        else:
            name = self.view.name(node)
            self.broken.add(node)
        if name not in self.failures:
            self.failures[name] = error
            self.recorder.failed(name, error)
            if self.hooks.node_error is not None:
                self.hooks.node_error(
                    workflow_name=self.workflow_name, node_name=name, error=error, duration=duration
                )
        return node_failure(self.workflow_name, {name: error}, self.storage is not None, detail)

    def block(self, node: Node) -> None:
        """``node`` does not run: a node it needs failed."""
        self.broken.add(node)
        self.recorder.blocked(self.view.name(node))

    def close(self, error: BaseException | None) -> None:
        """The run ended (``error``: the exception that ended it, ``None`` when it
        finished): its run record is written to the storage when it keeps them (see
        :class:`functionfuse.contracts.RunRecordStorage`); ``recorder.final()`` makes
        it. Called by :meth:`functionfuse.BaseWorkflow.start_run`."""
        self.recorder.close(error)

    def error(self, detail: str = "") -> NodeExecutionError | None:
        """The error the run ends with: ``None`` when no node failed."""
        if not self.failures:
            return None
        not_run = len(self.broken) - len(self.failures) if self.keep_going else 0
        return node_failure(
            self.workflow_name,
            self.failures,
            self.storage is not None,
            detail,
            not_run=max(not_run, 0),
            kept_going=self.keep_going,
        )

    def results(self, value_of: Callable[[Node], Any]) -> Any:
        """What ``run()`` returns: the given nodes' results (a list for several)."""
        results = []
        for leaf in self.view.leaves:
            value = value_of(node_of(leaf))
            if type(leaf) is NodeItem:
                value = leaf.select(value)
            results.append(value)
        return results[0] if len(results) == 1 else results
