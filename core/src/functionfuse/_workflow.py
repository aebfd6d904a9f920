"""BaseWorkflow, the graph-and-settings half every backend builds on, and Query."""

from __future__ import annotations

import abc
import contextlib
import re
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from time import perf_counter
from types import MappingProxyType
from typing import Any, ClassVar, Final, final

from functionfuse._errors import ConfigurationError, FunctionFuseWarning, GraphError
from functionfuse._graph import connected_nodes, default_names
from functionfuse._hooks import LifecycleHooks, lifecycle_hooks
from functionfuse._nodes import Instance, Node, NodeItem, node_of
from functionfuse._plan import RunPlan
from functionfuse._plugins import prepare_plugin
from functionfuse._records import RunRecorder
from functionfuse._resume import ResumeMode, ResumePlan, check_resume
from functionfuse._retries import RETRIES, Retries
from functionfuse._view import GraphView
from functionfuse.hookspecs import Storage

__all__ = ["PLUGIN", "REMOTE_ARGS", "STORAGE", "BaseWorkflow", "Query"]

# Keys of a node's settings (``backend_info``) that the core and backends share.
REMOTE_ARGS: Final = "remote_args"
PLUGIN: Final = "plugin"
STORAGE: Final = "storage"


class BaseWorkflow(abc.ABC):
    """A graph to run, plus how to run it; backends subclass it and implement ``run()``.

    ``BaseWorkflow(*nodes, workflow_name=...)`` takes the whole graph the given nodes
    belong to (their ancestors, their descendants and so on), as the original Function
    Fuse does: handing it any node of a pipeline runs the pipeline. ``run()`` returns the
    result of the single node given, or a list with one result per node given.

    With a storage, ``run()`` resumes: a node whose stored result matches its
    fingerprint (its code, literal arguments and upstream) is not run. ``resume``
    (``run(resume=...)`` for one run, or this attribute) says how: ``"fingerprint"``
    (the default), ``"name"`` (any result stored under the node's name, as the original
    Function Fuse does) or ``False`` (run everything, replacing what is stored).

    Settings made through :meth:`query`, :meth:`set_plugin` and :meth:`set_storage`
    belong to this workflow; the nodes themselves are never changed, so the same nodes
    can be handed to several workflows and a workflow can run many times.
    """

    #: The entry-point name of the backend, reported to the lifecycle hooks.
    backend_name: ClassVar[str] = "base"
    #: True for a backend whose nodes run in the driver's process (its threads
    #: included): run records then name this process as where each node ran. Other
    #: backends report where with each result (see ``NodeTask.execute_reported``).
    nodes_run_here: ClassVar[bool] = False
    _last_run: RunRecorder | None = None
    #: Seconds between the snapshots of the run record a running run writes to a
    #: storage that keeps them (``None``: ``$FUNCTIONFUSE_RUN_RECORD_INTERVAL``, else 5;
    #: 0: only the record written when the run ends).
    run_record_interval: float | None = None

    def __init__(self, *nodes: Node | NodeItem | Instance, workflow_name: str) -> None:
        if not isinstance(workflow_name, str) or not workflow_name:
            raise ConfigurationError(
                f"workflow_name must be a non-empty string, got {workflow_name!r}."
            )
        if not nodes:
            raise GraphError(
                f"workflow {workflow_name!r} was given no nodes; pass the nodes whose "
                "results you want, e.g. LocalWorkflow(model, workflow_name=...)."
            )
        self.workflow_name = workflow_name
        self.leaves = nodes
        self._leaf_nodes = tuple(node_of(node) for node in nodes)
        self._order = order = connected_nodes(self._leaf_nodes)
        self._names_cache: dict[Node, str] | None = None
        self._members: frozenset[Node] | None = None
        # Default names are distinct by construction: only a set_name() can clash.
        if any(node._name is not None for node in order):
            names = self._names
            if len(set(names.values())) != len(names):
                raise GraphError(_duplicates_message(workflow_name, order, names))
        self._settings: dict[Node, dict[str, Any]] = {}
        self.storage: Storage | None = None
        self.resume: ResumeMode = "fingerprint"

    # -- the graph ---------------------------------------------------------------------

    @property
    def _names(self) -> dict[Node, str]:
        """Every node's name; computed when first needed (a plain run never needs them)."""
        names = self._names_cache
        if names is None:
            names = self._names_cache = default_names(self._order)
        return names

    @property
    def last_run_record(self) -> dict[str, Any] | None:
        """The record of this workflow's last run (see :mod:`functionfuse.run_records`),
        for runs with a storage or without; ``None`` before the first run."""
        recorder = self._last_run
        return recorder.full() if recorder is not None else None

    def _find_roots(self) -> list[Node]:
        """The nodes without parents, in graph order."""
        return [node for node in self._order if not node.parents]

    def graph_traversal(self) -> Iterator[tuple[str, Node]]:
        """``(name, node)`` for every node, each after all of its parents, stably ordered."""
        names = self._names
        for node in self._order:
            yield names[node], node

    @property
    def nodes(self) -> list[Node]:
        """Every node of the workflow, in graph order."""
        return list(self._order)

    def node_names(self) -> Mapping[Node, str]:
        """Every node's name in this workflow (read-only)."""
        return MappingProxyType(self._names)

    def node_set(self) -> frozenset[Node]:
        """The workflow's nodes, for membership tests."""
        members = self._members
        if members is None:
            members = self._members = frozenset(self._order)
        return members

    def view(self) -> GraphView:
        """The graph as a backend reads it for a run that starts now (see
        :class:`functionfuse.runtime.GraphView`): order, names, consumers, settings."""
        configured = set(self._settings)
        configured.update(node for node in self._order if node._backend_info)
        return GraphView(self, tuple(self._order), frozenset(configured))

    def name_of(self, node: Node | NodeItem | Instance) -> str:
        """The name a node has in this workflow (its stored result's name)."""
        try:
            return self._names[node_of(node)]
        except KeyError:
            raise GraphError(f"{node!r} is not part of workflow {self.workflow_name!r}.") from None

    def find_nodes(self, pattern: str | None = None) -> list[Node]:
        """The nodes whose name fully matches the regular expression (all for ``None``)."""
        if pattern is None:
            return list(self._order)
        try:
            regex = re.compile(pattern)
        except re.error as error:
            raise ConfigurationError(
                f"node pattern {pattern!r} of workflow {self.workflow_name!r} is not a "
                f"valid regular expression: {error}."
            ) from None
        names = self._names
        return [node for node in self._order if regex.fullmatch(names[node])]

    # -- settings ----------------------------------------------------------------------

    def query(self, pattern: str | None = None) -> Query:
        """Select nodes by a regular expression on their names, to set their options."""
        return self._query(pattern, stacklevel=3)

    def _query(self, pattern: str | None, stacklevel: int) -> Query:
        """``query()``; ``stacklevel`` points the no-match warning at the user's line."""
        nodes = self.find_nodes(pattern)
        if not nodes:
            warnings.warn(
                f"pattern {pattern!r} matches no node of workflow {self.workflow_name!r}; "
                f"its names are {_preview(list(self._names.values()))}.",
                FunctionFuseWarning,
                stacklevel=stacklevel,
            )
        return Query(nodes, self)

    def set_plugin(self, pattern: str | None, plugin: object) -> None:
        """Attach a node plugin to every node whose name matches ``pattern``."""
        self._query(pattern, stacklevel=3).set_plugin(plugin)

    def set_storage(self, storage: Storage | Mapping[str, Any] | str | None) -> None:
        """Keep node results in ``storage`` so that a re-run resumes from them.

        Takes a storage object, a config ``{"kind": ..., "options": {...}}`` or a URL
        (both through :func:`functionfuse.storage_factory`), or ``None`` for no storage.
        """
        if storage is not None and not isinstance(storage, Storage):
            from functionfuse._factories import storage_factory

            storage = storage_factory(storage)
        self.storage = storage

    def settings(self, node: Node) -> Mapping[str, Any] | None:
        """The node's settings: its own ``backend_info`` overlaid with this workflow's."""
        mine = self._settings.get(node)
        own = node._backend_info
        if own is None or not own:
            return mine
        if mine is None:
            return own
        return {**own, **mine}

    def _set(self, nodes: list[Node], key: str, value: Any) -> None:
        settings = self._settings
        for node in nodes:
            entry = settings.get(node)
            if entry is None:
                settings[node] = {key: value}
            else:
                entry[key] = value

    # -- helpers for backends ------------------------------------------------------------

    def node_initializer(
        self, hooks: LifecycleHooks, node: Node, name: str, settings: Mapping[str, Any] | None
    ) -> Callable[[], object] | None:
        """Driver side of the node plugins for one node: what to call before it runs.

        Calls the hook plugins' and the node's plugin's ``local_initialize`` and
        collects their ``remote_initialize`` callables (``None`` when there are none).
        """
        calls: list[Callable[[], object]] = []
        if hooks.any_node_plugin:
            workflow_name = self.workflow_name
            if hooks.local_initialize is not None:
                hooks.local_initialize(workflow_name=workflow_name, node_name=name)
            if hooks.remote_initialize is not None:
                for call in hooks.remote_initialize(workflow_name=workflow_name, node_name=name):
                    if call is not None:
                        calls.append(call)
        plugins = settings.get(PLUGIN) if settings is not None else None
        if plugins is not None:
            # query().set_plugin() stores a tuple of NodePlugins, in the order they were
            # set; a plugin put in a node's own backend_info is still the user's object.
            for plugin in plugins if type(plugins) is tuple else (plugins,):
                call = prepare_plugin(plugin).initialize(self.workflow_name, name)
                if call is not None:
                    calls.append(call)
        if not calls:
            return None
        return calls[0] if len(calls) == 1 else _CallAll(calls)

    def resume_plan(
        self,
        hooks: LifecycleHooks,
        stored: Collection[str],
        resume: object = None,
        read: Callable[[list[str]], Mapping[str, bytes | Exception | None]] | None = None,
    ) -> ResumePlan:
        """For backends with a storage: which stored results this run may use.

        ``stored``: the names listed in storage; ``resume``: ``run()``'s argument
        (``None``: :attr:`resume`); ``read``: how to read stored fingerprints, when the
        storage is reached elsewhere (Ray's storage tasks). Reports the nodes that run
        again, and why, to the ``functionfuse_node_rerun`` hook.
        """
        storage = self.storage
        assert storage is not None, "resume_plan() is for workflows with a storage"
        return ResumePlan(self, storage, stored, self.resume_mode(resume), hooks, read)

    def refuse_process_local_storage(self, workers: str, hint: str = "") -> None:
        """For backends whose nodes run in other processes (``workers`` says which): a
        ConfigurationError when the storage lives inside this one process (``memory://``)
        — each worker would save to a storage of its own."""
        storage = self.storage
        if storage is not None and getattr(storage, "protocol", None) == "memory":
            raise ConfigurationError(
                f"workflow {self.workflow_name!r} has a memory storage ({storage!r}), which "
                f"lives inside one process; {workers} are other processes and would each "
                f"save to their own. Use a folder every worker can reach, or S3{hint}."
            )

    def resume_mode(self, resume: object = None) -> ResumeMode:
        """This run's resume mode: ``resume`` (``run()``'s argument), else :attr:`resume`.

        Backends call it when ``run()`` starts, so that a bad value fails at once — with
        a storage or without — with a ConfigurationError naming the workflow.
        """
        return check_resume(
            self.resume if resume is None else resume, f"workflow {self.workflow_name!r}"
        )

    @contextlib.contextmanager
    def start_run(
        self,
        *,
        resume: object = None,
        keep_going: bool = False,
        return_results: bool = True,
        listed: Collection[str] | None = None,
        read_stamps: Callable[[list[str]], Mapping[str, bytes | Exception | None]] | None = None,
    ) -> Iterator[RunPlan]:
        """For backends: the :class:`~functionfuse.runtime.RunPlan` of a run, inside the
        workflow lifecycle hooks (see :meth:`lifecycle`).

        ``resume``: ``run()``'s argument (checked at once); with a storage, its listing
        is read here unless the backend passes ``listed`` (and ``read_stamps``, how to
        read stored fingerprints) because it reaches the storage elsewhere. When the
        block ends, the run's record is written (:meth:`RunPlan.close`), kept for
        :attr:`last_run_record`."""
        mode = self.resume_mode(resume)
        hooks = lifecycle_hooks()
        with self.lifecycle(hooks):
            plan = RunPlan(
                self,
                hooks,
                mode=mode,
                keep_going=keep_going,
                return_results=return_results,
                listed=listed,
                read_stamps=read_stamps,
            )
            self._last_run = plan.recorder
            ended: BaseException | None = None
            try:  # whatever happens, close() ends the record; the run's own error wins
                plan.recorder.begin()
                plan.write_behind()  # saves may end in the background, until flush()
                try:
                    yield plan
                except BaseException as error:
                    ended = error
                    try:
                        plan.flush(failing=True)
                    except BaseException as late:  # e.g. interrupted while it waits
                        unsaved = f"workflow {self.workflow_name!r}: its failed run's saves"
                        warning = f"{unsaved} did not all end ({late!r})"
                        warnings.warn(warning, FunctionFuseWarning, stacklevel=3)
                    raise
                plan.flush()
            except BaseException as error:
                ended = error if ended is None else ended
                raise
            finally:
                plan.close(ended)

    @contextlib.contextmanager
    def lifecycle(self, hooks: LifecycleHooks) -> Iterator[None]:
        """For backends: report the run in the ``with`` block to the workflow hooks.

        ``functionfuse_workflow_start`` on entry; ``functionfuse_workflow_finish`` on
        exit, with the exception that left the block (re-raised) and the duration.
        """
        start = perf_counter()
        if hooks.workflow_start is not None:
            hooks.workflow_start(
                workflow_name=self.workflow_name,
                backend=self.backend_name,
                node_names=list(self._names.values()),
            )
        error: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            if hooks.workflow_finish is not None:
                hooks.workflow_finish(
                    workflow_name=self.workflow_name,
                    error=error,
                    duration=perf_counter() - start,
                )

    def collect_results(self, value_of: Callable[[Node], Any]) -> Any:
        """What ``run()`` returns: the given nodes' results (a list for several)."""
        results = []
        for leaf in self.leaves:
            node = node_of(leaf)
            value = value_of(node)
            if type(leaf) is NodeItem:
                value = leaf.select(value)
            results.append(value)
        return results[0] if len(results) == 1 else results

    @abc.abstractmethod
    def run(
        self,
        *,
        return_results: bool = True,
        keep_going: bool = False,
        resume: ResumeMode | bool | None = None,
    ) -> Any:
        """Run the workflow; return the given node's result, or a list for several.

        A failing node stops the run with :class:`functionfuse.NodeExecutionError`;
        with ``keep_going`` every node that does not depend on a failed one still runs
        and is stored, and the error lists every failed node. A backend that cannot keep
        going raises :class:`functionfuse.ConfigurationError` for ``keep_going=True``.
        ``resume`` overrides :attr:`resume` for this run (see the class docstring).
        Backends may take more keyword-only options (Ray: ``max_pending_tasks``).
        """

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.workflow_name!r}: {len(self._order)} nodes, "
            f"storage={self.storage!r}>"
        )


@final
class _CallAll:
    """Several remote initializers run in order, as one picklable callable."""

    __slots__ = ("calls",)

    def __init__(self, calls: list[Callable[[], object]]) -> None:
        self.calls = calls

    def __call__(self) -> None:
        for call in self.calls:
            call()


@final
class Query:
    """Nodes selected by :meth:`BaseWorkflow.query`; its setters return the query."""

    __slots__ = ("nodes", "workflow")

    def __init__(self, nodes: list[Node], workflow: BaseWorkflow) -> None:
        self.nodes = nodes
        self.workflow = workflow

    def set_remote_args(self, args: Mapping[str, Any]) -> Query:
        """Options for the backend's remote call (Ray: ``.options(**args)``)."""
        if not isinstance(args, Mapping):
            raise ConfigurationError(
                f"set_remote_args() takes a dict of options, got {type(args).__name__}."
            )
        self.workflow._set(self.nodes, REMOTE_ARGS, dict(args))
        return self

    def set_plugin(self, plugin: object) -> Query:
        """Attach a node plugin (see :mod:`functionfuse.hookspecs`) to these nodes; a
        node that has plugins already gets this one too, run after them."""
        prepared = prepare_plugin(plugin)
        settings = self.workflow._settings
        for node in self.nodes:
            entry = settings.get(node)
            earlier = entry.get(PLUGIN, ()) if entry is not None else ()
            self.workflow._set([node], PLUGIN, (*earlier, prepared))
        return self

    def set_retries(
        self,
        attempts: int,
        exceptions: type[BaseException] | str | Iterable[type[BaseException] | str] = (Exception,),
        delay: float = 0.0,
    ) -> Query:
        """Run these nodes up to ``attempts`` times while they raise one of
        ``exceptions`` (classes or names such as ``"OSError"``), ``delay`` seconds apart.

        Each failed attempt followed by another is reported to the
        ``functionfuse_node_retry`` hook. On Ray the attempts run on the worker (Ray's
        own ``max_retries`` still covers a dead worker). A retried method call runs
        again on the same instance, in whatever state the failed attempt left it.
        """
        self.workflow._set(self.nodes, RETRIES, Retries.of(attempts, exceptions, delay))
        return self

    def set_storage(self, enabled: bool) -> Query:
        """``False`` keeps these nodes' results out of storage: always run, never saved."""
        self.workflow._set(self.nodes, STORAGE, bool(enabled))
        return self

    def set_backend_info(self, key: str, value: Any) -> Query:
        """Set any other backend setting on these nodes."""
        self.workflow._set(self.nodes, key, value)
        return self

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        names = [self.workflow._names[node] for node in self.nodes]
        return f"<Query of {self.workflow.workflow_name!r}: {_preview(names)}>"


def _preview(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _duplicates_message(workflow_name: str, order: list[Node], names: dict[Node, str]) -> str:
    seen: dict[str, Node] = {}
    clashes: list[str] = []
    for node in order:
        name = names[node]
        first = seen.setdefault(name, node)
        if first is not node:
            clashes.append(f"{name!r} ({first!r} and {node!r})")
    return (
        f"workflow {workflow_name!r} has several nodes named {', '.join(clashes[:5])}; "
        "they would share one stored result. Give each a distinct name with set_name()."
    )
