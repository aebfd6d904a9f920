"""Run records: what each run of a workflow did, read back from its storage.

Every run records, per node, its status (``ran``, ``stored``, ``reran`` with the
reasons, ``failed`` with the error and traceback, ``blocked`` by a failed parent,
``not_saved``, or ``pending`` when never reached), when and where it ran, its retries
and its stored size. A run with a storage that keeps run records (functionfuse-fs: local
disk, S3, memory...) writes its record there — as it starts, every few seconds while
it runs and once at the end, so that a killed run leaves one in state ``running``;
every run keeps its record in ``wf.last_run_record``. The format (``"functionfuse-run/1"``, JSON) is
described in the README's "Run records" section.

    from functionfuse.run_records import list_runs, read_run

    for run in list_runs("storage", "my workflow"):      # newest first
        print(run["run_id"], run["state"], run["counts"])
    record = read_run("storage", "my workflow")          # the newest, whole

A record's bytes read elsewhere (a file copied out of a storage, say) read with
:func:`load_record` (gzip or plain JSON); a document you decoded yourself, with
:func:`expand_record`. Both give the form above: a ``"nodes"`` list, every key in each.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from functionfuse._errors import ConfigurationError, FunctionFuseWarning, StorageError
from functionfuse._record_format import FORMAT, expand_record, load_record
from functionfuse.contracts import RunRecordStorage, Storage, keeps_run_records

__all__ = [
    "FORMAT",
    "STATUSES",
    "expand_record",
    "list_runs",
    "load_record",
    "read_run",
    "summary",
]

#: Every node status a record may hold, in the order summaries count them.
STATUSES = ("ran", "stored", "reran", "failed", "blocked", "not_saved", "pending")


def _storage(storage: Storage | Mapping[str, Any] | str) -> RunRecordStorage:
    if not isinstance(storage, Storage):
        from functionfuse._factories import storage_factory

        storage = storage_factory(storage)
    if not keeps_run_records(storage):
        raise ConfigurationError(
            f"storage {storage!r} keeps no run records (it lacks save_run_record, "
            "list_run_records and read_run_record: see "
            "functionfuse.contracts.RunRecordStorage); use a storage of functionfuse-fs."
        )
    return storage  # type: ignore[return-value]


def summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record without its nodes: run_id, started, ended, state, backend, host, and
    ``counts`` — the number of nodes of each status (every status of :data:`STATUSES`)."""
    counts = dict.fromkeys(STATUSES, 0)
    columns = record.get("columns")  # a record as stored, not expanded
    if isinstance(columns, Mapping) and "nodes" not in record:
        statuses = columns.get("status") or ()
    else:
        statuses = [node.get("status") for node in record.get("nodes") or ()]
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    keys = ("run_id", "workflow", "started", "ended", "state", "backend", "host", "error")
    found = {key: record.get(key) for key in keys}
    found["counts"] = counts
    return found


def _read(
    storage: RunRecordStorage, workflow_name: str, run_id: str, whole: bool = True
) -> dict[str, Any]:
    try:
        data = storage.read_run_record(workflow_name, run_id)
    except FileNotFoundError:
        raise StorageError(
            f"no run {run_id!r} recorded for workflow {workflow_name!r} in {storage!r}; "
            "list its runs with functionfuse.run_records.list_runs() or "
            "`fuse runs STORAGE WORKFLOW`."
        ) from None
    try:
        return load_record(data, expand=whole)
    except (ValueError, OSError, EOFError) as error:  # bad JSON, bad or cut gzip
        raise StorageError(
            f"the record of run {run_id!r} of workflow {workflow_name!r} in {storage!r} "
            f"cannot be read ({type(error).__name__}: {error}); it is damaged, or was not "
            "written by functionfuse."
        ) from error


def list_runs(
    storage: Storage | Mapping[str, Any] | str, workflow_name: str
) -> list[dict[str, Any]]:
    """The recorded runs of ``workflow_name`` in ``storage`` (a storage, a URL or a
    config), newest first: each one's :func:`summary`. Reads every record once.

    Raises :class:`functionfuse.StorageError` when none is recorded, and
    :class:`functionfuse.ConfigurationError` for a storage that keeps none."""
    found = _storage(storage)
    ids = _run_ids(found, workflow_name)
    runs = []
    for run_id in ids:
        try:
            runs.append(summary(_read(found, workflow_name, run_id, whole=False)))
        except StorageError:
            continue  # removed since listed, or damaged: the others still list
    runs.sort(key=lambda run: (run.get("started") or 0.0, run.get("run_id") or ""), reverse=True)
    return runs


def read_run(
    storage: Storage | Mapping[str, Any] | str, workflow_name: str, run_id: str | None = None
) -> dict[str, Any]:
    """The whole record of run ``run_id`` of ``workflow_name`` (the newest when
    ``None``); :class:`functionfuse.StorageError` naming the workflow and the run when
    there is none."""
    found = _storage(storage)
    if run_id is None:
        return _newest(found, workflow_name, _run_ids(found, workflow_name))
    return _read(found, workflow_name, run_id)


def _run_ids(storage: RunRecordStorage, workflow_name: str) -> list[str]:
    """The ids of the runs recorded for ``workflow_name``; StorageError when none is."""
    ids = storage.list_run_records(workflow_name)
    if not ids:
        raise StorageError(
            f"no runs recorded for workflow {workflow_name!r} in {storage!r}; run it with "
            "this storage first (runs record themselves), or check the workflow's name."
        )
    return ids


def _newest(storage: RunRecordStorage, workflow_name: str, ids: list[str]) -> dict[str, Any]:
    """The newest readable record of ``ids``; a warning names the newer ones that could
    not be read (damaged, or removed since listed), which ``list_runs`` leaves out too."""
    # Ids start with their run's start time, to the second: read a second's at a time,
    # newest first, until one of them reads.
    by_second: dict[str, list[str]] = {}
    for run_id in sorted(ids, reverse=True):
        by_second.setdefault(run_id.split("-", 1)[0], []).append(run_id)
    skipped: list[str] = []
    for second in by_second.values():
        records = []
        for run_id in second:
            try:
                records.append(_read(storage, workflow_name, run_id))
            except StorageError:
                skipped.append(run_id)
        if records:
            if skipped:
                warnings.warn(
                    f"workflow {workflow_name!r}: skipped the run record(s) "
                    f"{', '.join(skipped)} in {storage!r}, which cannot be read (damaged, "
                    "or removed since listed); read_run gives the newest readable one.",
                    FunctionFuseWarning,
                    stacklevel=3,
                )
            return max(records, key=lambda r: (r.get("started") or 0.0, r.get("run_id") or ""))
    raise StorageError(
        f"none of the {len(ids)} run record(s) of workflow {workflow_name!r} in {storage!r} "
        "can be read (damaged, or removed since listed); run the workflow again."
    )
