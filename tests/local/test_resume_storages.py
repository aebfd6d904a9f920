"""Storages that keep no fingerprints (issue 7): a third-party storage with the original
Function Fuse's methods only, and a FileStorage subclass whose ``save`` override drops the
``fingerprint`` keyword. Both still work: the run warns once and resumes by name, and
``resume="name"`` says that this is wanted (no warning)."""

from __future__ import annotations

import fnmatch
import pickle
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from functionfuse import FunctionFuseWarning, workflow
from functionfuse_fs import FileStorage
from functionfuse_local import LocalWorkflow

runs: Counter[str] = Counter()


@workflow
def make(n: int) -> list[int]:
    runs["make"] += 1
    return list(range(n))


@workflow
def total(xs: list[int]) -> int:
    runs["total"] += 1
    return sum(xs)


class PickleFolder:
    """A storage written against the original contract only: no fingerprints."""

    always_read = False

    def __init__(self, root: Path) -> None:
        self.root = root

    def new_workflow(self, workflow_name: str) -> None:
        (self.root / workflow_name).mkdir(parents=True, exist_ok=True)

    def save(self, workflow_name: str, task_name: str, obj: object) -> None:
        (self.root / workflow_name / task_name).write_bytes(pickle.dumps(obj))

    def read_task(self, workflow_name: str, task_name: str) -> Any:
        return pickle.loads((self.root / workflow_name / task_name).read_bytes())

    def file_exists(self, workflow_name: str, task_name: str) -> bool:
        return (self.root / workflow_name / task_name).exists()

    def list_tasks(self, workflow_name: str, pattern: str = "*") -> list[str]:
        folder = self.root / workflow_name
        names = [p.name for p in folder.iterdir()] if folder.exists() else []
        return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))

    def remove_task(
        self, workflow_name: str, task_name: str | None = None, pattern: str | None = None
    ) -> None:
        raise NotImplementedError

    def remove_workflow(self, workflow_name: str) -> None:
        raise NotImplementedError


class LoggingStorage(FileStorage):
    """Overrides ``save`` the way code written before fingerprints did."""

    __slots__ = ()

    def save(self, workflow_name: str, task_name: str, obj: object) -> None:  # type: ignore[override]
        super().save(workflow_name, task_name, obj)


def run(storage: Any, n: int, **options: Any) -> Any:
    wf = LocalWorkflow(total(make(n)), workflow_name="w")
    wf.set_storage(storage)
    return wf.run(**options)


@pytest.mark.parametrize("kind", ["original contract", "save override"])
def test_a_storage_without_fingerprints_resumes_by_name_with_a_warning(
    tmp_path: Path, kind: str
) -> None:
    storage = (
        PickleFolder(tmp_path) if kind == "original contract" else LoggingStorage(str(tmp_path))
    )
    runs.clear()
    with pytest.warns(FunctionFuseWarning, match="keeps no fingerprints") as caught:
        assert run(storage, 3) == 3
    assert len(caught) == 1
    assert runs == Counter(make=1, total=1)
    if isinstance(storage, FileStorage):
        assert storage.read_fingerprint("w", "make_0") is None  # saved without one
    # Changed argument, stored result used by name: what the warning said would happen.
    with pytest.warns(FunctionFuseWarning, match="resume='name'"):
        assert run(storage, 5) == 3
    assert runs == Counter(make=1, total=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run(storage, 5, resume="name") == 3
        assert run(storage, 5, resume=False) == 10
    assert runs == Counter(make=2, total=2)
