"""PluginCollection: several node plugins attached as one, run in order."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import final

from functionfuse import ConfigurationError, Plugin
from functionfuse.runtime import NodePlugin, prepare_plugin

__all__ = ["PluginCollection"]


@final
class PluginCollection(Plugin):
    """Attach several node plugins to the same nodes; they run in the order given.

    A node holds one plugin, so combining, say, an :class:`InitializerPlugin` and a
    :class:`RandomStatePlugin` takes a collection. For each node, every member's driver
    side runs in order and the callables the members return are chained into one that
    runs them, in the same order, on the worker right before the node. Members may be
    any node plugin: these classes, :class:`functionfuse.Plugin` subclasses, or objects
    implementing the hooks of :mod:`functionfuse.hookspecs`.
    """

    __slots__ = ("_prepared", "plugins")

    def __init__(self, plugins: Iterable[object]) -> None:
        if isinstance(plugins, (str, bytes)) or not isinstance(plugins, Iterable):
            raise ConfigurationError(
                f"PluginCollection takes a list of node plugins, got "
                f"{type(plugins).__name__} {plugins!r}."
            )
        self.plugins = list(plugins)
        # Validated now, so a wrong member fails where the collection is built.
        self._prepared: list[NodePlugin] = [prepare_plugin(p) for p in self.plugins]

    # The core calls functionfuse_local_initialize and then functionfuse_remote_initialize
    # for every node. Each member's own driver side has to run with the node's name
    # (RandomStatePlugin keys its seeds on it), which NodePlugin.initialize provides, so
    # the whole per-node work happens in the remote hook and the local hook does nothing.
    def functionfuse_local_initialize(self) -> None:
        """Nothing: the members' driver sides run in :meth:`functionfuse_remote_initialize`."""

    def functionfuse_remote_initialize(
        self, workflow_name: str | None = None, node_name: str | None = None
    ) -> Callable[[], object] | None:
        """Run every member's driver side in order; chain what they return."""
        if workflow_name is None or node_name is None:
            # Called without names (the defaults only keep functionfuse.Plugin's
            # signature): behave as the original interface.
            self.local_initialize()
            return self.remote_initialize()
        calls: list[Callable[[], object]] = []
        for member in self._prepared:
            call = member.initialize(workflow_name, node_name)
            if call is not None:
                calls.append(call)
        return _chain(calls)

    # The original Function Fuse interface, for code that drives plugins by hand.
    def local_initialize(self) -> None:
        """Every member's ``local_initialize()``, in order (original interface)."""
        for plugin in self.plugins:
            local = getattr(plugin, "local_initialize", None)
            if local is not None:
                local()

    def remote_initialize(self) -> Callable[[], object] | None:
        """Every member's ``remote_initialize()`` chained in order (original interface)."""
        calls: list[Callable[[], object]] = []
        for plugin in self.plugins:
            remote = getattr(plugin, "remote_initialize", None)
            call = remote() if remote is not None else None
            if call is not None:
                calls.append(call)
        return _chain(calls)

    def __repr__(self) -> str:
        return f"PluginCollection({self.plugins!r})"


def _chain(calls: list[Callable[[], object]]) -> Callable[[], object] | None:
    if not calls:
        return None
    return calls[0] if len(calls) == 1 else _Chain(tuple(calls))


@final
class _Chain:
    """Several worker-side callables run in order, as one small picklable callable."""

    __slots__ = ("calls",)

    def __init__(self, calls: tuple[Callable[[], object], ...]) -> None:
        self.calls = calls

    def __call__(self) -> None:
        for call in self.calls:
            call()

    def __reduce__(self) -> tuple[type[_Chain], tuple[tuple[Callable[[], object], ...]]]:
        return (_Chain, (self.calls,))

    def __repr__(self) -> str:
        return f"_Chain({self.calls!r})"
