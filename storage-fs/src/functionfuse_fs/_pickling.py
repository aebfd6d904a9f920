"""Pickling results, with persistent serializers moving chosen objects to side files.

Everything is pickled into memory first, side files included, so an exception in the
middle of pickling writes nothing anywhere.
"""

from __future__ import annotations

import hashlib
import io
import mmap
import pickle
import pickletools
from collections.abc import Callable, Mapping
from typing import Any, Final, final

from functionfuse_fs._serializers import BUILTIN_LOADERS, PersistentSerializer

__all__ = [
    "OUT_OF_BAND_MIN",
    "PICKLE_PROTOCOL",
    "MissingSerializerError",
    "SideFileError",
    "dumps",
    "loads",
    "referenced_names",
]

#: Fixed rather than HIGHEST_PROTOCOL, so results written by a newer Python stay
#: readable by an older one.
PICKLE_PROTOCOL: Final = 5
_TAG: Final = "functionfuse.side"
#: Buffers this big or bigger (numpy arrays...) are written without being copied into
#: the pickle stream.
OUT_OF_BAND_MIN: Final = 16 * 1024


class SideFileError(Exception):
    """A side file is missing or does not match the SHA-256 recorded in the result."""


class MissingSerializerError(Exception):
    """The result refers to a persistent serializer this storage does not have."""


@final
class _SidePickler(pickle.Pickler):
    def __init__(
        self,
        file: io.BytesIO,
        serializers: Mapping[type[Any], PersistentSerializer],
        side_files: dict[str, bytes],
        buffer_callback: Callable[[pickle.PickleBuffer], bool],
    ) -> None:
        super().__init__(file, protocol=PICKLE_PROTOCOL, buffer_callback=buffer_callback)
        self._serializers = serializers
        self._side_files = side_files
        # The parts of the ids we return are pickled through persistent_id too; they
        # must be pickled as they are (think of a serializer for str). Holding them
        # keeps their id()s unique.
        self._ours: dict[int, object] = {}

    def persistent_id(self, obj: Any) -> Any:
        serializer = self._serializers.get(type(obj))
        if serializer is None or id(obj) in self._ours or not serializer.accepts(obj):
            return None
        out = io.BytesIO()
        serializer.save(out, obj)
        data = out.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        filename = sha + serializer.suffix
        self._side_files[filename] = data
        pid = (_TAG, serializer.name, filename, sha)
        for part in (pid, *pid):
            self._ours[id(part)] = part
        return pid


@final
class _SideUnpickler(pickle.Unpickler):
    def __init__(
        self,
        file: io.BytesIO,
        serializers: Mapping[str, PersistentSerializer],
        read_side_file: Callable[[str], bytes | bytearray | mmap.mmap],
        buffers: list[memoryview],
    ) -> None:
        super().__init__(file, buffers=buffers)
        self._serializers = serializers
        self._read_side_file = read_side_file

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 4 and pid[0] == _TAG):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, name, filename, sha = pid
        serializer = self._serializers.get(name) or BUILTIN_LOADERS.get(name)
        if serializer is None:
            raise MissingSerializerError(name)
        try:
            data = self._read_side_file(filename)
        except FileNotFoundError:
            raise SideFileError(f"its side file {filename!r} is missing") from None
        if hashlib.sha256(data).hexdigest() != sha:
            raise SideFileError(f"its side file {filename!r} does not match its SHA-256")
        return serializer.load(io.BytesIO(data))


def dumps(
    obj: object, serializers: Mapping[type[Any], PersistentSerializer]
) -> tuple[bytes, list[memoryview], dict[str, bytes]]:
    """Pickle ``obj``: the pickle stream, its out-of-band buffers (views of the objects'
    own memory) and the side files (file name -> content)."""
    buffers: list[memoryview] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        # Returning False takes the buffer out of band; small ones stay in the stream.
        try:
            raw = buffer.raw()
        except BufferError:  # not contiguous: let pickle decide
            return True
        if raw.nbytes < OUT_OF_BAND_MIN:
            return True
        buffers.append(raw)
        return False

    if not serializers:
        stream = pickle.dumps(obj, protocol=PICKLE_PROTOCOL, buffer_callback=out_of_band)
        return stream, buffers, {}
    side_files: dict[str, bytes] = {}
    out = io.BytesIO()
    _SidePickler(out, serializers, side_files, out_of_band).dump(obj)
    return out.getvalue(), buffers, side_files


def loads(
    stream: memoryview,
    buffers: list[memoryview],
    serializers: Mapping[str, PersistentSerializer],
    read_side_file: Callable[[str], bytes | bytearray | mmap.mmap],
) -> Any:
    """Unpickle a verified payload, reading side files through ``read_side_file``."""
    if not serializers:
        try:
            return pickle.loads(stream, buffers=buffers)
        except pickle.UnpicklingError as exc:
            if "persistent" not in str(exc):
                raise
            # Saved with persistent serializers: unpickle again to name the missing one.
            serializers = {}
    return _SideUnpickler(io.BytesIO(stream), serializers, read_side_file, buffers).load()


def referenced_names(stream: memoryview | bytes) -> set[str]:
    """Every string in a pickle stream, read without unpickling anything: a superset of
    the side file names its result references (each appears in full at least once;
    repeats are memo references). Raises ``ValueError`` on a malformed stream."""
    return {arg for _, arg, _ in pickletools.genops(io.BytesIO(stream)) if isinstance(arg, str)}
