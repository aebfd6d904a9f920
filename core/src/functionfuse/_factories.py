"""Components by name: ``backend("ray")``, ``storage_factory(...)``, ``plugin("...")``."""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import Any

from functionfuse._errors import ComponentLoadError, ConfigurationError
from functionfuse._plugins import prepare_plugin
from functionfuse._registry import (
    BACKENDS,
    PLUGINS,
    STORAGE,
    components,
    entry_point,
    load_component,
)
from functionfuse._workflow import BaseWorkflow
from functionfuse.hookspecs import Storage

__all__ = ["backend", "plugin", "storage_factory"]

_CONFIG_KEYS = ("kind", "options")


def backend(name: str) -> type[BaseWorkflow]:
    """The workflow class of the backend installed under ``name`` (``"local"``, ``"ray"``)."""
    cls = load_component(BACKENDS, name)
    if not (inspect.isclass(cls) and issubclass(cls, BaseWorkflow)):
        raise _not_a(BACKENDS, name, cls, "a subclass of functionfuse.BaseWorkflow")
    return cls


def plugin(name: str, /, **options: Any) -> Any:
    """A node plugin created by name: ``plugin("random_state", seed=0)``."""
    factory = load_component(PLUGINS, name)
    if not callable(factory):
        raise _not_a(PLUGINS, name, factory, "a node plugin class")
    try:
        signature = inspect.signature(factory)
        signature.bind(**options)
    except TypeError as error:
        raise ConfigurationError(
            f"node plugin {name!r} does not take these options: {error}. "
            f"It takes {name}{signature}."
        ) from None
    except ValueError:  # no signature to check against
        pass
    instance = factory(**options)
    prepare_plugin(instance)  # fail now, naming the plugin, not when a node runs
    return instance


def storage_factory(config: Any, /, **storage_options: Any) -> Storage:
    """A storage from a config, a URL or a path.

    - ``{"kind": "file", "options": {"path": "storage"}}`` — the original Function Fuse
      form; ``kind`` is an entry-point name of ``functionfuse.storage``, matched
      case-insensitively (``"S3"`` works);
    - ``"s3://bucket/prefix"``, ``"memory://x"``, ``"./storage"`` — a URL or path;
      ``storage_options`` are passed through (e.g. ``endpoint_url=...``). A protocol
      without a storage of its own goes to the generic ``fsspec`` storage;
    - an object that already implements the storage contract is returned as is.
    """
    if isinstance(config, Storage):
        return config
    if isinstance(config, (str, os.PathLike)):
        return _from_url(os.fspath(config), storage_options)
    if isinstance(config, Mapping):
        if storage_options:
            raise ConfigurationError(
                "storage_factory() takes storage options either inside the config's "
                "'options' or as keywords with a URL, not both."
            )
        return _from_config(config)
    raise ConfigurationError(
        f"storage_factory() takes a config dict, a URL or a path, not "
        f"{type(config).__name__} {config!r}."
    )


def _from_config(config: Mapping[str, Any]) -> Storage:
    unknown = [key for key in config if key not in _CONFIG_KEYS]
    if unknown:
        raise ConfigurationError(
            f"storage config has unknown key {unknown[0]!r}; allowed keys are 'kind' and "
            "'options', e.g. {'kind': 'file', 'options': {'path': 'storage'}}."
        )
    kind = config.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ConfigurationError(
            f"storage config needs a 'kind' naming an installed storage, got {kind!r}."
        )
    options = config.get("options", {})
    if not isinstance(options, Mapping):
        raise ConfigurationError(
            f"storage config 'options' must be a dict, got {type(options).__name__}."
        )
    name = _match_kind(kind)
    factory = load_component(STORAGE, name)
    from_config = getattr(factory, "from_config", None)
    storage = from_config(dict(options)) if from_config is not None else factory(**options)
    return _checked(name, storage)


def _from_url(url: str, options: dict[str, Any]) -> Storage:
    scheme, sep, _ = url.partition("://")
    # "C:\\x" or "./storage" have no scheme: a local path.
    name = _match_kind(scheme.lower()) if sep and len(scheme) > 1 else "file"
    if entry_point(STORAGE, name) is None and entry_point(STORAGE, "fsspec") is not None:
        name = "fsspec"
    factory = load_component(STORAGE, name)
    from_url = getattr(factory, "from_url", None)
    storage = from_url(url, options) if from_url is not None else factory(url, **options)
    return _checked(name, storage)


def _match_kind(kind: str) -> str:
    if entry_point(STORAGE, kind) is not None:
        return kind
    folded = kind.casefold()
    for component in components(STORAGE):  # metadata only, nothing imported
        if component.name.casefold() == folded:
            return component.name
    return kind  # load_component raises the "unknown" error with its hints


def _checked(name: str, storage: Any) -> Storage:
    if not isinstance(storage, Storage):
        raise _not_a(STORAGE, name, storage, "a storage (see functionfuse.hookspecs.Storage)")
    return storage


def _not_a(group: str, name: str, obj: object, expected: str) -> ComponentLoadError:
    ep = entry_point(group, name)
    dist = None if ep is None or ep.dist is None else ep.dist.metadata["Name"]
    return ComponentLoadError(
        f"{group} entry point {name!r} from {dist or 'an unknown distribution'} gave "
        f"{obj!r}, which is not {expected}. Report this to its authors.",
        group=group,
        name=name,
        distribution=dist,
    )
