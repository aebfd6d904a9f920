"""Fingerprints of code: the functions and classes that nodes call, across the project.

The code of a function covers its bytecode, constants, defaults and closure values and,
transitively, what it refers to in *any* module of the project: functions and classes
(all their methods, properties and class attributes), immutable module-level constants,
and what it reads of a module (``helpers.scale``, ``settings.SCALE``) or imports inside
its body. File names, line numbers and docstrings are left out. Code of an installed
distribution (``functionfuse._fingerprint_installed`` draws the line) is never walked: it
counts by its distribution's name and qualified name, and the distribution's version is
kept beside the code, so that a reason can say which one changed. ``@workflow(version=...)``
replaces the code fingerprint with a version the user bumps by hand.

Each function, class and constant reached is a *part*, named by its qualified name
(``helpers.scale``, ``Model.fit``; the node's own module left out) with a digest of its
own: a stored stamp keeps them, so that "code changed" can name the culprit.
"""

from __future__ import annotations

import functools
import types
from typing import Any

from functionfuse._decorator import version_of
from functionfuse._fingerprint_installed import _installed, distribution
from functionfuse._fingerprint_modules import Unimported, module_reads, reads_modules
from functionfuse._fingerprint_parts import (
    _CLASS_BOOKKEEPING,
    _CONSTANT_REF,
    PART_SIZE,
    CodeInfo,
    Dist,
    _Constant,
    _constant,
    _part_name,
    _qualname,
    _undecorated,
)
from functionfuse._fingerprint_values import (
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

#: What ``_Encoder._own_code`` says of one function, class or constant: its own encoding,
#: what it refers to (walked next), the distributions it names, its part digest.
_Own = tuple[bytes, list[Any], frozenset[Dist], bytes]


class _Encoder(_ValueEncoder):
    """Encodes literal values and code to bytes; one per run (code is cached by object:
    closures and module data may change between runs of a notebook). Caches are keyed
    by ``id()``, holding the object: callables need not be hashable.

    ``_met``, while an encoding is made, collects the installed distributions it names.
    """

    def __init__(self) -> None:
        self._code: dict[int, tuple[Any, CodeInfo]] = {}
        self._own: dict[Any, tuple[Any, _Own]] = {}
        self._in_progress: set[int] = set()
        self._met: set[Dist] | None = None

    # -- references to code -----------------------------------------------------------------

    def _callable(self, value: Any) -> bytes:
        """A function or class given as a value: by its code when it is code of this
        project, by its distribution and qualified name when it is installed."""
        target = _undecorated(value)
        module = getattr(target, "__module__", None)
        if _installed(module):
            return self._named(target, module)
        info = self.code(target)
        if info.dists and self._met is not None:
            self._met.update(info.dists)
        return _CODE + info.digest

    def _named(self, obj: Any, module: str | None) -> bytes:
        """Installed code: its distribution's name (noted, with its version, in
        ``_met``) and its qualified name."""
        dist = distribution(module)
        if dist is None:  # the standard library, a built-in module
            return _NAMED + _qualified(obj).encode() + _END
        if self._met is not None:
            self._met.add(dist)
        return _NAMED + dist[0].encode() + b" " + _qualified(obj).encode() + _END

    def _module_name(self, module: types.ModuleType | Unimported) -> bytes:
        if isinstance(module, Unimported):
            name, dist = module.name, module.dist
        else:
            name, dist = module.__name__, distribution(module.__name__)
        if dist is not None and self._met is not None:
            self._met.add(dist)
        return _NAMED + b"module " + name.encode() + _END

    # -- code fingerprints ----------------------------------------------------------------

    def code(self, obj: Any) -> CodeInfo:
        """The code fingerprint of a function or class (cached per run)."""
        found = self._code.get(id(obj))
        if found is not None:
            return found[1]
        if id(obj) in self._in_progress:
            # Reached again through a value of its own (a closure holding a list that
            # holds the function): a marker ends the cycle.
            return CodeInfo(_digest(b"R" + _qualname(obj).encode()), (), frozenset())
        self._in_progress.add(id(obj))
        met, self._met = self._met, None
        try:
            info = self._versioned(obj)
            if info is None:
                info = self._walk_code(obj)
        finally:
            self._in_progress.discard(id(obj))
            self._met = met
        self._code[id(obj)] = (obj, info)
        return info

    def _versioned(self, obj: Any) -> CodeInfo | None:
        """``@workflow(version=...)``: the version stands for the code; what a function
        was made with (its defaults, its closure's values) still counts."""
        version = version_of(obj)
        if version is None:
            return None
        self._met = set()
        made_with = self._made_with(obj)
        digest = _digest(
            b"V" + _qualname(obj).encode() + _END + version.encode() + _END + made_with
        )
        parts = ((_qualname(obj), digest[:PART_SIZE]),)
        return CodeInfo(digest, parts, frozenset(self._met))

    def _walk_code(self, obj: Any) -> CodeInfo:
        """The object and, depth first, every function, class and constant it reaches:
        each one's own encoding, once (recursion across modules ends here)."""
        home = getattr(obj, "__module__", None)
        seen: set[Any] = set()
        chunks: list[bytes] = []
        parts: list[tuple[str, bytes]] = []
        dists: set[Dist] = set()
        stack = [obj]
        while stack:
            item = stack.pop()
            key = item.key if type(item) is _Constant else id(item)
            if key in seen:
                continue
            seen.add(key)
            own, edges, named, part = self._own_code(item)
            chunks.append(own)
            parts.append((_part_name(item, home), part))
            dists |= named
            stack.extend(reversed(edges))
        return CodeInfo(_digest(b"".join(chunks)), tuple(parts), frozenset(dists))

    def _made_with(self, obj: Any) -> bytes:
        """A function's defaults and closure values (empty for anything else)."""
        if not isinstance(obj, types.FunctionType):
            return b""
        out = [self._defaults(obj)]
        self._closure(obj, out, [])
        return b"".join(out)

    def _own_code(self, obj: Any) -> _Own:
        """``obj``'s own encoding, what it refers to, the distributions it names."""
        key = obj.key if type(obj) is _Constant else id(obj)
        found = self._own.get(key)
        if found is not None:
            return found[1]
        met, self._met = self._met, set()
        try:
            encoding, edges = self._encode_own(obj)
            named = frozenset(self._met)
        finally:
            self._met = met
        own: _Own = (encoding, edges, named, _digest(encoding)[:PART_SIZE])
        self._own[key] = (obj, own)
        return own

    def _encode_own(self, obj: Any) -> tuple[bytes, list[Any]]:
        if type(obj) is _Constant:
            return b"K" + obj.name.encode() + _END + obj.value_encoding, []
        if isinstance(obj, type):
            return self._class(obj)
        if isinstance(obj, types.FunctionType):
            return self._function(obj)
        if isinstance(obj, functools.partial):
            return _TYPED + b"partial" + self.literal((obj.args, obj.keywords)), [obj.func]
        if isinstance(obj, types.MethodType):
            return _TYPED + b"method" + self.literal(obj.__self__), [obj.__func__]
        if isinstance(obj, (types.BuiltinFunctionType, types.MethodWrapperType)):
            return self.literal(obj), []
        wrapped = _wrapped_function(obj)
        if wrapped is not None:
            return _TYPED + b"wrapped" + _qualified(type(obj)).encode(), [wrapped]
        if callable(obj):
            # A callable instance: its state (by pickle, its class by its code).
            return _TYPED + b"instance" + self.literal(obj), []
        raise Unfingerprintable(
            f"{_qualified(obj)} is a {type(obj).__name__}, whose code cannot be fingerprinted"
        )

    def _function(self, func: types.FunctionType) -> tuple[bytes, list[Any]]:
        out: list[bytes] = [b"F", func.__qualname__.encode(), _END]
        names: list[str] = []
        codes: list[types.CodeType] = []
        self._code_object(func.__code__, out, names, codes, func.__doc__)
        edges: list[Any] = []
        out.append(self._defaults(func))
        self._closure(func, out, edges)
        # Module-level names the code reads: functions and classes of the project are
        # followed, installed ones count by distribution and name, constants (numbers,
        # strings, paths, tuples of them...) are parts of their own; mutable data (a
        # dict used as a cache, a counter) is state, not code, and is left out.
        module_globals = func.__globals__
        module = func.__module__
        for name in dict.fromkeys(names):
            value = module_globals.get(name, _ABSENT)
            if value is _ABSENT:
                continue
            reference = self._global(value, edges, module, name)
            if reference is not None:
                out += (name.encode(), _END, reference)
        if reads_modules(codes, names, module_globals):
            # What it takes from project modules (helpers.scale) and imports in its body.
            out.append(b"M")
            reads = {
                text: (value, home) for text, value, home in module_reads(codes, module_globals)
            }
            for text, (value, home) in reads.items():
                reference = self._global(value, edges, home, text)
                if reference is not None:
                    out += (text.encode(), _END, reference)
        return b"".join(out), edges

    def _global(self, value: Any, edges: list[Any], module: str | None, name: str) -> bytes | None:
        """How code refers to a value it reads from a module: code (followed), a
        constant (a part), installed code or a module (by name); ``None`` for state."""
        if isinstance(value, (types.ModuleType, Unimported)):
            return self._module_name(value)
        try:
            reference = self._reference(value, edges)
            if reference is None and _constant(value):
                edges.append(_Constant(module, name.rpartition(".")[2], self.literal(value)))
                return _CONSTANT_REF
        except Unfingerprintable:
            return None
        if reference is None and callable(value):
            reference = self._named(value, getattr(value, "__module__", None))
        return reference

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
                out.append(self._reference(value, edges) or self.literal(value))
            except Unfingerprintable as error:
                raise Unfingerprintable(
                    f"closure variable {variable!r} of {func.__qualname__}: {error}"
                ) from None

    def _reference(self, value: Any, edges: list[Any]) -> bytes | None:
        """For a function or class that code refers to — also through a
        ``functools.partial``, an ``lru_cache`` or a ``cached_property`` — a marker,
        with the object added to ``edges`` when it is the project's (installed code
        counts by name). ``None`` for anything else."""
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
        if _installed(owner):
            return self._named(target, owner) + extra
        edges.append(target)
        return _CODE + _qualname(target).encode() + _END + extra

    def _code_object(
        self,
        code: types.CodeType,
        out: list[bytes],
        names: list[str],
        codes: list[types.CodeType],
        doc: object = None,
    ) -> None:
        codes.append(code)
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
                self._code_object(const, out, names, codes)
            else:
                out.append(self.literal(const))
        out.append(_END)

    def _class(self, cls: type) -> tuple[bytes, list[Any]]:
        out: list[bytes] = [b"C", _qualname(cls).encode(), _END]
        edges: list[Any] = []
        for base in cls.__bases__:
            if base is not object:
                out.append(self._reference(base, edges) or _NAMED)
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
                            self._reference(accessor, edges)
                            or self._named(accessor, getattr(accessor, "__module__", None))
                        )
                continue
            try:
                reference = self._reference(value, edges)
                if reference is None and _constant(value):  # constants, not state
                    reference = self.literal(value)
            except Unfingerprintable:
                continue  # caches and registries kept on the class: not its code
            if reference is not None:
                out += (name.encode(), _END, reference)
        return b"".join(out), edges


_ABSENT = object()
