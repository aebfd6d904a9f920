"""InitializerPlugin: run a function where a node runs, right before it."""

from __future__ import annotations

from collections.abc import Callable
from typing import final

from functionfuse import ConfigurationError, Plugin

__all__ = ["InitializerPlugin"]


@final
class InitializerPlugin(Plugin):
    """Call ``func()`` on the worker right before each node the plugin is attached to.

    For per-process setup a node relies on: configuring logging, setting environment
    variables, loading a model into a module-level cache. ``func`` is pickled and shipped
    to wherever the node runs (a Ray worker, or the current process on the local
    backend), so it must be picklable: a module-level function, or a closure or lambda
    that Ray's cloudpickle can ship. Its return value is ignored.

    ::

        workflow.set_plugin("train.*", InitializerPlugin(configure_logging))
    """

    __slots__ = ("func",)

    def __init__(self, func: Callable[[], object]) -> None:
        if not callable(func):
            raise ConfigurationError(
                f"InitializerPlugin takes a callable to run before each node, got "
                f"{type(func).__name__} {func!r}."
            )
        self.func = func

    def remote_initialize(self) -> Callable[[], object]:
        """The function itself: it is what runs on the worker."""
        return self.func

    def __repr__(self) -> str:
        return f"InitializerPlugin({self.func!r})"
