"""Pickling decorated code by reference, as the standard ``pickle`` does undecorated code.

``@workflow`` replaces a module's ``f`` with a factory, so pickle cannot find the
function ``f`` (``node.func``) under its name: "it's not the same object as module.f".
The factories themselves pickle by reference (``__reduce__`` in ``_decorator``); the
function or class they wrap pickles with :func:`dumps`, which refers to it through its
factory — the way a process pool ships a node's callable.
"""

from __future__ import annotations

import importlib
import io
import pickle
import sys
from typing import Any

__all__ = ["ReferencePickler", "dumps", "unwrapped"]


def unwrapped(module: str, qualname: str) -> Any:
    """The function or class that the factory ``module.qualname`` wraps."""
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found.__wrapped__


def _factory_path(obj: Any) -> tuple[str, str] | None:
    """``(module, qualname)`` when that name holds a factory wrapping ``obj``."""
    module_name = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    found: Any = sys.modules.get(module_name)
    try:
        for part in qualname.split("."):
            found = getattr(found, part)
    except AttributeError:
        return None
    if found is not obj and getattr(found, "__wrapped__", None) is obj:
        return module_name, qualname
    return None


class ReferencePickler(pickle.Pickler):
    """A pickler that sends the functions and classes wrapped by ``@workflow`` by
    reference (through their factory), and everything else as ``pickle`` does."""

    def reducer_override(self, obj: Any) -> Any:
        if callable(obj):
            try:
                path = _factory_path(obj)
            except Exception:  # an object whose attributes misbehave: pickle decides
                path = None
            if path is not None:
                return unwrapped, path
        return NotImplemented


def dumps(obj: Any, protocol: int = pickle.HIGHEST_PROTOCOL) -> bytes:
    """``pickle.dumps`` with decorated code by reference (see :class:`ReferencePickler`)."""
    buffer = io.BytesIO()
    ReferencePickler(buffer, protocol).dump(obj)
    return buffer.getvalue()
