"""WriteBehind: uploads that overlap the work, with the memory they hold bounded.

On a remote filesystem a save is a round trip (or two) to the endpoint; a run that
waits for each in turn spends its time waiting. A storage there packs each result in
the caller's thread — the bytes are taken at once, so the object may change as soon as
``save`` returns — and hands the upload to a small thread pool, shared by the process.
The bytes waiting to be uploaded are bounded (``write_behind_bytes``, per storage): a
save that would pass the bound waits for earlier uploads to finish, and a result larger
than the bound is uploaded in the caller's thread.

Order and visibility: an upload to a path waits for an earlier one to the same path,
and whatever reads, lists or removes a path (or a folder) first waits for the uploads
under it. :meth:`WriteBehind.wait_all` waits for every upload and returns the failed
ones; the storage's ``flush`` raises them (the core calls it before ``run()`` returns,
and a remote worker before it reports a node done). An upload is one whole object, so
a crash leaves the old result or the new one, never a part.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, final

__all__ = ["DEFAULT_WRITE_BEHIND_BYTES", "Failure", "WriteBehind"]

#: Bytes of results a storage may hold waiting for upload, unless configured.
DEFAULT_WRITE_BEHIND_BYTES: Final = 64 * 1024 * 1024
#: Uploads in flight at once, for the whole process (each mostly waits on the network).
UPLOAD_THREADS: Final = 16

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="functionfuse-upload")
        return _pool


def _forget_pool() -> None:
    # A forked child has the pool's state but not its threads: it makes its own.
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


@final
@dataclass(frozen=True)
class Failure:
    """An upload that failed: where, of which task, and why."""

    path: str
    task_name: str
    error: BaseException


@final
class WriteBehind:
    """The pending uploads of one storage (thread-safe)."""

    __slots__ = ("_changed", "_failures", "_limit", "_lock", "_pending", "_pending_bytes")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pending: dict[str, threading.Event] = {}
        self._pending_bytes = 0
        self._failures: dict[str, Failure] = {}

    def accepts(self, size: int) -> bool:
        """Whether a result of ``size`` bytes may be uploaded in the background."""
        return 0 < size <= self._limit

    def submit(self, path: str, task_name: str, size: int, upload: Callable[[], object]) -> None:
        """Run ``upload`` (of ``size`` bytes, to ``path``) in the background, once the
        bytes pending leave room for it and an earlier upload to ``path`` is done."""
        self.wait(path, check=False)
        done = threading.Event()

        def run() -> None:
            error: BaseException | None = None
            try:
                upload()
            except BaseException as exc:
                error = exc
            # Recorded before anyone waiting for ``done`` wakes up.
            with self._changed:
                if self._pending.get(path) is done:
                    del self._pending[path]
                self._pending_bytes -= size
                if error is not None:
                    self._failures[path] = Failure(path, task_name, error)
                self._changed.notify_all()
            done.set()

        with self._changed:
            while self._pending_bytes and self._pending_bytes + size > self._limit:
                self._changed.wait()
            self._pending_bytes += size
            self._failures.pop(path, None)  # this save replaces the failed one
            self._pending[path] = done
        try:
            _shared_pool().submit(run)
        except BaseException:
            with self._changed:
                del self._pending[path]
                self._pending_bytes -= size
                self._changed.notify_all()
            raise

    def wait(self, path: str, check: bool = True) -> Failure | None:
        """Wait for the upload to ``path``, if one is pending; with ``check``, return
        its failure (kept for :meth:`wait_all` too)."""
        if not self._pending and not self._failures:
            return None  # the usual case: nothing written behind
        with self._lock:
            pending = self._pending.get(path)
        if pending is not None:
            pending.wait()
        if not check:
            return None
        with self._lock:
            return self._failures.get(path)

    def wait_under(self, folder: str) -> None:
        """Wait for every upload to a path in ``folder`` (at any depth)."""
        if not self._pending:
            return
        prefix = folder.rstrip("/") + "/"
        with self._lock:
            pending = [e for p, e in self._pending.items() if p.startswith(prefix)]
        for event in pending:
            event.wait()

    def wait_all(self) -> list[Failure]:
        """Wait for every upload; return (and forget) those that failed, in path order."""
        with self._changed:
            while self._pending:
                self._changed.wait()
            failures = [self._failures[p] for p in sorted(self._failures)]
            self._failures.clear()
            return failures
