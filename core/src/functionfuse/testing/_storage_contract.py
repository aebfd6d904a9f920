"""The storage contract's required checks: what every storage does, whatever it lacks.

Declarations, saving and reading, names and workflows, removing. :class:`ContractChecks`
is a mixin of :class:`functionfuse.testing.StorageTests`, which is what a storage's
author subclasses (see :mod:`functionfuse.testing._storage`).
"""

from __future__ import annotations

import fnmatch
import random
from pathlib import Path

from functionfuse import StorageError
from functionfuse.contracts import Storage
from functionfuse.testing._storage_hooks import CAPABILITIES, SIGNING, WF, StorageHooks
from functionfuse.testing._storage_support import (
    ASSORTED_VALUES,
    Unpicklable,
    check,
    escaped_files,
    expect_raises,
    hostile_names,
    hostile_workflow_names,
    local_root,
    show,
)

__all__ = ["ContractChecks"]

_METHODS = ["new_workflow", "save", "read_task", "file_exists", "list_tasks"]
_METHODS += ["remove_task", "remove_workflow"]


class ContractChecks(StorageHooks):
    """The checks of the contract every storage keeps (a mixin of StorageTests)."""

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
            storage.save(WF, name, value)
        for name, value in ASSORTED_VALUES.items():
            got = storage.read_task(WF, name)
            same = type(got) is type(value) and got == value
            assert same, (
                f"read_task({WF!r}, {name!r}) returned {show(got)}; save stored {show(value)}"
            )
        aliased = storage.read_task(WF, "aliasing")
        assert aliased[0] is aliased[1], "a value referenced twice came back as two copies"

    @check
    def test_read_of_missing_task_raises_file_not_found(self, tmp_path: Path) -> None:
        """read_task of a task with nothing stored raises FileNotFoundError."""
        storage = self._open(tmp_path)
        storage.save(WF, "present", 1)
        expect_raises(FileNotFoundError, storage.read_task, WF, "absent")
        expect_raises(FileNotFoundError, storage.read_task, "kit-never-made", "present")

    @check
    def test_new_workflow_is_idempotent(self, tmp_path: Path) -> None:
        """new_workflow on a workflow that has results keeps them."""
        storage = self._open(tmp_path)
        storage.new_workflow(WF)
        storage.save(WF, "t", "kept")
        storage.new_workflow(WF)
        assert storage.read_task(WF, "t") == "kept", "new_workflow lost a stored result"
        assert storage.list_tasks(WF) == ["t"]

    @check
    def test_results_outlive_the_storage_object(self, tmp_path: Path) -> None:
        """A second storage opened on the same place reads what the first saved."""
        first = self._open(tmp_path)
        first.save(WF, "t", [1, 2, 3])
        second = self._open(tmp_path)
        assert second.read_task(WF, "t") == [1, 2, 3], (
            "make_storage(tmp_path), called again, does not see what the first one saved"
        )
        second.save(WF, "u", "from the second")
        assert first.read_task(WF, "u") == "from the second"
        assert first.list_tasks(WF) == ["t", "u"]

    @check
    def test_save_replaces_the_earlier_result(self, tmp_path: Path) -> None:
        """save over a stored result replaces it, with a shorter one too."""
        storage = self._open(tmp_path)
        storage.save(WF, "t", b"long" * 100_000)
        storage.save(WF, "t", "short")
        got = storage.read_task(WF, "t")
        assert got == "short", f"after saving 'short' over a longer result, read {show(got)}"
        assert storage.list_tasks(WF) == ["t"]

    @check
    def test_large_result_round_trips(self, tmp_path: Path) -> None:
        """A result larger than any buffer (20 MiB of bytes, of bytearray) round-trips."""
        storage = self._open(tmp_path)
        data = random.Random(20).randbytes(self.large_size)
        for name, value in (("bytes", data), ("bytearray", bytearray(data))):
            storage.save(WF, name, value)
            got = storage.read_task(WF, name)
            same = type(got) is type(value) and got == value
            assert same, f"saved {show(value)}, read {show(got)}"
            del got

    @check
    def test_unpicklable_result_stores_nothing(self, tmp_path: Path) -> None:
        """A result that cannot be pickled raises StorageError and stores nothing."""
        storage = self._open(tmp_path)
        storage.save(WF, "t", "earlier")
        bad = [b"x" * 200_000, Unpicklable()]
        expect_raises(StorageError, storage.save, WF, "t", bad)
        got = storage.read_task(WF, "t")
        assert got == "earlier", f"a failed save left {show(got)} where 'earlier' was"
        expect_raises(StorageError, storage.save, WF, "fresh", bad)
        assert not storage.file_exists(WF, "fresh"), "a failed save left a result"
        assert storage.list_tasks(WF) == ["t"], "a failed save left something listed"
        expect_raises(FileNotFoundError, storage.read_task, WF, "fresh")

    # -- names and workflows -------------------------------------------------------------

    @check
    def test_hostile_task_names_round_trip(self, tmp_path: Path) -> None:
        """Any task name round-trips exactly, is listed as given, and stays inside."""
        storage = self._open(tmp_path)
        names = hostile_names(tmp_path)
        for name in names:
            storage.save(WF, name, ("value of", name))
        listed = storage.list_tasks(WF)
        assert listed == sorted(names), (
            f"list_tasks listed {show(sorted(set(listed) - set(names)))} that were not "
            f"saved and missed {show(sorted(set(names) - set(listed)))}"
        )
        for name in names:
            got = storage.read_task(WF, name)
            assert got == ("value of", name), f"read_task({WF!r}, {show(name)}) gave {show(got)}"
            assert storage.file_exists(WF, name), f"file_exists is False for {show(name)}"
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
            storage.save(WF, name, name)
        patterns = ["*", "train_*", "train_?", "[tT]rain_?", "[!t]*", "eval[[]1]", "a[*]b"]
        patterns += ["a?b", "*_1*", "train_1", "nothing*", "?"]
        for pattern in patterns:
            expected = sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))
            got = storage.list_tasks(WF, pattern)
            assert got == expected, f"list_tasks({WF!r}, {pattern!r}) gave {got}, not {expected}"
        assert storage.list_tasks(WF) == sorted(names), "list_tasks() should mean pattern '*'"

    @check
    def test_list_tasks_of_unknown_workflow_is_empty(self, tmp_path: Path) -> None:
        """list_tasks of a workflow with nothing stored returns []."""
        storage = self._open(tmp_path)
        assert storage.list_tasks(WF) == [], "a new workflow lists results"
        assert storage.list_tasks("kit-never-made") == []
        assert storage.list_tasks("kit-never-made", "a*") == []

    @check
    def test_file_exists_tells_stored_from_missing(self, tmp_path: Path) -> None:
        """file_exists is True exactly while a result is stored under the name."""
        storage = self._open(tmp_path, WF, "other")
        assert storage.file_exists(WF, "t") is False
        storage.save(WF, "t", 0)
        assert storage.file_exists(WF, "t") is True, "file_exists is not True after save"
        assert storage.file_exists("other", "t") is False, "a result is seen in another workflow"
        assert storage.file_exists(WF, "T") is False, "a result is seen under another case"
        storage.remove_task(WF, "t")
        assert storage.file_exists(WF, "t") is False, "file_exists is True after remove_task"

    # -- removing ------------------------------------------------------------------------

    @check
    def test_remove_task_by_name(self, tmp_path: Path) -> None:
        """remove_task(name) removes that result only; a missing one raises FileNotFoundError."""
        storage = self._open(tmp_path)
        for name in ("a", "b", "c", "b*"):
            storage.save(WF, name, name)
        storage.remove_task(WF, "b*")
        assert storage.list_tasks(WF) == ["a", "b", "c"], "remove_task('b*') as a pattern"
        storage.remove_task(WF, "b")
        assert storage.list_tasks(WF) == ["a", "c"]
        expect_raises(FileNotFoundError, storage.read_task, WF, "b")
        expect_raises(FileNotFoundError, storage.remove_task, WF, "b")
        expect_raises(FileNotFoundError, storage.remove_task, "kit-never-made", "b")
        assert storage.read_task(WF, "a") == "a"

    @check
    def test_remove_task_by_pattern(self, tmp_path: Path) -> None:
        """remove_task(pattern=) removes exactly what list_tasks(pattern) lists."""
        storage = self._open(tmp_path)
        names = ["train_1", "train_2", "test", "Train_3", "eval"]
        for name in names:
            storage.save(WF, name, name)
        storage.remove_task(WF, pattern="nothing*")
        assert storage.list_tasks(WF) == sorted(names), "a pattern matching nothing removed"
        storage.remove_task(WF, pattern="train_*")
        assert storage.list_tasks(WF) == ["Train_3", "eval", "test"], (
            f"after remove_task(pattern='train_*'): {storage.list_tasks(WF)}"
        )
        expect_raises(FileNotFoundError, storage.read_task, WF, "train_1")
        storage.remove_task(WF, pattern="*")
        assert storage.list_tasks(WF) == [], "remove_task(pattern='*') left results"

    @check
    def test_remove_workflow(self, tmp_path: Path) -> None:
        """remove_workflow removes every result of that workflow and nothing else."""
        storage = self._open(tmp_path, WF, "other")
        for name in ("x", "y"):
            storage.save(WF, name, name)
        storage.save("other", "x", "other x")
        storage.remove_workflow(WF)
        assert storage.list_tasks(WF) == [], "remove_workflow left results listed"
        expect_raises(FileNotFoundError, storage.read_task, WF, "x")
        assert storage.read_task("other", "x") == "other x", "another workflow lost a result"
        storage.remove_workflow("kit-never-made")
        storage.new_workflow(WF)
        storage.save(WF, "z", "again")
        assert storage.list_tasks(WF) == ["z"]
