"""The storage kit's checks of what a storage may have, and that it truly declares what
it lacks; a check of something the storage lacks is skipped, saying why.

Run records, refusing damaged results, signing, fingerprints, writing behind
(``write_behind``/``flush``/``make_durable``) and ``read_tasks``.
:class:`CapabilityChecks` is a mixin of :class:`functionfuse.testing.StorageTests`,
which is what a storage's author subclasses (see :mod:`functionfuse.testing._storage`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from functionfuse import StaleResultError, StorageIntegrityError
from functionfuse.contracts import keeps_fingerprints, keeps_run_records
from functionfuse.testing._storage_hooks import DAMAGE, RUN_RECORDS, SIGNING, WF, StorageHooks
from functionfuse.testing._storage_support import Canary, check, expect_raises, show

__all__ = ["CapabilityChecks"]


class CapabilityChecks(StorageHooks):
    """The checks of the optional capabilities (a mixin of StorageTests)."""

    # -- helpers -----------------------------------------------------------------------

    def _open_signed(self, tmp_path: Path, key: bytes) -> Any:
        if SIGNING in self.lacks:
            pytest.skip(f"the storage declares it lacks {SIGNING!r}")
        if not self._has_signing_hook():
            pytest.skip(
                "define make_signed_storage(tmp_path, key) on the test class, or declare "
                f"lacks = {{{SIGNING!r}}}"
            )
        storage = self.make_signed_storage(tmp_path, key)
        storage.new_workflow(WF)
        return storage

    def _damaged(self, storage: Any, value: object, fingerprint: bytes | None = None) -> None:
        """Save ``value`` as task ``victim`` (with ``fingerprint`` if given), then damage it."""
        self._skip_lacking(DAMAGE)
        if fingerprint is None:
            storage.save(WF, "victim", value)
        else:
            storage.save(WF, "victim", value, fingerprint=fingerprint)
        self.corrupt(storage, WF, "victim")

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
        storage = self._run_records(tmp_path, WF, "other")
        first, second = "20261203T000000Z-aaaaaa", "20261203T000001Z-bbbbbb"
        storage.save_run_record(WF, first, b"\x1f\x8b snapshot")
        storage.save_run_record(WF, first, b"\x1f\x8b final")
        storage.save_run_record(WF, second, b"{}")
        storage.save_run_record("other", first, b"other")
        assert sorted(storage.list_run_records(WF)) == [first, second]
        assert bytes(storage.read_run_record(WF, first)) == b"\x1f\x8b final", (
            "a run record does not read back as last saved"
        )
        assert bytes(storage.read_run_record("other", first)) == b"other", (
            "workflows share their run records"
        )
        assert list(storage.list_run_records("kit-never-made")) == []
        expect_raises(FileNotFoundError, storage.read_run_record, WF, "20261203T000002Z-cccccc")

    @check
    def test_run_records_are_not_results(self, tmp_path: Path) -> None:
        """Run records are never listed as results nor removed with them, and
        remove_workflow removes them with the workflow."""
        storage = self._run_records(tmp_path, WF, "other")
        run = "20261203T000000Z-aaaaaa"
        storage.save(WF, "x", 1)
        storage.save_run_record(WF, run, b"record")
        storage.save_run_record("other", run, b"record")
        assert storage.list_tasks(WF) == ["x"], "a run record is listed as a result"
        storage.remove_task(WF, pattern="*")
        assert storage.list_run_records(WF) == [run], "remove_task took a run record"
        storage.remove_workflow(WF)
        assert list(storage.list_run_records(WF)) == [], "remove_workflow left run records"
        expect_raises(FileNotFoundError, storage.read_run_record, WF, run)
        assert storage.list_run_records("other") == [run], "another workflow lost its record"

    # -- integrity, signing, fingerprints ------------------------------------------------

    @check
    def test_damaged_result_is_refused_before_unpickling(self, tmp_path: Path) -> None:
        """A damaged result raises StorageIntegrityError and is never unpickled."""
        storage = self._open(tmp_path)
        canary = Canary()
        self._damaged(storage, (canary, random.Random(1).randbytes(64 * 1024)))
        got = expect_raises(StorageIntegrityError, storage.read_task, WF, "victim")
        assert not canary.unpickled(), "the damaged result was unpickled before being refused"
        del got

    @check
    def test_damaged_result_can_be_replaced_or_removed(self, tmp_path: Path) -> None:
        """A damaged result is replaced by the next save and removed by its name."""
        storage = self._open(tmp_path)
        self._damaged(storage, random.Random(2).randbytes(64 * 1024))
        storage.save(WF, "victim", "repaired")
        assert storage.read_task(WF, "victim") == "repaired"
        self.corrupt(storage, WF, "victim")
        storage.remove_task(WF, "victim")
        assert not storage.file_exists(WF, "victim"), "remove_task left a damaged result"

    @check
    def test_signed_results_round_trip(self, tmp_path: Path) -> None:
        """A signed storage reads what it signed, also through another handle."""
        signed = self._open_signed(tmp_path, b"kit key one")
        signed.save(WF, "t", {"signed": True})
        assert signed.read_task(WF, "t") == {"signed": True}
        again = self.make_signed_storage(tmp_path, b"kit key one")
        assert again.read_task(WF, "t") == {"signed": True}
        assert again.list_tasks(WF) == ["t"]

    @check
    def test_signed_storage_refuses_foreign_results(self, tmp_path: Path) -> None:
        """A signed storage refuses results it did not sign, before unpickling them."""
        signed = self._open_signed(tmp_path, b"kit key one")
        canary = Canary()
        self._open(tmp_path).save(WF, "unsigned", canary)
        expect_raises(StorageIntegrityError, signed.read_task, WF, "unsigned")
        other = self.make_signed_storage(tmp_path, b"kit key two")
        other.save(WF, "other key", canary)
        expect_raises(StorageIntegrityError, signed.read_task, WF, "other key")
        assert not canary.unpickled(), "a result the storage did not sign was unpickled"

    @check
    def test_fingerprints_are_kept(self, tmp_path: Path) -> None:
        """read_fingerprints gives the stamp each result was saved with, None without one."""
        storage = self._fingerprint_storage(tmp_path)
        storage.save(WF, "a", 1, fingerprint=b"stamp a")
        storage.save(WF, "b", 2)
        storage.save(WF, "c", 3, fingerprint=b"old")
        storage.save(WF, "c", 3, fingerprint=b"new")
        got = dict(storage.read_fingerprints(WF, ["a", "b", "c", "missing", "a"]))
        expected = {"a": b"stamp a", "b": None, "c": b"new"}
        assert got == expected, f"read_fingerprints gave {got}, not {expected}"
        assert dict(storage.read_fingerprints("kit-never-made", ["a"])) == {}

    @check
    def test_stale_fingerprint_is_refused(self, tmp_path: Path) -> None:
        """read_task(fingerprint=) returns the result only if saved with exactly that stamp."""
        storage = self._fingerprint_storage(tmp_path)
        storage.save(WF, "t", "value", fingerprint=b"stamp")
        storage.save(WF, "bare", "value")
        assert storage.read_task(WF, "t", fingerprint=b"stamp") == "value"
        assert storage.read_task(WF, "t") == "value"
        expect_raises(StaleResultError, storage.read_task, WF, "t", fingerprint=b"other")
        expect_raises(StaleResultError, storage.read_task, WF, "t", fingerprint=b"stam")
        expect_raises(StaleResultError, storage.read_task, WF, "bare", fingerprint=b"stamp")
        expect_raises(FileNotFoundError, storage.read_task, WF, "absent", fingerprint=b"s")

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
            storage.save(WF, name, [i] * 1000)
        assert storage.read_task(WF, "t7") == [7] * 1000, "a pending save was not read"
        assert storage.list_tasks(WF) == names, "a pending save was not listed"
        make_durable = getattr(storage, "make_durable", None)
        if make_durable is not None:
            make_durable(WF, "t3")
            assert self._open(tmp_path).read_task(WF, "t3") == [3] * 1000, (
                "make_durable() returned before the save was durable"
            )
        if session is None:
            flush()
        else:
            flush(session)
        other = self._open(tmp_path)
        assert other.list_tasks(WF) == names, "flush() returned before the saves were durable"
        storage.save(WF, "after", "durable")
        assert other.read_task(WF, "after") == "durable", "a save after flush() was not durable"

    @check
    def test_read_tasks_reads_as_read_task(self, tmp_path: Path) -> None:
        """With ``read_tasks()``: ``(value, None)`` or ``(None, error)`` per name, as
        ``read_task`` returns or raises."""
        storage = self._open(tmp_path)
        read_tasks = self._read_tasks_of(storage)
        storage.save(WF, "a", {"a": 1})
        storage.save(WF, "b", None)
        found = list(read_tasks(WF, ["a", "missing", "b"], [None, None, None]))
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
        storage.save(WF, "a", "value a", fingerprint=b"stamp a")
        storage.save(WF, "b", "value b", fingerprint=b"stamp b")
        storage.save(WF, "bare", "value bare")
        names = ["b", "a", "bare", "a", "missing"]
        stamps = [b"stamp b", b"other", b"stamp", None, b"stamp"]
        found = list(read_tasks(WF, names, stamps))
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
        storage.save(WF, "a", "value a")
        storage.save(WF, "b", "value b")
        names = ["a", "victim", "b"]
        try:
            found = list(read_tasks(WF, names, [None, stamp, None]))
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
