"""The stored-result format: header, payload, digest.

All integers big-endian::

    offset  size  field
    0       8     magic            b"\\x89FFR\\r\\n\\x1a\\n"
    8       1     format version   2 (1 is still read)
    9       1     codec            1 = pickle (protocol 5, out-of-band buffers)
    10      1     digest kind      version 2: 3 = XXH3-128, 4 = keyed BLAKE3
                                   version 1: 1 = SHA-256, 2 = HMAC-SHA256
    11      1     flags            0 (reserved)
    12      2     N                length of the task name
    14      2     F                length of the fingerprint
    16      8     P                length of the payload
    24      N     task name        UTF-8 (surrogates passed through)
    24+N    F     fingerprint      opaque bytes, often empty
    24+N+F  P     payload
    ...     D     digest           16 bytes for XXH3-128, else 32

    payload: 4  B = number of out-of-band buffers
             8  size of each buffer (B times)
             8  S = size of the pickle stream
             S  the pickle stream
             then each buffer, zero-padded to start at a multiple of 64 in the file

Large buffers (numpy arrays, bytearrays) are written straight from the objects' memory
and read back into place, as pickle protocol 5 allows. The digest covers header and
payload; it is computed while the bytes are written and while they are read (see
:class:`DigestCheck`), not in a second pass. Unsigned results carry an XXH3-128
checksum, which catches corruption and truncation at memory speed; signed ones a keyed
BLAKE3 hash (the key derived from the signing key) that also covers the workflow and
task names (length-prefixed UTF-8), so a signed result copied to another workflow or
task is refused. Version 1 is version 2 with SHA-256 and HMAC-SHA256 (keyed with the
signing key itself) in their place. Everything is checked before the payload is
unpickled.
"""

from __future__ import annotations

import hashlib
import hmac
import mmap
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol, final

from blake3 import blake3
from xxhash import xxh3_128

__all__ = [
    "FIXED_HEADER_SIZE",
    "FORMAT_VERSION",
    "HEADER_PROBE",
    "MAGIC",
    "READ_VERSIONS",
    "DigestCheck",
    "FormatError",
    "ResultHeader",
    "Signer",
    "another_task",
    "header_size",
    "pack_result",
    "parse_header",
    "verify",
]

MAGIC: Final = b"\x89FFR\r\n\x1a\n"
#: The version written.
FORMAT_VERSION: Final = 2
#: The versions read.
READ_VERSIONS: Final = (1, 2)
_CODEC_PICKLE: Final = 1
_CODECS: Final = {_CODEC_PICKLE: "pickle"}
_SHA256: Final = 1
_HMAC_SHA256: Final = 2
_XXH3_128: Final = 3
_BLAKE3_KEYED: Final = 4
#: BLAKE3 key derivation context for the signing key (never change it: it is part of
#: every signature of format version 2).
_KEY_CONTEXT: Final = "functionfuse-fs 2026-12-03 stored result signature, format version 2"
_FIXED: Final = struct.Struct(">8sBBBBHHQ")
_NO_BUFFERS: Final = struct.Struct(">IQ")
_NAME_LENGTH: Final = struct.Struct(">Q")
FIXED_HEADER_SIZE: Final = _FIXED.size
_MAX_FIELD: Final = 0xFFFF
_ALIGN: Final = 64
_ZEROS: Final = bytes(_ALIGN)
#: Bytes to read to get the whole header of nearly every result in one go.
HEADER_PROBE: Final = 4096

Bytes = bytes | bytearray | memoryview
#: What results are read from (see ``ReadBuffer`` in ``_files``).
Readable = Bytes | mmap.mmap


class _DigestKind(NamedTuple):
    version: int
    size: int
    signed: bool
    name: str


_KINDS: Final = {
    _SHA256: _DigestKind(1, 32, False, "SHA-256"),
    _HMAC_SHA256: _DigestKind(1, 32, True, "HMAC-SHA256"),
    _XXH3_128: _DigestKind(2, 16, False, "XXH3-128"),
    _BLAKE3_KEYED: _DigestKind(2, 32, True, "BLAKE3"),
}
#: The digest kinds written, by format version: (unsigned, signed).
_WRITTEN: Final = {1: (_SHA256, _HMAC_SHA256), 2: (_XXH3_128, _BLAKE3_KEYED)}


class _Hasher(Protocol):
    def update(self, data: Readable, /) -> object: ...

    def digest(self) -> bytes: ...


class FormatError(Exception):
    """What is wrong with a stored result; the storage adds where it is and what to do."""


@final
@dataclass(frozen=True)
class ResultHeader:
    """The header of a stored result, as :meth:`FileStorage.read_header` returns it.

    Read without checking the digest: :meth:`FileStorage.read_task` checks everything.
    """

    format_version: int
    codec: str
    signed: bool
    task_name: str
    fingerprint: bytes
    payload_size: int
    header_size: int


@final
class Signer:
    """Makes the hashers of result digests: XXH3-128, or keyed BLAKE3 when a key is
    configured (SHA-256 and HMAC-SHA256 for results of format version 1)."""

    __slots__ = ("_blake3_key", "_hmac", "signed")

    def __init__(self, key: bytes | None) -> None:
        self.signed = key is not None
        # Keyed once; copy() per result skips re-deriving the inner and outer pads.
        self._hmac = hmac.new(key, digestmod=hashlib.sha256) if key is not None else None
        self._blake3_key = (
            blake3(key, derive_key_context=_KEY_CONTEXT).digest() if key is not None else None
        )

    def kind(self, version: int = FORMAT_VERSION) -> int:
        """The digest kind of the results this signer writes in format ``version``."""
        return _WRITTEN[version][self.signed]

    @property
    def digest_size(self) -> int:
        """Bytes of the digest that ends each result this signer writes."""
        return _KINDS[self.kind()].size

    def hasher(self, kind: int) -> _Hasher:
        """A fresh hasher for digest ``kind``, which must be signed when this signer
        has a key and unsigned when it has none."""
        assert _KINDS[kind].signed == self.signed, "check signed-ness first"
        if kind == _XXH3_128:
            return xxh3_128()
        if kind == _BLAKE3_KEYED:
            assert self._blake3_key is not None
            return blake3(key=self._blake3_key)
        if kind == _HMAC_SHA256:
            assert self._hmac is not None
            return self._hmac.copy()
        return hashlib.sha256()

    def finish(self, hasher: _Hasher, kind: int, workflow_name: str, task_name: str) -> bytes:
        """The digest of what ``hasher`` was fed; a signature also covers the names."""
        if _KINDS[kind].signed:
            for name in (workflow_name, task_name):
                raw = name.encode("utf-8", "surrogatepass")
                hasher.update(_NAME_LENGTH.pack(len(raw)))
                hasher.update(raw)
        return hasher.digest()

    def digest(
        self,
        pieces: Sequence[Bytes],
        workflow_name: str,
        task_name: str,
        version: int = FORMAT_VERSION,
    ) -> bytes:
        """The digest of a result's header and payload, given as consecutive pieces."""
        kind = self.kind(version)
        hasher = self.hasher(kind)
        for piece in pieces:
            hasher.update(piece)
        return self.finish(hasher, kind, workflow_name, task_name)


def pack_result(
    signer: Signer,
    workflow_name: str,
    task_name: str,
    fingerprint: bytes,
    stream: bytes,
    buffers: Sequence[memoryview],
    version: int = FORMAT_VERSION,
) -> list[Bytes]:
    """Header and payload of a stored result, in pieces; the digest of the pieces
    (:meth:`Signer.digest`, same ``version``) follows them. Raises ValueError if a
    field does not fit. ``version=1`` writes the old format (for tests).

    Buffers are not copied: write the pieces before the pickled object changes. Every
    piece is flat (``len`` counts its bytes).
    """
    name = task_name.encode("utf-8", "surrogatepass")
    if len(name) > _MAX_FIELD:
        raise ValueError(f"task names are limited to {_MAX_FIELD} UTF-8 bytes, got {len(name)}")
    if len(fingerprint) > _MAX_FIELD:
        raise ValueError(f"fingerprints are limited to {_MAX_FIELD} bytes, got {len(fingerprint)}")
    payload: list[Bytes]
    if not buffers:
        payload = [_NO_BUFFERS.pack(0, len(stream)), stream]
        payload_size = _NO_BUFFERS.size + len(stream)
    else:
        table = struct.pack(
            f">I{len(buffers)}QQ", len(buffers), *[b.nbytes for b in buffers], len(stream)
        )
        payload = [table, stream]
        start = _FIXED.size + len(name) + len(fingerprint)
        position = start + len(table) + len(stream)
        for buffer in buffers:
            padding = -position % _ALIGN
            if padding:
                payload.append(_ZEROS[:padding])
            payload.append(buffer)
            position += padding + buffer.nbytes
        payload_size = position - start
    fixed = _FIXED.pack(
        MAGIC,
        version,
        _CODEC_PICKLE,
        signer.kind(version),
        0,
        len(name),
        len(fingerprint),
        payload_size,
    )
    return [fixed + name + fingerprint, *payload]


def header_size(data: Readable) -> int:
    """Size of the header starting ``data`` (which holds at least the fixed part)."""
    _, _, _, _, _, name_len, fp_len, _ = _FIXED.unpack_from(data)
    return int(_FIXED.size + name_len + fp_len)


def parse_header(data: Readable) -> ResultHeader:
    """Parse the header at the start of ``data``; raises :class:`FormatError`."""
    size = len(data)
    if size == 0:
        raise FormatError("the file is empty (zero bytes)")
    if size < _FIXED.size:
        if bytes(data[: min(size, len(MAGIC))]) != MAGIC[: min(size, len(MAGIC))]:
            raise FormatError("it is not a functionfuse result (wrong magic bytes)")
        raise FormatError(f"it is truncated: {size} bytes, shorter than a header")
    magic, version, codec, kind, _flags, name_len, fp_len, payload_size = _FIXED.unpack_from(data)
    if magic != MAGIC:
        raise FormatError("it is not a functionfuse result (wrong magic bytes)")
    if version not in READ_VERSIONS:
        raise FormatError(
            f"it has format version {version}; this functionfuse-fs reads versions "
            f"{' and '.join(map(str, READ_VERSIONS))} (upgrade functionfuse-fs if the "
            "result is newer)"
        )
    if codec not in _CODECS:
        raise FormatError(f"it has an unknown codec id {codec}")
    if kind not in _KINDS or _KINDS[kind].version != version:
        raise FormatError(f"it has an unknown digest kind {kind}")
    end = _FIXED.size + name_len + fp_len
    if size < end:
        raise FormatError(f"it is truncated: {size} bytes, inside its header")
    try:
        task_name = bytes(data[_FIXED.size : _FIXED.size + name_len]).decode(
            "utf-8", "surrogatepass"
        )
    except UnicodeDecodeError:
        raise FormatError("its header holds a task name that is not UTF-8") from None
    return ResultHeader(
        format_version=version,
        codec=_CODECS[codec],
        signed=_KINDS[kind].signed,
        task_name=task_name,
        fingerprint=bytes(data[_FIXED.size + name_len : end]),
        payload_size=payload_size,
        header_size=end,
    )


@final
class DigestCheck:
    """Hashes a stored result while it is read, chunk by chunk as each arrives (still
    in the CPU's cache), so that :func:`verify` needs no second pass over it.

    The read calls it with the buffer being filled and how many bytes of it are in, as
    often as more arrive (or never: then :func:`verify` hashes the buffer). It only
    hashes: whatever it cannot make sense of (a damaged header, a signed result for an
    unsigned storage...) it leaves to :func:`verify`, which refuses it.
    """

    __slots__ = ("_end", "_hashed", "_hasher", "_kind", "_signer")

    def __init__(self, signer: Signer) -> None:
        self._signer = signer
        self._hasher: _Hasher | None = None
        self._kind = 0
        self._end = -1  # where the digest starts; -1 until the header is in, 0: give up
        self._hashed = 0

    def __call__(self, data: memoryview, filled: int) -> None:
        if self._end < 0 and not self._start(data, filled):
            return
        stop = min(filled, self._end)
        if self._hasher is not None and stop > self._hashed:
            self._hasher.update(data[self._hashed : stop])
            self._hashed = stop

    def _start(self, data: memoryview, filled: int) -> bool:
        if filled < _FIXED.size:
            return False
        size = header_size(data)
        if filled < size:
            return False
        try:
            header = parse_header(data[:size])
        except FormatError:
            self._end = 0
            return False
        kind = data[10]
        if header.signed != self._signer.signed:
            self._end = 0
            return False
        self._kind = kind
        self._hasher = self._signer.hasher(kind)
        self._end = size + header.payload_size
        return True

    def digest(self, kind: int, end: int, workflow_name: str, task_name: str) -> bytes | None:
        """The digest of the first ``end`` bytes by digest ``kind``, if that is what
        was hashed; else None."""
        if self._hasher is None or self._kind != kind or self._hashed != end:
            return None
        hasher, self._hasher = self._hasher, None
        return self._signer.finish(hasher, kind, workflow_name, task_name)


def verify(
    data: Readable,
    signer: Signer,
    workflow_name: str,
    task_name: str,
    check: DigestCheck | None = None,
) -> tuple[memoryview, list[memoryview]]:
    """Check a whole stored result; return its pickle stream and out-of-band buffers
    (views of ``data``). ``check``, if it hashed ``data`` as it was read, saves hashing
    it again. Raises :class:`FormatError`."""
    view = memoryview(data)
    header = parse_header(view)
    kind = view[10]
    digest_size = _KINDS[kind].size
    expected = header.header_size + header.payload_size + digest_size
    if len(view) < expected:
        raise FormatError(f"it is truncated: {len(view)} bytes of {expected}")
    if len(view) > expected:
        raise FormatError(f"it has {len(view) - expected} unexpected bytes at the end")
    if signer.signed and not header.signed:
        raise FormatError(
            "it is not signed, and this storage has a key: only signed results are read"
        )
    if header.signed and not signer.signed:
        raise FormatError(
            "it is signed with a key, and this storage has none: configure the key "
            "(storage option 'signing_key' or FUNCTIONFUSE_STORAGE_KEY) to read it"
        )
    end = expected - digest_size
    actual = check.digest(kind, end, workflow_name, task_name) if check is not None else None
    if actual is None:
        hasher = signer.hasher(kind)
        hasher.update(view[:end])
        actual = signer.finish(hasher, kind, workflow_name, task_name)
    if not hmac.compare_digest(actual, bytes(view[end:])):
        if signer.signed:
            raise FormatError(
                "its signature does not match: it was changed, signed with another key, "
                "or copied from another workflow or task"
            )
        raise FormatError(f"its {_KINDS[kind].name} digest does not match: it is corrupt")
    if header.task_name != task_name:
        raise FormatError(another_task(header.task_name))
    return _split_payload(view, header.header_size, header.payload_size)


def another_task(task_name: str) -> str:
    """Why a result whose header names ``task_name`` is refused for another task."""
    return f"it holds the result of task {task_name!r} (was it copied or renamed?)"


def _split_payload(view: memoryview, start: int, size: int) -> tuple[memoryview, list[memoryview]]:
    end = start + size
    if size < 4:
        raise FormatError("its payload is too short")
    (count,) = struct.unpack_from(">I", view, start)
    position = start + 4 + 8 * count + 8
    if position > end:
        raise FormatError("its payload's buffer table does not fit in it")
    *sizes, stream_size = struct.unpack_from(f">{count}QQ", view, start + 4)
    stream = view[position : position + stream_size]
    position += stream_size
    buffers = []
    for buffer_size in sizes:
        position += -position % _ALIGN
        buffers.append(view[position : position + buffer_size])
        position += buffer_size
    if position != end:
        raise FormatError("its payload's buffer table does not match its size")
    return stream, buffers
