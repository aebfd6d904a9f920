"""FileStorage: node results on the local disk, S3, memory or any fsspec URL."""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from functionfuse import ConfigurationError, StorageError
from functionfuse_fs._config import (
    DEFAULT_WRITE_BEHIND_BYTES,
    LOCAL_PROTOCOLS,
    Options,
    check_url_credentials,
    display_url,
    get_protocol,
    is_s3,
    parse_config,
    parse_url_options,
    resolve_key,
)
from functionfuse_fs._files import Files, FsspecFiles, LocalFiles
from functionfuse_fs._format import Signer, pack_result
from functionfuse_fs._names import encode_name
from functionfuse_fs._pickling import dumps
from functionfuse_fs._reads import _Reads
from functionfuse_fs._removal import _Removal
from functionfuse_fs._runs import list_records, read_record, save_record
from functionfuse_fs._serializers import PersistentSerializer, check_serializer

if TYPE_CHECKING:
    from functionfuse_fs._writer import Session

__all__ = ["FileStorage", "MemoryStorage", "S3Storage"]


class FileStorage(_Reads, _Removal):
    """Stores node results under ``<root>/<workflow>/<task>``, on any filesystem.

    ``path_or_url`` is a local folder (``"storage"``, ``"~/runs"``, ``"file:///data"``)
    or an fsspec URL (``"s3://bucket/prefix"``, ``"memory://scratch"``,
    ``"gcs://bucket/x"``); ``storage_options`` go to the fsspec filesystem.
    With a ``signing_key`` (or ``$FUNCTIONFUSE_STORAGE_KEY``) every result is signed with
    keyed BLAKE3 and only results signed with that key are read; without one, an
    XXH3-128 checksum catches corruption and truncation, but anyone who can write the
    storage can make ``read_task`` unpickle what they like: trust it like a pickle file.
    ``always_read`` asks backends to re-read each result after saving it. ``fsync``
    makes local writes durable across power loss (slower; see the README).
    ``write_behind_bytes``: during a run on a remote filesystem (S3...), results are
    uploaded in the background while the run goes on, holding at most this many bytes
    waiting (0: upload each in the caller's thread); see :meth:`write_behind`. The run
    calls :meth:`flush` before ``run()`` returns.

    ``S3Storage`` and ``MemoryStorage`` are the same storage for the ``s3`` and
    ``memory`` configuration kinds: they read a bare path as ``s3://`` or ``memory://``.
    """

    __slots__ = (
        "_by_name",
        "_by_type",
        "_files",
        "_folders",
        "_fsync",
        "_key",
        "_protocol",
        "_remote",
        "_root",
        "_signer",
        "_storage_options",
        "_target",
        "_url",
        "_write_behind",
        "always_read",
    )

    #: Protocols this class accepts; the first is assumed for a path without one.
    #: None: any fsspec protocol, and a bare path is a local folder.
    protocols: ClassVar[tuple[str, ...] | None] = None

    always_read: bool

    def __init__(
        self,
        path_or_url: str | os.PathLike[str],
        storage_options: Mapping[str, Any] | None = None,
        *,
        signing_key: str | bytes | None = None,
        always_read: bool = False,
        fsync: bool = False,
        write_behind_bytes: int = DEFAULT_WRITE_BEHIND_BYTES,
    ) -> None:
        if isinstance(write_behind_bytes, bool) or not (
            isinstance(write_behind_bytes, int) and write_behind_bytes >= 0
        ):
            raise ConfigurationError(
                "write_behind_bytes is the number of bytes of results that may wait for "
                f"upload (0 to upload each in turn), got {write_behind_bytes!r}"
            )
        self._setup(
            os.fspath(path_or_url),
            dict(storage_options or {}),
            resolve_key(signing_key),
            always_read,
            fsync,
            (),
            write_behind_bytes,
        )

    # -- configuration --------------------------------------------------------------------

    @classmethod
    def from_config(cls, options: Mapping[str, Any]) -> FileStorage:
        """Build from a configuration's ``options``, e.g. ``{"path": "storage"}``.

        Keys: ``path`` (required), ``storage_options`` (or ``s3fs``, its name in the
        original Function Fuse's S3 config), ``signing_key``, ``always_read``, ``fsync``,
        ``write_behind_bytes``.
        """
        path, opts, used_s3fs = parse_config(cls._kind(), options)
        return cls._build(path, opts, used_s3fs)

    @classmethod
    def from_url(cls, url: str, options: Mapping[str, Any] | None = None) -> FileStorage:
        """Build from a URL such as ``"s3://bucket/prefix"`` or a local path.

        ``options`` are fsspec storage options (``endpoint_url``, ``key``, ``secret``
        for S3...), except ``signing_key``, ``always_read``, ``fsync`` and
        ``write_behind_bytes``, which are this storage's own, as in :meth:`from_config`.
        """
        opts = parse_url_options(cls._kind(), options or {})
        return cls._build(url, opts, False)

    @classmethod
    def _build(cls, target: str, opts: Options, used_s3fs: bool) -> FileStorage:
        if used_s3fs and not is_s3(cls._protocol_of(target)):
            raise ConfigurationError(
                f"{cls._kind()} option 's3fs' only applies to s3:// storage, not to "
                f"{display_url(target)!r}; use 'storage_options'"
            )
        return cls(
            target,
            opts.storage_options,
            signing_key=opts.signing_key,
            always_read=opts.always_read,
            fsync=opts.fsync,
            write_behind_bytes=(
                DEFAULT_WRITE_BEHIND_BYTES
                if opts.write_behind_bytes is None
                else opts.write_behind_bytes
            ),
        )

    @classmethod
    def _protocol_of(cls, target: str) -> str:
        if "://" in target or "::" in target:
            return get_protocol(target)
        return cls.protocols[0] if cls.protocols else "file"

    @classmethod
    def _kind(cls) -> str:
        return f"{cls.__name__} ({cls.protocols[0]})" if cls.protocols else cls.__name__

    def _setup(
        self,
        target: str,
        storage_options: dict[str, Any],
        key: bytes | None,
        always_read: bool,
        fsync: bool,
        serializers: tuple[PersistentSerializer, ...],
        write_behind_bytes: int = DEFAULT_WRITE_BEHIND_BYTES,
    ) -> None:
        cls = type(self)
        protocol = cls._protocol_of(target)
        if cls.protocols is not None:
            if protocol not in cls.protocols:
                raise ConfigurationError(
                    f"{cls.__name__} stores to {cls.protocols[0]}:// URLs, not to "
                    f"{display_url(target)!r}; use FileStorage for any other URL"
                )
            if "://" not in target:
                target = f"{protocol}://{target}"
        check_url_credentials(target)
        self._target = target
        self._storage_options = storage_options
        self._key = key
        self._signer = Signer(key)
        self._fsync = fsync
        self._write_behind = write_behind_bytes
        self._remote = None
        self.always_read = always_read
        self._folders: dict[str, str] = {}
        self._by_type: dict[type[Any], PersistentSerializer] = {}
        self._by_name: dict[str, PersistentSerializer] = {}
        self._files: Files
        if protocol in LOCAL_PROTOCOLS and "::" not in target:
            if storage_options:
                raise ConfigurationError(
                    f"storage_options only apply to fsspec URLs, not to the local folder "
                    f"{display_url(target)!r}; remove them"
                )
            path = target.split("://", 1)[1] if "://" in target else target
            self._protocol = "file"
            self._root = os.path.abspath(os.path.expanduser(path))
            self._url = self._root
            # Shipped to workers as the absolute folder: a relative path or ``~`` would
            # resolve against each worker's own working and home directories.
            self._target = self._root
            self._files = LocalFiles(fsync)
        else:
            files, root = FsspecFiles.open(target, protocol, storage_options)
            self._protocol = protocol
            self._root = root.rstrip("/") or root
            self._url = display_url(target)
            # memory:// is in this process: nothing to wait for, no listing to spare.
            self._files = files
            if protocol != "memory":
                from functionfuse_fs._remote import RemoteFiles  # its uploader and index

                self._files = self._remote = RemoteFiles(files, protocol, key, write_behind_bytes)
        self.register_persistent_serializers(*serializers)

    @property
    def keeps_fingerprints(self) -> bool:
        """True: ``save``, ``read_task`` and ``read_fingerprints`` honour fingerprints
        (see :class:`functionfuse.contracts.FingerprintStorage`) — unless a subclass
        overrides ``save`` or ``read_task`` without the ``fingerprint`` keyword: that
        one resumes by name."""
        return _takes_fingerprints(type(self))

    @property
    def url(self) -> str:
        """Where results are stored: a local folder or a URL (never with credentials)."""
        return self._url

    @property
    def protocol(self) -> str:
        """The fsspec protocol: ``"file"``, ``"s3"``, ``"memory"``..."""
        return self._protocol

    def __repr__(self) -> str:
        # Protocol and root only: never storage options, credentials or the key.
        return f"{type(self).__name__}({self._url!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its settings where it lands (e.g. a Ray worker), key included,
        # so the worker signs like the driver whatever its environment holds.
        return (
            _restore,
            (
                type(self),
                self._target,
                self._storage_options,
                self._key,
                self.always_read,
                self._fsync,
                tuple(self._by_name.values()),
                self._write_behind,
            ),
        )

    def register_persistent_serializers(self, *serializers: PersistentSerializer) -> None:
        """Store objects of the serializers' types in files beside each result.

        Side files live in ``<workflow>/.side/<task>/``, are checked by SHA-256 (covered
        by the result's digest or signature) and are removed with the task. A new save
        of a task leaves the side files of earlier saves (a concurrent save may still
        reference them): :meth:`collect_garbage` removes them. A serializer registered
        later replaces one with the same type or name.
        """
        for serializer in serializers:
            serializer = check_serializer(serializer)
            for old in [s for s in self._by_name.values() if s.type is serializer.type]:
                del self._by_name[old.name]
            self._by_type[serializer.type] = serializer
            self._by_name[serializer.name] = serializer

    # -- the storage contract --------------------------------------------------------------
    # The reads are in functionfuse_fs._reads, the removals in functionfuse_fs._removal.

    def new_workflow(self, workflow_name: str) -> None:
        """Prepare the folder of ``workflow_name`` (nothing to do on object stores)."""
        self._files.makedirs(self._folder(workflow_name))

    def save(
        self,
        workflow_name: str,
        task_name: str,
        obj: object,
        *,
        fingerprint: bytes | str | None = None,
    ) -> int:
        """Store ``obj`` as the result of ``task_name``, replacing any earlier one;
        return the bytes written (the result and its side files), for run records.

        The result is pickled into memory first; then it is written whole or not at all.
        ``fingerprint`` (opaque, up to 64 KiB) is kept in the header for
        :meth:`read_fingerprint`. Raises :class:`functionfuse.StorageError` when ``obj``
        cannot be pickled (nothing is written) or the write fails.

        Side files are written first, then the result; a save never deletes a file, so
        concurrent saves of one task (other threads or processes) leave the result of
        one of them, whole and with its side files.

        Links: a link at the result's name is replaced, never written through; side
        files are never written through a link (StorageError). A workflow folder that is
        a link (a workflow kept on another disk) is saved through, but there a save
        replaces only this task's own result: anything else of that name is left, and a
        StorageError names it.
        """
        folder = self._folder(workflow_name)
        filename = encode_name(task_name)
        try:
            stream, buffers, side_files = dumps(obj, self._by_type)
        except Exception as exc:
            raise StorageError(
                f"cannot save the result of task {task_name!r} of workflow "
                f"{workflow_name!r}: it cannot be pickled ({type(exc).__name__}: "
                f"{str(exc).rstrip('.')}). Return a picklable value, or exclude the node "
                "from storage; nothing was stored."
            ) from exc
        if isinstance(fingerprint, str):
            fingerprint = fingerprint.encode("utf-8", "surrogatepass")
        try:
            pieces = pack_result(
                self._signer, workflow_name, task_name, fingerprint or b"", stream, buffers
            )
        except ValueError as exc:
            raise StorageError(
                f"cannot save the result of task {task_name[:80]!r} of workflow "
                f"{workflow_name[:80]!r}: {exc}"
            ) from None
        files = self._files
        path = files.join(folder, filename)
        if files.has_links:
            self._check_save_links(workflow_name, task_name, folder, path, bool(side_files))
        try:
            if side_files or self._by_type:
                self._write_side_files(folder, filename, side_files)
            files.write_atomic(
                folder,
                path,
                pieces,
                lambda: self._signer.digest(pieces, workflow_name, task_name),
            )
        except Exception as exc:
            raise StorageError(
                f"cannot write the result of task {task_name!r} of workflow "
                f"{workflow_name!r} to {files.display(path)}: {type(exc).__name__}: {exc}"
            ) from exc
        return sum(map(len, pieces)) + self._signer.digest_size + sum(map(len, side_files.values()))

    def write_behind(self) -> Session | None:
        """Let :meth:`save` return before its upload ends, until :meth:`flush` of the
        session returned — what a run does, flushing before ``run()`` returns. Applies
        on remote filesystems (S3...) with ``write_behind_bytes`` > 0, to the saves
        made in the caller's context (its thread; a save from another thread, or
        outside a session, is done when it returns); elsewhere it returns None. Reads,
        listings and removals through this storage object see a pending save; other
        processes see it after the flush. Runs sharing this object each get their own
        session: a failed upload is reported to the run that saved it."""
        remote = self._remote
        return remote.write_behind() if remote is not None else None

    def flush(self, session: Session | None = None) -> None:
        """End ``session`` (from :meth:`write_behind`): return once every result saved
        under it is durable (uploads written behind finished), and bring the indexes
        of the workflows listed here up to date.

        Raises :class:`functionfuse.StorageError` when an upload of that session
        failed, naming its task (also as the error's ``task_name``); the other results
        are stored. Without a session, waits for every upload and raises nothing (a
        failure is its session's). Backends call it before ``run()`` returns; on
        local disk and ``memory://`` every save is already done when it returns."""
        if self._remote is not None:
            self._remote.flush(session)

    def make_durable(self, workflow_name: str, task_name: str) -> None:
        """Return once the last save of ``task_name`` is durable — what a worker does
        before it reports a node done. Raises :class:`functionfuse.StorageError`
        (with ``task_name``) when its upload failed. Unlike :meth:`flush`, it ends no
        session and reports no other save's failure."""
        remote = self._remote
        if remote is not None:
            remote.make_durable(remote.join(self._folder(workflow_name), encode_name(task_name)))

    def file_exists(self, workflow_name: str, task_name: str) -> bool:
        """Whether a result is stored for ``task_name`` (it is not read or checked)."""
        return self._files.isfile(
            self._files.join(self._folder(workflow_name), encode_name(task_name))
        )

    def list_tasks(self, workflow_name: str, pattern: str = "*") -> list[str]:
        """Sorted names of the stored tasks of ``workflow_name`` matching the glob
        ``pattern`` (matched against the names, case-sensitively); ``[]`` for an
        unknown workflow.

        A file counts as a stored result only when its header names the task stored
        under its file name and, when this storage has a key, says it is signed: other
        files in the workflow's folder are neither listed nor removed by pattern. The
        headers are read in one batch, as in :meth:`read_fingerprints` (on S3, only
        those the workflow's index does not vouch for); digests are not checked (a
        result damaged past its header is listed, and refused when read).
        """
        return [name for name, _ in self._results(self._folder(workflow_name), pattern)]

    # -- run records (functionfuse.contracts.RunRecordStorage) -----------------------------

    def save_run_record(self, workflow_name: str, run_id: str, data: bytes) -> None:
        """Keep the record of run ``run_id`` (gzip-compressed JSON) under
        ``<workflow>/.runs/``, replacing the one it wrote before; whole or not at all."""
        save_record(self._files, self._folder(workflow_name), workflow_name, run_id, data)

    def list_run_records(self, workflow_name: str) -> list[str]:
        """The ids of the runs of ``workflow_name`` with a record, oldest first."""
        return list_records(self._files, self._folder(workflow_name))

    def read_run_record(self, workflow_name: str, run_id: str) -> bytes:
        """The record of run ``run_id`` as saved; ``FileNotFoundError`` when none."""
        return read_record(self._files, self._folder(workflow_name), workflow_name, run_id)

    # -- helpers ---------------------------------------------------------------------------

    def _write_side_files(self, folder: str, filename: str, side_files: dict[str, bytes]) -> None:
        side_folder = self._side_folder(folder, filename)
        for name, data in side_files.items():
            self._files.write_atomic(side_folder, self._files.join(side_folder, name), (data,))


class S3Storage(FileStorage):
    """FileStorage for the ``s3`` kind: ``"bucket/prefix"`` means ``s3://bucket/prefix``."""

    __slots__ = ()
    protocols = ("s3", "s3a")


class MemoryStorage(FileStorage):
    """FileStorage for the ``memory`` kind: ``"name"`` means ``memory://name``.

    fsspec's memory filesystem is shared by the whole process and gone when it ends.
    """

    __slots__ = ()
    protocols = ("memory",)


_TAKES_FINGERPRINTS: dict[type[FileStorage], bool] = {}


def _takes_fingerprints(cls: type[FileStorage]) -> bool:
    """Whether ``cls``'s ``save`` and ``read_task`` take ``fingerprint=`` (once per class)."""
    found = _TAKES_FINGERPRINTS.get(cls)
    if found is None:
        found = _TAKES_FINGERPRINTS[cls] = all(
            any(
                p.name == "fingerprint" or p.kind is inspect.Parameter.VAR_KEYWORD
                for p in inspect.signature(method).parameters.values()
            )
            for method in (cls.save, cls.read_task)
        )
    return found


def _restore(
    cls: type[FileStorage],
    target: str,
    storage_options: dict[str, Any],
    key: bytes | None,
    always_read: bool,
    fsync: bool,
    serializers: tuple[PersistentSerializer, ...],
    write_behind_bytes: int = DEFAULT_WRITE_BEHIND_BYTES,
) -> FileStorage:
    storage = cls.__new__(cls)
    storage._setup(
        target, storage_options, key, always_read, fsync, serializers, write_behind_bytes
    )
    return storage
