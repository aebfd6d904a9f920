"""RemoteFiles: the files of a remote fsspec storage, written behind and indexed.

Wraps :class:`~functionfuse_fs._files.FsspecFiles` for every protocol but ``memory``:

- results are uploaded in the background (:mod:`functionfuse_fs._writer`); reads,
  listings and removals first wait for the uploads they could see;
- on S3, the workflow's result index (:mod:`functionfuse_fs._index`) is learned from
  uploads and header reads, trusted by the ETags of a listing, and written back by
  :meth:`RemoteFiles.flush`;
- on S3, a ``PutObject`` goes without ``Expect: 100-continue`` (see
  :mod:`functionfuse_fs._s3`).

Side files and the index itself are written in the caller's thread, so a result is
never uploaded before the side files it references.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import final

from functionfuse import StorageError
from functionfuse_fs._config import is_s3
from functionfuse_fs._files import Bytes, FsspecFiles, OnChunk, ReadBuffer
from functionfuse_fs._index import (
    INDEX_NAME,
    Entry,
    Snapshot,
    decode_index,
    encode_index,
    entry_from_head,
    result_name,
    trusted_entries,
)
from functionfuse_fs._s3 import quiet_puts, read_heads_with_etags
from functionfuse_fs._writer import (
    Failure,
    Session,
    WriteBehind,
    active_session,
    close_session,
    open_session,
)

__all__ = ["RemoteFiles"]


def _folder_of(path: str) -> tuple[str, str]:
    folder, _, filename = path.rpartition("/")
    return folder, filename


@final
class RemoteFiles:
    """:class:`FsspecFiles` with write-behind uploads and, on S3, the result index."""

    __slots__ = (
        "_forgotten",
        "_fs",
        "_indexed",
        "_inner",
        "_key",
        "_learned",
        "_listings",
        "_lock",
        "_s3",
        "_snapshots",
        "_writes",
    )

    def __init__(
        self, inner: FsspecFiles, protocol: str, key: bytes | None, write_behind_bytes: int
    ) -> None:
        self._inner = inner
        self._fs = inner.fs
        self._s3 = is_s3(protocol) and hasattr(self._fs, "_call_s3")
        # A version-aware s3fs lists every version of a key: no single current ETag.
        self._indexed = self._s3 and not getattr(self._fs, "version_aware", False)
        self._key = key
        self._writes = WriteBehind(write_behind_bytes) if write_behind_bytes > 0 else None
        self._lock = threading.Lock()
        #: The last listing of each folder this storage listed (its index is ours to
        #: write back), and the one the next read_fingerprints may reuse.
        self._listings: dict[str, dict[str, str | None]] = {}
        self._snapshots: dict[str, Snapshot] = {}
        #: Entries learned since the index was last written, and names removed.
        self._learned: dict[str, dict[str, Entry]] = {}
        self._forgotten: dict[str, set[str]] = {}

    # -- the Files protocol ----------------------------------------------------------------

    @property
    def has_links(self) -> bool:
        return self._inner.has_links

    def islink(self, path: str) -> bool:
        return self._inner.islink(path)

    def list_links(self, folder: str) -> list[str]:
        return self._inner.list_links(folder)

    def join(self, folder: str, name: str) -> str:
        return self._inner.join(folder, name)

    def display(self, path: str) -> str:
        return self._inner.display(path)

    def makedirs(self, path: str) -> None:
        self._inner.makedirs(path)

    def write_atomic(
        self,
        folder: str,
        path: str,
        pieces: Sequence[Bytes],
        trailer: Callable[[], bytes] | None = None,
    ) -> str | None:
        # The bytes are taken now: the object may change once save() returns.
        data = b"".join([*pieces, trailer()] if trailer is not None else pieces)
        _, filename = _folder_of(path)
        with self._lock:
            self._snapshots.pop(folder, None)
        writes = self._writes
        if writes is None:
            return self._upload(path, data)
        session = active_session(self)
        task_name = result_name(filename, data) if session is not None else None
        if session is not None and task_name is not None and writes.accepts(len(data)):
            writes.submit(path, task_name, len(data), lambda: self._upload(path, data), session)
            return None
        # In the caller's thread, yet after any upload to ``path`` submitted before.
        validator: list[str | None] = [None]

        def upload() -> None:
            validator[0] = self._upload(path, data)

        writes.write_now(path, upload)
        return validator[0]

    def read(self, path: str, on_chunk: OnChunk | None = None) -> ReadBuffer:
        self._settle(path)
        return self._inner.read(path, on_chunk)

    def read_head(self, path: str, size: int) -> bytes:
        self._settle(path)
        return self._inner.read_head(path, size)

    def read_heads(self, paths: list[str], size: int) -> list[bytes | Exception]:
        for path in paths:
            self._settle(path)
        if not self._indexed:
            return self._inner.read_heads(paths, size)
        return self._read_heads_learning(paths, size)

    def read_many(self, paths: list[str]) -> dict[str, bytearray | FileNotFoundError]:
        """Whole files, fetched concurrently (one ``cat_ranges`` call, a GET each: an
        open-ended range spares s3fs's size request). Files that could not be read
        for another reason than their absence are left out (read them one by one, to
        say why)."""
        for path in paths:
            self._settle(path)
        found = self._fs.cat_ranges(paths, 0, None, on_error="return")
        fetched: dict[str, bytearray | FileNotFoundError] = {}
        for path, value in zip(paths, found, strict=True):
            if isinstance(value, FileNotFoundError):
                fetched[path] = value
            elif isinstance(value, bytes):
                fetched[path] = bytearray(value)
        return fetched

    def isfile(self, path: str) -> bool:
        self._settle(path, check=False)
        return self._inner.isfile(path)

    def list_files(self, folder: str) -> list[str]:
        self._settle_under(folder)
        return self._inner.list_files(folder)

    def list_folders(self, folder: str) -> list[str]:
        self._settle_under(folder)
        return self._inner.list_folders(folder)

    def remove_file(self, path: str) -> None:
        self._settle(path, check=False)
        folder, filename = _folder_of(path)
        with self._lock:
            self._snapshots.pop(folder, None)
            self._learned.get(folder, {}).pop(filename, None)
            if folder in self._listings:
                self._forgotten.setdefault(folder, set()).add(filename)
        self._inner.remove_file(path)

    def remove_tree(self, path: str) -> None:
        self._settle_under(path)
        prefix = path.rstrip("/") + "/"
        with self._lock:
            for table in (self._snapshots, self._learned, self._forgotten, self._listings):
                for folder in [f for f in table if f == path or f.startswith(prefix)]:
                    del table[folder]
        self._inner.remove_tree(path)

    # -- the index ------------------------------------------------------------------------

    @property
    def indexed(self) -> bool:
        """Whether listings carry validators here (S3), so that the index is kept."""
        return self._indexed

    def snapshot(self, folder: str, keep: bool = True) -> Snapshot:
        """List ``folder`` (uploads to it finished first) with each file's validator,
        and read its index if it has one. The listing is kept for :meth:`flush`, and
        with ``keep`` the snapshot for :meth:`reuse_snapshot`."""
        self._settle_under(folder)
        fs = self._fs
        fs.invalidate_cache(folder)
        try:
            listed = fs.ls(folder, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            listed = []
        validators: dict[str, str | None] = {}
        for info in listed:
            if info.get("type") == "file":
                validators[info["name"].rstrip("/").rsplit("/", 1)[-1]] = info.get("ETag")
        entries: dict[str, Entry] = {}
        if INDEX_NAME in validators:
            entries = decode_index(self._read_index(folder), _folder_of(folder)[1], self._key)
        with self._lock:
            # What this storage wrote or read since: as good as the index, while the
            # listing shows the same ETags.
            entries.update(self._learned.get(folder, {}))
        trusted = trusted_entries(entries, validators, self._key is not None)
        snapshot = Snapshot(validators, trusted, time.monotonic())
        with self._lock:
            self._listings[folder] = validators
            if keep:
                self._snapshots[folder] = snapshot
        return snapshot

    def reuse_snapshot(self, folder: str) -> Snapshot:
        """The snapshot just taken of ``folder`` (once, and only while fresh and
        nothing was written or removed there since through this storage), else a new
        one."""
        with self._lock:
            snapshot = self._snapshots.pop(folder, None)
        if snapshot is not None and snapshot.fresh:
            return snapshot
        return self.snapshot(folder, keep=False)

    def write_behind(self) -> Session:
        """Upload the results saved in the caller's context (its thread, or what a
        run copied of it) in the background until :meth:`flush` of the session
        returned (a run that will flush it before it returns opens one)."""
        return open_session(self)

    def flush(self, session: Session | None = None) -> None:
        """End ``session``: wait for its uploads; write back the indexes of the
        folders this storage listed; then raise StorageError for the uploads of that
        session that failed (``task_name``: the first one's task). Without a session,
        wait for every upload (failures stay with their sessions)."""
        failures: list[Failure] = []
        if session is not None:
            close_session(session)
            if self._writes is not None:
                failures = self._writes.wait_session(session)
        elif self._writes is not None:
            self._writes.wait_all()
        if self._indexed:
            self._write_indexes()
        if failures:
            raise self._failed(failures)

    def make_durable(self, path: str) -> None:
        """Return once the save to ``path`` is durable; raise StorageError (naming its
        task) if its upload failed. No session ends, and no other save's failure is
        reported or forgotten."""
        self._settle(path)

    # -- helpers ---------------------------------------------------------------------------

    def _upload(self, path: str, data: bytes) -> str | None:
        if self._s3:
            quiet_puts(self._fs)
        folder, filename = _folder_of(path)
        validator = self._inner.write_atomic(folder, path, [data])
        if self._indexed:
            entry = entry_from_head(filename, data, validator)
            with self._lock:
                self._snapshots.pop(folder, None)
                if entry is not None and folder in self._listings:
                    self._learned.setdefault(folder, {})[filename] = entry
        return validator

    def _settle(self, path: str, check: bool = True) -> None:
        writes = self._writes
        if writes is None:
            return
        failure = writes.wait(path, check)
        if failure is not None:
            raise self._failed([failure])

    def _settle_under(self, folder: str) -> None:
        if self._writes is not None:
            self._writes.wait_under(folder)

    def _failed(self, failures: list[Failure]) -> StorageError:
        first = failures[0]
        more = (
            f" (and {len(failures) - 1} more: "
            + ", ".join(repr(f.task_name) for f in failures[1:6])
            + ("..." if len(failures) > 6 else "")
            + ")"
            if len(failures) > 1
            else ""
        )
        error = StorageError(
            f"cannot save the result of task {first.task_name!r} to "
            f"{self.display(first.path)}: the upload failed "
            f"({type(first.error).__name__}: {first.error}){more}"
        )
        error.task_name = first.task_name  # type: ignore[attr-defined]
        error.__cause__ = first.error
        return error

    def _read_heads_learning(self, paths: list[str], size: int) -> list[bytes | Exception]:
        """The first ``size`` bytes of each file, each read with its object's ETag in
        one concurrent batch of ranged GETs; results' entries are learned from them."""
        found = read_heads_with_etags(self._fs, paths, size)
        heads: list[bytes | Exception] = []
        learned: dict[str, dict[str, Entry]] = {}
        for path, result in zip(paths, found, strict=True):
            if isinstance(result, FileNotFoundError):
                heads.append(result)
            elif isinstance(result, BaseException):
                # An empty object refuses a range: read it the plain way, to say why.
                try:
                    heads.append(self._inner.read_head(path, size))
                except OSError as exc:
                    heads.append(exc)
            else:
                data, validator = result
                heads.append(data)
                folder, filename = _folder_of(path)
                entry = entry_from_head(filename, data, validator)
                if entry is not None:
                    learned.setdefault(folder, {})[filename] = entry
        if learned:
            signed = self._key is not None
            with self._lock:
                for folder, entries in learned.items():
                    if folder in self._listings:
                        self._learned.setdefault(folder, {}).update(entries)
                    snapshot = self._snapshots.get(folder)
                    if snapshot is not None:
                        # Read as listed: the snapshot may vouch for it from now on.
                        snapshot.trusted.update(
                            trusted_entries(entries, snapshot.validators, signed)
                        )
        return heads

    def _read_index(self, folder: str) -> bytes:
        """The bytes of ``folder``'s index (``b""`` if it cannot be read): one GET."""
        try:
            data = self._fs.cat_file(self.join(folder, INDEX_NAME), start=0)
        except OSError:
            return b""
        return bytes(data)

    def _write_indexes(self) -> None:
        """Read, merge and write the index of each folder listed here with something
        new to say. A failure costs later runs reads, never correctness: ignored."""
        with self._lock:
            work = []
            for folder, listing in self._listings.items():
                learned = self._learned.pop(folder, {})
                forgotten = self._forgotten.pop(folder, set())
                if learned or forgotten:
                    work.append((folder, listing, learned, forgotten))
        for folder, listing, learned, forgotten in work:
            path = self.join(folder, INDEX_NAME)
            name = _folder_of(folder)[1]
            current = decode_index(self._read_index(folder), name, self._key)
            # Keep what another writer indexed only while our listing vouches for it.
            merged = {
                n: e
                for n, e in current.items()
                if n not in forgotten and listing.get(n) == e.validator
            }
            merged.update(learned)
            try:
                if self._s3:
                    quiet_puts(self._fs)
                self._inner.write_atomic(folder, path, [encode_index(merged, name, self._key)])
            except Exception:
                pass  # an index is an optimisation: the next run reads headers
