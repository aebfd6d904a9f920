"""Discovery of installed components through entry points.

Listing reads distribution metadata only; a component's module is imported the first
time it is asked for by name. Nothing here names a first-party package except the
install hints for well-known names.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from functionfuse._errors import (
    ComponentLoadError,
    FunctionFuseWarning,
    UnknownComponentError,
)

if TYPE_CHECKING:
    from importlib import metadata

__all__ = [
    "BACKENDS",
    "GROUPS",
    "HOOKS",
    "PLUGINS",
    "STORAGE",
    "Component",
    "components",
    "entry_point",
    "load_component",
]

BACKENDS: Final = "functionfuse.backends"
STORAGE: Final = "functionfuse.storage"
PLUGINS: Final = "functionfuse.plugins"
HOOKS: Final = "functionfuse.hooks"
GROUPS: Final = (BACKENDS, STORAGE, PLUGINS, HOOKS)

_KIND: Final = {
    BACKENDS: "backend",
    STORAGE: "storage kind",
    PLUGINS: "node plugin",
    HOOKS: "hook plugin",
}

# Well-known names and the distribution that provides them, for "pip install" hints.
_INSTALL_HINTS: Final = {
    (BACKENDS, "local"): "functionfuse-local",
    (BACKENDS, "processes"): "functionfuse-local",
    (BACKENDS, "ray"): "functionfuse-ray",
    (BACKENDS, "dask"): "functionfuse-dask",
    (STORAGE, "file"): "functionfuse-fs",
    (STORAGE, "memory"): "functionfuse-fs",
    (STORAGE, "fsspec"): "functionfuse-fs",
    (STORAGE, "s3"): "functionfuse-fs[s3]",
    (STORAGE, "ray"): "functionfuse-ray",
    (PLUGINS, "initializer"): "functionfuse-plugins",
    (PLUGINS, "random_state"): "functionfuse-plugins",
    (PLUGINS, "collection"): "functionfuse-plugins",
}


@dataclass(frozen=True)
class Component:
    """An installed component, as its distribution's metadata declares it."""

    group: str
    name: str
    value: str
    distribution: str | None
    version: str | None

    @property
    def kind(self) -> str:
        """``backend``, ``storage kind``, ``node plugin`` or ``hook plugin``."""
        return _KIND.get(self.group, self.group)

    def load(self) -> Any:
        """Import and return the object it registers (a class, a factory, a module...).

        Raises :class:`ComponentLoadError` naming the distribution, the cause chained,
        when the import fails; ``fuse plugins --check`` reports that.
        """
        return load_component(self.group, self.name)


# Scanning every installed distribution costs milliseconds, so the scan is cached for
# as long as sys.path is unchanged (a test or notebook that extends sys.path rescans).
_cache: tuple[tuple[str, ...], dict[str, dict[str, metadata.EntryPoint]]] | None = None


def _scan() -> dict[str, dict[str, metadata.EntryPoint]]:
    global _cache
    key = tuple(sys.path)
    if _cache is not None and _cache[0] == key:
        return _cache[1]
    from importlib import metadata  # ~20 ms: only when a component is asked for

    found: dict[str, dict[str, metadata.EntryPoint]] = {group: {} for group in GROUPS}
    installed = metadata.entry_points()  # one scan of the distributions for all groups
    for group in GROUPS:
        by_name = found[group]
        for ep in installed.select(group=group):
            previous = by_name.get(ep.name)
            if previous is None:
                by_name[ep.name] = ep
            elif previous.value != ep.value or _dist_name(previous) != _dist_name(ep):
                warnings.warn(
                    f"two installed distributions register {_KIND[group]} {ep.name!r} "
                    f"({group}): {_describe(previous)} and {_describe(ep)}; using the "
                    f"first. Uninstall one of them to silence this.",
                    FunctionFuseWarning,
                    stacklevel=3,
                )
    _cache = (key, found)
    return found


def _dist_name(ep: metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return None if dist is None else str(dist.metadata["Name"])


def _dist_version(ep: metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return None if dist is None else str(dist.version)


def _describe(ep: metadata.EntryPoint) -> str:
    name = _dist_name(ep)
    where = f"{name} {_dist_version(ep)}" if name else "an unknown distribution"
    return f"{ep.value!r} from {where}"


def components(group: str | None = None) -> list[Component]:
    """Every installed backend, storage kind, node plugin and hook plugin.

    Imports none of them. ``group`` limits the listing to one entry-point group.
    """
    found = _scan()
    return [
        Component(g, ep.name, ep.value, _dist_name(ep), _dist_version(ep))
        for g in (GROUPS if group is None else (group,))
        for ep in sorted(found.get(g, {}).values(), key=lambda ep: ep.name)
    ]


def entry_point(group: str, name: str) -> metadata.EntryPoint | None:
    """The entry point registered under ``name`` in ``group``, if any (no import)."""
    return _scan()[group].get(name)


def _unknown(group: str, name: str) -> UnknownComponentError:
    installed = sorted(_scan()[group])
    kind = _KIND[group]
    listing = ", ".join(repr(n) for n in installed) if installed else "none"
    message = f"no {kind} named {name!r} is installed (installed: {listing})."
    # Storage kinds match case-insensitively (the original wrote "S3"): so do the hints.
    hint = _INSTALL_HINTS.get((group, name)) or _INSTALL_HINTS.get((group, name.lower()))
    if hint is not None:
        message += f' It is provided by {hint.split("[")[0]}: pip install "{hint}"'
    else:
        message += (
            f" Check the spelling, or install the distribution that registers it under "
            f"the {group!r} entry-point group."
        )
    return UnknownComponentError(message, group=group, name=name, installed=installed)


def load_component(group: str, name: str) -> Any:
    """Import and return the object registered under ``name`` in ``group``.

    Raises :class:`UnknownComponentError` (with the installed names and an install hint)
    or :class:`ComponentLoadError` (naming the distribution, the cause chained).
    """
    ep = entry_point(group, name)
    if ep is None:
        raise _unknown(group, name)
    try:
        return ep.load()
    except Exception as error:
        dist = _dist_name(ep)
        raise ComponentLoadError(
            f"{_KIND[group]} {name!r} could not be loaded: importing {ep.value!r} from "
            f"{_describe(ep).split(' from ', 1)[1]} failed with {type(error).__name__}: "
            f"{error}. Reinstall or upgrade {dist or 'the distribution that provides it'}.",
            group=group,
            name=name,
            distribution=dist,
        ) from error
