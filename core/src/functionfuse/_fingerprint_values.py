"""Fingerprints of values: the literal arguments of nodes, encoded to bytes.

Atoms (numbers, strings, bytes...) are written by ``marshal``; lists, tuples, dicts and
sets are walked (a set's items sorted, a container met again written as a reference to
its first encoding), a node in them standing as its fingerprint. Any other value counts
by what its class's ``__functionfuse_fingerprint__`` says of it, or by the digest of its
pickle. A function or class met as a value counts by its code: the encoder of code
(``functionfuse._fingerprint_code``) says how.
"""

from __future__ import annotations

import collections
import functools
import io
import marshal
import pickle
import types
from collections.abc import Callable, Iterable, Mapping
from hashlib import blake2b
from typing import Any, Final

from functionfuse._decorator import _ClassFactory, _FunctionFactory
from functionfuse._nodes import FunctionNode, MethodNode, Node, NodeItem

__all__ = ["Unfingerprintable"]

#: The size of every digest, in bytes.
_SIZE: Final = 16
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


class _ValueEncoder:
    """Encodes literal values to bytes; a function or class among them is encoded by
    :meth:`_callable`, which the encoder of code (``_fingerprint_code._Encoder``)
    gives."""

    def literal(self, value: Any) -> bytes:
        """The encoding of a literal value (raises :class:`Unfingerprintable`)."""
        if type(value) in _ATOMS:
            return _dumps(value, 2)
        out: list[bytes] = []
        self._walk(value, out, _NO_PARENTS, {})
        return b"".join(out)

    def _walk(self, value: Any, out: list[bytes], fps: Mapping[Node, bytes], memo: _Memo) -> None:
        """Append ``value``'s encoding to ``out``; a node in it stands as what ``fps``
        gives for it (a blank; the lineage's ``_Collector`` notes the real fingerprint).

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
        """A function or class given as a value (see ``_fingerprint_code._Encoder``)."""
        raise NotImplementedError


class _Blank(dict):  # type: ignore[type-arg]
    """Fingerprints that are all empty (a parent reference counts only by position)."""

    def __missing__(self, key: Any) -> bytes:
        return b""


_NO_PARENTS: Final = _Blank()


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


def _qualified(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or ""
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if qualname is None:
        qualname = type(obj).__qualname__
    return f"{module}:{qualname}"


def _pickled(value: Any, encoder: _ValueEncoder) -> bytes:
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
    class as its code fingerprint or qualified name (see :meth:`_ValueEncoder._callable`)."""

    def __init__(self, file: Any, encoder: _ValueEncoder) -> None:
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
