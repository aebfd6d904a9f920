"""Persistent serializers: store chosen objects of a result in files beside it.

A serializer handles objects of exactly one type (``type(obj) is serializer.type``;
subclasses are pickled as usual). When a result is saved, each such object that the
serializer ``accepts`` is written with ``save`` to its own file beside the result and
the pickle holds only a reference to it (name, file name, SHA-256); reading the
result checks the file's SHA-256, then calls ``load``. Files are named by the SHA-256
of their content, under ``<workflow>/.side/<task>/``, and removed with the task.
"""

from __future__ import annotations

import re
import warnings
from typing import IO, Any, Protocol, final, runtime_checkable

from functionfuse import ConfigurationError

__all__ = ["BUILTIN_LOADERS", "NumpySerializer", "PersistentSerializer", "check_serializer"]


@runtime_checkable
class PersistentSerializer(Protocol):
    """What :meth:`FileStorage.register_persistent_serializers` takes.

    ``name`` is written into every result that uses the serializer and looked up when
    the result is read, so keep it stable (it must match ``[A-Za-z0-9._-]+``).
    ``suffix`` ends the side files' names (e.g. ``".npy"``). ``save`` writes ``obj``
    to a binary file; ``load`` reads it back. Both receive an already open file,
    which the storage writes atomically and checks before ``load`` sees it.
    Serializers are pickled together with the storage (e.g. to Ray workers).
    """

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> type[Any]: ...

    @property
    def suffix(self) -> str: ...

    def accepts(self, obj: Any) -> bool: ...

    def save(self, file: IO[bytes], obj: Any) -> None: ...

    def load(self, file: IO[bytes]) -> Any: ...


_NAME = re.compile(r"[A-Za-z0-9._-]+")
_SUFFIX = re.compile(r"(\.[A-Za-z0-9_-]+)*")


def check_serializer(serializer: object) -> PersistentSerializer:
    """Return ``serializer`` if it fits the protocol, else raise naming what is missing."""
    missing = [
        attr
        for attr in ("name", "type", "suffix", "accepts", "save", "load")
        if not hasattr(serializer, attr)
    ]
    if missing:
        raise ConfigurationError(
            f"{serializer!r} is not a persistent serializer: it has no "
            f"{', '.join(missing)} (see functionfuse_fs.PersistentSerializer)"
        )
    assert isinstance(serializer, PersistentSerializer)
    if not isinstance(serializer.name, str) or not _NAME.fullmatch(serializer.name):
        raise ConfigurationError(
            f"persistent serializer {serializer!r} has name {serializer.name!r}; "
            "use letters, digits, '.', '_' and '-' only"
        )
    if not isinstance(serializer.suffix, str) or not _SUFFIX.fullmatch(serializer.suffix):
        raise ConfigurationError(
            f"persistent serializer {serializer.name!r} has suffix {serializer.suffix!r}; "
            "use '' or something like '.npy'"
        )
    if not isinstance(serializer.type, type):
        raise ConfigurationError(
            f"persistent serializer {serializer.name!r}: 'type' must be a class, "
            f"got {serializer.type!r}"
        )
    return serializer


@final
class NumpySerializer:
    """Deprecated: stores numpy arrays as ``.npy`` files beside the result.

    Without it, arrays are written straight from their memory and read back into
    place, at the speed of ``np.save`` / ``np.load``; with it, each array is copied
    into a ``.npy`` file in memory, hashed, and written to a file of its own (several
    times slower, with a copy of every array in memory). Making one warns
    (``DeprecationWarning``). Results it stored stay readable, with or without it
    registered.

    Arrays of object dtype (which ``.npy`` can only hold as a pickle) and arrays
    smaller than ``min_bytes`` stay in the result's pickle. numpy is imported when the
    serializer is registered, not before.
    """

    __slots__ = ("min_bytes",)

    name = "numpy.npy"
    suffix = ".npy"

    def __init__(self, min_bytes: int = 0) -> None:
        warnings.warn(
            "NumpySerializer is deprecated and will be removed: numpy arrays are saved "
            "and read at disk speed without it, several times faster. Stop registering "
            "it; the results it stored stay readable without it.",
            DeprecationWarning,
            stacklevel=2,
        )
        self.min_bytes = min_bytes

    def __repr__(self) -> str:
        return f"NumpySerializer(min_bytes={self.min_bytes})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt without warning again wherever the storage is shipped.
        return (_numpy_serializer, (self.min_bytes,))

    @property
    def type(self) -> type[Any]:
        try:
            import numpy
        except ImportError as exc:
            raise ConfigurationError("NumpySerializer needs numpy: pip install numpy") from exc
        return numpy.ndarray

    def accepts(self, obj: Any) -> bool:
        return bool(not obj.dtype.hasobject and obj.nbytes >= self.min_bytes)

    def save(self, file: IO[bytes], obj: Any) -> None:
        import numpy

        numpy.save(file, obj, allow_pickle=False)

    def load(self, file: IO[bytes]) -> Any:
        import numpy

        return numpy.load(file, allow_pickle=False)


def _numpy_serializer(min_bytes: int) -> NumpySerializer:
    """A NumpySerializer made without the deprecation warning (unpickling, reading)."""
    serializer = NumpySerializer.__new__(NumpySerializer)
    serializer.min_bytes = min_bytes
    return serializer


#: Serializers whose side files are read even when none is registered under their
#: name: the results of retired serializers stay readable.
BUILTIN_LOADERS: dict[str, PersistentSerializer] = {"numpy.npy": _numpy_serializer(0)}
