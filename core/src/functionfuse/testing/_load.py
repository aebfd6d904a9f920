"""Components named on the command line: a storage target as a factory of fresh storages."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import functionfuse as ff

__all__ = ["load_object", "storage_maker"]


def load_object(spec: str) -> Any:
    """The object named ``package.module:Name``."""
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise ff.ConfigurationError(
            f"cannot load {spec!r} ({type(error).__name__}: {error}); give "
            "package.module:Name of an importable object."
        ) from error


def storage_maker(target: str, options: Mapping[str, Any]) -> Callable[[Path], Any]:
    """``make_storage(tmp_path)`` for a kind, a URL or ``package.module:factory``.

    A kind stores under the check's own folder; a URL gets a fresh prefix per check; a
    factory is called with no arguments and must return a fresh, empty storage.
    """
    if "://" in target:
        base = target.rstrip("/")
        return lambda tmp_path: ff.storage_factory(f"{base}/{uuid.uuid4().hex}", **options)
    if ":" in target:
        factory = load_object(target)
        if not callable(factory):
            raise ff.ConfigurationError(f"{target!r} is {factory!r}, not a storage factory")
        return lambda tmp_path: factory()
    kind = target

    def make(tmp_path: Path) -> Any:
        path = str(tmp_path / "store") if kind.lower() != "memory" else uuid.uuid4().hex
        return ff.storage_factory({"kind": kind, "options": {"path": path, **options}})

    return make
