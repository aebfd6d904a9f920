"""Fingerprints of code: the functions and classes that nodes call.

The code fingerprint of a function covers its bytecode, constants, defaults, closure
values, the module-level constants it reads and, recursively, the functions and classes
of its own module that it refers to; file names, line numbers and docstrings are left
out. A function or class of an installed package counts by its name
(``functionfuse._fingerprint_installed`` tells them apart). ``@workflow(version=...)``
replaces the code fingerprint with a version the user bumps by hand.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import fractions
import functools
import pathlib
import re
import types
import uuid
from typing import Any, Final

from functionfuse._decorator import _ClassFactory, _FunctionFactory, version_of
from functionfuse._fingerprint_installed import _installed
from functionfuse._fingerprint_values import (
    _ATOMS,
    _CODE,
    _EMPTY_CELL,
    _END,
    _NAMED,
    _TYPED,
    Unfingerprintable,
    _digest,
    _dumps,
    _qualified,
    _ValueEncoder,
    _wrapped_function,
)

__all__: list[str] = []


class _Encoder(_ValueEncoder):
    """Encodes literal values and code to bytes; one per run (code is cached by object:
    closures and module data may change between runs of a notebook). Caches are keyed
    by ``id()``, holding the object: callables need not be hashable."""

    def __init__(self) -> None:
        self._code: dict[int, tuple[Any, bytes]] = {}
        self._own: dict[int, tuple[Any, tuple[bytes, list[Any]]]] = {}
        self._in_progress: set[int] = set()

    def _callable(self, value: Any) -> bytes:
        """A function or class given as a value: by its code when it is code of this
        project, by its qualified name when it comes from an installed package."""
        target = _undecorated(value)
        if _installed(getattr(target, "__module__", None)):
            return _NAMED + _qualified(target).encode() + _END
        return _CODE + self.code(target)

    def code(self, obj: Any) -> bytes:
        """The code fingerprint of a decorated function or class (cached per run)."""
        found = self._code.get(id(obj))
        if found is not None:
            return found[1]
        if id(obj) in self._in_progress:
            # Reached again through a value of its own (a closure holding a list that
            # holds the function): a marker ends the cycle.
            return _digest(b"R" + _qualname(obj).encode())
        self._in_progress.add(id(obj))
        try:
            version = version_of(obj)
            if version is not None:
                # The version stands for the code; what a function was made with (its
                # defaults, its closure's values) still counts.
                fp = _digest(
                    b"V"
                    + _qualname(obj).encode()
                    + _END
                    + version.encode()
                    + _END
                    + self._made_with(obj)
                )
            else:
                # The object and, depth first, every function and class it reaches: each
                # one's own encoding, once (recursion and mutual recursion end here).
                seen: set[int] = set()
                parts: list[bytes] = []
                stack = [obj]
                while stack:
                    item = stack.pop()
                    if id(item) in seen:
                        continue
                    seen.add(id(item))
                    own, edges = self._own_code(item)
                    parts.append(own)
                    stack.extend(reversed(edges))
                fp = _digest(b"".join(parts))
        finally:
            self._in_progress.discard(id(obj))
        self._code[id(obj)] = (obj, fp)
        return fp

    def _made_with(self, obj: Any) -> bytes:
        """A function's defaults and closure values (empty for anything else)."""
        if not isinstance(obj, types.FunctionType):
            return b""
        out = [self._defaults(obj)]
        self._closure(obj, out, [])
        return b"".join(out)

    def _own_code(self, obj: Any) -> tuple[bytes, list[Any]]:
        """``obj``'s own encoding, and the functions and classes it refers to."""
        found = self._own.get(id(obj))
        if found is not None:
            return found[1]
        own: tuple[bytes, list[Any]]
        if isinstance(obj, type):
            own = self._class(obj)
        elif isinstance(obj, types.FunctionType):
            own = self._function(obj)
        elif isinstance(obj, functools.partial):
            own = (_TYPED + b"partial" + self.literal((obj.args, obj.keywords)), [obj.func])
        elif isinstance(obj, types.MethodType):
            own = (_TYPED + b"method" + self.literal(obj.__self__), [obj.__func__])
        elif isinstance(obj, (types.BuiltinFunctionType, types.MethodWrapperType)):
            own = (self.literal(obj), [])
        elif _wrapped_function(obj) is not None:
            own = (_TYPED + b"wrapped" + _qualified(type(obj)).encode(), [_wrapped_function(obj)])
        elif callable(obj):
            # A callable instance: its state (by pickle, its class by its code).
            own = (_TYPED + b"instance" + self.literal(obj), [])
        else:
            raise Unfingerprintable(
                f"{_qualified(obj)} is a {type(obj).__name__}, whose code cannot be fingerprinted"
            )
        self._own[id(obj)] = (obj, own)
        return own

    def _function(self, func: types.FunctionType) -> tuple[bytes, list[Any]]:
        out: list[bytes] = [b"F", func.__qualname__.encode(), _END]
        names: list[str] = []
        self._code_object(func.__code__, out, names, func.__doc__)
        edges: list[Any] = []
        out.append(self._defaults(func))
        self._closure(func, out, edges)
        # Module-level names the code reads: functions and classes of the same module are
        # followed, those of other modules count by their name, and constants (numbers,
        # strings, paths, tuples of them...) by their value; mutable data (a dict used
        # as a cache, a counter) is state, not code, and is left out like modules.
        module_globals = func.__globals__
        module = func.__module__
        for name in dict.fromkeys(names):
            value = module_globals.get(name, _ABSENT)
            if value is _ABSENT or isinstance(value, types.ModuleType):
                continue
            try:
                reference = self._reference(value, edges, module)
                if reference is None and _constant(value):
                    reference = self.literal(value)
            except Unfingerprintable:
                continue
            if reference is None and callable(value):
                reference = _NAMED + _qualified(value).encode() + _END
            if reference is not None:
                out += (name.encode(), _END, reference)
        return b"".join(out), edges

    def _defaults(self, func: types.FunctionType) -> bytes:
        try:
            return self.literal(func.__defaults__) + self.literal(func.__kwdefaults__)
        except Unfingerprintable as error:
            raise Unfingerprintable(f"a default argument of {func.__qualname__}: {error}") from None

    def _closure(self, func: types.FunctionType, out: list[bytes], edges: list[Any]) -> None:
        for variable, cell in zip(func.__code__.co_freevars, func.__closure__ or (), strict=True):
            try:
                value = cell.cell_contents
            except ValueError:  # not assigned yet
                out.append(_EMPTY_CELL)
                continue
            try:
                out.append(self._reference(value, edges, None) or self.literal(value))
            except Unfingerprintable as error:
                raise Unfingerprintable(
                    f"closure variable {variable!r} of {func.__qualname__}: {error}"
                ) from None

    def _reference(self, value: Any, edges: list[Any], module: str | None) -> bytes | None:
        """For a function or class that code refers to — also through a
        ``functools.partial``, an ``lru_cache`` or a ``cached_property`` — a marker,
        with the object added to ``edges``. ``module``: follow only that module's
        objects (None: any code of this project). ``None`` for anything else."""
        extra = b""
        target = value
        if isinstance(target, functools.partial):
            extra = _TYPED + b"partial" + self.literal((target.args, target.keywords))
            target = target.func
        target = _undecorated(target)
        if isinstance(target, functools.cached_property):
            target = target.func
        elif not isinstance(target, (types.FunctionType, type)):
            target = _wrapped_function(target)
        if not isinstance(target, (types.FunctionType, type)):
            return None
        owner = getattr(target, "__module__", None)
        if module is None:
            if _installed(owner):
                return _NAMED + _qualified(target).encode() + _END + extra
        elif owner != module:
            return None
        edges.append(target)
        return _CODE + _qualname(target).encode() + _END + extra

    def _code_object(
        self, code: types.CodeType, out: list[bytes], names: list[str], doc: object = None
    ) -> None:
        out += (
            code.co_code,
            # Where each try block starts and ends (3.11+): offsets, no line numbers.
            getattr(code, "co_exceptiontable", b""),
            _dumps(
                (
                    code.co_argcount,
                    code.co_posonlyargcount,
                    code.co_kwonlyargcount,
                    code.co_flags,
                    code.co_varnames,
                    code.co_freevars,
                    code.co_cellvars,
                    code.co_names,
                ),
                2,
            ),
        )
        names.extend(code.co_names)
        consts = code.co_consts
        if doc is not None and consts and consts[0] is doc:
            consts = consts[1:]  # the docstring: documenting code does not change it
            out.append(b"D")
        for const in consts:
            if type(const) is types.CodeType:
                out.append(_CODE)
                self._code_object(const, out, names)
            else:
                out.append(self.literal(const))
        out.append(_END)

    def _class(self, cls: type) -> tuple[bytes, list[Any]]:
        out: list[bytes] = [b"C", _qualname(cls).encode(), _END]
        edges: list[Any] = []
        for base in cls.__bases__:
            if base is not object:
                out.append(self._reference(base, edges, None) or _NAMED)
        for name in sorted(vars(cls)):
            if name in _CLASS_BOOKKEEPING:
                continue
            value = vars(cls)[name]
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                out += (name.encode(), _END, b"P")
                for accessor in (value.fget, value.fset, value.fdel):
                    if accessor is None:
                        out.append(b"-")
                    else:
                        out.append(
                            self._reference(accessor, edges, None)
                            or _NAMED + _qualified(accessor).encode() + _END
                        )
                continue
            try:
                reference = self._reference(value, edges, None)
                if reference is None and _constant(value):  # constants, not state
                    reference = self.literal(value)
            except Unfingerprintable:
                continue  # caches and registries kept on the class: not its code
            if reference is not None:
                out += (name.encode(), _END, reference)
        return b"".join(out), edges


def _undecorated(value: Any) -> Any:
    """The function or class behind a ``@workflow`` factory (else ``value``)."""
    if isinstance(value, _FunctionFactory):
        return value.func
    if isinstance(value, _ClassFactory):
        return value.cls
    return value


_ABSENT = object()
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
