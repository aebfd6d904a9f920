"""Run records in a FileStorage: ``<root>/<workflow>/.runs/<run_id>.json.gz``.

Beside the results, in a dot folder that :meth:`FileStorage.list_tasks` never lists and
``collect_garbage`` never looks into; ``remove_workflow`` takes it with the results.
Each record is written whole or not at all (the same atomic write as a result), so a
reader sees the last snapshot a run wrote, never half of one.
"""

from __future__ import annotations

import re
from typing import Final

from functionfuse import StorageError
from functionfuse_fs._files import Files

__all__ = ["RUNS_FOLDER", "list_records", "read_record", "save_record"]

#: Folder, inside a workflow's folder, holding its run records.
RUNS_FOLDER: Final = ".runs"
_SUFFIX: Final = ".json.gz"
#: What a run id may hold: it becomes a file name.
_RUN_ID: Final = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{0,127}")


def _path(files: Files, folder: str, workflow_name: str, run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise StorageError(
            f"run id {run_id!r} of workflow {workflow_name!r} is not one a run makes "
            "(letters, digits, '-', '_' and '.', up to 128); list the runs with "
            "functionfuse.run_records.list_runs() or `fuse runs STORAGE WORKFLOW`."
        )
    return files.join(files.join(folder, RUNS_FOLDER), run_id + _SUFFIX)


def save_record(files: Files, folder: str, workflow_name: str, run_id: str, data: bytes) -> None:
    """Write the record ``data`` of run ``run_id``, replacing the one written before."""
    path = _path(files, folder, workflow_name, run_id)
    runs = files.join(folder, RUNS_FOLDER)
    try:
        files.write_atomic(runs, path, [bytes(data)])
    except Exception as exc:
        raise StorageError(
            f"cannot write the record of run {run_id!r} of workflow {workflow_name!r} to "
            f"{files.display(path)}: {type(exc).__name__}: {exc}"
        ) from exc


def list_records(files: Files, folder: str) -> list[str]:
    """The run ids with a record, sorted (oldest first: ids start with their time)."""
    names = files.list_files(files.join(folder, RUNS_FOLDER))
    return sorted(name[: -len(_SUFFIX)] for name in names if name.endswith(_SUFFIX))


def read_record(files: Files, folder: str, workflow_name: str, run_id: str) -> bytes:
    """The record of run ``run_id`` as written; ``FileNotFoundError`` when there is none."""
    path = _path(files, folder, workflow_name, run_id)
    try:
        return bytes(files.read(path))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no record of run {run_id!r} of workflow {workflow_name!r} at {files.display(path)}"
        ) from None
