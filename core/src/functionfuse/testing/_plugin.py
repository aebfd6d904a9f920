"""NodePluginTests: every promise a node plugin makes, as pytest checks.

Subclass it in your test suite, name the plugin once and say how to make it::

    class TestSeeds(NodePluginTests):
        plugin = "random_state"                   # entry-point name, "pkg.mod:Class", or the class
        options = {"seed": 7}                     # valid constructor options
        invalid_options = [{"min": 5, "max": 1}]  # each must be refused when the plugin is made
        capabilities = {NodePluginTests.SEEDS}    # what else it promises (see below)

The kit makes a fresh plugin for every workflow it runs (override :meth:`make_plugin`
for a plugin that needs more than options) and attaches it, behind a stand-in that logs
each call, to small workflows on the local backend (functionfuse-local) — with a file
storage under ``tmp_path`` (functionfuse-fs) to see nodes read from storage; checks that
need these are skipped where they are not installed.

What a plugin does where a node runs is seen through a **probe**: a function the kit's
nodes call as their body, right after the plugins' worker side, that observes — and
consumes — the plugin's effect (``random.random`` for a seeding plugin: it reads the
generator and moves it on). With a probe, the probe must see the same thing before each
attempt, in a second run, in a resumed run, after a pickle round trip, beside other
plugins and inside a collection. Declare ``capabilities = {SEEDS}`` for a plugin that
seeds Python's :mod:`random` (the probe is then ``random.random``), or set ``probe`` for
any other effect; without either, those comparisons are skipped.

``lacks`` declares what the plugin does not do by design: :data:`WORKER_SIDE` (its
``remote_initialize`` returns None: it only acts on the driver) and :data:`PLAIN_PICKLE`
(its worker side needs cloudpickle, e.g. it ships a lambda: it runs on Ray, not in a
process pool).

Invalid options must be refused with :class:`functionfuse.ConfigurationError` (a
ValueError), whose message names the option or shows the value given for it: users
meet these errors in config files and on the command line, where functionfuse reports
its own errors as configuration mistakes and anything else as a crash. Unknown option
names need no listing here: :func:`functionfuse.plugin` refuses them itself.
"""

from __future__ import annotations

import copy
import importlib
import itertools
import pickle
import random
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Final, NamedTuple

import pytest

import functionfuse as ff
from functionfuse._plugins import _bind, prepare_plugin
from functionfuse.testing._load import load_object

__all__ = ["PLAIN_PICKLE", "SEEDS", "WORKER_SIDE", "NodePluginTests"]

#: Capability: the worker side seeds Python's :mod:`random` (probe: ``random.random``).
SEEDS: Final = "seeds"
#: Lack: no worker side by design (``remote_initialize`` returns None).
WORKER_SIDE: Final = "worker_side"
#: Lack: the worker side pickles with cloudpickle only (runs on Ray, not in process pools).
PLAIN_PICKLE: Final = "pickle"

_CAPABILITIES: Final = frozenset({SEEDS})
_LACKS: Final = frozenset({WORKER_SIDE, PLAIN_PICKLE})
_WORKFLOW: Final = "kit"
_PLUGIN: Final = "plugin"  # the label of the plugin under test in the event log


# -- what the kit's workflows record ----------------------------------------------------------


class _Event(NamedTuple):
    kind: str  # "driver", "worker" or "node"
    label: str  # which plugin ("plugin", "before", "after"), or "node"
    node: str
    thread: int


class _FirstAttemptFails(Exception):
    """Raised by a flaky kit node on its first attempt."""


class _Stage:
    """The log of one check: the events of its runs, what the probe saw at each node."""

    def __init__(self) -> None:
        self.events: list[_Event] = []
        self.probe: Callable[[], object] | None = None
        self.flaky: frozenset[str] = frozenset()
        self.seen: dict[str, list[object]] = {}

    def reset(self) -> None:
        self.events = []
        self.probe = None
        self.flaky = frozenset()
        self.seen = {}

    def record(self, kind: str, label: str, node: str) -> None:
        self.events.append(_Event(kind, label, node, threading.get_ident()))

    def node_runs(self, name: str) -> object:
        self.record("node", "node", name)
        seen = self.probe() if self.probe is not None else None
        attempts = self.seen.setdefault(name, [])
        attempts.append(seen)
        if name in self.flaky and len(attempts) == 1:
            raise _FirstAttemptFails(f"{name}: the first attempt fails, as the check wants")
        return seen

    def nodes(self, kind: str) -> list[str]:
        return [e.node for e in self.events if e.kind == kind]

    def labels(self, kind: str, node: str) -> list[str]:
        return [e.label for e in self.events if e.kind == kind and e.node == node]


_STAGE: Final = _Stage()


@ff.workflow
def _kit_node(name: str, *inputs: object) -> object:
    """A node of the kit's workflows: logs that it ran, returns what the probe sees."""
    return _STAGE.node_runs(name)


def _diamond() -> list[Any]:
    """kit_a -> (kit_b, kit_c) -> kit_d: the graph every check runs."""
    a = _kit_node("kit_a").set_name("kit_a")
    b = _kit_node("kit_b", a).set_name("kit_b")
    c = _kit_node("kit_c", a).set_name("kit_c")
    d = _kit_node("kit_d", b, c).set_name("kit_d")
    return [a, b, c, d]


class _Traced:
    """A worker side that logs where and when it runs, then does its work."""

    __slots__ = ("call", "label", "node")

    def __init__(self, call: Callable[[], object], label: str, node: str) -> None:
        self.call = call
        self.label = label
        self.node = node

    def __call__(self) -> object:
        _STAGE.record("worker", self.label, self.node)
        return self.call()


class _Recorder:
    """Stands in for a plugin in the kit's workflows: logs every call of its driver side
    and of the worker side it returns, and passes each call on to the plugin."""

    def __init__(self, plugin: object, label: str = _PLUGIN) -> None:
        self.plugin = plugin
        self.label = label
        self._local = _bind(plugin, "functionfuse_local_initialize", "local_initialize")
        self._remote = _bind(plugin, "functionfuse_remote_initialize", "remote_initialize")

    def functionfuse_local_initialize(self, workflow_name: str, node_name: str) -> None:
        _STAGE.record("driver", self.label, node_name)
        if self._local is not None:
            self._local(workflow_name, node_name)

    def functionfuse_remote_initialize(
        self, workflow_name: str, node_name: str
    ) -> Callable[[], object] | None:
        call = None if self._remote is None else self._remote(workflow_name, node_name)
        return None if call is None else _Traced(call, self.label, node_name)

    def __repr__(self) -> str:
        return repr(self.plugin)


def _nothing() -> None:
    """The worker side of the kit's marker plugins."""


class _Marker:
    """A plugin that does nothing, to stand beside the plugin under test."""

    def functionfuse_remote_initialize(self) -> Callable[[], object]:
        return _nothing


# -- the checks ---------------------------------------------------------------------------------


class NodePluginTests:
    """The node-plugin contract; subclass with ``plugin`` and ``options`` (see the module)."""

    SEEDS: ClassVar[str] = SEEDS
    WORKER_SIDE: ClassVar[str] = WORKER_SIDE
    PLAIN_PICKLE: ClassVar[str] = PLAIN_PICKLE

    #: The plugin: an entry-point name, ``"package.module:Class"``, or the class itself.
    plugin: ClassVar[str | Callable[..., Any]] = ""
    #: Valid keyword options for the constructor; deep-copied for every plugin made.
    options: ClassVar[Mapping[str, Any]] = {}
    #: Option sets that must each be refused, with a ConfigurationError naming them.
    invalid_options: ClassVar[Sequence[Mapping[str, Any]]] = ()
    #: What the plugin promises beyond the contract: :data:`SEEDS`.
    capabilities: ClassVar[Collection[str]] = frozenset()
    #: What it does not do by design: :data:`WORKER_SIDE`, :data:`PLAIN_PICKLE`.
    lacks: ClassVar[Collection[str]] = frozenset()
    #: Observes (and consumes) the worker side's effect where a node runs; a
    #: module-level function. Default: ``random.random`` with :data:`SEEDS`, else none.
    probe: ClassVar[Callable[[], object] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for attribute, known in (("capabilities", _CAPABILITIES), ("lacks", _LACKS)):
            declared = getattr(cls, attribute)
            if isinstance(declared, str):
                raise TypeError(f"{cls.__name__}.{attribute} is a set of names: {{{declared!r}}}")
            unknown = set(declared) - known
            if unknown:
                raise TypeError(
                    f"{cls.__name__}.{attribute} names {sorted(unknown)}, which the node-plugin "
                    f"kit does not know; it knows {sorted(known)}."
                )
        if SEEDS in cls.capabilities and WORKER_SIDE in cls.lacks:
            raise TypeError(
                f"{cls.__name__} declares capability {SEEDS!r} and lacks {WORKER_SIDE!r}: a "
                "seeding plugin must seed where the node runs (on Ray the driver's generators "
                "never reach the worker), so it needs a worker side."
            )

    # -- making the plugin -------------------------------------------------------------------

    def make_plugin(self) -> Any:
        """A fresh plugin, made as a user makes it: ``functionfuse.plugin(name,
        **options)``, or the class called with ``options``. Override it for a plugin
        that needs more than options."""
        return self._make(type(self).options)

    def _make(self, options: Mapping[str, Any]) -> Any:
        target = type(self).plugin
        try:
            fresh = copy.deepcopy(dict(options))  # no two plugins share a member's state
        except Exception:  # something that does not copy (a lock): share it
            fresh = dict(options)
        if isinstance(target, str):
            if not target:
                pytest.fail(f"{type(self).__name__} sets no `plugin`: name it or give its class.")
            if ":" in target:
                return load_object(target)(**fresh)
            return ff.plugin(target, **fresh)
        return target(**fresh)

    def _ready(self) -> Any:
        """A fresh plugin for the checks that need a working one; they are skipped
        when it cannot be made or is not a node plugin (the first checks say why)."""
        try:
            spare = self.make_plugin()
        except Exception as error:
            pytest.skip(f"the plugin cannot be made ({_described(error)}): see test_made")
        try:
            prepare_plugin(spare).initialize(_WORKFLOW, "kit_trial")
        except Exception as error:
            pytest.skip(
                f"not a working node plugin ({_described(error)}): see test_is_a_node_plugin"
            )
        return self.make_plugin()

    def _probe(self) -> Callable[[], object] | None:
        probe = type(self).probe
        if probe is None and SEEDS in type(self).capabilities:
            return random.random
        return probe

    def _probe_or_skip(self) -> Callable[[], object]:
        probe = self._probe()
        if probe is None:
            pytest.skip(f"needs a probe: declare capabilities = {{{SEEDS!r}}} or set probe")
        return probe

    def _skip_without_worker_side(self) -> None:
        if WORKER_SIDE in type(self).lacks:
            pytest.skip(f"the plugin declares it lacks a worker side ({WORKER_SIDE!r})")
        pytest.skip("the plugin gave no worker side: test_worker_side_runs_before_each_attempt")

    @pytest.fixture(autouse=True)
    def _kit_stage(self) -> Iterator[None]:
        """A fresh log for each check; random's state and the hook plugins as they were."""
        state = random.getstate()
        manager = ff.get_plugin_manager()
        registered = set(manager.get_plugins())
        _STAGE.reset()
        try:
            yield
        finally:
            _STAGE.reset()
            random.setstate(state)
            for plugin in set(manager.get_plugins()) - registered:
                manager.unregister(plugin)

    # -- made, and a node plugin ---------------------------------------------------------------

    def test_made(self) -> None:
        """The plugin is made from its name (or class) and ``options``, as a user makes it."""
        plugin = self.make_plugin()
        assert plugin is not None, f"making {type(self).plugin!r} gave None"
        repr(plugin)  # error messages show it

    def test_is_a_node_plugin(self) -> None:
        """The plugin passes prepare_plugin; its driver side gives each node a callable or None."""
        try:
            plugin = self.make_plugin()
        except Exception as error:
            pytest.skip(f"the plugin cannot be made ({_described(error)}): see test_made")
        node_plugin, problem = _attempt(prepare_plugin, plugin)
        for node in ("kit_a", "kit_b"):
            if problem is None:
                _, problem = _attempt(node_plugin.initialize, _WORKFLOW, node)
            if isinstance(problem, ff.ConfigurationError):
                pytest.fail(f"not a node plugin: {problem}")
            if problem is not None:
                raise problem

    def test_invalid_options_are_refused(self) -> None:
        """Each of ``invalid_options`` is refused when the plugin is made, with a
        ConfigurationError naming the option."""
        invalid = type(self).invalid_options
        if not invalid:
            pytest.skip("declares no invalid_options")
        for options in invalid:
            made, error = _attempt(self._make, options)
            if error is None:
                pytest.fail(
                    f"the plugin accepted {dict(options)!r} and gave {made!r}; check its "
                    "options when it is made, not when a node runs."
                )
            if not isinstance(error, ff.ConfigurationError):
                pytest.fail(
                    f"the plugin refused {dict(options)!r} with {_described(error)}; refuse it "
                    "with functionfuse.ConfigurationError (a ValueError), naming the option."
                )
            text = str(error)
            named = [k for k, v in options.items() if k in text or repr(v) in text]
            assert named, (
                f"the plugin refused {dict(options)!r} with a message that names none of "
                f"these options nor their values: {text!r}"
            )

    # -- where and when it runs --------------------------------------------------------------------

    def test_driver_side_runs_once_per_node_in_graph_order(self, tmp_path: Path) -> None:
        """The driver side runs once per node, in graph order, on the driver, before the
        node — for nodes read from storage too."""
        backend = _local_backend()
        storage = _file_storage(tmp_path)
        driver = threading.get_ident()
        for run in ("the first run", "a resumed run (every result stored)"):
            workflow = backend(*_diamond(), workflow_name=_WORKFLOW)
            workflow.set_storage(storage)
            workflow.set_plugin(None, _Recorder(self._ready()))
            order = [name for name, _ in workflow.graph_traversal()]
            _STAGE.events.clear()
            workflow.run()
            called = _STAGE.nodes("driver")
            assert called == order, (
                f"in {run} the driver side ran for {called}; expected once per node, in "
                f"graph order: {order}"
            )
            assert all(e.thread == driver for e in _STAGE.events if e.kind == "driver")
            ran = _STAGE.nodes("node")
            if run == "the first run":
                for name in order:
                    kinds = [e.kind for e in _STAGE.events if e.node == name]
                    assert kinds in (["driver", "worker", "node"], ["driver", "node"]), (
                        f"node {name!r}: expected its driver side, its worker side, then the "
                        f"node; the log says {kinds}"
                    )
            else:
                assert not ran, f"nodes {ran} ran again although their results were stored"

    def test_worker_side_runs_before_each_attempt(self) -> None:
        """The worker side runs where the node runs, right before it, once per attempt."""
        if WORKER_SIDE in type(self).lacks:
            pytest.skip(f"the plugin declares it lacks a worker side ({WORKER_SIDE!r})")
        workflow = _local_backend()(*_diamond(), workflow_name=_WORKFLOW)
        workflow.set_plugin(None, _Recorder(self._ready()))
        workflow.query("kit_b").set_retries(2)
        _STAGE.flaky = frozenset({"kit_b"})
        _STAGE.probe = probe = self._probe()
        workflow.run()
        events = _STAGE.events
        if not _STAGE.nodes("worker"):
            pytest.fail(
                "the plugin gave no worker side (remote_initialize returned None), so nothing "
                "runs where the nodes run: local_initialize runs on the driver. Do the work "
                "in the callable remote_initialize returns, or declare "
                f"lacks = {{{WORKER_SIDE!r}}} for a plugin that only acts on the driver."
            )
        for name, _ in workflow.graph_traversal():
            attempts = 2 if name == "kit_b" else 1
            kinds = [e.kind for e in events if e.node == name and e.kind != "driver"]
            assert kinds == ["worker", "node"] * attempts, (
                f"node {name!r} ({attempts} attempt(s)): expected the worker side right "
                f"before each attempt; the log says {kinds}"
            )
        for before, event in itertools.pairwise(events):
            if event.kind == "node":
                assert (before.kind, before.node, before.thread) == (
                    "worker",
                    event.node,
                    event.thread,
                ), f"node {event.node!r} ran right after {before}, not after its worker side"
        if probe is not None:
            first, second = _STAGE.seen["kit_b"]
            assert first == second, (
                f"the probe saw {first!r} on the first attempt of a node and {second!r} on "
                "the second: the plugin's effect does not happen right before each attempt "
                "(is it done on the driver, in local_initialize or remote_initialize, "
                "instead of in the callable remote_initialize returns?)"
            )

    def test_worker_side_pickles(self) -> None:
        """The worker side pickles (with pickle, and cloudpickle when installed) and does
        the same after the round trip."""
        call = prepare_plugin(self._ready()).initialize(_WORKFLOW, "kit_a")
        if call is None:
            self._skip_without_worker_side()
            return
        picklers: list[tuple[str, Callable[[Any], bytes]]] = []
        if PLAIN_PICKLE not in type(self).lacks:
            picklers.append(("pickle", pickle.dumps))
        cloudpickle = _cloudpickle()
        if cloudpickle is not None:
            picklers.append(("cloudpickle", cloudpickle.dumps))
        if not picklers:
            pytest.skip(f"lacks {PLAIN_PICKLE!r} and cloudpickle is not installed")
        probe = self._probe()
        for name, dumps in picklers:
            clone, error = _attempt(_round_trip, dumps, call)
            if error is not None:
                pytest.fail(
                    f"the worker side {call!r} does not survive {name}: {_described(error)}. "
                    "It must reach a Ray worker or another process: return an instance of a "
                    "module-level class or a module-level function, holding values (a seed, "
                    "a path), not locks, open files or the plugin's driver-side state."
                )
            assert callable(clone), f"{call!r} came back from {name} as {clone!r}"
            clone()
            if probe is None:
                continue
            call()
            seen = probe()
            call()
            if probe() != seen:
                continue  # not repeatable here: test_worker_side_runs_before_each_attempt
            clone()
            after = probe()
            assert after == seen, (
                f"after a round trip through {name} the worker side no longer does its work: "
                f"the probe saw {seen!r} after the original and {after!r} after the copy. Does "
                "it act on a pickled copy of some state (a bound method of a random.Random "
                "instance, such as random.seed) instead of the worker's own?"
            )

    # -- beside other plugins ------------------------------------------------------------------

    def test_only_the_nodes_it_is_attached_to(self) -> None:
        """Attached to some nodes (set_plugin(pattern, ...)), the plugin runs for those only."""
        manager = ff.get_plugin_manager()
        before = set(manager.get_plugins())
        plugin = self._ready()
        added = set(manager.get_plugins()) - before
        assert not added, (
            f"making the plugin registered {sorted(map(repr, added))} with functionfuse's plugin "
            "manager, where hook plugins run around every node of every workflow; a node "
            "plugin runs only on the nodes set_plugin() attaches it to: do not register it."
        )
        workflow = _local_backend()(*_diamond(), workflow_name=_WORKFLOW)
        workflow.set_plugin("kit_[bd]", _Recorder(plugin))
        workflow.run()
        assert _STAGE.nodes("driver") == ["kit_b", "kit_d"], _STAGE.events
        assert _STAGE.nodes("worker") in (["kit_b", "kit_d"], []), _STAGE.events
        assert sorted(_STAGE.nodes("node")) == ["kit_a", "kit_b", "kit_c", "kit_d"]

    def test_two_plugins_on_one_node_run_in_order(self) -> None:
        """Beside other plugins on a node, it runs in the order set (set_plugin adds)."""
        backend = _local_backend()
        workflow = backend(*_diamond(), workflow_name=_WORKFLOW)
        workflow.set_plugin("kit_b", _Recorder(_Marker(), "before"))
        workflow.set_plugin("kit_b", _Recorder(self._ready()))
        workflow.set_plugin("kit_b", _Recorder(_Marker(), "after"))
        _STAGE.probe = probe = self._probe()
        workflow.run()
        order = ["before", _PLUGIN, "after"]
        assert _STAGE.labels("driver", "kit_b") == order, _STAGE.events
        assert _STAGE.labels("worker", "kit_b") in (order, ["before", "after"]), _STAGE.events
        if probe is not None:
            alone = backend(*_diamond(), workflow_name=_WORKFLOW)
            alone.set_plugin("kit_b", self._ready())
            alone.run()
            beside, by_itself = _STAGE.seen["kit_b"]
            assert beside == by_itself, (
                f"the probe saw {beside!r} with plugins beside it and {by_itself!r} alone"
            )

    def test_works_in_a_plugin_collection(self) -> None:
        """It works as a member of a PluginCollection (functionfuse-plugins)."""
        try:
            collection = ff.plugin("collection", plugins=[_Recorder(self._ready())])
        except ff.UnknownComponentError:
            pytest.skip("needs functionfuse-plugins (the 'collection' plugin)")
        backend = _local_backend()
        workflow = backend(*_diamond(), workflow_name=_WORKFLOW)
        workflow.set_plugin("kit_[bd]", collection)
        _STAGE.probe = probe = self._probe()
        workflow.run()
        assert _STAGE.nodes("driver") == ["kit_b", "kit_d"], _STAGE.events
        assert _STAGE.nodes("worker") in (["kit_b", "kit_d"], []), _STAGE.events
        if probe is not None:
            direct = backend(*_diamond(), workflow_name=_WORKFLOW)
            direct.set_plugin("kit_[bd]", self._ready())
            direct.run()
            for name in ("kit_b", "kit_d"):
                member, attached = _STAGE.seen[name]
                assert member == attached, (
                    f"node {name!r}: the probe saw {member!r} in a collection and "
                    f"{attached!r} with the plugin attached directly"
                )

    # -- the same behaviour every time ---------------------------------------------------------

    def test_same_behaviour_when_run_again(self) -> None:
        """Run again, the same workflow gives its nodes the same: the probe sees the same."""
        _STAGE.probe = self._probe_or_skip()
        workflow = _local_backend()(*_diamond(), workflow_name=_WORKFLOW)
        workflow.set_plugin(None, self._ready())
        workflow.run()
        workflow.run()
        for name, seen in _STAGE.seen.items():
            first, second = seen
            assert first == second, (
                f"node {name!r}: the probe saw {first!r} in the first run of a workflow and "
                f"{second!r} when the same workflow ran again: does the plugin move on with every "
                "call (a counter) instead of giving each node the same every time?"
            )

    def test_same_behaviour_when_resumed(self, tmp_path: Path) -> None:
        """A resumed run gives the nodes that run again what they got the first time."""
        _STAGE.probe = self._probe_or_skip()
        backend = _local_backend()
        storage = _file_storage(tmp_path)
        for run in ("first", "resumed"):
            workflow = backend(*_diamond(), workflow_name=_WORKFLOW)  # as a new process would
            workflow.set_storage(storage)
            workflow.set_plugin(None, self._ready())
            workflow.run()
            if run == "first":
                for name in ("kit_b", "kit_d"):
                    storage.remove_task(_WORKFLOW, name)
        for name in ("kit_b", "kit_d"):
            seen = _STAGE.seen[name]
            assert len(seen) == 2, f"node {name!r} did not run again once its result was removed"
            assert seen[0] == seen[1], (
                f"node {name!r}: the probe saw {seen[0]!r} in the first run and {seen[1]!r} "
                "when it ran again in a resumed run, where its ancestors came from storage"
            )


# -- helpers ------------------------------------------------------------------------------------


def _local_backend() -> type[ff.BaseWorkflow]:
    try:
        return ff.backend("local")
    except ff.UnknownComponentError:
        pytest.skip("needs the local backend: pip install functionfuse-local")


def _file_storage(tmp_path: Path) -> ff.Storage:
    try:
        return ff.storage_factory(str(tmp_path / "store"))
    except ff.UnknownComponentError:
        pytest.skip("needs the file storage: pip install functionfuse-fs")


def _round_trip(dumps: Callable[[Any], bytes], obj: object) -> Any:
    return pickle.loads(dumps(obj))


def _cloudpickle() -> ModuleType | None:
    try:
        return importlib.import_module("cloudpickle")
    except ImportError:
        return None


def _attempt(call: Callable[..., Any], *args: Any) -> tuple[Any, Exception | None]:
    """``call(*args)``'s result, or its exception: a check then fails outside the
    ``except``, without a chained traceback that would bury its message."""
    try:
        return call(*args), None
    except Exception as error:
        return None, error


def _described(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
