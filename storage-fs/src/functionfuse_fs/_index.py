"""The result index: a workflow's fingerprints in one listing and one read.

Resuming by fingerprint needs the stamp saved with every stored result. It sits in
each result's header, so reading them costs a request per result — on S3, 2,000 stored
nodes made 2,000 GETs where the listing takes 2. The index, one object per workflow
(``<workflow>/.index``; listings skip dot-names), maps each result's file name to its
task name, stamp, whether it is signed, and a **validator**: the ETag the object store
gave that object when it was written (the PUT's answer) or read (a GET's answer, with
the header bytes of the same version). A listing returns every object's current ETag,
and an ETag changes whenever an object's bytes do; so an entry is trusted only while
the listing shows the ETag it was recorded with. A stale entry (the result replaced
by another writer since), a missing, damaged or lost index, one from another workflow
or signed with another key — all leave entries untrusted, and their results' headers
are read as before: they cost reads, never a stale result taken for a current one.

Why not the fingerprint in the object's key: the key is the task's name (people browse
buckets by it), results of 0.1.0 would need moving, and a stamp (up to 64 KiB) does
not fit in a key. Why not an index alone: an index and the results cannot be written
in one atomic step on an object store; the validators make that unnecessary.

Kept consistent: a storage learns entries from its own uploads and from the headers
it reads (one GET gives the bytes and the ETag of one version), and writes them back
once, when the run flushes (read, merge, write; two writers racing lose one's entries,
which costs the next run reads). Only the storage that listed the workflow (the
driver) writes its index: a worker's entries are dropped, and learned again from
headers by the next run that needs them. With a signing key the index is signed
(HMAC-SHA256, bound to the workflow's folder name) and an unsigned or foreign one is
ignored.

A run lists a workflow, then asks for its stamps: the second call reuses the first's
listing if it is at most :data:`SNAPSHOT_TTL` old and nothing was written or removed
there through this storage since — the stamps are then as of that listing, as they
were as of the header reads before.

Only S3 (s3fs) keeps an index: its listings carry ETags, and the PUT and GET answers
give them (any ETag works, MD5 or not: multipart, SSE-KMS). Not on a version-aware
s3fs, whose listing shows every version of a key. Elsewhere headers are read: on the
local disk and ``memory://`` that is cheap; other fsspec filesystems (GCS, Azure...)
read them concurrently, one request each.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import zlib
from dataclasses import dataclass
from typing import Any, Final, final

from functionfuse_fs._format import Bytes, FormatError, ResultHeader, parse_header
from functionfuse_fs._names import encode_name

__all__ = [
    "INDEX_NAME",
    "Entry",
    "Snapshot",
    "decode_index",
    "encode_index",
    "entry_from_head",
    "result_name",
    "trusted_entries",
]

#: The index's file name in a workflow's folder (a dot-name: never a result).
INDEX_NAME: Final = ".index"
_MAGIC: Final = b"\x89FFX\r\n\x1a\n"
_VERSION: Final = 1
_DIGEST: Final = 32
_UNSIGNED: Final = 1
_SIGNED: Final = 2
#: The listing ``list_tasks`` takes is reused by the next ``read_fingerprints`` (a
#: run's plan asks for the listing, then at once for the stamps) only this soon after.
SNAPSHOT_TTL: Final = 2.0


@final
@dataclass(frozen=True)
class Entry:
    """What the index knows of one stored result, valid while its ETag is ``validator``."""

    task_name: str
    fingerprint: bytes
    signed: bool
    validator: str


def result_name(filename: str, head: Bytes) -> str | None:
    """The task whose result ``head`` starts, if it is one stored as ``filename``."""
    try:
        task_name = parse_header(head).task_name
    except FormatError:
        return None
    return task_name if encode_name(task_name) == filename else None


def entry_from_head(filename: str, head: Bytes, validator: str | None) -> Entry | None:
    """The entry for a result whose first bytes ``head`` were read (or written) with
    ``validator`` in one request; None when they are not a result stored as
    ``filename`` (foreign files are not indexed)."""
    if not validator:
        return None
    try:
        header: ResultHeader = parse_header(head)
    except FormatError:
        return None
    if encode_name(header.task_name) != filename:
        return None
    return Entry(header.task_name, header.fingerprint, header.signed, validator)


@final
@dataclass
class Snapshot:
    """A folder's listing: each file's validator, and the index entries it makes
    trusted."""

    validators: dict[str, str | None]
    trusted: dict[str, Entry]
    taken: float

    @property
    def fresh(self) -> bool:
        return time.monotonic() - self.taken < SNAPSHOT_TTL


def trusted_entries(
    entries: dict[str, Entry], validators: dict[str, str | None], signed: bool
) -> dict[str, Entry]:
    """The entries whose validator the listing shows unchanged (signed results only,
    when the storage has a key)."""
    return {
        name: entry
        for name, entry in entries.items()
        if validators.get(name) == entry.validator
        and (entry.signed or not signed)
        and encode_name(entry.task_name) == name
    }


def encode_index(entries: dict[str, Entry], folder_name: str, key: bytes | None) -> bytes:
    """The bytes of an index of ``entries`` for the folder named ``folder_name``."""
    table = {
        name: [e.task_name, base64.b64encode(e.fingerprint).decode("ascii"), e.signed, e.validator]
        for name, e in sorted(entries.items())
    }
    body = zlib.compress(json.dumps({"entries": table}, separators=(",", ":")).encode(), 1)
    kind = _SIGNED if key is not None else _UNSIGNED
    head = _MAGIC + bytes([_VERSION, kind])
    return head + _digest(head + body, folder_name, key) + body


def decode_index(data: bytes, folder_name: str, key: bytes | None) -> dict[str, Entry]:
    """The entries of an index; ``{}`` when it is damaged, of another version, signed
    otherwise than this storage (or with another key), or made for another folder."""
    start = len(_MAGIC) + 2
    if len(data) < start + _DIGEST or data[: len(_MAGIC)] != _MAGIC:
        return {}
    version, kind = data[len(_MAGIC)], data[len(_MAGIC) + 1]
    if version != _VERSION or kind != (_SIGNED if key is not None else _UNSIGNED):
        return {}
    body = data[start + _DIGEST :]
    expected = _digest(data[:start] + body, folder_name, key)
    if not hmac.compare_digest(expected, data[start : start + _DIGEST]):
        return {}
    try:
        table: dict[str, Any] = json.loads(zlib.decompress(body))["entries"]
        return {
            name: Entry(str(task), base64.b64decode(fp), bool(signed), str(validator))
            for name, (task, fp, signed, validator) in table.items()
        }
    except (ValueError, TypeError, KeyError, zlib.error):
        return {}


def _digest(data: bytes, folder_name: str, key: bytes | None) -> bytes:
    # Bound to the folder: an index copied into another workflow's folder is ignored.
    bound = b"functionfuse-index\0" + folder_name.encode("utf-8", "surrogatepass") + b"\0" + data
    if key is None:
        return hashlib.sha256(bound).digest()
    return hmac.new(key, bound, hashlib.sha256).digest()
