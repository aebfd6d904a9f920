"""StorageTests: the storage contract as pytest checks that a storage's author runs.

Subclass it in a test module (the subclass's name starts with ``Test``) and say how to
make the storage; every check then runs against it::

    class TestMyStorage(StorageTests):
        @staticmethod
        def make_storage(tmp_path):           # required
            return MyStorage(tmp_path / "store")

        @staticmethod
        def make_signed_storage(tmp_path, key):   # optional: a storage with a key
            return MyStorage(tmp_path / "store", signing_key=key)

        lacks = frozenset({"processes"})      # capabilities it does not have

``make_storage(tmp_path)`` opens the storage at a place given by ``tmp_path``: empty for
a fresh ``tmp_path``, the same place (as another run or process opens it) when called
again with the same one. ``make_signed_storage(tmp_path, key)`` opens that same place
with the signing key ``key`` (bytes). ``corrupt(storage, workflow_name, task_name)``
damages the stored bytes of one result; the default one reaches a local folder or a
``memory://`` URL given by the storage's ``url`` attribute (as FileStorage has), and
skips the damage checks with a reason otherwise. What the author may declare lacking is
in :data:`CAPABILITIES`; a storage that keeps fingerprints says so through the contract
(:class:`functionfuse.contracts.FingerprintStorage`), not here. Each check's first
docstring line is the promise it checks; a failure starts with it.
"""

from __future__ import annotations

import fnmatch
import pickle
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from functionfuse import StaleResultError, StorageError, StorageIntegrityError
from functionfuse.contracts import Storage, keeps_fingerprints, keeps_run_records
from functionfuse.testing._storage_machine import run_state_machine
from functionfuse.testing._storage_support import (
    ASSORTED_VALUES,
    Canary,
    Unpicklable,
    check,
    corrupt_files,
    escaped_files,
    expect_raises,
    hostile_names,
    hostile_workflow_names,
    in_other_processes,
    local_root,
    race_in_threads,
    show,
)

__all__ = ["CAPABILITIES", "DAMAGE", "PROCESSES", "RUN_RECORDS", "SIGNING", "StorageTests"]

#: The storage has no signing keys: the signed / unsigned checks are skipped.
SIGNING = "signing"
#: The storage lives in one process (e.g. ``memory://``): it is not pickled, and the
#: checks with other processes are skipped.
PROCESSES = "processes"
#: The kit cannot reach a stored result's bytes to damage them: the integrity checks
#: are skipped (define ``corrupt`` instead when you can).
DAMAGE = "damage"
#: The storage keeps no run records (it is no
#: :class:`functionfuse.contracts.RunRecordStorage`): runs record nothing in it.
RUN_RECORDS = "run_records"
#: Everything a storage may declare in ``lacks``.
CAPABILITIES = frozenset({SIGNING, PROCESSES, DAMAGE, RUN_RECORDS})

_WF = "kit-wf"
_METHODS = ["new_workflow", "save", "read_task", "file_exists", "list_tasks"]
_METHODS += ["remove_task", "remove_workflow"]


class StorageTests:
    """The storage contract's checks; subclass it and define :meth:`make_storage`."""

    #: Capabilities (from :data:`CAPABILITIES`) this storage does not have.
    lacks: ClassVar[frozenset[str]] = frozenset()
    #: Size of the large results, larger than any buffer a write path may use.
    large_size: ClassVar[int] = 20 * 2**20
    #: Runs of the random sequences of operations, and operations in each.
    machine_examples: ClassVar[int] = 20
    machine_steps: ClassVar[int] = 20

    # -- the author's hooks ---------------------------------------------------------------

    def make_storage(self, tmp_path: Path) -> Any:
        """The storage at the place ``tmp_path`` gives (required; see the module)."""
        raise NotImplementedError(
            f"{type(self).__name__} must define make_storage(tmp_path), returning the "
            "storage to check, e.g. MyStorage(tmp_path / 'store')"
        )

    def make_signed_storage(self, tmp_path: Path, key: bytes) -> Any:
        """The storage at the place ``tmp_path`` gives, signing with ``key`` (optional)."""
        raise NotImplementedError

    def corrupt(self, storage: Any, workflow_name: str, task_name: str) -> None:
        """Damage the stored bytes of one result, as a disk or a network could."""
        if not corrupt_files(storage, workflow_name, task_name):
            pytest.skip(
                f"the kit cannot reach the stored bytes of {storage!r}: define "
                "corrupt(storage, workflow_name, task_name) on the test class, or declare "
                f"lacks = {{{DAMAGE!r}}}"
            )

    # -- helpers -----------------------------------------------------------------------

    def _open(self, tmp_path: Path, *workflows: str) -> Any:
        storage = self.make_storage(tmp_path)
        assert storage is not None, "make_storage(tmp_path) returned None"
        for name in workflows or (_WF,):
            storage.new_workflow(name)
        return storage

    def _open_signed(self, tmp_path: Path, key: bytes) -> Any:
        if SIGNING in self.lacks:
            pytest.skip(f"the storage declares it lacks {SIGNING!r}")
        if not self._has_signing_hook():
            pytest.skip(
                "define make_signed_storage(tmp_path, key) on the test class, or declare "
                f"lacks = {{{SIGNING!r}}}"
            )
        storage = self.make_signed_storage(tmp_path, key)
        storage.new_workflow(_WF)
        return storage

    def _has_signing_hook(self) -> bool:
        return type(self).make_signed_storage is not StorageTests.make_signed_storage

    def _skip_lacking(self, capability: str) -> None:
        if capability in self.lacks:
            pytest.skip(f"the storage declares it lacks {capability!r}")

    def _damaged(self, storage: Any, value: object, fingerprint: bytes | None = None) -> None:
        """Save ``value`` as task ``victim`` (with ``fingerprint`` if given), then damage it."""
        self._skip_lacking(DAMAGE)
        if fingerprint is None:
            storage.save(_WF, "victim", value)
        else:
            storage.save(_WF, "victim", value, fingerprint=fingerprint)
        self.corrupt(storage, _WF, "victim")

    # -- declarations ------------------------------------------------------------------

    @check
    def test_declares_the_storage_contract(self, tmp_path: Path) -> None:
        """The storage has every method of the contract and a boolean always_read."""
        storage = self._open(tmp_path)
        missing = [name for name in _METHODS if not callable(getattr(storage, name, None))]
        assert not missing, f"{storage!r} has no method {', '.join(missing)}"
        assert isinstance(getattr(storage, "always_read", None), bool), (
            f"{storage!r}.always_read should be True or False"
        )
        assert isinstance(storage, Storage)

    @check
    def test_lacks_names_known_capabilities(self) -> None:
        """``lacks`` names only capabilities the kit knows, consistently with the hooks."""
        unknown = sorted(set(self.lacks) - CAPABILITIES)
        assert not unknown, (
            f"lacks names {unknown}, which the kit does not know; it knows {sorted(CAPABILITIES)}"
        )
        assert not (SIGNING in self.lacks and self._has_signing_hook()), (
            f"the class defines make_signed_storage but declares it lacks {SIGNING!r}"
        )

    # -- saving and reading ------------------------------------------------------------

    @check
    def test_round_trip_of_assorted_values(self, tmp_path: Path) -> None:
        """read_task returns exactly what save stored, of the same type."""
        storage = self._open(tmp_path)
        for name, value in ASSORTED_VALUES.items():
            storage.save(_WF, name, value)
        for name, value in ASSORTED_VALUES.items():
            got = storage.read_task(_WF, name)
            same = type(got) is type(value) and got == value
            assert same, (
                f"read_task({_WF!r}, {name!r}) returned {show(got)}; save stored {show(value)}"
            )
        aliased = storage.read_task(_WF, "aliasing")
        assert aliased[0] is aliased[1], "a value referenced twice came back as two copies"

    @check
    def test_read_of_missing_task_raises_file_not_found(self, tmp_path: Path) -> None:
        """read_task of a task with nothing stored raises FileNotFoundError."""
        storage = self._open(tmp_path)
        storage.save(_WF, "present", 1)
        expect_raises(FileNotFoundError, storage.read_task, _WF, "absent")
        expect_raises(FileNotFoundError, storage.read_task, "kit-never-made", "present")

    @check
    def test_new_workflow_is_idempotent(self, tmp_path: Path) -> None:
        """new_workflow on a workflow that has results keeps them."""
        storage = self._open(tmp_path)
        storage.new_workflow(_WF)
        storage.save(_WF, "t", "kept")
        storage.new_workflow(_WF)
        assert storage.read_task(_WF, "t") == "kept", "new_workflow lost a stored result"
        assert storage.list_tasks(_WF) == ["t"]

    @check
    def test_results_outlive_the_storage_object(self, tmp_path: Path) -> None:
        """A second storage opened on the same place reads what the first saved."""
        first = self._open(tmp_path)
        first.save(_WF, "t", [1, 2, 3])
        second = self._open(tmp_path)
        assert second.read_task(_WF, "t") == [1, 2, 3], (
            "make_storage(tmp_path), called again, does not see what the first one saved"
        )
        second.save(_WF, "u", "from the second")
        assert first.read_task(_WF, "u") == "from the second"
        assert first.list_tasks(_WF) == ["t", "u"]

    @check
    def test_save_replaces_the_earlier_result(self, tmp_path: Path) -> None:
        """save over a stored result replaces it, with a shorter one too."""
        storage = self._open(tmp_path)
        storage.save(_WF, "t", b"long" * 100_000)
        storage.save(_WF, "t", "short")
        got = storage.read_task(_WF, "t")
        assert got == "short", f"after saving 'short' over a longer result, read {show(got)}"
        assert storage.list_tasks(_WF) == ["t"]

    @check
    def test_large_result_round_trips(self, tmp_path: Path) -> None:
        """A result larger than any buffer (20 MiB of bytes, of bytearray) round-trips."""
        storage = self._open(tmp_path)
        data = random.Random(20).randbytes(self.large_size)
        for name, value in (("bytes", data), ("bytearray", bytearray(data))):
            storage.save(_WF, name, value)
            got = storage.read_task(_WF, name)
            same = type(got) is type(value) and got == value
            assert same, f"saved {show(value)}, read {show(got)}"
            del got

    @check
    def test_unpicklable_result_stores_nothing(self, tmp_path: Path) -> None:
        """A result that cannot be pickled raises StorageError and stores nothing."""
        storage = self._open(tmp_path)
        storage.save(_WF, "t", "earlier")
        bad = [b"x" * 200_000, Unpicklable()]
        expect_raises(StorageError, storage.save, _WF, "t", bad)
        got = storage.read_task(_WF, "t")
        assert got == "earlier", f"a failed save left {show(got)} where 'earlier' was"
        expect_raises(StorageError, storage.save, _WF, "fresh", bad)
        assert not storage.file_exists(_WF, "fresh"), "a failed save left a result"
        assert storage.list_tasks(_WF) == ["t"], "a failed save left something listed"
        expect_raises(FileNotFoundError, storage.read_task, _WF, "fresh")

    # -- names and workflows -------------------------------------------------------------

    @check
    def test_hostile_task_names_round_trip(self, tmp_path: Path) -> None:
        """Any task name round-trips exactly, is listed as given, and stays inside."""
        storage = self._open(tmp_path)
        names = hostile_names(tmp_path)
        for name in names:
            storage.save(_WF, name, ("value of", name))
        listed = storage.list_tasks(_WF)
        assert listed == sorted(names), (
            f"list_tasks listed {show(sorted(set(listed) - set(names)))} that were not "
            f"saved and missed {show(sorted(set(names) - set(listed)))}"
        )
        for name in names:
            got = storage.read_task(_WF, name)
            assert got == ("value of", name), f"read_task({_WF!r}, {show(name)}) gave {show(got)}"
            assert storage.file_exists(_WF, name), f"file_exists is False for {show(name)}"
        escaped = escaped_files(tmp_path, local_root(storage))
        assert not escaped, f"saving hostile names wrote outside the storage: {escaped}"

    @check
    def test_workflows_are_kept_apart(self, tmp_path: Path) -> None:
        """Workflows, whatever their names, never see or remove each other's results."""
        workflows = hostile_workflow_names(tmp_path)
        storage = self._open(tmp_path, *workflows)
        for workflow in workflows:
            storage.save(workflow, "t", ("of", workflow))
        for workflow in workflows:
            assert storage.list_tasks(workflow) == ["t"], (
                f"list_tasks({show(workflow)}) gave {show(storage.list_tasks(workflow))}"
            )
            got = storage.read_task(workflow, "t")
            assert got == ("of", workflow), f"workflow {show(workflow)} read {show(got)}"
        # Only "a" is removed: removing ".." or "/" from a storage that joins paths
        # naively would delete far more than the test's folder.
        storage.remove_workflow("a")
        expect_raises(FileNotFoundError, storage.read_task, "a", "t")
        kept = [w for w in workflows if w != "a" and not storage.file_exists(w, "t")]
        assert not kept, f"remove_workflow('a') removed the results of workflows {show(kept)}"
        escaped = escaped_files(tmp_path, local_root(storage))
        assert not escaped, f"saving in hostile workflows wrote outside the storage: {escaped}"

    @check
    def test_list_tasks_matches_glob_patterns(self, tmp_path: Path) -> None:
        """list_tasks returns the sorted names matching a glob, as fnmatchcase does."""
        storage = self._open(tmp_path)
        names = ["train_2", "train_1", "train_10", "test", "Train_3", "eval[1]", "a.b", "a*b"]
        for name in names:
            storage.save(_WF, name, name)
        patterns = ["*", "train_*", "train_?", "[tT]rain_?", "[!t]*", "eval[[]1]", "a[*]b"]
        patterns += ["a?b", "*_1*", "train_1", "nothing*", "?"]
        for pattern in patterns:
            expected = sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))
            got = storage.list_tasks(_WF, pattern)
            assert got == expected, f"list_tasks({_WF!r}, {pattern!r}) gave {got}, not {expected}"
        assert storage.list_tasks(_WF) == sorted(names), "list_tasks() should mean pattern '*'"

    @check
    def test_list_tasks_of_unknown_workflow_is_empty(self, tmp_path: Path) -> None:
        """list_tasks of a workflow with nothing stored returns []."""
        storage = self._open(tmp_path)
        assert storage.list_tasks(_WF) == [], "a new workflow lists results"
        assert storage.list_tasks("kit-never-made") == []
        assert storage.list_tasks("kit-never-made", "a*") == []

    @check
    def test_file_exists_tells_stored_from_missing(self, tmp_path: Path) -> None:
        """file_exists is True exactly while a result is stored under the name."""
        storage = self._open(tmp_path, _WF, "other")
        assert storage.file_exists(_WF, "t") is False
        storage.save(_WF, "t", 0)
        assert storage.file_exists(_WF, "t") is True, "file_exists is not True after save"
        assert storage.file_exists("other", "t") is False, "a result is seen in another workflow"
        assert storage.file_exists(_WF, "T") is False, "a result is seen under another case"
        storage.remove_task(_WF, "t")
        assert storage.file_exists(_WF, "t") is False, "file_exists is True after remove_task"

    # -- removing ------------------------------------------------------------------------

    @check
    def test_remove_task_by_name(self, tmp_path: Path) -> None:
        """remove_task(name) removes that result only; a missing one raises FileNotFoundError."""
        storage = self._open(tmp_path)
        for name in ("a", "b", "c", "b*"):
            storage.save(_WF, name, name)
        storage.remove_task(_WF, "b*")
        assert storage.list_tasks(_WF) == ["a", "b", "c"], "remove_task('b*') as a pattern"
        storage.remove_task(_WF, "b")
        assert storage.list_tasks(_WF) == ["a", "c"]
        expect_raises(FileNotFoundError, storage.read_task, _WF, "b")
        expect_raises(FileNotFoundError, storage.remove_task, _WF, "b")
        expect_raises(FileNotFoundError, storage.remove_task, "kit-never-made", "b")
        assert storage.read_task(_WF, "a") == "a"

    @check
    def test_remove_task_by_pattern(self, tmp_path: Path) -> None:
        """remove_task(pattern=) removes exactly what list_tasks(pattern) lists."""
        storage = self._open(tmp_path)
        names = ["train_1", "train_2", "test", "Train_3", "eval"]
        for name in names:
            storage.save(_WF, name, name)
        storage.remove_task(_WF, pattern="nothing*")
        assert storage.list_tasks(_WF) == sorted(names), "a pattern matching nothing removed"
        storage.remove_task(_WF, pattern="train_*")
        assert storage.list_tasks(_WF) == ["Train_3", "eval", "test"], (
            f"after remove_task(pattern='train_*'): {storage.list_tasks(_WF)}"
        )
        expect_raises(FileNotFoundError, storage.read_task, _WF, "train_1")
        storage.remove_task(_WF, pattern="*")
        assert storage.list_tasks(_WF) == [], "remove_task(pattern='*') left results"

    @check
    def test_remove_workflow(self, tmp_path: Path) -> None:
        """remove_workflow removes every result of that workflow and nothing else."""
        storage = self._open(tmp_path, _WF, "other")
        for name in ("x", "y"):
            storage.save(_WF, name, name)
        storage.save("other", "x", "other x")
        storage.remove_workflow(_WF)
        assert storage.list_tasks(_WF) == [], "remove_workflow left results listed"
        expect_raises(FileNotFoundError, storage.read_task, _WF, "x")
        assert storage.read_task("other", "x") == "other x", "another workflow lost a result"
        storage.remove_workflow("kit-never-made")
        storage.new_workflow(_WF)
        storage.save(_WF, "z", "again")
        assert storage.list_tasks(_WF) == ["z"]

    # -- run records ------------------------------------------------------------------------

    def _run_records(self, tmp_path: Path, *workflows: str) -> Any:
        storage = self._open(tmp_path, *workflows)
        self._skip_lacking(RUN_RECORDS)
        return storage

    @check
    def test_declares_run_records(self, tmp_path: Path) -> None:
        """The storage keeps run records (RunRecordStorage's three methods) unless it
        declares it lacks them."""
        storage = self._open(tmp_path)
        if RUN_RECORDS in self.lacks:
            assert not keeps_run_records(storage), (
                f"{storage!r} has save_run_record, list_run_records and read_run_record, "
                f"but the test class declares lacks {{{RUN_RECORDS!r}}}: remove it from lacks"
            )
            return
        assert keeps_run_records(storage), (
            f"{storage!r} lacks save_run_record, list_run_records or read_run_record "
            "(functionfuse.contracts.RunRecordStorage); add them, or declare "
            f"lacks = {{{RUN_RECORDS!r}}}"
        )

    @check
    def test_run_records_round_trip(self, tmp_path: Path) -> None:
        """A run record reads back as saved, a second save of a run replaces it, and the
        ids listed are those saved (none for an unknown workflow)."""
        storage = self._run_records(tmp_path, _WF, "other")
        first, second = "20261203T000000Z-aaaaaa", "20261203T000001Z-bbbbbb"
        storage.save_run_record(_WF, first, b"\x1f\x8b snapshot")
        storage.save_run_record(_WF, first, b"\x1f\x8b final")
        storage.save_run_record(_WF, second, b"{}")
        storage.save_run_record("other", first, b"other")
        assert sorted(storage.list_run_records(_WF)) == [first, second]
        assert bytes(storage.read_run_record(_WF, first)) == b"\x1f\x8b final", (
            "a run record does not read back as last saved"
        )
        assert bytes(storage.read_run_record("other", first)) == b"other", (
            "workflows share their run records"
        )
        assert list(storage.list_run_records("kit-never-made")) == []
        expect_raises(FileNotFoundError, storage.read_run_record, _WF, "20261203T000002Z-cccccc")

    @check
    def test_run_records_are_not_results(self, tmp_path: Path) -> None:
        """Run records are never listed as results nor removed with them, and
        remove_workflow removes them with the workflow."""
        storage = self._run_records(tmp_path, _WF, "other")
        run = "20261203T000000Z-aaaaaa"
        storage.save(_WF, "x", 1)
        storage.save_run_record(_WF, run, b"record")
        storage.save_run_record("other", run, b"record")
        assert storage.list_tasks(_WF) == ["x"], "a run record is listed as a result"
        storage.remove_task(_WF, pattern="*")
        assert storage.list_run_records(_WF) == [run], "remove_task took a run record"
        storage.remove_workflow(_WF)
        assert list(storage.list_run_records(_WF)) == [], "remove_workflow left run records"
        expect_raises(FileNotFoundError, storage.read_run_record, _WF, run)
        assert storage.list_run_records("other") == [run], "another workflow lost its record"

    # -- integrity, signing, fingerprints ------------------------------------------------

    @check
    def test_damaged_result_is_refused_before_unpickling(self, tmp_path: Path) -> None:
        """A damaged result raises StorageIntegrityError and is never unpickled."""
        storage = self._open(tmp_path)
        canary = Canary()
        self._damaged(storage, (canary, random.Random(1).randbytes(64 * 1024)))
        got = expect_raises(StorageIntegrityError, storage.read_task, _WF, "victim")
        assert not canary.unpickled(), "the damaged result was unpickled before being refused"
        del got

    @check
    def test_damaged_result_can_be_replaced_or_removed(self, tmp_path: Path) -> None:
        """A damaged result is replaced by the next save and removed by its name."""
        storage = self._open(tmp_path)
        self._damaged(storage, random.Random(2).randbytes(64 * 1024))
        storage.save(_WF, "victim", "repaired")
        assert storage.read_task(_WF, "victim") == "repaired"
        self.corrupt(storage, _WF, "victim")
        storage.remove_task(_WF, "victim")
        assert not storage.file_exists(_WF, "victim"), "remove_task left a damaged result"

    @check
    def test_signed_results_round_trip(self, tmp_path: Path) -> None:
        """A signed storage reads what it signed, also through another handle."""
        signed = self._open_signed(tmp_path, b"kit key one")
        signed.save(_WF, "t", {"signed": True})
        assert signed.read_task(_WF, "t") == {"signed": True}
        again = self.make_signed_storage(tmp_path, b"kit key one")
        assert again.read_task(_WF, "t") == {"signed": True}
        assert again.list_tasks(_WF) == ["t"]

    @check
    def test_signed_storage_refuses_foreign_results(self, tmp_path: Path) -> None:
        """A signed storage refuses results it did not sign, before unpickling them."""
        signed = self._open_signed(tmp_path, b"kit key one")
        canary = Canary()
        self._open(tmp_path).save(_WF, "unsigned", canary)
        expect_raises(StorageIntegrityError, signed.read_task, _WF, "unsigned")
        other = self.make_signed_storage(tmp_path, b"kit key two")
        other.save(_WF, "other key", canary)
        expect_raises(StorageIntegrityError, signed.read_task, _WF, "other key")
        assert not canary.unpickled(), "a result the storage did not sign was unpickled"

    @check
    def test_fingerprints_are_kept(self, tmp_path: Path) -> None:
        """read_fingerprints gives the stamp each result was saved with, None without one."""
        storage = self._fingerprint_storage(tmp_path)
        storage.save(_WF, "a", 1, fingerprint=b"stamp a")
        storage.save(_WF, "b", 2)
        storage.save(_WF, "c", 3, fingerprint=b"old")
        storage.save(_WF, "c", 3, fingerprint=b"new")
        got = dict(storage.read_fingerprints(_WF, ["a", "b", "c", "missing", "a"]))
        expected = {"a": b"stamp a", "b": None, "c": b"new"}
        assert got == expected, f"read_fingerprints gave {got}, not {expected}"
        assert dict(storage.read_fingerprints("kit-never-made", ["a"])) == {}

    @check
    def test_stale_fingerprint_is_refused(self, tmp_path: Path) -> None:
        """read_task(fingerprint=) returns the result only if saved with exactly that stamp."""
        storage = self._fingerprint_storage(tmp_path)
        storage.save(_WF, "t", "value", fingerprint=b"stamp")
        storage.save(_WF, "bare", "value")
        assert storage.read_task(_WF, "t", fingerprint=b"stamp") == "value"
        assert storage.read_task(_WF, "t") == "value"
        expect_raises(StaleResultError, storage.read_task, _WF, "t", fingerprint=b"other")
        expect_raises(StaleResultError, storage.read_task, _WF, "t", fingerprint=b"stam")
        expect_raises(StaleResultError, storage.read_task, _WF, "bare", fingerprint=b"stamp")
        expect_raises(FileNotFoundError, storage.read_task, _WF, "absent", fingerprint=b"s")

    def _fingerprint_storage(self, tmp_path: Path) -> Any:
        storage = self._open(tmp_path)
        if not keeps_fingerprints(storage):
            pytest.skip(
                "the storage does not declare keeps_fingerprints = True "
                "(functionfuse.contracts.FingerprintStorage): it resumes by name"
            )
        return storage

    # -- optional methods: writing behind, reading many -----------------------------------

    @check
    def test_saves_written_behind_are_durable_after_flush(self, tmp_path: Path) -> None:
        """With ``write_behind()``/``flush()``: the same object sees its saves at once,
        another one after ``flush(session)`` (or ``make_durable`` of one save); after
        the flush, saves are durable again."""
        storage = self._open(tmp_path)
        write_behind = getattr(storage, "write_behind", None)
        flush = getattr(storage, "flush", None)
        if write_behind is None or flush is None:
            pytest.skip("the storage has no write_behind() and flush(): saves are durable")
        session = write_behind()
        names = [f"t{i}" for i in range(8)]
        for i, name in enumerate(names):
            storage.save(_WF, name, [i] * 1000)
        assert storage.read_task(_WF, "t7") == [7] * 1000, "a pending save was not read"
        assert storage.list_tasks(_WF) == names, "a pending save was not listed"
        make_durable = getattr(storage, "make_durable", None)
        if make_durable is not None:
            make_durable(_WF, "t3")
            assert self._open(tmp_path).read_task(_WF, "t3") == [3] * 1000, (
                "make_durable() returned before the save was durable"
            )
        if session is None:
            flush()
        else:
            flush(session)
        other = self._open(tmp_path)
        assert other.list_tasks(_WF) == names, "flush() returned before the saves were durable"
        storage.save(_WF, "after", "durable")
        assert other.read_task(_WF, "after") == "durable", "a save after flush() was not durable"

    @check
    def test_read_tasks_reads_as_read_task(self, tmp_path: Path) -> None:
        """With ``read_tasks()``: ``(value, None)`` or ``(None, error)`` per name, as
        ``read_task`` returns or raises."""
        storage = self._open(tmp_path)
        read_tasks = getattr(storage, "read_tasks", None)
        if read_tasks is None:
            pytest.skip("the storage has no read_tasks(): runs read results one by one")
        storage.save(_WF, "a", {"a": 1})
        storage.save(_WF, "b", None)
        found = list(read_tasks(_WF, ["a", "missing", "b"], [None, None, None]))
        assert found[0] == ({"a": 1}, None), f"read_tasks gave {show(found[0])} for 'a'"
        assert found[2] == (None, None), f"read_tasks gave {show(found[2])} for 'b'"
        value, error = found[1]
        assert value is None
        assert isinstance(error, FileNotFoundError), f"a missing task gave {show(error)}"

    @check
    def test_read_tasks_refuses_stale_results(self, tmp_path: Path) -> None:
        """read_tasks() gives (None, StaleResultError) for a stale stamp, in the names' order.

        With fingerprints kept: a result saved with another stamp, or with none, is
        refused as ``read_task(fingerprint=)`` refuses it; the core relies on that to
        run such nodes again rather than use their old results."""
        storage = self._fingerprint_storage(tmp_path)
        read_tasks = self._read_tasks_of(storage)
        storage.save(_WF, "a", "value a", fingerprint=b"stamp a")
        storage.save(_WF, "b", "value b", fingerprint=b"stamp b")
        storage.save(_WF, "bare", "value bare")
        names = ["b", "a", "bare", "a", "missing"]
        stamps = [b"stamp b", b"other", b"stamp", None, b"stamp"]
        found = list(read_tasks(_WF, names, stamps))
        assert len(found) == len(names), f"read_tasks gave {len(found)} pairs for {names}"
        wanted: list[object] = [
            "value b",
            StaleResultError,
            StaleResultError,
            "value a",
            FileNotFoundError,
        ]
        for name, stamp, pair, expected in zip(names, stamps, found, wanted, strict=True):
            what = f"read_tasks gave {show(pair)} for {name!r} with fingerprint {stamp!r}"
            value, error = pair
            if isinstance(expected, type):
                refused = value is None and isinstance(error, expected)
                assert refused, f"{what}, not (None, {expected.__name__})"
            else:
                assert (value, error) == (expected, None), f"{what}, not ({expected!r}, None)"

    @check
    def test_read_tasks_returns_integrity_errors(self, tmp_path: Path) -> None:
        """read_tasks() returns (None, StorageIntegrityError) for a damaged result, not raising.

        The damaged result is never unpickled, and the other names are still read: the
        core runs that one node again and uses the rest."""
        storage = self._open(tmp_path)
        read_tasks = self._read_tasks_of(storage)
        stamp = b"stamp" if keeps_fingerprints(storage) else None
        canary = Canary()
        self._damaged(storage, (canary, random.Random(3).randbytes(64 * 1024)), stamp)
        storage.save(_WF, "a", "value a")
        storage.save(_WF, "b", "value b")
        names = ["a", "victim", "b"]
        try:
            found = list(read_tasks(_WF, names, [None, stamp, None]))
        except Exception as exc:
            raise AssertionError(
                f"read_tasks raised {type(exc).__name__} ({exc}) for a damaged result "
                "instead of returning (None, error) for it alone"
            ) from exc
        assert not canary.unpickled(), "the damaged result was unpickled before being refused"
        assert len(found) == len(names), f"read_tasks gave {len(found)} pairs for {names}"
        assert found[0] == ("value a", None), f"read_tasks gave {show(found[0])} for 'a'"
        assert found[2] == ("value b", None), f"read_tasks gave {show(found[2])} for 'b'"
        value, error = found[1]
        refused = value is None and isinstance(error, StorageIntegrityError)
        assert refused, (
            f"read_tasks gave {show(found[1])} for the damaged result, not "
            "(None, StorageIntegrityError)"
        )

    @staticmethod
    def _read_tasks_of(storage: Any) -> Callable[..., Any]:
        read_tasks = getattr(storage, "read_tasks", None)
        if read_tasks is None:
            pytest.skip("the storage has no read_tasks(): runs read results one by one")
        return read_tasks  # type: ignore[no-any-return]

    # -- concurrency and other processes ---------------------------------------------------

    @check
    def test_concurrent_threads_leave_one_whole_result(self, tmp_path: Path) -> None:
        """Saves racing in threads leave one whole result; readers never see a partial one."""
        storage = self._open(tmp_path)
        race_in_threads(storage, _WF, writers=4, rounds=5, size=256 * 1024)

    @check
    def test_concurrent_processes_leave_one_whole_result(self, tmp_path: Path) -> None:
        """Saves racing in processes leave one whole result; readers never see a partial one."""
        self._skip_lacking(PROCESSES)
        storage = self._open(tmp_path)
        in_other_processes(storage, _WF, writers=2, rounds=5, size=256 * 1024)

    @check
    def test_storage_pickles_to_the_same_place(self, tmp_path: Path) -> None:
        """A pickled copy of the storage (as shipped to workers) uses the same place."""
        self._skip_lacking(PROCESSES)
        storage = self._open(tmp_path)
        storage.save(_WF, "before", "saved by the original")
        try:
            copy = pickle.loads(pickle.dumps(storage))
        except Exception as exc:
            raise AssertionError(
                f"{storage!r} cannot be pickled ({type(exc).__name__}: {exc}), so no "
                f"worker process can use it; if it lives in one process, declare "
                f"lacks = {{{PROCESSES!r}}}"
            ) from exc
        assert copy.read_task(_WF, "before") == "saved by the original"
        copy.save(_WF, "after", "saved by the copy")
        assert storage.read_task(_WF, "after") == "saved by the copy"

    # -- everything at once ----------------------------------------------------------------

    @check
    def test_state_machine_agrees_with_a_dict(self, tmp_path: Path) -> None:
        """Random sequences of save, read, list and remove agree with a dict."""
        places = iter(range(1_000_000))

        def open_place() -> Callable[[], Any]:
            place = tmp_path / f"machine-{next(places)}"
            place.mkdir()
            return lambda: self.make_storage(place)

        run_state_machine(open_place, self.machine_examples, self.machine_steps)
