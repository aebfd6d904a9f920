"""The contracts the core relies on, as typing protocols — declared, never probed.

- :class:`Storage`: what every storage provides (the original Function Fuse's methods).
- :class:`FingerprintStorage`: a storage that keeps each result's fingerprint stamp, so
  that resume uses a result only while it is up to date. It says so with
  ``keeps_fingerprints = True``; the core then passes ``fingerprint=`` to ``save`` and
  ``read_task`` and reads stamps with ``read_fingerprints``. Any other storage resumes
  by name (with a warning under the default ``resume="fingerprint"``).
- :class:`Backend`: what a backend published under ``functionfuse.backends`` is: a
  :class:`functionfuse.BaseWorkflow` subclass with this constructor and ``run()``.

A storage may also have these methods, which the core calls when they are there:

- ``write_behind()``: a run starts; until its ``flush``, ``save`` may return before
  the result is durable (an upload in the background). Reads, listings and removals
  through the same object must see such a save. It may return a session (any object,
  ``None`` for none): the run then calls ``flush(session)``, and the storage reports to
  each session only the failed saves made under it (runs sharing one storage object).
  A session covers the saves made in the run's context: a backend whose node tasks save
  on threads of its own submits them with a copy of it (``contextvars.copy_context()
  .run``, as the threads example does); elsewhere a save is durable once it returns.
- ``flush()`` / ``flush(session)``: a run ends (on the driver): return once every
  result it saved is durable. A failed save raises :class:`functionfuse.StorageError`;
  with a ``task_name`` attribute, the run fails with a
  :class:`functionfuse.NodeExecutionError` naming that node.
- ``make_durable(workflow_name, task_name)``: a worker finished a node: return once
  that node's save is durable (raise as ``flush`` does if it failed), without ending
  any run's session or reporting another save's failure. A storage without it is
  flushed (``flush()``) instead.
- ``read_tasks(workflow_name, names, fingerprints)``: many results at once, ``(value,
  None)`` or ``(None, error)`` for each, as ``read_task`` returns or raises (a run
  reads the stored results it needs with one call).

The conformance kit checks that a component keeps the promises it declares here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

__all__ = [
    "Backend",
    "FingerprintStorage",
    "RunRecordStorage",
    "Storage",
    "keeps_fingerprints",
    "keeps_run_records",
]


@runtime_checkable
class Storage(Protocol):
    """What backends require of a storage (the original Function Fuse's methods).

    ``read_task`` raises ``FileNotFoundError`` when nothing is stored under the name and
    :class:`functionfuse.StorageIntegrityError` when what is stored cannot be trusted.
    Backends treat the first as "run the node" and the second as "warn, run the node".
    ``save`` may return the stored size in bytes (an ``int``), which run records show.
    ``always_read`` asks backends to use each result as read back after saving it.
    A storage kind is published under the ``functionfuse.storage`` entry-point group as
    a class; :func:`functionfuse.storage_factory` calls its ``from_config(options)`` or
    ``from_url(url, options)`` classmethod when it has them, else the class itself.
    """

    always_read: bool

    def new_workflow(self, workflow_name: str) -> None: ...

    def save(self, workflow_name: str, task_name: str, obj: object) -> int | None: ...

    def read_task(self, workflow_name: str, task_name: str) -> Any: ...

    def file_exists(self, workflow_name: str, task_name: str) -> bool: ...

    def list_tasks(self, workflow_name: str, pattern: str = "*") -> list[str]: ...

    def remove_task(
        self, workflow_name: str, task_name: str | None = None, pattern: str | None = None
    ) -> None: ...

    def remove_workflow(self, workflow_name: str) -> None: ...


@runtime_checkable
class FingerprintStorage(Protocol):
    """A storage that keeps fingerprint stamps with its results (and says so).

    - ``save(..., fingerprint=stamp)`` keeps the opaque ``stamp`` with the result;
    - ``read_task(..., fingerprint=stamp)`` returns the result only if it was saved with
      exactly that stamp, and raises :class:`functionfuse.StaleResultError` otherwise —
      checked on the bytes it returns, so that no other run can replace the result in
      between;
    - ``read_fingerprints(workflow_name, names)`` maps each name with a stored result to
      its stamp, ``None`` (saved without one) or an exception (not raised: the result
      cannot be trusted); names with nothing stored are left out. One batched call.
    """

    always_read: bool

    @property
    def keeps_fingerprints(self) -> bool:
        """``True`` when the three methods below honour ``fingerprint``."""

    def save(
        self, workflow_name: str, task_name: str, obj: object, *, fingerprint: bytes | None = None
    ) -> int | None: ...

    def read_task(
        self, workflow_name: str, task_name: str, *, fingerprint: bytes | None = None
    ) -> Any: ...

    def read_fingerprints(
        self, workflow_name: str, task_names: Iterable[str]
    ) -> Mapping[str, bytes | Exception | None]: ...


def keeps_fingerprints(storage: object) -> bool:
    """Whether ``storage`` declares that it keeps fingerprints (see
    :class:`FingerprintStorage`)."""
    return isinstance(storage, FingerprintStorage) and storage.keeps_fingerprints is True


@runtime_checkable
class RunRecordStorage(Protocol):
    """A storage that keeps run records beside the results (see
    :mod:`functionfuse.run_records`); a storage without these methods records nothing.

    - ``save_run_record(workflow_name, run_id, data)`` stores ``data`` (a record, JSON
      compressed with gzip) under ``run_id``, replacing an earlier one of that id, whole
      or not at all; a run saves its record a few times while it runs, then once at its
      end;
    - ``list_run_records(workflow_name)``: the run ids stored (any order; ``[]`` for an
      unknown workflow); never listed by ``list_tasks``;
    - ``read_run_record(workflow_name, run_id)``: the bytes saved; ``FileNotFoundError``
      when there are none.

    ``remove_workflow`` removes them with the results.
    """

    def save_run_record(self, workflow_name: str, run_id: str, data: bytes) -> None: ...

    def list_run_records(self, workflow_name: str) -> list[str]: ...

    def read_run_record(self, workflow_name: str, run_id: str) -> bytes: ...


def keeps_run_records(storage: object) -> bool:
    """Whether ``storage`` keeps run records (see :class:`RunRecordStorage`)."""
    return isinstance(storage, RunRecordStorage)


class Backend(Protocol):
    """A backend: a :class:`functionfuse.BaseWorkflow` subclass that schedules.

    ``backend_name`` is its entry-point name (reported to the hooks). ``run()`` opens a
    run with ``self.start_run(...)`` and asks the :class:`functionfuse.runtime.RunPlan`
    what to do with each node (see :mod:`functionfuse.runtime`). It returns the given
    node's result, or a list for several, and raises
    :class:`functionfuse.NodeExecutionError` naming the node that failed; backends may
    take more keyword-only options (Ray: ``max_pending_tasks``).
    """

    backend_name: ClassVar[str]
    workflow_name: str

    def run(
        self, *, return_results: bool = True, keep_going: bool = False, resume: Any = None
    ) -> Any: ...
