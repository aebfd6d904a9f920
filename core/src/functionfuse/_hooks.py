"""The process-wide pluggy plugin manager, and the hook callers backends use."""

from __future__ import annotations

import inspect
import os
import warnings
from typing import Final, final

import pluggy

from functionfuse import hookspecs
from functionfuse._errors import ComponentLoadError, FunctionFuseWarning
from functionfuse._registry import HOOKS, components, load_component

__all__ = [
    "AUTOLOAD_ENV",
    "LifecycleHooks",
    "get_plugin_manager",
    "hook_load_errors",
    "lifecycle_hooks",
]

AUTOLOAD_ENV: Final = "FUNCTIONFUSE_DISABLE_PLUGIN_AUTOLOAD"

_manager: pluggy.PluginManager | None = None
_load_errors: list[ComponentLoadError] = []


def get_plugin_manager() -> pluggy.PluginManager:
    """The plugin manager holding every hook plugin of this process.

    Created on first use, when the ``functionfuse.hooks`` entry points are loaded
    (unless ``FUNCTIONFUSE_DISABLE_PLUGIN_AUTOLOAD`` is set to a non-empty value other
    than ``0``). Register your own with ``get_plugin_manager().register(obj)``.
    """
    global _manager
    if _manager is None:
        manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        manager.add_hookspecs(hookspecs)
        if os.environ.get(AUTOLOAD_ENV, "") in ("", "0"):
            _autoload(manager)
        _manager = manager
    return _manager


def _autoload(manager: pluggy.PluginManager) -> None:
    for component in components(HOOKS):
        name = f"{HOOKS}:{component.name}"
        try:
            plugin = load_component(HOOKS, component.name)
            if inspect.isclass(plugin):
                plugin = plugin()
            manager.register(plugin, name=name)
        except ComponentLoadError as error:
            _report(error)
        except Exception as error:
            # A plugin whose constructor or hook signatures are wrong: report, go on.
            # Older pluggy releases keep the hooks registered before the bad one.
            if manager.has_plugin(name):
                manager.unregister(name=name)
            wrapped = ComponentLoadError(
                f"hook plugin {component.name!r} from {component.distribution} could not "
                f"be registered: {type(error).__name__}: {error}",
                group=HOOKS,
                name=component.name,
                distribution=component.distribution,
            )
            wrapped.__cause__ = error
            _report(wrapped)


def _report(error: ComponentLoadError) -> None:
    _load_errors.append(error)
    warnings.warn(
        f"{error} It is skipped; set {AUTOLOAD_ENV}=1 to load no hook plugins.",
        FunctionFuseWarning,
        stacklevel=4,
    )


def hook_load_errors() -> list[ComponentLoadError]:
    """The hook plugins that failed to load (each was skipped with a warning)."""
    return list(_load_errors)


@final
class LifecycleHooks:
    """Hook callers for one run; an attribute is ``None`` when nobody implements it.

    Backends take one at the start of ``run()`` and test each attribute before calling
    it, so a run with no hook plugins pays one attribute check per call site.
    """

    __slots__ = (
        "local_initialize",
        "node_error",
        "node_finish",
        "node_rerun",
        "node_retry",
        "node_start",
        "remote_initialize",
        "workflow_finish",
        "workflow_start",
    )

    local_initialize: pluggy.HookCaller | None
    node_error: pluggy.HookCaller | None
    node_finish: pluggy.HookCaller | None
    node_rerun: pluggy.HookCaller | None
    node_retry: pluggy.HookCaller | None
    node_start: pluggy.HookCaller | None
    remote_initialize: pluggy.HookCaller | None
    workflow_finish: pluggy.HookCaller | None
    workflow_start: pluggy.HookCaller | None

    def __init__(self, manager: pluggy.PluginManager) -> None:
        hook = manager.hook
        for slot in self.__slots__:
            caller = getattr(hook, f"functionfuse_{slot}")
            setattr(self, slot, caller if caller.get_hookimpls() else None)

    @property
    def any_node_plugin(self) -> bool:
        """True when some hook plugin runs around every node."""
        return self.local_initialize is not None or self.remote_initialize is not None


def lifecycle_hooks() -> LifecycleHooks:
    """The hook callers to use for a run that starts now."""
    return LifecycleHooks(get_plugin_manager())
