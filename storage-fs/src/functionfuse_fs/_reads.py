"""Reading stored results: one (:meth:`read_task`, its header, its fingerprint) or many
at once (their fingerprints, for deciding what to re-run; the results themselves,
fetched concurrently from remote filesystems).

Everything is checked before anything is unpickled. Apart from
:mod:`functionfuse_fs._storage`, which builds the storage and saves; on S3 the
workflow's index (:mod:`functionfuse_fs._index`) spares most header reads.
:class:`_Reads` is a mixin of FileStorage.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from functionfuse import StaleResultError, StorageError, StorageIntegrityError
from functionfuse.runtime import read_each
from functionfuse_fs._files import ReadBuffer
from functionfuse_fs._format import (
    HEADER_PROBE,
    DigestCheck,
    FormatError,
    ResultHeader,
    another_task,
    parse_header,
    verify,
)
from functionfuse_fs._names import encode_name
from functionfuse_fs._pickling import MissingSerializerError, SideFileError, loads
from functionfuse_fs._results import _Results

if TYPE_CHECKING:
    from functionfuse_fs._index import Snapshot

__all__: list[str] = []


class _Reads(_Results):
    """FileStorage's reads: ``read_task``, ``read_header``, ``read_fingerprint``,
    ``read_fingerprints`` and ``read_tasks`` (a mixin)."""

    __slots__ = ()

    def read_task(
        self, workflow_name: str, task_name: str, *, fingerprint: bytes | str | None = None
    ) -> Any:
        """The stored result of ``task_name``.

        Raises ``FileNotFoundError`` when nothing is stored and
        :class:`functionfuse.StorageIntegrityError` when what is stored is corrupt,
        truncated, of another format, unsigned or signed differently — all checked
        before anything is unpickled. With ``fingerprint``, the result is returned only
        if it was saved with exactly that fingerprint; else
        :class:`functionfuse.StaleResultError` is raised, also before unpickling (the
        file read is the one returned: no other run can replace it in between).
        """
        return self._read_task(workflow_name, task_name, fingerprint, None)

    def _read_task(
        self,
        workflow_name: str,
        task_name: str,
        fingerprint: bytes | str | None,
        fetched: dict[str, bytearray | FileNotFoundError] | None,
    ) -> Any:
        """:meth:`read_task`; the result's file taken from ``fetched`` when it is there
        (fetched already, by :meth:`read_tasks`)."""
        folder = self._folder(workflow_name)
        filename = encode_name(task_name)
        path = self._files.join(folder, filename)
        check = DigestCheck(self._signer)  # hashes the file as it is read
        data = self._read(workflow_name, task_name, path, check, fetched)
        if fingerprint is not None:
            self._check_fingerprint(workflow_name, task_name, path, data, fingerprint)
        try:
            stream, buffers = verify(data, self._signer, workflow_name, task_name, check)
        except FormatError as exc:
            self._untrusted(workflow_name, task_name, path, str(exc))
        side_folder = self._side_folder(folder, filename)

        def read_side_file(name: str) -> ReadBuffer:
            return self._files.read(self._files.join(side_folder, name))

        try:
            return loads(stream, buffers, self._by_name, read_side_file)
        except SideFileError as exc:
            self._untrusted(workflow_name, task_name, path, str(exc))
        except MissingSerializerError as exc:
            raise StorageError(
                f"the stored result of task {task_name!r} of workflow {workflow_name!r} "
                f"was saved with the persistent serializer {exc.args[0]!r}: register it "
                "with register_persistent_serializers() before reading"
            ) from None
        except Exception as exc:
            self._untrusted(
                workflow_name,
                task_name,
                path,
                f"it is intact but cannot be unpickled ({type(exc).__name__}: {exc}); "
                "the code that made it may have changed",
                cause=exc,
            )

    def read_header(self, workflow_name: str, task_name: str) -> ResultHeader:
        """The header of the stored result of ``task_name``, without reading the payload.

        The digest is not checked (that needs the whole file): use it for metadata
        such as the fingerprint, and :meth:`read_task` for the result. Raises like
        :meth:`read_task`.
        """
        path = self._files.join(self._folder(workflow_name), encode_name(task_name))
        try:
            header = self._header_at(path)
        except FileNotFoundError:
            self._not_found(workflow_name, task_name, path)
        except FormatError as exc:
            self._untrusted(workflow_name, task_name, path, str(exc))
        if header.task_name != task_name:
            self._untrusted(workflow_name, task_name, path, another_task(header.task_name))
        return header

    def read_fingerprint(self, workflow_name: str, task_name: str) -> bytes | None:
        """The fingerprint saved with the result of ``task_name``, or None if it has none."""
        return self.read_header(workflow_name, task_name).fingerprint or None

    def read_fingerprints(
        self, workflow_name: str, task_names: Iterable[str]
    ) -> dict[str, bytes | StorageIntegrityError | None]:
        """The fingerprints of many stored results at once, for deciding what to re-run.

        Maps each name that has a stored result to the fingerprint saved with it
        (``save(..., fingerprint=...)``), to None when it was saved without one, or to
        a :class:`functionfuse.StorageIntegrityError` (not raised) saying why its header
        cannot be read or trusted (damaged, another format version, another task's
        result): the backend warns and runs such a node again, overwriting it. Names
        with nothing stored are left out. An error of the whole filesystem call (e.g. a
        timeout) propagates.

        Only the first :data:`HEADER_PROBE` bytes of each file are read, never the
        payload (a header longer than that is then read whole, for that name alone),
        and the digest is not checked: :meth:`read_task` checks everything. On remote
        fsspec filesystems all names go in one ``cat_ranges`` call, whose requests
        async filesystems (S3, GCS, HTTP...) send concurrently. On S3 the workflow's
        index (see :mod:`functionfuse_fs._index`) spares those reads: one listing and
        one read give every stamp it vouches for.
        """
        names = list(dict.fromkeys(task_names))
        if not names:
            return {}
        folder = self._folder(workflow_name)
        found: dict[str, bytes | StorageIntegrityError | None] = {}
        snapshot = self._snapshot(folder, reuse=True)
        if snapshot is not None:
            names = _from_index(snapshot, names, found)
        paths = [self._files.join(folder, encode_name(name)) for name in names]
        heads = self._files.read_heads(paths, HEADER_PROBE)
        for name, path, head in zip(names, paths, heads, strict=True):
            if isinstance(head, FileNotFoundError):
                continue
            if isinstance(head, Exception):
                reason = f"it cannot be read ({type(head).__name__}: {head})"
            else:
                try:
                    header = self._header_from(path, head)
                except FileNotFoundError:
                    continue  # removed since the first read
                except FormatError as exc:
                    reason = str(exc)
                except OSError as exc:
                    reason = f"it cannot be read ({type(exc).__name__}: {exc})"
                else:
                    if header.task_name == name:
                        found[name] = header.fingerprint or None
                        continue
                    reason = another_task(header.task_name)
            found[name] = self._refusal(workflow_name, name, path, reason)
        return found

    def read_tasks(
        self,
        workflow_name: str,
        task_names: Iterable[str],
        fingerprints: Iterable[bytes | str | None] | None = None,
    ) -> list[tuple[Any, Exception | None]]:
        """Many stored results at once: for each name, ``(value, None)`` with what
        :meth:`read_task` returns, or ``(None, error)`` with the exception it raises.
        On remote filesystems the files are fetched concurrently (one fsspec ``cat``),
        then checked and unpickled in turn exactly as :meth:`read_task` does.
        ``fingerprints``: one per name (or None), as ``read_task``'s ``fingerprint``."""
        names = list(task_names)
        expected = list(fingerprints) if fingerprints is not None else [None] * len(names)
        remote = self._remote
        if remote is None or len(names) < 2:
            return read_each(self, workflow_name, names, expected)
        folder = self._folder(workflow_name)
        paths = [remote.join(folder, encode_name(name)) for name in names]
        return read_each(_Prefetched(self, remote.read_many(paths)), workflow_name, names, expected)

    def _read(
        self,
        workflow_name: str,
        task_name: str,
        path: str,
        check: DigestCheck,
        fetched: dict[str, bytearray | FileNotFoundError] | None = None,
    ) -> ReadBuffer:
        try:
            data = fetched.pop(path, None) if fetched is not None else None
            if data is None:
                return self._files.read(path, check)
            if isinstance(data, FileNotFoundError):
                raise data
            return data
        except FileNotFoundError:
            self._not_found(workflow_name, task_name, path)
        except IsADirectoryError:
            self._untrusted(workflow_name, task_name, path, "it is a folder, not a file")

    def _check_fingerprint(
        self,
        workflow_name: str,
        task_name: str,
        path: str,
        data: ReadBuffer,
        expected: bytes | str,
    ) -> None:
        """Raise StaleResultError unless ``data`` was saved with fingerprint ``expected``."""
        if isinstance(expected, str):
            expected = expected.encode("utf-8", "surrogatepass")
        try:
            stored = parse_header(data).fingerprint
        except FormatError as exc:
            self._untrusted(workflow_name, task_name, path, str(exc))
        if stored != expected:
            raise StaleResultError(
                f"the stored result of task {task_name!r} of workflow {workflow_name!r} "
                f"({self._files.display(path)}) was saved with another fingerprint than "
                "the one expected: another run, with other code, arguments or upstream "
                "results, replaced it. Run the node again (a backend resuming the "
                "workflow does so itself)."
            )


def _from_index(
    snapshot: Snapshot, names: list[str], found: dict[str, bytes | StorageIntegrityError | None]
) -> list[str]:
    """Put in ``found`` the stamps of ``names`` that ``snapshot`` vouches for; return
    the names whose headers must still be read (names not listed are not stored)."""
    unread = []
    for name in names:
        filename = encode_name(name)
        if filename not in snapshot.validators:
            continue
        entry = snapshot.trusted.get(filename)
        if entry is not None and entry.task_name == name:
            found[name] = entry.fingerprint or None
        else:
            unread.append(name)
    return unread


class _Prefetched:
    """A storage's ``read_task`` over files fetched already (for
    :meth:`FileStorage.read_tasks`): each is served once from memory, as read; a file
    not among them is read from the storage."""

    __slots__ = ("_fetched", "_storage")

    def __init__(self, storage: _Reads, fetched: dict[str, bytearray | FileNotFoundError]) -> None:
        self._storage = storage
        self._fetched = fetched

    def read_task(
        self, workflow_name: str, task_name: str, *, fingerprint: bytes | str | None = None
    ) -> Any:
        return self._storage._read_task(workflow_name, task_name, fingerprint, self._fetched)
