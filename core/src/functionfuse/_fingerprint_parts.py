"""The pieces code fingerprints are made of: :class:`CodeInfo` (a function's or class's
code fingerprint with its parts and the installed distributions it reaches), the
module-level constants that are parts of their own, and what counts as a constant.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import fractions
import pathlib
import re
import uuid
from typing import Any, Final, final

from functionfuse._decorator import _ClassFactory, _FunctionFactory
from functionfuse._fingerprint_installed import track_versions
from functionfuse._fingerprint_values import _ATOMS, _END, _digest

__all__ = ["PART_SIZE", "CodeInfo", "Dist", "with_versions"]

#: The bytes of each part's digest kept in stamps (they only name what changed).
PART_SIZE: Final = 8
_CONSTANT_REF = b"\x0f"

#: A distribution: its name and version.
Dist = tuple[str, str]


@final
class CodeInfo:
    """The code fingerprint of a function or class, for one run.

    ``digest`` leaves installed distributions' versions out (a code change is a code
    change); ``fingerprint``, what node fingerprints hash, adds them (unless version
    tracking is off). ``parts``: ``(name, digest)`` of each function, class and constant
    reached, in walk order; ``dists``: the installed distributions reached, sorted.
    """

    __slots__ = ("digest", "dists", "fingerprint", "parts")

    def __init__(
        self, digest: bytes, parts: tuple[tuple[str, bytes], ...], dists: frozenset[Dist]
    ) -> None:
        self.digest = digest
        self.parts = parts
        self.dists = tuple(sorted(dists))
        self.fingerprint = with_versions(digest, self.dists)


def with_versions(digest: bytes, dists: tuple[Dist, ...] | frozenset[Dist] | set[Dist]) -> bytes:
    """``digest`` combined with the versions of ``dists`` (itself when there are none,
    or when versions are not tracked)."""
    if not dists or not track_versions():
        return digest
    block = b"".join(f"{name}=={version}".encode() + _END for name, version in sorted(dists))
    return _digest(digest + b"V" + block)


@final
class _Constant:
    """A module-level constant that code reads: a part of its own."""

    __slots__ = ("key", "module", "name", "value_encoding")

    def __init__(self, module: str | None, name: str, value_encoding: bytes) -> None:
        self.module = module
        self.name = name
        self.value_encoding = value_encoding
        self.key = ("constant", module, name)


def _undecorated(value: Any) -> Any:
    """The function or class behind a ``@workflow`` factory (else ``value``)."""
    if isinstance(value, _FunctionFactory):
        return value.func
    if isinstance(value, _ClassFactory):
        return value.cls
    return value


def _part_name(item: Any, home: str | None) -> str:
    """A part's name: its qualified name, with its module unless it is ``home`` (the
    module of the node's own function or class)."""
    if type(item) is _Constant:
        module, name = item.module, item.name
    else:
        module, name = getattr(item, "__module__", None), _qualname(item)
    return name if module == home or not module else f"{module}.{name}"


# Entries of a class's namespace that are not its code, or that Python and the
# standard library change behind its back (pickle caches __slotnames__ on first use).
_CLASS_BOOKKEEPING: Final = frozenset(
    {
        "__dict__",
        "__weakref__",
        "__module__",
        "__qualname__",
        "__doc__",
        "__firstlineno__",
        "__static_attributes__",
        "__slotnames__",
        "__abstractmethods__",
        "_abc_impl",
        "__parameters__",
        "__orig_bases__",
    }
)


def _constant(value: Any) -> bool:
    """True for an immutable value: an atom; a path, date, decimal, fraction, UUID,
    enum member, compiled pattern or range; a frozen dataclass, or a tuple, namedtuple
    or frozenset, of constants."""
    kind = type(value)
    if kind in _ATOMS or isinstance(value, _IMMUTABLE):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_constant(item) for item in value)
    params = getattr(kind, "__dataclass_params__", None)
    if params is not None and params.frozen:
        return all(_constant(item) for item in vars(value).values())
    return False


# Immutable value types of the standard library, for _constant.
_IMMUTABLE: Final = (
    pathlib.PurePath,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    datetime.timezone,
    decimal.Decimal,
    fractions.Fraction,
    uuid.UUID,
    enum.Enum,
    re.Pattern,
    range,
)


def _qualname(obj: Any) -> str:
    """The name of code of this project, without its module: a script run as
    ``__main__`` and the same file imported as a module share fingerprints."""
    return getattr(obj, "__qualname__", None) or type(obj).__qualname__
