"""What every part of a FileStorage shares: where a result lives, how a stored file's
header is read and judged, which files are results, and the errors naming one.

:class:`_Results` is the base of :class:`~functionfuse_fs.FileStorage` and of the mixins
holding its reads (:mod:`functionfuse_fs._reads`), link checks
(:mod:`functionfuse_fs._links`) and removals (:mod:`functionfuse_fs._removal`); it is
apart from :mod:`functionfuse_fs._storage` so that those modules need not import the
class. It holds no state of its own: the attributes declared here are FileStorage's
slots, set by ``FileStorage._setup``.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, NoReturn

from functionfuse import StorageIntegrityError
from functionfuse_fs._files import Files
from functionfuse_fs._format import (
    HEADER_PROBE,
    FormatError,
    ResultHeader,
    Signer,
    another_task,
    header_size,
    parse_header,
)
from functionfuse_fs._names import decode_name, encode_name, glob_matcher, is_hashed_name
from functionfuse_fs._serializers import PersistentSerializer

if TYPE_CHECKING:  # imported when a remote filesystem is opened (see FileStorage._setup)
    from functionfuse_fs._index import Snapshot
    from functionfuse_fs._remote import RemoteFiles

__all__ = ["SIDE_FOLDER"]

#: Folder, inside a workflow's folder, holding persistent serializers' side files.
SIDE_FOLDER = ".side"


class _Results:
    """The helpers every part of FileStorage uses (see the module docstring)."""

    __slots__ = ()

    # FileStorage's slots (set by its _setup) that these helpers and the mixins read.
    _by_name: dict[str, PersistentSerializer]
    _files: Files
    _folders: dict[str, str]
    _remote: RemoteFiles | None  # _files, when it is a remote filesystem's
    _root: str
    _signer: Signer
    _url: str

    def _folder(self, workflow_name: str) -> str:
        folder = self._folders.get(workflow_name)
        if folder is None:
            folder = self._files.join(self._root, encode_name(workflow_name))
            self._folders[workflow_name] = folder
        return folder

    def _side_folder(self, folder: str, filename: str) -> str:
        return self._files.join(self._files.join(folder, SIDE_FOLDER), filename)

    def _results(self, folder: str, pattern: str) -> list[tuple[str, str]]:
        """(name, file name) of the stored results in ``folder`` whose names match
        ``pattern``, sorted by name: files whose header names their task (see
        :meth:`list_tasks`); on S3 the index vouches for most headers, the others are
        read in one batch."""
        files = self._files
        matches = glob_matcher(pattern)
        candidates: list[tuple[str | None, str]] = []
        snapshot = self._snapshot(folder)
        found = []
        for filename in files.list_files(folder) if snapshot is None else snapshot.validators:
            if filename.startswith("."):
                continue
            name = decode_name(filename)
            if name is None:
                if not is_hashed_name(filename):
                    continue  # no name this storage writes
            elif not matches(name):
                continue
            entry = snapshot.trusted.get(filename) if snapshot is not None else None
            if entry is not None:  # the index vouches for its header (see _index)
                if matches(entry.task_name):
                    found.append((entry.task_name, filename))
                continue
            candidates.append((name, filename))
        if not candidates:
            found.sort()
            return found
        paths = [files.join(folder, filename) for _, filename in candidates]
        heads = files.read_heads(paths, HEADER_PROBE)
        signed = self._signer.signed
        for (name, filename), path, head in zip(candidates, paths, heads, strict=True):
            if isinstance(head, Exception):
                continue  # gone since listed, or unreadable: not a result to list
            try:
                header = self._header_from(path, head)
            except (FormatError, OSError):
                continue
            if name is None:  # a hash-suffixed name: the full name is in the header
                if self._not_a_result(header, filename) is not None:
                    continue
                name = header.task_name
                if not matches(name):
                    continue
            elif header.task_name != name or (signed and not header.signed):
                continue  # what _not_a_result says, without encoding the name again
            found.append((name, filename))
        found.sort()
        return found

    def _snapshot(self, folder: str, reuse: bool = False) -> Snapshot | None:
        """The listing of ``folder`` with the index entries it makes trusted, where
        listings carry validators (S3); ``reuse``: the one :meth:`list_tasks` just took
        may do (a run lists, then reads stamps)."""
        remote = self._remote
        if remote is None or not remote.indexed:
            return None
        return remote.reuse_snapshot(folder) if reuse else remote.snapshot(folder)

    def _not_a_result(self, header: ResultHeader, filename: str) -> str | None:
        """Why a file with ``header``, stored as ``filename``, is not a result of this
        storage for that name; None if it is one."""
        if encode_name(header.task_name) != filename:
            return another_task(header.task_name)
        if self._signer.signed and not header.signed:
            return "it is not signed, and this storage has a key"
        return None

    def _header_at(self, path: str) -> ResultHeader:
        return self._header_from(path, self._files.read_head(path, HEADER_PROBE))

    def _header_from(self, path: str, head: bytes) -> ResultHeader:
        """Parse the header of ``path`` from ``head``, its first :data:`HEADER_PROBE`
        bytes; a longer header (a huge name or fingerprint) costs one more read."""
        if len(head) >= HEADER_PROBE:  # else the file ends inside the probe
            size = header_size(head)
            if size > len(head):
                head = self._files.read_head(path, size)
        return parse_header(head)

    def _not_found(self, workflow_name: str, task_name: str, path: str) -> NoReturn:
        raise FileNotFoundError(
            errno.ENOENT,
            f"no result is stored for task {task_name!r} of workflow {workflow_name!r} "
            f"(looked at {self._files.display(path)})",
        ) from None

    def _untrusted(
        self,
        workflow_name: str,
        task_name: str,
        path: str,
        reason: str,
        cause: BaseException | None = None,
    ) -> NoReturn:
        raise self._refusal(workflow_name, task_name, path, reason) from cause

    def _refusal(
        self, workflow_name: str, task_name: str, path: str, reason: str
    ) -> StorageIntegrityError:
        return StorageIntegrityError(
            f"the stored result of task {task_name!r} of workflow {workflow_name!r} "
            f"({self._files.display(path)}) cannot be used: {reason}. Remove it with "
            f"remove_task({workflow_name!r}, {task_name!r}) or re-run the node "
            "(a backend resuming the workflow re-runs it)."
        )
