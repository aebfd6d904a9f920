"""Fingerprints: what a node's result depends on, as a 16-byte digest, Merkle-style.

A node's fingerprint hashes the code it calls, its literal arguments, and the
fingerprints of its parents together with the items it takes from them (``node[0]``) —
never a parent's value, so nothing big is hashed twice and a whole graph costs one small
hash per node. The code fingerprint of a function covers its bytecode, constants,
defaults, closure values, the module-level constants it reads and, recursively, the
functions and classes of its own module that it refers to; file names, line numbers and
docstrings are left out, so moving code around or editing a docstring does not make
results stale (adding or removing one does: the bytecode changes with it).
``@workflow(version=...)`` replaces the code fingerprint with a version the user bumps
by hand.

What is not seen: code of installed packages and the standard library (a function of
``numpy`` counts by its name), functions of other modules of the project called by name,
mutable module-level data (a dict used as a cache is state, not code), and what is read
at run time (files, databases, environment variables). A value that cannot be
fingerprinted at all (a lock, a generator, an unpicklable object) makes its node
*unknown*: it runs on every run, as do its descendants.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import enum
import fractions
import functools
import io
import marshal
import os
import pathlib
import pickle
import re
import sys
import sysconfig
import types
import uuid
from collections.abc import Callable, Iterable, Mapping
from hashlib import blake2b
from typing import Any, Final

from functionfuse._nodes import (
    _DIRECT,
    FunctionNode,
    MethodNode,
    Node,
    NodeItem,
    _ClassFactory,
    _FunctionFactory,
    version_of,
)

__all__ = ["FORMAT", "Lineage", "Unfingerprintable", "describe_stamp"]

#: The first bytes of every fingerprint stamp we store; a different prefix (an older or
#: newer scheme) never matches, so changing the scheme makes results stale, not wrong.
FORMAT: Final = b"ff1:"
_SIZE: Final = 16
_STAMP_SIZE: Final = len(FORMAT) + 3 * _SIZE  # then the parents' (see Lineage.stamp)
#: A stamp names its node's parents by the first bytes of their fingerprints, for up to
#: this many parents (a wide fan-in's results would otherwise carry kilobytes).
_PARENTS_KEPT: Final = 32
_PARENT_PREFIX: Final = 4

_dumps = marshal.dumps
# Exact types that marshal (format 2: no back-references, so no dependence on object
# identity) writes deterministically and unambiguously, type included.
_ATOMS: Final = frozenset({int, float, complex, bool, str, bytes, type(None), type(Ellipsis)})

# Tags of the encoding; marshal never starts an item with a byte below 0x20.
_REF = b"\x01"
_ITEM = b"\x02"
_LIST = b"\x03"
_TUPLE = b"\x04"
_DICT = b"\x05"
_SET = b"\x06"
_CODE = b"\x07"
_NAMED = b"\x08"
_PICKLED = b"\x09"
_CUSTOM = b"\x0a"
_TYPED = b"\x0b"
_END = b"\x0c"
_EMPTY_CELL = b"\x0d"
_AGAIN = b"\x0e"

#: The containers met so far in one encoding, by id: their rank, and the container itself
#: (held, so that no other object takes its id while the encoding is made).
_Memo = dict[int, tuple[int, Any]]


def _digest(data: bytes) -> bytes:
    # blake2b-512 cut to 16 bytes: passing digest_size costs more than the cut (~90 ns
    # against ~40 ns per node), and the cut is as strong as any 128-bit digest.
    return blake2b(data).digest()[:_SIZE]


class Unfingerprintable(Exception):
    """A value or a piece of code that cannot be fingerprinted; says what and where."""


class _Upstream(Exception):
    """A parent is unknown, so this node is too (internal)."""

    def __init__(self, parent: Node) -> None:
        self.parent = parent


# -- values --------------------------------------------------------------------------------


class _Encoder:
    """Encodes literal values and code to bytes; one per run (code is cached by object:
    closures and module data may change between runs of a notebook). Caches are keyed
    by ``id()``, holding the object: callables need not be hashable."""

    def __init__(self) -> None:
        self._code: dict[int, tuple[Any, bytes]] = {}
        self._own: dict[int, tuple[Any, tuple[bytes, list[Any]]]] = {}
        self._in_progress: set[int] = set()

    # -- literal values ----------------------------------------------------------------

    def literal(self, value: Any) -> bytes:
        """The encoding of a literal value (raises :class:`Unfingerprintable`)."""
        if type(value) in _ATOMS:
            return _dumps(value, 2)
        out: list[bytes] = []
        self._walk(value, out, _NO_PARENTS, {})
        return b"".join(out)

    def _walk(self, value: Any, out: list[bytes], fps: Mapping[Node, bytes], memo: _Memo) -> None:
        """Append ``value``'s encoding to ``out``; a node in it stands as what ``fps``
        gives for it (a blank; :class:`_Collector` notes the real fingerprint).

        A container met before in this encoding (``memo``) is written as a reference to
        its first encoding: a shared one costs once, one that holds itself ends."""
        kind = type(value)
        if kind in _ATOMS:
            out.append(_dumps(value, 2))
        elif kind is FunctionNode or kind is MethodNode:
            out += (_REF, fps[value])
        elif kind is NodeItem:
            out += (_ITEM, fps[value.node])
            # Its own encoding: node[0] made twice or once and used twice is the same.
            self._walk(value.indices, out, fps, {})
        elif kind is list or kind is tuple:
            if _met(value, out, memo):
                return
            out += (_LIST if kind is list else _TUPLE, _dumps(len(value), 2))
            for item in value:
                self._walk(item, out, fps, memo)
        elif kind is dict:
            if not _met(value, out, memo):
                self._items(value.items(), out, fps, memo)
        elif kind is set or kind is frozenset:
            if not _met(value, out, memo):
                self._set(value, out)
        elif isinstance(value, (list, tuple, dict, set, frozenset)):
            if not _met(value, out, memo):
                self._subclass(value, out, fps, memo)
        elif isinstance(value, (types.FunctionType, type, _FunctionFactory, _ClassFactory)):
            out.append(self._callable(value))
        elif isinstance(value, types.ModuleType):
            out += (_NAMED, value.__name__.encode(), _END)
        elif isinstance(value, (types.BuiltinFunctionType, types.MethodWrapperType)):
            out += (_NAMED, _qualified(value).encode(), _END)
            bound = getattr(value, "__self__", None)
            if bound is not None and not isinstance(bound, types.ModuleType):
                # {"k": 1}.get, Random(1).random: what it is bound to counts too.
                out.append(_TYPED + b"bound")
                self._walk(bound, out, fps, memo)
        elif isinstance(value, types.MethodType):
            out += (_TYPED + b"method", self._callable(value.__func__))
            self._walk(value.__self__, out, fps, memo)
        elif isinstance(value, functools.partial):
            out.append(_TYPED + b"partial")
            self._walk((value.func, value.args, value.keywords), out, fps, memo)
        elif _wrapped_function(value) is not None:
            # A functools.lru_cache / cache wrapper: the function it wraps.
            out += (_TYPED + b"wrapped", _qualified(kind).encode(), _END)
            out.append(self._callable(_wrapped_function(value)))
        else:
            custom = getattr(kind, "__functionfuse_fingerprint__", None)
            if custom is not None:
                out += (_CUSTOM, self._callable(kind), _dumps(_custom(custom, value, kind), 2))
            else:
                out += (_PICKLED, _pickled(value, self))

    def _items(
        self,
        items: Iterable[tuple[Any, Any]],
        out: list[bytes],
        fps: Mapping[Node, bytes],
        memo: _Memo,
    ) -> None:
        pairs = list(items)
        out += (_DICT, _dumps(len(pairs), 2))
        for key, item in pairs:
            self._walk(key, out, fps, memo)
            self._walk(item, out, fps, memo)

    def _set(self, value: Any, out: list[bytes]) -> None:
        # Iteration order follows hashes, which vary between processes: sort.
        items = sorted(self.literal(item) for item in value)
        out += (_SET, _dumps(isinstance(value, set), 2), _dumps(len(items), 2), *items)

    def _subclass(
        self, value: Any, out: list[bytes], fps: Mapping[Node, bytes], memo: _Memo
    ) -> None:
        """A container subclass (a namedtuple, an OrderedDict, a defaultdict, a Counter,
        ...): its class, its items (which may hold nodes) and whatever else it holds."""
        out += (_TYPED, self._callable(type(value)))
        if isinstance(value, (set, frozenset)):
            self._set(value, out)
        elif isinstance(value, dict):
            items: Iterable[tuple[Any, Any]] = value.items()
            if isinstance(value, collections.Counter):
                # A multiset: its order is the order its items were first counted in
                # (a set's, often), which says nothing about it.
                items = sorted(items, key=lambda pair: self.literal(pair[0]))
            self._items(items, out, fps, memo)
            factory = getattr(value, "default_factory", None)
            if factory is not None:
                self._walk(factory, out, fps, memo)
        else:  # its items as a list's
            items = list(value)
            out += (_LIST, _dumps(len(items), 2))
            for item in items:
                self._walk(item, out, fps, memo)
        state = getattr(value, "__dict__", None)
        if state:
            self._items(sorted(state.items()), out, fps, memo)

    def _callable(self, value: Any) -> bytes:
        """A function or class given as a value: by its code when it is code of this
        project, by its qualified name when it comes from an installed package."""
        target = _undecorated(value)
        if _installed(getattr(target, "__module__", None)):
            return _NAMED + _qualified(target).encode() + _END
        return _CODE + self.code(target)

    # -- code ----------------------------------------------------------------------------

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


def _met(value: Any, out: list[bytes], memo: _Memo) -> bool:
    """True, with a reference to it written, for a container already in ``memo`` (this
    encoding's); else False, and ``value`` noted there. Refers by rank of first
    encoding, so the same structure always writes the same bytes; a shared container
    differs from equal copies (the result is stale, never wrong). The empty tuple and
    frozenset are left out: the interpreter shares them, whatever the user wrote."""
    seen = memo.get(id(value))
    if seen is not None:
        out += (_AGAIN, _dumps(seen[0], 2))
        return True
    if value or not isinstance(value, (tuple, frozenset)):
        memo[id(value)] = (len(memo), value)
    return False


def _undecorated(value: Any) -> Any:
    """The function or class behind a ``@workflow`` factory (else ``value``)."""
    if isinstance(value, _FunctionFactory):
        return value.func
    if isinstance(value, _ClassFactory):
        return value.cls
    return value


def _wrapped_function(value: Any) -> Any:
    """The function a ``functools.lru_cache``/``cache`` (or similar C) wrapper wraps."""
    if isinstance(value, (types.FunctionType, type)) or not callable(value):
        return None
    try:
        wrapped = getattr(value, "__wrapped__", None)
    except Exception:
        return None
    return wrapped if isinstance(wrapped, (types.FunctionType, type)) else None


def _custom(method: Callable[[Any], object], value: Any, kind: type) -> bytes:
    """What ``value.__functionfuse_fingerprint__()`` says, as bytes."""
    try:
        data = method(value)
    except Exception as error:
        raise Unfingerprintable(
            f"{_qualified(kind)}.__functionfuse_fingerprint__ raised "
            f"{type(error).__name__}: {error}"
        ) from None
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if not isinstance(data, bytes):
        raise Unfingerprintable(
            f"{_qualified(kind)}.__functionfuse_fingerprint__ returned "
            f"{type(data).__name__}, not bytes or str"
        )
    return data


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


def _qualified(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or ""
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if qualname is None:
        qualname = type(obj).__qualname__
    return f"{module}:{qualname}"


def _qualname(obj: Any) -> str:
    """The name of code of this project, without its module: a script run as
    ``__main__`` and the same file imported as a module share fingerprints."""
    return getattr(obj, "__qualname__", None) or type(obj).__qualname__


def _pickled(value: Any, encoder: _Encoder) -> bytes:
    """The digest of ``value``'s pickle, written straight into the hash."""
    hasher = blake2b()
    try:
        _Pickler(_HashWriter(hasher), encoder).dump(value)
    except Exception as error:
        raise Unfingerprintable(
            f"{type(value).__qualname__} value cannot be fingerprinted ({type(error).__name__}: "
            f"{error})"
        ) from None
    return hasher.digest()[:_SIZE]


class _Pickler(pickle.Pickler):
    """A pickler that writes each set and frozenset as its encoding, whose items are
    sorted (pickle writes them in iteration order, which follows string hashes and so
    changes from one process to the next: ``PYTHONHASHSEED``), and each function and
    class as its code fingerprint or qualified name (see ``_Encoder._callable``)."""

    def __init__(self, file: Any, encoder: _Encoder) -> None:
        super().__init__(file, protocol=5)
        self.encoder = encoder

    def persistent_id(self, obj: Any) -> bytes | None:
        if isinstance(obj, (set, frozenset)):
            return self.encoder.literal(obj)
        if isinstance(obj, (types.FunctionType, type)):
            # Pickle refers to functions and classes by name: a class of this project
            # (the value's own, say) counts by its code instead.
            return self.encoder._callable(obj)
        wrapped = _wrapped_function(obj)
        if wrapped is not None:  # an lru_cache of this project: the function it wraps
            return self.encoder._callable(wrapped)
        return None


class _HashWriter(io.RawIOBase):
    """A file whose writes go to a hash: pickles of any size without a copy in memory."""

    def __init__(self, hasher: Any) -> None:
        self.hasher = hasher

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if type(data) is pickle.PickleBuffer:
            # Protocol 5 hands large buffers (a numpy array's data) over as they are.
            data = data.raw()
        self.hasher.update(data)
        return memoryview(data).nbytes


_INSTALLED_ROOTS: tuple[str, ...] | None = None
_installed_modules: dict[str, bool] = {}


def _installed(module_name: str | None) -> bool:
    """True for a module of the standard library or an installed package (or a built-in
    one): code outside this project, which is counted by name, not walked. A module
    that is not in ``sys.modules`` (code ``exec``'d under a name of its own, a file
    loaded by hand) is taken for the project's, and not remembered."""
    if module_name is None:
        return True
    found = _installed_modules.get(module_name)
    if found is not None:
        return found
    global _INSTALLED_ROOTS
    if _INSTALLED_ROOTS is None:
        paths = sysconfig.get_paths()
        roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
        _INSTALLED_ROOTS = tuple(sorted(roots))
    module = sys.modules.get(module_name)
    if module is None:
        return module_name in sys.builtin_module_names
    file = getattr(module, "__file__", None)
    if module_name == "__main__":
        found = False
    elif file is None:  # built in, frozen, or made by hand (the project's)
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None)
        found = module_name in sys.builtin_module_names or origin in ("built-in", "frozen")
    else:
        path = os.path.abspath(file)
        # A folder, not a string prefix: <root>-projects/ is not under <root>.
        found = any(
            path.startswith(os.path.join(root, "")) or path == root for root in _INSTALLED_ROOTS
        )
    _installed_modules[module_name] = found
    return found


# -- nodes -----------------------------------------------------------------------------------


class Lineage:
    """The fingerprints of every node of a graph, computed once for a run.

    ``fingerprints[node]`` is the node's 16-byte digest, or ``None`` when it is
    unknown: something it depends on cannot be fingerprinted; :meth:`unknown_reason`
    says what. :meth:`stamp` is what is saved with a node's result and :meth:`explain`
    compares a saved stamp with the node as it is now.
    """

    def __init__(self, order: Iterable[Node]) -> None:
        self._encoder = encoder = _Encoder()
        self.fingerprints: dict[Node, bytes | None] = {}
        # Why a node is unknown: its own problem, or the node upstream that has one.
        self._problems: dict[Node, str | Node] = {}
        fingerprints = self.fingerprints
        # By id(): a function's or class's code fingerprint, or why it has none.
        codes: dict[int, bytes | str] = {}
        # The arguments' digests of the nodes whose arguments are more than small
        # literals, taken now: a node may change its arguments as it runs.
        self._arguments_digests: dict[Node, bytes] = {}
        # The loop below runs once per node: its names are local, and the code of the
        # previous node's function is at hand (a chain or a fan-in repeats one function).
        atoms_only = _ATOMS.issuperset
        atoms = _ATOMS
        hash_ = blake2b
        dumps = _dumps
        direct = _DIRECT
        size = _SIZE
        ref = _REF
        function_node = FunctionNode
        method_node = MethodNode
        last: Any = _ABSENT
        code: bytes | str = b""
        code_d = code_a = code_g = b""
        for node in order:
            kind = type(node)
            what = node.func if kind is function_node else _class_of(node)  # type: ignore[attr-defined]
            if what is not last:
                last = what
                found = codes.get(id(what))
                if found is None:
                    found = codes[id(what)] = self._code(what)
                code = found
                if isinstance(code, bytes):
                    code_d, code_a, code_g = code + b"D", code + b"A", code + b"G"
            if kind is function_node and type(code) is bytes and node.kwargs is None:
                # The common cases inlined (see _arguments, which they must agree with):
                # a chain or fan-in of nodes, or small literals only.
                deps = node._deps
                args = node.args
                if deps is direct:
                    if len(args) == 1:
                        parent = fingerprints[args[0]]
                        if parent is not None:
                            fingerprints[node] = hash_(code_d + parent).digest()[:size]
                            continue
                elif deps is None:
                    if atoms_only(map(type, args)):
                        fingerprints[node] = hash_(code_a + dumps(args, 2)).digest()[:size]
                        continue
                else:  # nodes and small literals side by side: step(previous, 0.1)
                    parts = [code_g]
                    for value in args:
                        value_kind = type(value)
                        if value_kind in atoms:
                            parts.append(dumps(value, 2))
                        elif value_kind is function_node or value_kind is method_node:
                            parent = fingerprints[value]
                            if parent is None:
                                break
                            parts += (ref, parent)
                        else:
                            break
                    else:
                        fingerprints[node] = hash_(b"".join(parts)).digest()[:size]
                        continue
            try:
                if not isinstance(code, bytes):
                    raise Unfingerprintable(code)
                head = code  # (``code`` stays the function's, for the next node)
                if kind is MethodNode:
                    first = fingerprints[node.parents[0]]
                    if first is None:
                        raise _Upstream(node.parents[0])
                    head = code + node.method.encode() + _END + first  # type: ignore[attr-defined]
                # One encoding of the arguments, each parent standing as a blank; then
                # the parents' fingerprints, in the order the encoding refers to them.
                parents = _Collector(fingerprints)
                arguments = _arguments(node, encoder, parents)
                self._arguments_digests[node] = _digest(arguments)
                fingerprints[node] = _digest(head + arguments + b"".join(parents.found))
            except _Upstream as upstream:
                fingerprints[node] = None
                # The node whose own code or argument is the cause (a parent that is
                # unknown itself already points at it): one step, however long the chain.
                origin = self._problems[upstream.parent]
                self._problems[node] = origin if isinstance(origin, Node) else upstream.parent
            except Unfingerprintable as error:
                fingerprints[node] = None
                self._problems[node] = str(error)
            except RecursionError:
                fingerprints[node] = None
                self._problems[node] = "an argument is nested too deeply"
            except Exception as error:  # raised by a user's object: not fingerprintable
                fingerprints[node] = None
                self._problems[node] = f"{type(error).__name__}: {error}"
        self._codes = codes

    def _code(self, what: Any) -> bytes | str:
        """The code fingerprint of a function or class, or why it has none."""
        try:
            return self._encoder.code(what)
        except Unfingerprintable as error:
            return str(error)
        except RecursionError:
            return f"{_qualified(what)} is nested too deeply"
        except Exception as error:  # raised by a user's object
            return f"{_qualified(what)}: {type(error).__name__}: {error}"

    def unknown_reason(self, node: Node, name_of: Callable[[Node], str]) -> str:
        """Why ``node`` has no fingerprint (so runs on every run)."""
        problem = self._problems[node]
        if isinstance(problem, Node):
            return f"upstream node {name_of(problem)!r} cannot be fingerprinted"
        return f"cannot be fingerprinted: {problem}"

    def stamp(self, node: Node) -> bytes | None:
        """What to save with the node's result: :data:`FORMAT`, the node's fingerprint,
        its code's and its arguments' digests, then the count and the first bytes of its
        parents' fingerprints (all say what changed when it no longer matches; the
        parents' are left out, count 255, beyond a few dozen). ``None`` for an unknown
        node."""
        fingerprint = self.fingerprints[node]
        if fingerprint is None:
            return None
        parents = node.parents
        if len(parents) > _PARENTS_KEPT:
            kept = b"\xff"
        else:
            fingerprints = self.fingerprints
            kept = bytes([len(parents)]) + b"".join(
                fingerprints[parent][:_PARENT_PREFIX]  # type: ignore[index]
                for parent in parents
            )
        return FORMAT + fingerprint + self._code_of(node) + self._arguments_digest(node) + kept

    def matches(self, node: Node, stamp: bytes | None) -> bool:
        """True when a stored result with ``stamp`` is this node's result as it is now."""
        fingerprint = self.fingerprints[node]
        return (
            fingerprint is not None
            and _ours(stamp)
            and stamp[len(FORMAT) : len(FORMAT) + _SIZE] == fingerprint  # type: ignore[index]
        )

    def explain(self, node: Node, stamp: bytes | None) -> list[str]:
        """What differs between a stored result's stamp and the node now: ``"code
        changed"``, ``"argument changed"``; empty when neither (its upstream did)."""
        if not _ours(stamp):
            return ["stored without a fingerprint"]
        assert stamp is not None
        reasons = []
        start = len(FORMAT) + _SIZE
        if stamp[start : start + _SIZE] != self._code_of(node):
            reasons.append("code changed")
        if stamp[start + _SIZE : _STAMP_SIZE] != self._arguments_digest(node):
            reasons.append("argument changed")
        return reasons

    def changed_parents(self, node: Node, stamp: bytes | None) -> list[Node] | None:
        """The parents whose fingerprints differ from when the stored result was made
        (``None``: the stamp does not say)."""
        if not _ours(stamp):
            return None
        assert stamp is not None
        parents = node.parents
        kept = stamp[_STAMP_SIZE:]
        if kept[0] != len(parents):  # more than were kept, or another node's
            return None
        changed = []
        for i, parent in enumerate(parents):
            fingerprint = self.fingerprints[parent]
            start = 1 + i * _PARENT_PREFIX
            if (
                fingerprint is None
                or kept[start : start + _PARENT_PREFIX] != fingerprint[:_PARENT_PREFIX]
            ):
                changed.append(parent)
        return changed

    def _code_of(self, node: Node) -> bytes:
        code = self._codes[id(_code_owner(node))]
        assert isinstance(code, bytes), "only known nodes are stamped or explained"
        if isinstance(node, MethodNode):  # calling another method is a code change
            return _digest(code + node.method.encode())
        return code

    def _arguments_digest(self, node: Node) -> bytes:
        # The arguments with each reference to a parent standing for "a parent's value"
        # (its fingerprint left out): a change there is an upstream change. Taken when
        # the fingerprints were, unless they are small literals (immutable).
        found = self._arguments_digests.get(node)
        if found is None:
            found = _digest(_arguments(node, self._encoder, _NO_PARENTS))
        return found


class _Blank(dict):  # type: ignore[type-arg]
    """Fingerprints that are all empty (a parent reference counts only by position)."""

    def __missing__(self, key: Any) -> bytes:
        return b""


_NO_PARENTS: Final = _Blank()


class _Collector(dict):  # type: ignore[type-arg]
    """Fingerprints that read as blanks, noting the real ones in the order asked for
    (an unknown one raises :class:`_Upstream`)."""

    def __init__(self, fingerprints: dict[Node, bytes | None]) -> None:
        super().__init__()
        self.fingerprints = fingerprints
        self.found: list[bytes] = []

    def __getitem__(self, node: Node) -> bytes:
        fingerprint = self.fingerprints[node]
        if fingerprint is None:
            raise _Upstream(node)
        self.found.append(fingerprint)
        return b""


def _class_of(node: Node) -> type:
    if isinstance(node, MethodNode):
        return node.instance.cls
    return node.cls  # type: ignore[attr-defined, no-any-return]


def _code_owner(node: Node) -> Any:
    """What a node's code fingerprint is the fingerprint of: its function or class."""
    return node.func if isinstance(node, FunctionNode) else _class_of(node)


def _arguments(node: Node, encoder: _Encoder, fingerprints: Mapping[Node, bytes]) -> bytes:
    """The encoding of ``node``'s arguments, each parent standing as what
    ``fingerprints`` gives for it: a blank (:data:`_NO_PARENTS`, :class:`_Collector`)."""
    deps = node._deps
    args = node.args
    kwargs = node.kwargs
    if deps is None:
        if _ATOMS.issuperset(map(type, args)):
            body = b"A" + _dumps(args, 2)
        else:
            body = b"W" + encoder.literal(args)
    elif deps is _DIRECT:
        body = b"D" + b"".join([fingerprints[parent] for parent in args])
    else:
        # Nodes among literals, in containers, items, keywords: argument by argument.
        out: list[bytes] = [b"G"]
        walk = encoder._walk
        memo: _Memo = {}
        for value in args:
            kind = type(value)
            if kind in _ATOMS:
                out.append(_dumps(value, 2))
            elif kind is FunctionNode or kind is MethodNode:  # _walk's case, inlined
                out += (_REF, fingerprints[value])
            else:
                walk(value, out, fingerprints, memo)
        if kwargs:
            out.append(b"K")
            for key, value in kwargs.items():
                out.append(_dumps(key, 2))
                walk(value, out, fingerprints, memo)
        return b"".join(out)
    if kwargs:
        if _ATOMS.issuperset(map(type, kwargs.values())):
            return body + b"K" + _dumps(kwargs, 2)
        return body + b"k" + encoder.literal(kwargs)
    return body


def _ours(stamp: bytes | None) -> bool:
    """True for a whole stamp made by :meth:`Lineage.stamp` (of this format)."""
    if stamp is None or len(stamp) <= _STAMP_SIZE or not stamp.startswith(FORMAT):
        return False
    count = stamp[_STAMP_SIZE]
    expected = 0 if count == 0xFF else count * _PARENT_PREFIX
    return len(stamp) == _STAMP_SIZE + 1 + expected


def describe_stamp(stamp: bytes) -> str:
    """A stored stamp for people: the node's fingerprint, then what it was made of."""
    if not _ours(stamp):
        return stamp.hex()
    start = len(FORMAT)
    node, code, arguments = (
        stamp[start + i * _SIZE : start + (i + 1) * _SIZE].hex() for i in range(3)
    )
    return f"{node} (code {code}, arguments {arguments})"
