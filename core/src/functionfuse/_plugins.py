"""Node plugins: validation against the hook specifications, and the call on the driver."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Final, final

from functionfuse import hookspecs
from functionfuse._errors import ConfigurationError

__all__ = ["NodePlugin", "Plugin", "prepare_plugin"]

_HOOKS: Final = ("functionfuse_local_initialize", "functionfuse_remote_initialize")


class Plugin:
    """Base class for node plugins, with the original Function Fuse interface.

    Override :meth:`local_initialize` (driver side, once per node, in graph order) and
    :meth:`remote_initialize` (returns a picklable callable run where the node runs,
    right before it). Plugins that need the node's name implement the hooks of
    :mod:`functionfuse.hookspecs` directly instead.
    """

    def local_initialize(self) -> None:
        """Driver side, before each node the plugin is attached to is submitted."""

    def remote_initialize(self) -> Callable[[], object] | None:
        """Return the callable to run on the worker right before the node, or None."""
        return None

    def functionfuse_local_initialize(self) -> None:
        self.local_initialize()

    def functionfuse_remote_initialize(self) -> Callable[[], object] | None:
        return self.remote_initialize()


def _spec_arguments(hook: str) -> frozenset[str]:
    return frozenset(inspect.signature(getattr(hookspecs, hook)).parameters)


@final
class NodePlugin:
    """A validated node plugin, ready to be called for each node it is attached to."""

    __slots__ = ("_local", "_remote", "plugin")

    def __init__(self, plugin: object) -> None:
        self.plugin = plugin
        self._local = _bind(plugin, "functionfuse_local_initialize", "local_initialize")
        self._remote = _bind(plugin, "functionfuse_remote_initialize", "remote_initialize")
        if self._local is None and self._remote is None:
            raise ConfigurationError(
                f"{plugin!r} is not a node plugin: it implements none of {', '.join(_HOOKS)} "
                "(nor local_initialize / remote_initialize). Subclass functionfuse.Plugin "
                "or implement the hooks of functionfuse.hookspecs."
            )

    def initialize(self, workflow_name: str, node_name: str) -> Callable[[], object] | None:
        """Run the driver side for one node; return what must run on the worker."""
        if self._local is not None:
            self._local(workflow_name, node_name)
        if self._remote is None:
            return None
        remote = self._remote(workflow_name, node_name)
        if remote is not None and not callable(remote):
            raise ConfigurationError(
                f"node plugin {self.plugin!r} returned {remote!r} from remote_initialize "
                f"for node {node_name!r} of workflow {workflow_name!r}; return a callable "
                "taking no arguments, or None."
            )
        return remote  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"NodePlugin({self.plugin!r})"


def _bind(plugin: object, hook: str, legacy: str) -> Callable[[str, str], Any] | None:
    """A caller taking (workflow_name, node_name) for ``hook``, passing what it declares."""
    method = getattr(plugin, hook, None)
    if method is None:
        method = getattr(plugin, legacy, None)
        if method is None:
            return None
        hook = legacy
    if not callable(method):
        raise ConfigurationError(f"{hook} of node plugin {plugin!r} is not callable.")
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):  # builtins without a signature: call them bare
        parameters = {}  # type: ignore[assignment]
    declared = [p for p in parameters.values() if p.kind is not p.VAR_KEYWORD]
    allowed = _spec_arguments(hook) if hook in _HOOKS else frozenset()
    wanted = []
    for parameter in declared:
        if parameter.name not in allowed:
            if (
                parameter.default is not parameter.empty
                or parameter.kind is parameter.VAR_POSITIONAL
            ):
                continue
            raise ConfigurationError(
                f"node plugin {plugin!r}: {hook}() asks for argument {parameter.name!r}, "
                f"which the hook does not provide; it may ask for "
                f"{', '.join(sorted(allowed)) or 'no arguments'}."
            )
        wanted.append(parameter.name)
    if not wanted:
        return lambda workflow_name, node_name: method()
    if wanted == ["node_name"]:
        return lambda workflow_name, node_name: method(node_name=node_name)
    if wanted == ["workflow_name"]:
        return lambda workflow_name, node_name: method(workflow_name=workflow_name)
    return lambda workflow_name, node_name: method(workflow_name=workflow_name, node_name=node_name)


def prepare_plugin(plugin: object) -> NodePlugin:
    """Validate a node plugin once, when it is attached (not per node)."""
    return plugin if isinstance(plugin, NodePlugin) else NodePlugin(plugin)
