"""The stored-result format: header, payload, digest.

Version 1, all integers big-endian::

    offset  size  field
    0       8     magic            b"\\x89FFR\\r\\n\\x1a\\n"
    8       1     format version   1
    9       1     codec            1 = pickle (protocol 5, out-of-band buffers)
    10      1     digest kind      1 = SHA-256, 2 = HMAC-SHA256
    11      1     flags            0 (reserved)
    12      2     N                length of the task name
    14      2     F                length of the fingerprint
    16      8     P                length of the payload
    24      N     task name        UTF-8 (surrogates passed through)
    24+N    F     fingerprint      opaque bytes, often empty
    24+N+F  P     payload
    ...     32    digest

    payload: 4  B = number of out-of-band buffers
             8  size of each buffer (B times)
             8  S = size of the pickle stream
             S  the pickle stream
             then each buffer, zero-padded to start at a multiple of 64 in the file

Large buffers (numpy arrays, bytearrays) are written straight from the objects' memory
and read back without a copy, as pickle protocol 5 allows. The SHA-256 digest covers
header and payload. The HMAC-SHA256 digest also covers the workflow and task names
(length-prefixed UTF-8), so a signed result copied to another workflow or task is
refused. Everything is checked before the payload is unpickled.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, final

__all__ = [
    "DIGEST_SIZE",
    "FIXED_HEADER_SIZE",
    "FORMAT_VERSION",
    "HEADER_PROBE",
    "MAGIC",
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
FORMAT_VERSION: Final = 1
DIGEST_SIZE: Final = 32
_CODEC_PICKLE: Final = 1
_CODECS: Final = {_CODEC_PICKLE: "pickle"}
_SHA256: Final = 1
_HMAC_SHA256: Final = 2
_FIXED: Final = struct.Struct(">8sBBBBHHQ")
_NO_BUFFERS: Final = struct.Struct(">IQ")
FIXED_HEADER_SIZE: Final = _FIXED.size
_MAX_FIELD: Final = 0xFFFF
_ALIGN: Final = 64
_ZEROS: Final = bytes(_ALIGN)
#: Bytes to read to get the whole header of nearly every result in one go.
HEADER_PROBE: Final = 4096

Bytes = bytes | bytearray | memoryview


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
    """Computes result digests: SHA-256, or HMAC-SHA256 when a key is configured."""

    __slots__ = ("_hmac", "signed")

    def __init__(self, key: bytes | None) -> None:
        self.signed = key is not None
        # Keyed once; copy() per result skips re-deriving the inner and outer pads.
        self._hmac = hmac.new(key, digestmod=hashlib.sha256) if key is not None else None

    @property
    def kind(self) -> int:
        return _HMAC_SHA256 if self.signed else _SHA256

    def digest(self, pieces: Sequence[Bytes], workflow_name: str, task_name: str) -> bytes:
        """The digest of a result's header and payload, given as consecutive pieces."""
        if self._hmac is None:
            h = hashlib.sha256()
            for piece in pieces:
                h.update(piece)
            return h.digest()
        m = self._hmac.copy()
        for piece in pieces:
            m.update(piece)
        for name in (workflow_name, task_name):
            raw = name.encode("utf-8", "surrogatepass")
            m.update(struct.pack(">Q", len(raw)))
            m.update(raw)
        return m.digest()


def pack_result(
    signer: Signer,
    workflow_name: str,
    task_name: str,
    fingerprint: bytes,
    stream: bytes,
    buffers: Sequence[memoryview],
) -> list[Bytes]:
    """Header and payload of a stored result, in pieces; the digest of the pieces
    (:meth:`Signer.digest`) follows them. Raises ValueError if a field does not fit.

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
        FORMAT_VERSION,
        _CODEC_PICKLE,
        signer.kind,
        0,
        len(name),
        len(fingerprint),
        payload_size,
    )
    return [fixed + name + fingerprint, *payload]


def header_size(data: Bytes) -> int:
    """Size of the header starting ``data`` (which holds at least the fixed part)."""
    _, _, _, _, _, name_len, fp_len, _ = _FIXED.unpack_from(data)
    return int(_FIXED.size + name_len + fp_len)


def parse_header(data: Bytes) -> ResultHeader:
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
    if version != FORMAT_VERSION:
        raise FormatError(
            f"it has format version {version}; this functionfuse-fs reads version "
            f"{FORMAT_VERSION} (upgrade functionfuse-fs if the result is newer)"
        )
    if codec not in _CODECS:
        raise FormatError(f"it has an unknown codec id {codec}")
    if kind not in (_SHA256, _HMAC_SHA256):
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
        signed=kind == _HMAC_SHA256,
        task_name=task_name,
        fingerprint=bytes(data[_FIXED.size + name_len : end]),
        payload_size=payload_size,
        header_size=end,
    )


def verify(
    data: bytearray, signer: Signer, workflow_name: str, task_name: str
) -> tuple[memoryview, list[memoryview]]:
    """Check a whole stored result; return its pickle stream and out-of-band buffers
    (views of ``data``). Raises :class:`FormatError`."""
    header = parse_header(data)
    expected = header.header_size + header.payload_size + DIGEST_SIZE
    if len(data) < expected:
        raise FormatError(f"it is truncated: {len(data)} bytes of {expected}")
    if len(data) > expected:
        raise FormatError(f"it has {len(data) - expected} unexpected bytes at the end")
    if signer.signed and not header.signed:
        raise FormatError(
            "it is not signed, and this storage has a key: only signed results are read"
        )
    if header.signed and not signer.signed:
        raise FormatError(
            "it is signed with a key, and this storage has none: configure the key "
            "(storage option 'signing_key' or FUNCTIONFUSE_STORAGE_KEY) to read it"
        )
    view = memoryview(data)
    actual = signer.digest((view[: expected - DIGEST_SIZE],), workflow_name, task_name)
    if not hmac.compare_digest(actual, bytes(view[expected - DIGEST_SIZE :])):
        if signer.signed:
            raise FormatError(
                "its signature does not match: it was changed, signed with another key, "
                "or copied from another workflow or task"
            )
        raise FormatError("its SHA-256 digest does not match: it is corrupt")
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
