"""WriteBehind: uploads that overlap the work, with the memory they hold bounded.

On a remote filesystem a save is a round trip (or two) to the endpoint; a run that
waits for each in turn spends its time waiting. A storage there packs each result in
the caller's thread — the bytes are taken at once, so the object may change as soon as
``save`` returns — and hands the upload to a small thread pool, shared by the process.
The bytes waiting to be uploaded are bounded (``write_behind_bytes``, per storage): a
save that would pass the bound waits for earlier uploads to finish, and a result larger
than the bound is uploaded in the caller's thread.

Sessions: a run opens a :class:`Session` (the storage's ``write_behind()``), which is
active in the opening thread's context (a :mod:`contextvars` variable) until its
flush; only saves made there are written behind, and an upload's failure is kept by
the session it was submitted under. :meth:`WriteBehind.wait_session` waits for one
session's uploads and returns only its failures, so runs sharing a storage object
(threads, a notebook) are each told of their own; a save made outside any session is
uploaded in the caller's thread, as before.

Order and visibility: saves to one path land in the order they were submitted (each is
registered and chained after the previous one under one lock), and whatever reads,
lists or removes a path (or a folder) first waits for the uploads under it. An upload
is one whole object, so a crash leaves the old result or the new one, never a part.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Final, final

__all__ = ["Failure", "Session", "WriteBehind", "active_session"]

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
@dataclass(eq=False)
class Session:
    """A run's uploads written behind: open from ``write_behind()`` to its flush.

    ``owner``: the object whose saves it covers (a storage's files); ``failures``:
    its uploads that failed, by path (guarded by the owner's :class:`WriteBehind`)."""

    owner: object
    open: bool = True
    failures: dict[str, Failure] = field(default_factory=dict)
    pending: int = 0


#: The sessions opened in this context (a thread, or what a run copied), newest last.
_sessions: ContextVar[tuple[Session, ...]] = ContextVar("functionfuse_fs_sessions", default=())


def open_session(owner: object) -> Session:
    """A new session for ``owner``, active in the caller's context until closed."""
    session = Session(owner)
    _sessions.set((*_sessions.get(), session))
    return session


def close_session(session: Session) -> None:
    """End ``session``: saves made afterwards are no longer written behind under it."""
    session.open = False
    active = _sessions.get()
    if session in active:
        _sessions.set(tuple(s for s in active if s is not session))


def active_session(owner: object) -> Session | None:
    """The newest open session of ``owner`` in the caller's context, if any."""
    for session in reversed(_sessions.get()):
        if session.owner is owner and session.open:
            return session
    return None


@final
class WriteBehind:
    """The pending uploads of one storage (thread-safe)."""

    __slots__ = ("_changed", "_failures", "_limit", "_lock", "_pending", "_pending_bytes")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        #: The last upload registered for each path (each waits for the one before).
        self._pending: dict[str, threading.Event] = {}
        self._pending_bytes = 0
        #: The latest failed upload of each path, for reads of that path.
        self._failures: dict[str, Failure] = {}

    def accepts(self, size: int) -> bool:
        """Whether a result of ``size`` bytes may be uploaded in the background."""
        return 0 < size <= self._limit

    def submit(
        self,
        path: str,
        task_name: str,
        size: int,
        upload: Callable[[], object],
        session: Session,
    ) -> None:
        """Run ``upload`` (of ``size`` bytes, to ``path``) in the background, once the
        bytes pending leave room for it, after every upload to ``path`` submitted
        before; a failure is kept for ``session``."""
        done = threading.Event()

        def run(earlier: threading.Event | None) -> None:
            error: BaseException | None = None
            try:
                if earlier is not None:
                    earlier.wait()  # submitted (so started) before this one
                upload()
            except BaseException as exc:
                error = exc
            # Recorded before anyone waiting for ``done`` wakes up.
            with self._changed:
                if self._pending.get(path) is done:
                    del self._pending[path]
                self._pending_bytes -= size
                session.pending -= 1
                if error is not None:
                    failure = Failure(path, task_name, error)
                    self._failures[path] = failure
                    session.failures[path] = failure
                self._changed.notify_all()
            done.set()

        with self._changed:
            while self._pending_bytes and self._pending_bytes + size > self._limit:
                self._changed.wait()
            # Registered and queued under one lock: the pool (first in, first out)
            # starts uploads to a path in the order they were submitted.
            earlier = self._pending.get(path)
            self._forget(path, session)  # this save replaces a failed one
            self._pending[path] = done
            self._pending_bytes += size
            session.pending += 1
            try:
                _shared_pool().submit(run, earlier)
            except BaseException:
                if earlier is None:
                    del self._pending[path]
                else:
                    self._pending[path] = earlier
                self._pending_bytes -= size
                session.pending -= 1
                self._changed.notify_all()
                raise

    def write_now(self, path: str, upload: Callable[[], object]) -> None:
        """Run ``upload`` to ``path`` in the caller's thread, after every upload to
        ``path`` submitted before it (and before any submitted after it)."""
        done = threading.Event()
        with self._lock:
            earlier = self._pending.get(path)
            self._failures.pop(path, None)
            self._pending[path] = done
        try:
            if earlier is not None:
                earlier.wait()
            upload()
        finally:
            with self._changed:
                if self._pending.get(path) is done:
                    del self._pending[path]
                self._changed.notify_all()
            done.set()

    def wait(self, path: str, check: bool = True) -> Failure | None:
        """Wait for the uploads to ``path`` submitted so far; with ``check``, return
        the failure of the last one (its session is told of it too)."""
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

    def wait_session(self, session: Session) -> list[Failure]:
        """Wait for every upload ``session`` submitted; return (and forget) those of
        them that failed, in path order. Other sessions' uploads and failures are
        left alone."""
        with self._changed:
            while session.pending:
                self._changed.wait()
            failures = [session.failures[p] for p in sorted(session.failures)]
            session.failures.clear()
            for failure in failures:
                if self._failures.get(failure.path) is failure:
                    del self._failures[failure.path]
            return failures

    def wait_all(self) -> None:
        """Wait for every upload pending, of any session (their failures stay theirs)."""
        with self._changed:
            while self._pending:
                self._changed.wait()

    def _forget(self, path: str, session: Session) -> None:
        # Called with the lock held: a new save to ``path`` under ``session`` replaces
        # its failed one (another session's failure stays reported to that session).
        failure = self._failures.pop(path, None)
        if failure is not None and session.failures.get(path) is failure:
            del session.failures[path]
