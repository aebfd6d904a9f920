"""What the node-plugin checks share: the plugin under test (what a subclass declares,
how the kit makes the plugin and observes it) and the kit's workflows with their log.

Kept apart from :mod:`functionfuse.testing._plugin` so that the checks read as the
promises they are; nothing here is public.
"""

from __future__ import annotations

import copy
import importlib
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

__all__ = [
    "PLAIN_PICKLE",
    "PLUGIN",
    "SEEDS",
    "STAGE",
    "WORKER_SIDE",
    "WORKFLOW",
    "Marker",
    "PluginUnderTest",
    "Recorder",
    "attempt",
    "cloudpickle_module",
    "described",
    "diamond",
    "file_storage",
    "local_backend",
    "round_trip",
]

#: Capability: the worker side seeds Python's :mod:`random` (probe: ``random.random``).
SEEDS: Final = "seeds"
#: Lack: no worker side by design (``remote_initialize`` returns None).
WORKER_SIDE: Final = "worker_side"
#: Lack: the worker side pickles with cloudpickle only (runs on Ray, not in process pools).
PLAIN_PICKLE: Final = "pickle"

_CAPABILITIES: Final = frozenset({SEEDS})
_LACKS: Final = frozenset({WORKER_SIDE, PLAIN_PICKLE})
WORKFLOW: Final = "kit"
PLUGIN: Final = "plugin"  # the label of the plugin under test in the event log


# -- what the kit's workflows record ----------------------------------------------------------


class Event(NamedTuple):
    kind: str  # "driver", "worker" or "node"
    label: str  # which plugin ("plugin", "before", "after"), or "node"
    node: str
    thread: int


class FirstAttemptFails(Exception):
    """Raised by a flaky kit node on its first attempt."""


class Stage:
    """The log of one check: the events of its runs, what the probe saw at each node."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.probe: Callable[[], object] | None = None
        self.flaky: frozenset[str] = frozenset()
        self.seen: dict[str, list[object]] = {}

    def reset(self) -> None:
        self.events = []
        self.probe = None
        self.flaky = frozenset()
        self.seen = {}

    def record(self, kind: str, label: str, node: str) -> None:
        self.events.append(Event(kind, label, node, threading.get_ident()))

    def node_runs(self, name: str) -> object:
        self.record("node", "node", name)
        seen = self.probe() if self.probe is not None else None
        attempts = self.seen.setdefault(name, [])
        attempts.append(seen)
        if name in self.flaky and len(attempts) == 1:
            raise FirstAttemptFails(f"{name}: the first attempt fails, as the check wants")
        return seen

    def nodes(self, kind: str) -> list[str]:
        return [e.node for e in self.events if e.kind == kind]

    def labels(self, kind: str, node: str) -> list[str]:
        return [e.label for e in self.events if e.kind == kind and e.node == node]


STAGE: Final = Stage()


@ff.workflow
def kit_node(name: str, *inputs: object) -> object:
    """A node of the kit's workflows: logs that it ran, returns what the probe sees."""
    return STAGE.node_runs(name)


def diamond() -> list[Any]:
    """kit_a -> (kit_b, kit_c) -> kit_d: the graph every check runs."""
    a = kit_node("kit_a").set_name("kit_a")
    b = kit_node("kit_b", a).set_name("kit_b")
    c = kit_node("kit_c", a).set_name("kit_c")
    d = kit_node("kit_d", b, c).set_name("kit_d")
    return [a, b, c, d]


class Traced:
    """A worker side that logs where and when it runs, then does its work."""

    __slots__ = ("call", "label", "node")

    def __init__(self, call: Callable[[], object], label: str, node: str) -> None:
        self.call = call
        self.label = label
        self.node = node

    def __call__(self) -> object:
        STAGE.record("worker", self.label, self.node)
        return self.call()


class Recorder:
    """Stands in for a plugin in the kit's workflows: logs every call of its driver side
    and of the worker side it returns, and passes each call on to the plugin."""

    def __init__(self, plugin: object, label: str = PLUGIN) -> None:
        self.plugin = plugin
        self.label = label
        self._local = _bind(plugin, "functionfuse_local_initialize", "local_initialize")
        self._remote = _bind(plugin, "functionfuse_remote_initialize", "remote_initialize")

    def functionfuse_local_initialize(self, workflow_name: str, node_name: str) -> None:
        STAGE.record("driver", self.label, node_name)
        if self._local is not None:
            self._local(workflow_name, node_name)

    def functionfuse_remote_initialize(
        self, workflow_name: str, node_name: str
    ) -> Callable[[], object] | None:
        call = None if self._remote is None else self._remote(workflow_name, node_name)
        return None if call is None else Traced(call, self.label, node_name)

    def __repr__(self) -> str:
        return repr(self.plugin)


def _nothing() -> None:
    """The worker side of the kit's marker plugins."""


class Marker:
    """A plugin that does nothing, to stand beside the plugin under test."""

    def functionfuse_remote_initialize(self) -> Callable[[], object]:
        return _nothing


# -- the plugin under test ----------------------------------------------------------------


class PluginUnderTest:
    """What a subclass of the kit declares about its plugin (see ``testing._plugin``), checked
    as the subclass is made; how the kit makes the plugin and what its probe is."""

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
            pytest.skip(f"the plugin cannot be made ({described(error)}): see test_made")
        try:
            prepare_plugin(spare).initialize(WORKFLOW, "kit_trial")
        except Exception as error:
            pytest.skip(
                f"not a working node plugin ({described(error)}): see test_is_a_node_plugin"
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
        STAGE.reset()
        try:
            yield
        finally:
            STAGE.reset()
            random.setstate(state)
            for plugin in set(manager.get_plugins()) - registered:
                manager.unregister(plugin)


# -- helpers ------------------------------------------------------------------------------------


def local_backend() -> type[ff.BaseWorkflow]:
    try:
        return ff.backend("local")
    except ff.UnknownComponentError:
        pytest.skip("needs the local backend: pip install functionfuse-local")


def file_storage(tmp_path: Path) -> ff.Storage:
    try:
        return ff.storage_factory(str(tmp_path / "store"))
    except ff.UnknownComponentError:
        pytest.skip("needs the file storage: pip install functionfuse-fs")


def round_trip(dumps: Callable[[Any], bytes], obj: object) -> Any:
    return pickle.loads(dumps(obj))


def cloudpickle_module() -> ModuleType | None:
    try:
        return importlib.import_module("cloudpickle")
    except ImportError:
        return None


def attempt(call: Callable[..., Any], *args: Any) -> tuple[Any, Exception | None]:
    """``call(*args)``'s result, or its exception: a check then fails outside the
    ``except``, without a chained traceback that would bury its message."""
    try:
        return call(*args), None
    except Exception as error:
        return None, error


def described(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
