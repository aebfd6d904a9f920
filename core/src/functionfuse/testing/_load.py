"""Components named on the command line: a storage target as ``make_storage`` hooks."""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import functionfuse as ff

__all__ = ["load_object", "signed_storage_maker", "storage_maker"]


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


def _place(tmp_path: Path) -> str:
    """A name of its own for each check's ``tmp_path``, the same on every call."""
    return "kit-" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:16]


def storage_maker(target: str, options: Mapping[str, Any]) -> Callable[[Path], Any]:
    """``make_storage(tmp_path)`` for a kind, a URL or ``package.module:factory``: a
    fresh place for a new ``tmp_path``, the same place when called with it again.

    A kind stores under the check's folder (``memory``: a name of its own); a URL gets
    a prefix per check. A factory taking one argument gets ``tmp_path``; one taking none
    is called once per ``tmp_path`` and must return a fresh, empty storage.
    """
    if "://" in target:
        base = target.rstrip("/")
        return lambda tmp_path: ff.storage_factory(f"{base}/{_place(tmp_path)}", **options)
    if ":" in target:
        factory = load_object(target)
        if not callable(factory):
            raise ff.ConfigurationError(f"{target!r} is {factory!r}, not a storage factory")
        if inspect.signature(factory).parameters:
            return factory  # type: ignore[no-any-return]
        made: dict[Path, Any] = {}

        def once(tmp_path: Path) -> Any:
            if tmp_path not in made:
                made[tmp_path] = factory()
            return made[tmp_path]

        return once
    return lambda tmp_path: ff.storage_factory(
        {"kind": target, "options": {"path": _path(target, tmp_path), **options}}
    )


def signed_storage_maker(
    target: str, options: Mapping[str, Any]
) -> Callable[[Path, bytes], Any] | None:
    """``make_signed_storage(tmp_path, key)`` for a kind or a URL (None for a factory)."""
    if "://" in target:
        base = target.rstrip("/")
        return lambda tmp_path, key: ff.storage_factory(
            f"{base}/{_place(tmp_path)}", **options, signing_key=key
        )
    if ":" in target:
        return None
    return lambda tmp_path, key: ff.storage_factory(
        {
            "kind": target,
            "options": {"path": _path(target, tmp_path), **options, "signing_key": key},
        }
    )


def _path(kind: str, tmp_path: Path) -> str:
    return _place(tmp_path) if kind.lower() == "memory" else str(tmp_path / "store")


def one_process(target: str) -> bool:
    """Whether the storage lives inside one process (``memory``)."""
    return target.lower() == "memory" or target.lower().startswith("memory://")
