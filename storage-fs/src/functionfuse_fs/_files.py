"""The few file operations a storage needs, for the local disk and for fsspec.

Local paths go straight to ``os`` (fast, and fsspec is never imported); every other
URL goes through an fsspec filesystem. Both write a whole file or nothing:
a temporary file in the same folder and ``os.replace`` locally, one ``pipe_file``
(a single PUT, or a completed multipart upload) elsewhere.

Symbolic links: a write replaces a link at its path (never the file it points to), a
removal removes a link itself, and :meth:`Files.islink` tells the storage where links
are, so that it can refuse to delete through one (see ``FileStorage``).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import queue
import shutil
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, final

from functionfuse import ComponentLoadError, ConfigurationError
from functionfuse_fs._config import display_url, is_s3

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem  # type: ignore[import-untyped]

__all__ = ["Files", "FsspecFiles", "LocalFiles", "OnChunk", "ReadBuffer", "TEMP_PREFIX"]

#: Temporary files start with a dot, so listings skip them like every dot-file.
TEMP_PREFIX: Final = ".tmp-"
_CREATE: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
_READ: Final = os.O_RDONLY | getattr(os, "O_BINARY", 0)
#: From this size on, the digest is computed in a thread while the file is written.
PARALLEL_TRAILER_MIN: Final = 256 * 1024
#: From this size on, a local read goes into anonymous memory in huge pages, read in a
#: thread while the caller hashes the chunks already in.
LARGE_READ_MIN: Final = 1024 * 1024
#: Bytes per read of a large file: a chunk is still in the CPU's cache when it is hashed.
READ_CHUNK: Final = 1024 * 1024
#: From this size on, a local write reserves the file's blocks first.
PREALLOCATE_MIN: Final = 1024 * 1024
# Object stores have no folders to create, and creating one there would create a bucket.
_OBJECT_STORES: Final = frozenset(
    ["s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl", "oss", "r2", "b2"]
)

Bytes = bytes | bytearray | memoryview
#: What a read returns: writable memory holding the whole file.
ReadBuffer = bytearray | mmap.mmap
#: Told, as a read goes, the buffer being filled and how many bytes of it are in.
OnChunk = Callable[[memoryview, int], None]


class Files(Protocol):
    """File operations on paths of one filesystem."""

    @property
    def has_links(self) -> bool:
        """Whether paths here may be symbolic links (False: :meth:`islink` is always
        False, and costs nothing)."""

    def islink(self, path: str) -> bool:
        """Whether ``path`` itself is a symbolic link (or a Windows junction), wherever
        it points; False when nothing is there."""

    def list_links(self, folder: str) -> list[str]:
        """Names of the symbolic links in ``folder``; ``[]`` if it does not exist."""

    def join(self, folder: str, name: str) -> str: ...

    def display(self, path: str) -> str: ...

    def makedirs(self, path: str) -> None: ...

    def write_atomic(
        self,
        folder: str,
        path: str,
        pieces: Sequence[Bytes],
        trailer: Callable[[], bytes] | None = None,
    ) -> str | None:
        """Write ``pieces`` (flat: ``len`` counts bytes), then ``trailer()`` (a digest
        of the pieces), as the file ``path``: whole, or not at all. Returns what a
        listing will show for this file's bytes when the filesystem says (an S3 ETag),
        else None."""

    def read(self, path: str, on_chunk: OnChunk | None = None) -> ReadBuffer:
        """The whole file, in writable memory (so that arrays unpickled from views of it
        are writable, as unpickled arrays usually are). Where the read streams (large
        local files), ``on_chunk`` is called as the bytes come in; it may not be called
        at all."""

    def read_head(self, path: str, size: int) -> bytes: ...

    def read_heads(self, paths: list[str], size: int) -> list[bytes | Exception]: ...

    def isfile(self, path: str) -> bool: ...

    def list_files(self, folder: str) -> list[str]: ...

    def list_folders(self, folder: str) -> list[str]: ...

    def remove_file(self, path: str) -> None:
        """Remove the file ``path``; a link is removed itself, not what it points to."""

    def remove_tree(self, path: str) -> None:
        """Remove the folder ``path`` and everything in it, removing the links in it
        rather than following them; nothing happens if it does not exist."""


def _isjunction(path: str) -> bool:
    # os.path.isjunction is new in Python 3.12; older ones see no junctions.
    isjunction: Callable[[str], bool] | None = getattr(os.path, "isjunction", None)
    return isjunction is not None and isjunction(path)


def _entry_is_link(entry: os.DirEntry[str]) -> bool:
    is_junction: Callable[[], bool] | None = getattr(entry, "is_junction", None)
    return entry.is_symlink() or (is_junction is not None and is_junction())


@final
class LocalFiles:
    """The local disk through ``os``; ``fsync`` makes writes durable across power loss."""

    __slots__ = ("fsync",)

    def __init__(self, fsync: bool) -> None:
        self.fsync = fsync

    @property
    def has_links(self) -> bool:
        return True

    def islink(self, path: str) -> bool:
        return os.path.islink(path) or _isjunction(path)

    def list_links(self, folder: str) -> list[str]:
        try:
            with os.scandir(folder) as entries:
                return [e.name for e in entries if _entry_is_link(e)]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def join(self, folder: str, name: str) -> str:
        # Names are single, encoded path components: no os.path.join needed.
        return f"{folder}{os.sep}{name}"

    def display(self, path: str) -> str:
        return path

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def write_atomic(
        self,
        folder: str,
        path: str,
        pieces: Sequence[Bytes],
        trailer: Callable[[], bytes] | None = None,
    ) -> None:
        hasher: _Trailer | None = None
        total = sum(map(len, pieces))
        if total < PARALLEL_TRAILER_MIN:
            # Small: one buffer, one write.
            pieces = [b"".join([*pieces, trailer()] if trailer is not None else pieces)]
        elif trailer is not None:
            hasher = _Trailer(trailer)
        tmp = f"{folder}{os.sep}{TEMP_PREFIX}{os.urandom(8).hex()}"
        try:
            # The open is inside the cleanup: Ctrl-C may land just after it returns.
            try:
                try:
                    fd = os.open(tmp, _CREATE, 0o666)
                except FileNotFoundError:
                    # No folder yet (no new_workflow, or removed meanwhile): create it.
                    os.makedirs(folder, exist_ok=True)
                    fd = os.open(tmp, _CREATE, 0o666)
                try:
                    if total >= PREALLOCATE_MIN:
                        _preallocate(fd, total)
                    for piece in pieces:
                        _write_all(fd, piece)
                    if hasher is not None:
                        _write_all(fd, hasher.result())
                    if self.fsync:
                        os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, path)
            except FileExistsError:
                raise  # from the exclusive open: that file is not ours to remove
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        finally:
            if hasher is not None:
                hasher.join()
        if self.fsync:
            _fsync_folder(folder)

    def read(self, path: str, on_chunk: OnChunk | None = None) -> ReadBuffer:
        # Read into place: the out-of-band buffers of the result are views of what is
        # returned, never copied again. Not a memory-mapped file: the arrays would see
        # a file replaced or truncated under them (SIGBUS), and be read-only or shared.
        with open(path, "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            data = _allocate(size)
            view = memoryview(data)
            if on_chunk is not None and size >= LARGE_READ_MIN:
                got = _read_in_thread(f, view, size, on_chunk)
            else:
                got = _read_into(f, view, size)
        if got < size:  # the file shrank while it was read
            data = bytearray(view[:got])
        return data

    def read_head(self, path: str, size: int) -> bytes:
        # os.open/os.read: half the cost of a buffered open() for a few bytes, which
        # counts when a resume reads the header of every stored result.
        fd = os.open(path, _READ)
        try:
            return os.read(fd, size)
        finally:
            os.close(fd)

    def read_heads(self, paths: list[str], size: int) -> list[bytes | Exception]:
        """The first ``size`` bytes of each file, or the error reading it; in turn."""
        heads: list[bytes | Exception] = []
        for path in paths:
            try:
                heads.append(self.read_head(path, size))
            except OSError as exc:
                heads.append(exc)
        return heads

    def isfile(self, path: str) -> bool:
        return os.path.isfile(path)

    def list_files(self, folder: str) -> list[str]:
        try:
            with os.scandir(folder) as entries:
                return [e.name for e in entries if e.is_file()]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def list_folders(self, folder: str) -> list[str]:
        try:
            with os.scandir(folder) as entries:
                return [e.name for e in entries if e.is_dir(follow_symlinks=False)]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def remove_file(self, path: str) -> None:
        os.remove(path)

    def remove_tree(self, path: str) -> None:
        # rmtree removes the links inside without following them (and refuses a link
        # at ``path``: the storage checks for that first, to say what to do).
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(path)


@final
class _Trailer:
    """Computes the trailer in a thread while the pieces are written: hashing releases
    the GIL, so on a big result the digest adds little to the time of the write."""

    __slots__ = ("_error", "_thread", "_trailer", "_value")

    def __init__(self, trailer: Callable[[], bytes]) -> None:
        self._trailer = trailer
        self._value: bytes | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="functionfuse-digest")
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._trailer()
        except BaseException as exc:
            self._error = exc

    def join(self) -> None:
        self._thread.join()

    def result(self) -> bytes:
        self.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


#: Whether large reads go to private anonymous memory in huge pages (Linux).
_HUGE_PAGES: Final = hasattr(mmap, "MADV_HUGEPAGE") and hasattr(mmap, "MAP_ANONYMOUS")


def _allocate(size: int) -> ReadBuffer:
    """Writable memory for ``size`` bytes. Large: private anonymous memory in huge
    pages where the OS has them (as numpy allocates its arrays; a bytearray would be
    zeroed first and fault in 4 KiB pages, costing more than the read itself)."""
    if size < LARGE_READ_MIN or not _HUGE_PAGES:
        return bytearray(size)
    memory = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    with contextlib.suppress(OSError):
        memory.madvise(mmap.MADV_HUGEPAGE)
    return memory


def _read_into(f: Any, view: memoryview, size: int) -> int:
    """Fill ``view[:size]`` from ``f``; return where the file ended."""
    got = 0
    while got < size:
        n = f.readinto(view[got : min(size, got + READ_CHUNK)])
        if not n:
            break
        got += n
    return got


def _read_in_thread(f: Any, view: memoryview, size: int, on_chunk: OnChunk) -> int:
    """Fill ``view`` from ``f`` in a thread, calling ``on_chunk`` here as each chunk
    comes in: reading and hashing release the GIL, so they overlap."""
    progress: queue.SimpleQueue[int | BaseException] = queue.SimpleQueue()
    stop = threading.Event()

    def reader() -> None:
        got = 0
        try:
            while got < size and not stop.is_set():
                n = f.readinto(view[got : min(size, got + READ_CHUNK)])
                if not n:
                    break
                got += n
                progress.put(got)
        except BaseException as exc:
            progress.put(exc)
        progress.put(-1)

    thread = threading.Thread(target=reader, name="functionfuse-read")
    thread.start()
    got = 0
    try:
        while True:
            item = progress.get()
            if isinstance(item, BaseException):
                raise item
            if item < 0:
                return got
            got = item
            on_chunk(view, got)
    finally:
        stop.set()
        thread.join()


_FALLOCATE: list[Callable[[int, int], object]] = []


def _preallocate(fd: int, size: int) -> None:
    """Reserve ``size`` bytes of disk for ``fd`` up front, as numpy's ``tofile`` does:
    a large write then takes a third less time on ext4. Linux only, without changing
    the file's size (``FALLOC_FL_KEEP_SIZE``); a filesystem that cannot is left to
    allocate as it writes."""
    if sys.platform != "linux" or sys.maxsize <= 2**32:
        return
    if not _FALLOCATE:
        import ctypes

        try:
            function = ctypes.CDLL(None).fallocate
        except (OSError, AttributeError):
            _FALLOCATE.append(lambda fd, size: None)
        else:
            function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
            function.restype = ctypes.c_int
            keep_size = 1
            _FALLOCATE.append(lambda fd, size: function(fd, keep_size, 0, size))
    _FALLOCATE[0](fd, size)


def _write_all(fd: int, data: Bytes) -> None:
    written = os.write(fd, data)
    if written < len(data):  # a short write (e.g. over 2 GiB at once on Linux)
        with memoryview(data) as view:
            while written < len(view):
                written += os.write(fd, view[written:])


def _load_error(url: str, protocol: str, what: str) -> ComponentLoadError:
    return ComponentLoadError(
        f"storage {display_url(url)!r} {what}",
        group="functionfuse.storage",
        name=protocol,
        distribution="functionfuse-fs",
    )


def _fsync_folder(folder: str) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@final
class FsspecFiles:
    """Any fsspec filesystem; listings bypass fsspec's cache (other writers exist)."""

    __slots__ = ("_fs", "_links", "_object_store", "_protocol")

    def __init__(self, fs: AbstractFileSystem, protocol: str) -> None:
        self._fs = fs
        self._protocol = protocol
        self._object_store = protocol in _OBJECT_STORES
        # Until an info() without "islink" shows that this filesystem does not report
        # links (fsspec's local filesystem does; object stores have none).
        self._links = not self._object_store and protocol != "memory"

    @classmethod
    def open(
        cls, url: str, protocol: str, storage_options: dict[str, Any]
    ) -> tuple[FsspecFiles, str]:
        """The files of ``url`` and the root path in them; a missing package is an
        import error that says what to install."""
        try:
            from fsspec.core import url_to_fs  # type: ignore[import-untyped]
        except ImportError as exc:
            raise _load_error(url, protocol, "needs fsspec: pip install functionfuse-fs") from exc
        try:
            fs, root = url_to_fs(url, **storage_options)
        except ImportError as exc:
            hint = 'pip install "functionfuse-fs[s3]"' if is_s3(protocol) else f"fsspec says: {exc}"
            raise _load_error(
                url,
                protocol,
                f"needs the fsspec implementation of {protocol}://, which is not installed: "
                + hint,
            ) from exc
        except ValueError as exc:
            if "protocol" not in str(exc).lower():
                raise
            raise ConfigurationError(
                f"storage {display_url(url)!r}: fsspec knows no protocol {protocol!r} ({exc})"
            ) from exc
        return cls(fs, protocol), str(root)

    @property
    def fs(self) -> AbstractFileSystem:
        """The fsspec filesystem."""
        return self._fs

    @property
    def has_links(self) -> bool:
        return self._links

    def islink(self, path: str) -> bool:
        if not self._links:
            return False
        try:
            info = self._fs.info(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        if "islink" not in info:
            self._links = False  # links are not reported here: nothing to check
            return False
        return bool(info["islink"])

    def list_links(self, folder: str) -> list[str]:
        if not self._links:
            return []
        self._fs.invalidate_cache(folder)
        try:
            entries = self._fs.ls(folder, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e.get("islink")]

    def join(self, folder: str, name: str) -> str:
        return f"{folder}/{name}"

    def display(self, path: str) -> str:
        return f"{self._protocol}://{path.lstrip('/')}"

    def makedirs(self, path: str) -> None:
        if not self._object_store:
            self._fs.makedirs(path, exist_ok=True)

    def write_atomic(
        self,
        folder: str,
        path: str,
        pieces: Sequence[Bytes],
        trailer: Callable[[], bytes] | None = None,
    ) -> str | None:
        if trailer is not None:
            pieces = [*pieces, trailer()]
        data = b"".join(pieces)
        if self._links and self.islink(path):
            # pipe_file would write into the file the link points to: replace the link.
            self._fs.rm_file(path)
        try:
            written = self._fs.pipe_file(path, data)
        except FileNotFoundError:
            if self._object_store:
                raise
            self._fs.makedirs(folder, exist_ok=True)
            written = self._fs.pipe_file(path, data)
        # s3fs answers a single PUT with the object's ETag: the index's validator.
        etag = written.get("ETag") if isinstance(written, dict) else None
        return etag if isinstance(etag, str) else None

    def read(self, path: str, on_chunk: OnChunk | None = None) -> ReadBuffer:
        return bytearray(self._fs.cat_file(path))

    def read_head(self, path: str, size: int) -> bytes:
        data = self._fs.cat_file(path, start=0, end=size)
        assert isinstance(data, bytes)
        return data

    def read_heads(self, paths: list[str], size: int) -> list[bytes | Exception]:
        """The first ``size`` bytes of each file, or the error reading it: one
        ``cat_ranges`` call, whose requests async filesystems (S3...) send concurrently
        rather than one round trip after another."""
        heads: list[bytes | Exception] = self._fs.cat_ranges(paths, 0, size, on_error="return")
        return heads

    def isfile(self, path: str) -> bool:
        self._fs.invalidate_cache(path)
        return bool(self._fs.isfile(path))

    def list_files(self, folder: str) -> list[str]:
        self._fs.invalidate_cache(folder)
        try:
            entries = self._fs.ls(folder, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e["type"] == "file"]

    def list_folders(self, folder: str) -> list[str]:
        self._fs.invalidate_cache(folder)
        try:
            entries = self._fs.ls(folder, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [
            e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e["type"] == "directory"
        ]

    def remove_file(self, path: str) -> None:
        # Object stores delete a missing key without complaint; say it like os does.
        if not self.isfile(path) and not self.islink(path):
            raise FileNotFoundError(path)
        self._fs.rm_file(path)

    def remove_tree(self, path: str) -> None:
        self._fs.invalidate_cache(path)
        if self._links:
            self._remove_links_in(path)
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm(path, recursive=True)
        self._fs.invalidate_cache(path)

    def _remove_links_in(self, path: str) -> None:
        """Remove the links under ``path`` first, outermost first, so that a recursive
        ``rm`` cannot follow one on a filesystem that would."""
        try:
            found = self._fs.find(path, withdirs=True, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return
        removed: list[str] = []
        for name in sorted(found, key=len):
            if found[name].get("islink") and not any(name.startswith(f"{r}/") for r in removed):
                self._fs.rm_file(name)
                removed.append(name.rstrip("/"))
