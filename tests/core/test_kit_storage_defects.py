"""The storage kit catches the defects a hurried author makes, each by the right check.

Each storage below is a FileStorage with exactly one defect. The kit runs on all of them
(and on the healthy FileStorage) in one pytest subprocess, as a storage author's suite
would; each defect must fail the check whose promise it breaks, with that promise in the
failure, while a check it does not touch still passes.
"""

from __future__ import annotations

import fnmatch
import os
import pickle
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from functionfuse import StaleResultError, StorageIntegrityError
from functionfuse.testing import StorageTests
from functionfuse_fs import FileStorage

BUFFER = 64 * 1024


class LastSavedCache(FileStorage):
    """Caches the last result saved per workflow: read_task returns another task's."""

    def save(self, workflow_name: str, task_name: str, obj: object, **kw: Any) -> None:
        super().save(workflow_name, task_name, obj, **kw)
        self.__dict__.setdefault("latest", {})[workflow_name] = obj

    def read_task(self, workflow_name: str, task_name: str, **kw: Any) -> Any:
        latest = self.__dict__.get("latest", {})
        if workflow_name in latest and self.file_exists(workflow_name, task_name):
            return latest[workflow_name]
        return super().read_task(workflow_name, task_name, **kw)


class TruncatesLargeResults(FileStorage):
    """Writes one buffer's worth of a large result and loses the rest."""

    def save(self, workflow_name: str, task_name: str, obj: object, **kw: Any) -> None:
        if isinstance(obj, (bytes, bytearray)) and len(obj) > BUFFER:
            obj = obj[:BUFFER]
        super().save(workflow_name, task_name, obj, **kw)


class ListIgnoresPattern(FileStorage):
    """list_tasks lists every task, whatever the pattern."""

    def list_tasks(self, workflow_name: str, pattern: str = "*") -> list[str]:
        return super().list_tasks(workflow_name)


class RemoveByPatternDoesNothing(FileStorage):
    """remove_task(pattern=...) removes nothing."""

    def remove_task(
        self, workflow_name: str, task_name: str | None = None, pattern: str | None = None
    ) -> None:
        if pattern is None:
            super().remove_task(workflow_name, task_name)


class MissingRemoveIsSilent(FileStorage):
    """remove_task of a name with nothing stored returns quietly."""

    def remove_task(
        self, workflow_name: str, task_name: str | None = None, pattern: str | None = None
    ) -> None:
        missing = task_name is not None and not self.file_exists(workflow_name, task_name)
        if pattern is None and missing:
            return
        super().remove_task(workflow_name, task_name, pattern)


class CaseInsensitiveNames(FileStorage):
    """Stores every task under its lower-case name, so Case and case collide."""

    def save(self, workflow_name: str, task_name: str, obj: object, **kw: Any) -> None:
        super().save(workflow_name, task_name.lower(), obj, **kw)

    def read_task(self, workflow_name: str, task_name: str, **kw: Any) -> Any:
        return super().read_task(workflow_name, task_name.lower(), **kw)

    def file_exists(self, workflow_name: str, task_name: str) -> bool:
        return super().file_exists(workflow_name, task_name.lower())

    def remove_task(
        self, workflow_name: str, task_name: str | None = None, pattern: str | None = None
    ) -> None:
        name = task_name.lower() if task_name is not None else None
        super().remove_task(workflow_name, name, pattern)


class UnknownWorkflowRaises(FileStorage):
    """list_tasks of a workflow that has no folder raises instead of listing []."""

    def list_tasks(self, workflow_name: str, pattern: str = "*") -> list[str]:
        if not os.path.isdir(os.path.join(self.url, workflow_name)):
            raise FileNotFoundError(f"no workflow {workflow_name!r} in {self.url}")
        return super().list_tasks(workflow_name, pattern)


class IgnoresFingerprint(FileStorage):
    """read_task(fingerprint=) returns the result whatever stamp it was saved with."""

    def read_task(
        self, workflow_name: str, task_name: str, *, fingerprint: bytes | str | None = None
    ) -> Any:
        return super().read_task(workflow_name, task_name)


class SalvagesDamaged(FileStorage):
    """When a result fails its check, unpickles what it can of it anyway."""

    def read_task(self, workflow_name: str, task_name: str, **kw: Any) -> Any:
        try:
            return super().read_task(workflow_name, task_name, **kw)
        except StorageIntegrityError:
            raw = Path(self.url, workflow_name, task_name).read_bytes()
            return pickle.loads(raw[raw.index(b"\x80\x05") :])


class RemovesBeforeSaving(FileStorage):
    """Removes the earlier result before saving, so a failed save loses it."""

    def save(self, workflow_name: str, task_name: str, obj: object, **kw: Any) -> None:
        if self.file_exists(workflow_name, task_name):
            self.remove_task(workflow_name, task_name)
        super().save(workflow_name, task_name, obj, **kw)


class RunRecordsOutliveTheirWorkflow(FileStorage):
    """Keeps run records in a folder of their own, which remove_workflow leaves."""

    def _records(self, workflow_name: str) -> Path:
        return Path(self.url, ".records", workflow_name)

    def save_run_record(self, workflow_name: str, run_id: str, data: bytes) -> None:
        self._records(workflow_name).mkdir(parents=True, exist_ok=True)
        (self._records(workflow_name) / run_id).write_bytes(data)

    def list_run_records(self, workflow_name: str) -> list[str]:
        folder = self._records(workflow_name)
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def read_run_record(self, workflow_name: str, run_id: str) -> bytes:
        return (self._records(workflow_name) / run_id).read_bytes()


class ReadTasksIgnoresFingerprints(FileStorage):
    """read_tasks reads every result as if no fingerprint were asked for."""

    def read_tasks(
        self,
        workflow_name: str,
        task_names: Iterable[str],
        fingerprints: Iterable[bytes | str | None] | None = None,
    ) -> list[tuple[Any, Exception | None]]:
        return super().read_tasks(workflow_name, task_names)


class ReadTasksRaisesOnDamage(FileStorage):
    """read_tasks returns a missing or stale result as an error, but raises on a damaged one."""

    def read_tasks(
        self,
        workflow_name: str,
        task_names: Iterable[str],
        fingerprints: Iterable[bytes | str | None] | None = None,
    ) -> list[tuple[Any, Exception | None]]:
        names = list(task_names)
        stamps = list(fingerprints) if fingerprints is not None else [None] * len(names)
        results: list[tuple[Any, Exception | None]] = []
        for name, stamp in zip(names, stamps, strict=True):
            try:
                results.append((self.read_task(workflow_name, name, fingerprint=stamp), None))
            except (FileNotFoundError, StaleResultError) as exc:
                results.append((None, exc))
        return results


class FlushLeavesSavesPending(FileStorage):
    """After write_behind(), keeps saves in memory; flush() returns without writing them
    (they go out only with the next save)."""

    def write_behind(self, *args: Any, **kw: Any) -> None:
        self.__dict__["pending"] = {}

    def flush(self, *args: Any, **kw: Any) -> None:
        pass

    def _pending(self, workflow_name: str) -> dict[str, object]:
        pending: dict[tuple[str, str], object] | None = self.__dict__.get("pending")
        if pending is None:
            return {}
        return {task: obj for (wf, task), obj in pending.items() if wf == workflow_name}

    def save(self, workflow_name: str, task_name: str, obj: object, **kw: Any) -> None:
        pending = self.__dict__.get("pending")
        if pending is None:
            super().save(workflow_name, task_name, obj, **kw)
        elif not pending:
            pending[(workflow_name, task_name)] = obj
        else:  # the earlier ones go out now; this one waits
            for (wf, task), earlier in list(pending.items()):
                super().save(wf, task, earlier)
            pending.clear()
            pending[(workflow_name, task_name)] = obj

    def read_task(self, workflow_name: str, task_name: str, **kw: Any) -> Any:
        pending = self._pending(workflow_name)
        if task_name in pending:
            return pending[task_name]
        return super().read_task(workflow_name, task_name, **kw)

    def list_tasks(self, workflow_name: str, pattern: str = "*") -> list[str]:
        names = set(super().list_tasks(workflow_name, pattern))
        names.update(fnmatch.filter(self._pending(workflow_name), pattern))
        return sorted(names)


@dataclass(frozen=True)
class Defect:
    storage: type[FileStorage]
    caught_by: str  # the check that must fail
    untouched: str  # a check that must still pass

    @property
    def test_class(self) -> str:
        return f"Test{self.storage.__name__}"


DEFECTS = [
    Defect(LastSavedCache, "test_round_trip_of_assorted_values", "test_list_tasks_matches_glob"),
    Defect(TruncatesLargeResults, "test_large_result_round_trips", "test_round_trip_of_assorted"),
    Defect(ListIgnoresPattern, "test_list_tasks_matches_glob", "test_remove_task_by_pattern"),
    Defect(ListIgnoresPattern, "test_state_machine", "test_remove_workflow"),
    Defect(LastSavedCache, "test_state_machine", "test_remove_workflow"),
    Defect(CaseInsensitiveNames, "test_state_machine", "test_remove_workflow"),
    Defect(RemoveByPatternDoesNothing, "test_remove_task_by_pattern", "test_remove_task_by_name"),
    Defect(MissingRemoveIsSilent, "test_remove_task_by_name", "test_remove_task_by_pattern"),
    Defect(
        CaseInsensitiveNames, "test_hostile_task_names_round_trip", "test_round_trip_of_assorted"
    ),
    Defect(UnknownWorkflowRaises, "test_list_tasks_of_unknown_workflow", "test_list_tasks_matches"),
    Defect(IgnoresFingerprint, "test_stale_fingerprint_is_refused", "test_fingerprints_are_kept"),
    Defect(
        SalvagesDamaged, "test_damaged_result_is_refused", "test_damaged_result_can_be_replaced"
    ),
    Defect(RemovesBeforeSaving, "test_unpicklable_result_stores_nothing", "test_save_replaces"),
    Defect(
        RunRecordsOutliveTheirWorkflow,
        "test_run_records_are_not_results",
        "test_run_records_round_trip",
    ),
    Defect(
        ReadTasksIgnoresFingerprints,
        "test_read_tasks_refuses_stale_results",
        "test_stale_fingerprint_is_refused",
    ),
    Defect(
        ReadTasksRaisesOnDamage,
        "test_read_tasks_returns_integrity_errors",
        "test_read_tasks_refuses_stale_results",
    ),
    Defect(
        FlushLeavesSavesPending,
        "test_saves_written_behind_are_durable_after_flush",
        "test_round_trip_of_assorted_values",
    ),
]
HEALTHY_CHECKS = sorted({d.caught_by for d in DEFECTS} | {d.untouched for d in DEFECTS})


def promise(check: str) -> str:
    """The first docstring line of the kit's check whose name starts with ``check``."""
    [name] = [n for n in dir(StorageTests) if n.startswith(check)]
    return str(getattr(StorageTests, name).__doc__).strip().splitlines()[0]


def kit_module_source() -> str:
    classes = [*sorted({d.storage.__name__ for d in DEFECTS}), "FileStorage"]
    lines = [
        "import sys",
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})",
        "import test_kit_storage_defects as defects",
        "from functionfuse.testing import StorageTests",
    ]
    for name in classes:
        title = "Healthy" if name == "FileStorage" else name
        lines += [
            "",
            f"class Test{title}(StorageTests):",
            f"    make_storage = staticmethod(lambda tmp_path: defects.{name}(tmp_path / 's'))",
            "    make_signed_storage = staticmethod(",
            f"        lambda tmp_path, key: defects.{name}(tmp_path / 's', signing_key=key)",
            "    )",
        ]
    return "\n".join(lines) + "\n"


@dataclass
class KitRun:
    outcomes: dict[tuple[str, str], tuple[str, str]]  # (class, check) -> (outcome, message)
    output: str

    def outcome(self, test_class: str, check: str) -> tuple[str, str]:
        found = [
            v
            for (c, name), v in self.outcomes.items()
            if c == test_class and name.startswith(check)
        ]
        assert len(found) == 1, f"{test_class}::{check}* ran {len(found)} times\n{self.output}"
        return found[0]


@pytest.fixture(scope="module")
def kit_run(tmp_path_factory: pytest.TempPathFactory) -> KitRun:
    """The kit on every defective storage (only the checks each is expected to fail and
    to pass) and on the healthy FileStorage, in one pytest subprocess."""
    folder = tmp_path_factory.mktemp("kit_defects")
    (folder / "test_defects_kit.py").write_text(kit_module_source())
    (folder / "pytest.ini").write_text(
        textwrap.dedent(
            """\
            [pytest]
            addopts = -p no:cacheprovider
            filterwarnings = error::functionfuse.FunctionFuseWarning
            """
        )
    )
    selections = [f"(TestHealthy and ({' or '.join(HEALTHY_CHECKS)}))"]
    selections += [f"({d.test_class} and ({d.caught_by} or {d.untouched}))" for d in DEFECTS]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "FUNCTIONFUSE_"))}
    report = folder / "report.xml"
    options = ["-k", " or ".join(selections), f"--junitxml={report}"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "test_defects_kit.py", "-q", "-rf", *options],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert report.exists(), output
    outcomes: dict[tuple[str, str], tuple[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            found = case.find(kind)
            if found is not None:
                outcome, message = kind, found.get("message", "")
        test_class = case.get("classname", "").rsplit(".", 1)[-1]
        outcomes[(test_class, case.get("name", ""))] = (outcome, message)
    return KitRun(outcomes, output)


@pytest.mark.parametrize(
    "defect", DEFECTS, ids=[f"{d.storage.__name__}-{d.caught_by}" for d in DEFECTS]
)
def test_the_kit_catches_the_defect_by_its_promise(kit_run: KitRun, defect: Defect) -> None:
    outcome, message = kit_run.outcome(defect.test_class, defect.caught_by)
    assert outcome == "failure", (
        f"{defect.storage.__name__} ({defect.storage.__doc__}) was not caught by "
        f"{defect.caught_by}: {outcome}\n{kit_run.output}"
    )
    assert message.startswith(f"AssertionError: broken promise: {promise(defect.caught_by)}"), (
        message
    )
    outcome, message = kit_run.outcome(defect.test_class, defect.untouched)
    assert outcome == "passed", (
        f"{defect.storage.__name__} also failed {defect.untouched}: {message}\n{kit_run.output}"
    )


def test_the_kit_passes_on_the_healthy_file_storage(kit_run: KitRun) -> None:
    for check in HEALTHY_CHECKS:
        outcome, message = kit_run.outcome("TestHealthy", check)
        assert outcome == "passed", f"{check}: {outcome} {message}\n{kit_run.output}"
