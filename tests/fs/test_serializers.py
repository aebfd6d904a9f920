"""Persistent serializers: numpy arrays as .npy files beside the result (NumpySerializer,
deprecated: its results stay readable), and serializers of one's own."""

from __future__ import annotations

import io
import pickle
import warnings
from typing import IO, Any

import numpy as np
import pytest

from functionfuse import ConfigurationError, StorageError, StorageIntegrityError
from functionfuse_fs import FileStorage, NumpySerializer, PersistentSerializer


def numpy_serializer(min_bytes: int = 0) -> NumpySerializer:
    with pytest.warns(DeprecationWarning, match="NumpySerializer is deprecated"):
        return NumpySerializer(min_bytes)


@pytest.fixture
def np_storage(storage: FileStorage) -> FileStorage:
    storage.register_persistent_serializers(numpy_serializer())
    return storage


def side_files(place: Any, task: str = "t") -> list[str]:
    return [f for f in place.all_files() if f.startswith(f"wf/.side/{task}/")]


def test_round_trip_with_npy_beside(np_storage: FileStorage, place: Any) -> None:
    weights = np.arange(12, dtype=np.float32).reshape(3, 4)
    result = {"weights": weights, "bias": np.ones(4), "again": weights, "n": 3}
    np_storage.save("wf", "t", result)
    back = np_storage.read_task("wf", "t")
    assert back["n"] == 3
    np.testing.assert_array_equal(back["weights"], weights)
    assert back["weights"].dtype == np.float32
    np.testing.assert_array_equal(back["bias"], np.ones(4))
    files = side_files(place)
    assert len(files) == 2
    assert all(f.endswith(".npy") for f in files)
    # Browsable: the side files are plain .npy files.
    loaded = [np.load(io.BytesIO(place.read_raw(f))) for f in files]
    assert any(a.shape == (3, 4) for a in loaded)
    assert np_storage.list_tasks("wf") == ["t"]


def test_remove_task_removes_side_files(np_storage: FileStorage, place: Any) -> None:
    np_storage.save("wf", "t", np.zeros(10))
    np_storage.save("wf", "u", np.ones(10))
    np_storage.remove_task("wf", "t")
    assert side_files(place, "t") == []
    assert len(side_files(place, "u")) == 1
    np_storage.remove_task("wf", pattern="*")
    assert place.all_files() == []


def test_resave_keeps_side_files_until_garbage_is_collected(
    np_storage: FileStorage, place: Any
) -> None:
    # A save never deletes side files: a concurrent save of the same task may still
    # need them. collect_garbage() removes the ones the stored result does not use.
    np_storage.save("wf", "t", np.zeros(10))
    np_storage.save("wf", "t", np.ones(10))
    assert len(side_files(place)) == 2
    assert np_storage.collect_garbage("wf") == 1
    assert len(side_files(place)) == 1
    np.testing.assert_array_equal(np_storage.read_task("wf", "t"), np.ones(10))


def test_hostile_task_name_with_side_files(np_storage: FileStorage, place: Any) -> None:
    for name in ["../x", "a/b", "x" * 1000]:
        np_storage.save("wf", name, np.arange(3))
        np.testing.assert_array_equal(np_storage.read_task("wf", name), np.arange(3))
    assert np_storage.list_tasks("wf") == sorted(["../x", "a/b", "x" * 1000])
    assert all(f.startswith("wf/") for f in place.all_files())
    np_storage.remove_task("wf", pattern="*")
    assert place.all_files() == []


def test_what_stays_in_the_pickle(storage: FileStorage, place: Any) -> None:
    storage.register_persistent_serializers(numpy_serializer(min_bytes=1000))
    small, objects = np.arange(3), np.array([{"a": 1}, None], dtype=object)
    storage.save("wf", "t", [small, objects, np.arange(1000)])
    back = storage.read_task("wf", "t")
    np.testing.assert_array_equal(back[0], small)
    assert back[1][0] == {"a": 1}
    assert len(side_files(place)) == 1  # only the big one


def test_corrupt_or_missing_side_file_is_refused(np_storage: FileStorage, place: Any) -> None:
    np_storage.save("wf", "t", np.arange(100))
    (side,) = side_files(place)
    data = bytearray(place.read_raw(side))
    data[-1] ^= 1
    place.write_raw(bytes(data), side)
    with pytest.raises(StorageIntegrityError, match="does not match its SHA-256"):
        np_storage.read_task("wf", "t")
    place.fs.rm_file(place.path(side))
    with pytest.raises(StorageIntegrityError, match="is missing"):
        np_storage.read_task("wf", "t")


def test_signed_results_cover_side_files(place: Any) -> None:
    signed = place.storage(signing_key="k" * 32)
    signed.register_persistent_serializers(numpy_serializer())
    signed.save("wf", "t", np.arange(5))
    (side,) = side_files(place)
    evil = io.BytesIO()
    np.save(evil, np.arange(5) * 100)
    place.write_raw(evil.getvalue(), side)
    with pytest.raises(StorageIntegrityError):
        signed.read_task("wf", "t")


def test_npy_results_read_without_the_deprecated_serializer(
    np_storage: FileStorage, place: Any
) -> None:
    np_storage.save("wf", "t", {"a": np.arange(5)})
    (side,) = side_files(place)
    plain = place.storage()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reading them does not warn
        np.testing.assert_array_equal(plain.read_task("wf", "t")["a"], np.arange(5))
    # ...and their side files are still checked.
    damaged = bytearray(place.read_raw(side))
    damaged[-1] ^= 1
    place.write_raw(bytes(damaged), side)
    with pytest.raises(StorageIntegrityError, match="does not match its SHA-256"):
        plain.read_task("wf", "t")


def test_reading_needs_the_serializer(storage: FileStorage, place: Any) -> None:
    storage.register_persistent_serializers(Text())
    storage.save("wf", "t", "long enough")
    with pytest.raises(StorageError, match=r"persistent serializer 'text\.utf8'"):
        place.storage().read_task("wf", "t")


def test_serializers_travel_with_the_storage(np_storage: FileStorage, place: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the deprecation was said once, where it was made
        copy = pickle.loads(pickle.dumps(np_storage))
    copy.save("wf", "t", np.arange(4))
    assert len(side_files(place)) == 1
    np.testing.assert_array_equal(np_storage.read_task("wf", "t"), np.arange(4))


class Text:
    """A third-party serializer: str stored as UTF-8 .txt files."""

    name = "text.utf8"
    type = str
    suffix = ".txt"

    def accepts(self, obj: Any) -> bool:
        return len(obj) > 5

    def save(self, file: IO[bytes], obj: Any) -> None:
        file.write(obj.encode())

    def load(self, file: IO[bytes]) -> Any:
        return file.read().decode()


def test_a_custom_serializer(storage: FileStorage, place: Any) -> None:
    assert isinstance(Text(), PersistentSerializer)
    storage.register_persistent_serializers(Text())
    storage.save("wf", "t", ["short", "long enough"])
    assert storage.read_task("wf", "t") == ["short", "long enough"]
    (side,) = side_files(place)
    assert side.endswith(".txt")
    assert place.read_raw(side) == b"long enough"


def test_bad_serializers_are_refused(storage: FileStorage) -> None:
    with pytest.raises(ConfigurationError, match="has no name, type, suffix"):
        storage.register_persistent_serializers(object())  # type: ignore[arg-type]

    class BadName(Text):
        name = "with space"

    with pytest.raises(ConfigurationError, match="letters, digits"):
        storage.register_persistent_serializers(BadName())

    class BadSuffix(Text):
        suffix = "/../x"

    with pytest.raises(ConfigurationError, match="suffix"):
        storage.register_persistent_serializers(BadSuffix())
