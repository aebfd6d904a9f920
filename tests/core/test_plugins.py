"""Node plugins (validation, the driver-side call) and lifecycle hook callers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pluggy
import pytest

import functionfuse
from functionfuse import BaseWorkflow, ConfigurationError, Plugin, hookimpl, hookspecs, workflow
from functionfuse.runtime import (
    PLUGIN,
    LifecycleHooks,
    Node,
    NodePlugin,
    lifecycle_hooks,
    prepare_plugin,
)


@workflow
def step(x: int) -> int:
    return x + 1


class Graph(BaseWorkflow):
    def run(self, **options: Any) -> Any:
        raise NotImplementedError


def two_steps() -> tuple[Graph, Node, Node]:
    first = step(0).set_name("first")
    second = step(first).set_name("second")
    return Graph(second, workflow_name="wf"), first, second


def fresh_manager() -> pluggy.PluginManager:
    """A plugin manager of our hooks with nothing registered."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


# -- node plugins ---------------------------------------------------------------------------


class Legacy(Plugin):
    """The original Function Fuse interface."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def local_initialize(self) -> None:
        self.log.append("legacy local")

    def remote_initialize(self) -> Callable[[], object]:
        log = self.log
        return lambda: log.append("legacy remote")


def test_plugin_subclass() -> None:
    log: list[str] = []
    plugin = prepare_plugin(Legacy(log))
    remote = plugin.initialize("wf", "node")
    assert log == ["legacy local"]
    assert remote is not None
    remote()
    assert log == ["legacy local", "legacy remote"]


def test_plugin_base_class_does_nothing_by_default() -> None:
    plugin = prepare_plugin(Plugin())
    assert plugin.initialize("wf", "node") is None


def test_prepare_plugin_is_idempotent() -> None:
    plugin = prepare_plugin(Plugin())
    assert prepare_plugin(plugin) is plugin


def test_hook_style_plugin_gets_the_arguments_it_asks_for() -> None:
    seen: list[tuple[str, ...]] = []

    class Named:
        def functionfuse_local_initialize(self, workflow_name: str, node_name: str) -> None:
            seen.append(("local", workflow_name, node_name))

        def functionfuse_remote_initialize(self, node_name: str) -> Callable[[], object]:
            return lambda: seen.append(("remote", node_name))

    remote = prepare_plugin(Named()).initialize("wf", "n1")
    assert remote is not None
    remote()
    assert seen == [("local", "wf", "n1"), ("remote", "n1")]


def test_remote_only_plugin() -> None:
    class RemoteOnly:
        def functionfuse_remote_initialize(self, workflow_name: str) -> None:
            return None

    assert prepare_plugin(RemoteOnly()).initialize("wf", "n") is None


def test_plugin_asking_for_an_unknown_argument() -> None:
    class Greedy:
        def functionfuse_remote_initialize(self, node_name: str, seed: int) -> None: ...

    with pytest.raises(ConfigurationError, match="Greedy") as info:
        prepare_plugin(Greedy())
    message = str(info.value)
    assert "'seed'" in message
    assert "functionfuse_remote_initialize" in message
    assert "node_name, workflow_name" in message  # what it may ask for


def test_unknown_argument_with_a_default_is_left_alone() -> None:
    class Defaulted:
        def functionfuse_local_initialize(self, node_name: str, extra: int = 1) -> None:
            assert extra == 1

    assert prepare_plugin(Defaulted()).initialize("wf", "n") is None


@pytest.mark.parametrize("obj", [object(), 42, "plugin", lambda: None])
def test_not_a_plugin(obj: object) -> None:
    with pytest.raises(ConfigurationError, match="is not a node plugin"):
        prepare_plugin(obj)


def test_plugin_hook_that_is_not_callable() -> None:
    class Broken:
        functionfuse_local_initialize = 3

    with pytest.raises(ConfigurationError, match="not callable"):
        prepare_plugin(Broken())


def test_remote_initialize_must_return_a_callable() -> None:
    class Wrong:
        def remote_initialize(self) -> Any:
            return 42

    plugin = prepare_plugin(Wrong())
    with pytest.raises(ConfigurationError, match=r"'n' of workflow 'wf'.*return a callable"):
        plugin.initialize("wf", "n")


# -- node_initializer: hook plugins and node plugins together ----------------------------------


class HookObserver:
    """A hook plugin running around every node."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    @hookimpl
    def functionfuse_local_initialize(self, node_name: str) -> None:
        self.log.append(f"hook local {node_name}")

    @hookimpl
    def functionfuse_remote_initialize(
        self, workflow_name: str, node_name: str
    ) -> Callable[[], object]:
        log = self.log
        return lambda: log.append(f"hook remote {workflow_name}/{node_name}")


@pytest.fixture
def registered() -> Iterator[Callable[[object], None]]:
    """Register hook plugins on the process-wide manager for one test."""
    manager = functionfuse.get_plugin_manager()
    plugins: list[object] = []

    def register(plugin: object) -> None:
        manager.register(plugin)
        plugins.append(plugin)

    yield register
    for plugin in plugins:
        manager.unregister(plugin)


def test_node_initializer_without_plugins() -> None:
    wf, first, _ = two_steps()
    hooks = LifecycleHooks(fresh_manager())
    assert not hooks.any_node_plugin
    assert wf.node_initializer(hooks, first, "first", wf.settings(first)) is None


def test_node_initializer_with_a_node_plugin_only() -> None:
    log: list[str] = []
    wf, first, second = two_steps()
    wf.set_plugin("second", Legacy(log))
    hooks = LifecycleHooks(fresh_manager())
    assert wf.node_initializer(hooks, first, "first", wf.settings(first)) is None
    call = wf.node_initializer(hooks, second, "second", wf.settings(second))
    assert call is not None
    assert log == ["legacy local"]
    call()
    assert log == ["legacy local", "legacy remote"]


def test_node_initializer_combines_hook_and_node_plugins(
    registered: Callable[[object], None],
) -> None:
    log: list[str] = []
    registered(HookObserver(log))
    wf, first, second = two_steps()
    wf.query("second").set_plugin(Legacy(log))
    hooks = lifecycle_hooks()
    assert hooks.any_node_plugin
    only_hook = wf.node_initializer(hooks, first, "first", wf.settings(first))
    assert only_hook is not None
    only_hook()
    assert log == ["hook local first", "hook remote wf/first"]
    log.clear()
    both = wf.node_initializer(hooks, second, "second", wf.settings(second))
    assert log == ["hook local second", "legacy local"]
    assert both is not None
    both()  # the hook plugin's callable first, then the node plugin's
    assert log == ["hook local second", "legacy local", "hook remote wf/second", "legacy remote"]


def test_node_initializer_with_a_plugin_in_the_node_backend_info() -> None:
    log: list[str] = []
    wf, _, second = two_steps()
    second.backend_info[PLUGIN] = Legacy(log)  # set on the node, not through a query
    hooks = LifecycleHooks(fresh_manager())
    call = wf.node_initializer(hooks, second, "second", wf.settings(second))
    assert call is not None
    call()
    assert log == ["legacy local", "legacy remote"]


# -- lifecycle hooks --------------------------------------------------------------------------


def test_hooks_are_none_without_implementations() -> None:
    hooks = LifecycleHooks(fresh_manager())
    for slot in LifecycleHooks.__slots__:
        assert getattr(hooks, slot) is None, slot
    assert not hooks.any_node_plugin


def test_hooks_are_callers_with_an_implementation() -> None:
    calls: list[tuple[str, bool]] = []

    class Timer:
        @hookimpl
        def functionfuse_node_finish(self, node_name: str, from_storage: bool) -> None:
            calls.append((node_name, from_storage))

    manager = fresh_manager()
    manager.register(Timer())
    hooks = LifecycleHooks(manager)
    assert isinstance(hooks.node_finish, pluggy.HookCaller)
    assert hooks.node_start is None
    assert hooks.workflow_start is None
    assert not hooks.any_node_plugin
    hooks.node_finish(workflow_name="wf", node_name="n", result=1, duration=0.1, from_storage=True)
    assert calls == [("n", True)]


def test_process_manager_hooks_follow_registration(
    registered: Callable[[object], None],
) -> None:
    class Starter:
        @hookimpl
        def functionfuse_workflow_start(self, workflow_name: str) -> None: ...

    assert lifecycle_hooks().workflow_start is None
    registered(Starter())
    assert isinstance(lifecycle_hooks().workflow_start, pluggy.HookCaller)


def test_hook_implementation_asking_for_an_unknown_argument_is_refused() -> None:
    class Wrong:
        @hookimpl
        def functionfuse_node_start(self, node_name: str, colour: str) -> None: ...

    with pytest.raises(pluggy.PluginValidationError, match="colour"):
        fresh_manager().register(Wrong())


def test_node_plugin_wrapper_repr() -> None:
    assert "Legacy" in repr(NodePlugin(Legacy([])))
