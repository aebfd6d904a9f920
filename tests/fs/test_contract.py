"""The storage contract on local disk, memory:// and S3 (moto)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from functionfuse import storage_factory
from functionfuse.hookspecs import Storage
from functionfuse_fs import FileStorage

RESULTS: dict[str, Any] = {
    "none": None,
    "number": 42,
    "text": "héllo",
    "nested": {"a": [1, 2, (3, 4)], "b": {"c": b"\x00\xff"}},
    "big": bytes(range(256)) * 4096,
}


def test_is_a_storage(storage: FileStorage) -> None:
    assert isinstance(storage, Storage)


def test_save_and_read_round_trip(storage: FileStorage) -> None:
    for name, value in RESULTS.items():
        storage.save("wf", name, value)
    for name, value in RESULTS.items():
        assert storage.read_task("wf", name) == value


def test_save_replaces_an_earlier_result(storage: FileStorage) -> None:
    storage.save("wf", "t", 1)
    storage.save("wf", "t", 2)
    assert storage.read_task("wf", "t") == 2
    assert storage.list_tasks("wf") == ["t"]


def test_save_without_new_workflow(place: Any) -> None:
    storage = place.storage()
    storage.save("fresh", "t", [1])
    assert storage.read_task("fresh", "t") == [1]


def test_new_workflow_twice_keeps_results(storage: FileStorage) -> None:
    storage.save("wf", "t", 1)
    storage.new_workflow("wf")
    assert storage.read_task("wf", "t") == 1


def test_missing_result_is_file_not_found(storage: FileStorage) -> None:
    with pytest.raises(FileNotFoundError, match="task 'nope' of workflow 'wf'"):
        storage.read_task("wf", "nope")
    with pytest.raises(FileNotFoundError):
        storage.read_task("no-such-workflow", "nope")


def test_file_exists(storage: FileStorage) -> None:
    assert not storage.file_exists("wf", "t")
    storage.save("wf", "t", 0)
    assert storage.file_exists("wf", "t")
    assert not storage.file_exists("other", "t")


def test_list_tasks_with_patterns(storage: FileStorage) -> None:
    for name in ["train_2", "train_1", "test", "Train_3", "eval[1]"]:
        storage.save("wf", name, name)
    assert storage.list_tasks("wf") == ["Train_3", "eval[1]", "test", "train_1", "train_2"]
    assert storage.list_tasks("wf", "train_*") == ["train_1", "train_2"]
    assert storage.list_tasks("wf", "t*") == ["test", "train_1", "train_2"]
    assert storage.list_tasks("wf", "train_?") == ["train_1", "train_2"]
    assert storage.list_tasks("wf", "eval[[]1]") == ["eval[1]"]
    assert storage.list_tasks("wf", "nothing*") == []


def test_list_tasks_of_unknown_workflow_is_empty(storage: FileStorage) -> None:
    assert storage.list_tasks("never-made") == []
    assert storage.list_tasks("wf") == []


def test_workflows_are_separate(storage: FileStorage) -> None:
    storage.save("wf", "t", "one")
    storage.save("wf2", "t", "two")
    assert storage.read_task("wf", "t") == "one"
    assert storage.read_task("wf2", "t") == "two"
    storage.remove_workflow("wf2")
    assert storage.read_task("wf", "t") == "one"


def test_remove_task_by_name(storage: FileStorage) -> None:
    storage.save("wf", "a", 1)
    storage.save("wf", "b", 2)
    storage.remove_task("wf", "a")
    assert storage.list_tasks("wf") == ["b"]
    assert not storage.file_exists("wf", "a")
    with pytest.raises(FileNotFoundError):
        storage.read_task("wf", "a")


def test_remove_missing_task_is_file_not_found(storage: FileStorage) -> None:
    with pytest.raises(FileNotFoundError, match="task 'a' of workflow 'wf'"):
        storage.remove_task("wf", "a")


def test_remove_task_by_pattern(storage: FileStorage) -> None:
    for name in ["fit_1", "fit_2", "predict"]:
        storage.save("wf", name, name)
    storage.remove_task("wf", pattern="fit_*")
    assert storage.list_tasks("wf") == ["predict"]
    storage.remove_task("wf", pattern="nothing*")  # matching nothing is fine
    # As in the original Function Fuse, the pattern wins over a task name.
    storage.remove_task("wf", task_name="not-there", pattern="pred*")
    assert storage.list_tasks("wf") == []


def test_remove_task_needs_a_name_or_pattern(storage: FileStorage) -> None:
    with pytest.raises(TypeError, match="task_name or a pattern"):
        storage.remove_task("wf")


def test_remove_workflow(storage: FileStorage, place: Any) -> None:
    storage.save("wf", "a", 1)
    storage.save("wf", "b", 2)
    storage.remove_workflow("wf")
    assert storage.list_tasks("wf") == []
    assert not storage.file_exists("wf", "a")
    assert place.all_files() == []
    storage.remove_workflow("wf")  # removing nothing is fine
    storage.save("wf", "a", 3)  # and the workflow can be used again
    assert storage.read_task("wf", "a") == 3


def test_always_read(place: Any) -> None:
    assert place.storage().always_read is False
    storage = place.storage(always_read=True)
    assert storage.always_read is True
    storage.always_read = False
    assert storage.always_read is False


def test_layout_is_browsable(storage: FileStorage, place: Any) -> None:
    storage.save("wf", "model.fit_1", 1)
    assert place.all_files() == ["wf/model.fit_1"]


def test_fingerprint_in_header(storage: FileStorage) -> None:
    storage.save("wf", "plain", 1)
    storage.save("wf", "text", 2, fingerprint="sha256:abc")
    storage.save("wf", "raw", 3, fingerprint=b"\x00\x01")
    assert storage.read_fingerprint("wf", "plain") is None
    assert storage.read_fingerprint("wf", "text") == b"sha256:abc"
    assert storage.read_fingerprint("wf", "raw") == b"\x00\x01"
    header = storage.read_header("wf", "text")
    assert (header.format_version, header.codec, header.signed) == (2, "pickle", False)
    assert header.task_name == "text"
    assert storage.read_task("wf", "text") == 2
    with pytest.raises(FileNotFoundError):
        storage.read_fingerprint("wf", "missing")


def test_storage_pickles_for_workers(storage: FileStorage) -> None:
    storage.save("wf", "t", {"x": 1})
    copy = pickle.loads(pickle.dumps(storage))
    assert type(copy) is type(storage)
    assert repr(copy) == repr(storage)
    assert copy.read_task("wf", "t") == {"x": 1}
    copy.save("wf", "u", 2)
    assert storage.read_task("wf", "u") == 2


def test_a_second_storage_sees_the_results(storage: FileStorage, place: Any) -> None:
    storage.save("wf", "t", "shared")
    other = place.storage()
    assert other.list_tasks("wf") == ["t"]
    assert other.read_task("wf", "t") == "shared"
    other.remove_task("wf", "t")
    assert storage.list_tasks("wf") == []
    assert not storage.file_exists("wf", "t")


def test_arrays_round_trip_writable_without_copies(storage: FileStorage) -> None:
    import numpy as np

    big = np.arange(100_000, dtype=np.float64)  # out of band: written from its memory
    fortran = np.asfortranarray(np.arange(60_000, dtype=np.int32).reshape(200, 300))
    readonly = np.arange(50_000, dtype=np.int64)
    readonly.flags.writeable = False
    result = {"big": big, "fortran": fortran, "small": np.ones(3), "ro": readonly}
    result["blob"] = bytearray(b"x" * 100_000)
    storage.save("wf", "t", result)
    back = storage.read_task("wf", "t")
    np.testing.assert_array_equal(back["big"], big)
    np.testing.assert_array_equal(back["fortran"], fortran)
    assert back["fortran"].flags.f_contiguous
    assert back["big"].flags.writeable
    assert back["big"].flags.aligned
    assert not back["ro"].flags.writeable
    assert back["blob"] == result["blob"]
    back["big"][0] = -1.0  # writable, and the storage is unaffected
    assert storage.read_task("wf", "t")["big"][0] == 0.0


def test_relative_folder_means_the_drivers_folder_on_workers(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker (another working directory) saves where the driver lists."""
    monkeypatch.chdir(tmp_path)
    storage = storage_factory({"kind": "file", "options": {"path": "relative"}})
    shipped = pickle.dumps(storage)
    elsewhere = tmp_path / "worker"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    pickle.loads(shipped).save("wf", "t", 1)
    assert storage.list_tasks("wf") == ["t"]
    assert not (elsewhere / "relative").exists()
