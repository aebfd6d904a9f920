"""Concurrent saves of one task: never a result whose side files are gone.

Bug B1: each save used to delete the task's side files that it did not write itself,
so of two saves of the same task with different arrays, one could delete the side file
of the other just after the other's result replaced its own: the stored result then
referred to a missing ``.npy`` and reading it raised StorageIntegrityError. Saves now
never delete side files; ``collect_garbage`` does, when nothing saves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from functionfuse_fs import FileStorage, NumpySerializer

#: NumpySerializer is deprecated, and still the serializer that ships: it stands here
#: for any persistent serializer.
pytestmark = pytest.mark.filterwarnings("ignore:NumpySerializer is deprecated:DeprecationWarning")

#: Rounds of racing saves; each round is a fresh race between the threads.
ROUNDS = {"file": 40, "memory": 20, "s3": 6}


def side_files(place: Any, task: str = "t") -> list[str]:
    return [f for f in place.all_files() if f.startswith(f"wf/.side/{task}/")]


def race(workers: list[Callable[[], None]]) -> None:
    """Run ``workers`` in threads released together; re-raise the first error."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(work: Callable[[], None]) -> None:
        try:
            barrier.wait()
            work()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def np_storage(place: Any, **kwargs: Any) -> FileStorage:
    storage = place.storage(**kwargs)
    storage.register_persistent_serializers(NumpySerializer(min_bytes=64))
    storage.new_workflow("wf")
    return storage


@pytest.mark.parametrize("signed", [False, True])
def test_racing_saves_of_one_task_leave_a_readable_result(place: Any, signed: bool) -> None:
    """Two storages (as in two processes) save different arrays as the same task at
    once; afterwards the task holds one of them, whole, with its side file."""
    key = {"signing_key": "k" * 32} if signed else {}
    storages = [np_storage(place, **key), np_storage(place, **key)]
    rng = np.random.default_rng(7)
    for _ in range(ROUNDS[place.kind]):
        arrays = [rng.random(32), rng.random(32)]
        race(
            [
                lambda s=s, a=a: s.save("wf", "t", {"x": a})
                for s, a in zip(storages, arrays, strict=True)
            ]
        )
        back = storages[0].read_task("wf", "t")["x"]
        assert any(np.array_equal(back, a) for a in arrays)


def test_save_keeps_earlier_side_files_until_collected(place: Any) -> None:
    storage = np_storage(place)
    storage.save("wf", "t", np.zeros(100))
    storage.save("wf", "t", np.ones(100))
    storage.save("wf", "u", np.ones(100))
    # The first save's side file may still be referenced by a concurrent save's
    # result, as far as the second save can tell: it stays.
    assert len(side_files(place)) == 2
    assert storage.collect_garbage("wf") == 1
    assert len(side_files(place)) == 1
    assert len(side_files(place, "u")) == 1
    np.testing.assert_array_equal(storage.read_task("wf", "t"), np.ones(100))
    np.testing.assert_array_equal(storage.read_task("wf", "u"), np.ones(100))
    assert storage.collect_garbage("wf") == 0


def test_collect_garbage_removes_side_folders_without_a_result(place: Any) -> None:
    storage = np_storage(place)
    storage.save("wf", "gone", np.zeros(100))
    storage.save("wf", "kept", np.arange(100))
    # A save killed after its side files and before its result leaves them alone.
    place.fs.rm_file(place.path("wf", "gone"))
    place.write_raw(b"junk", "wf", ".side", "kept", "0" * 64 + ".npy")
    assert storage.collect_garbage("wf") == 2
    assert side_files(place, "gone") == []
    assert len(side_files(place, "kept")) == 1
    np.testing.assert_array_equal(storage.read_task("wf", "kept"), np.arange(100))


def test_collect_garbage_leaves_unreadable_results_alone(place: Any) -> None:
    """What cannot be checked is not trusted to say which side files are unused."""
    storage = np_storage(place, signing_key="k" * 32)
    storage.save("wf", "t", np.zeros(100))
    storage.save("wf", "t", np.ones(100))
    assert np_storage(place).collect_garbage("wf") == 0  # no key: cannot check
    assert np_storage(place, signing_key="x" * 32).collect_garbage("wf") == 0
    assert len(side_files(place)) == 2
    assert storage.collect_garbage("wf") == 1
    np.testing.assert_array_equal(storage.read_task("wf", "t"), np.ones(100))


def test_collect_garbage_ignores_a_result_moved_from_another_task(place: Any) -> None:
    storage = np_storage(place, signing_key="k" * 32)
    storage.save("wf", "t", np.zeros(100))
    storage.save("wf", "u", np.ones(100))
    storage.save("wf", "u", np.arange(100))
    place.write_raw(place.read_raw("wf", "t"), "wf", "u")
    assert storage.collect_garbage("wf") == 0
    assert len(side_files(place, "u")) == 2


def test_collect_garbage_of_names_needing_encoding(place: Any) -> None:
    storage = np_storage(place)
    names = ["../x", "a b", "x" * 1000]
    for name in names:
        storage.save("wf", name, np.zeros(100))
        storage.save("wf", name, np.ones(100))
    assert storage.collect_garbage("wf") == 3
    for name in names:
        np.testing.assert_array_equal(storage.read_task("wf", name), np.ones(100))
    assert all(f.startswith("wf/") for f in place.all_files())


def test_collect_garbage_without_side_files_or_workflow(place: Any) -> None:
    storage = place.storage()
    assert storage.collect_garbage("nothing") == 0
    storage.save("wf", "t", [1, 2])
    assert storage.collect_garbage("wf") == 0
    assert storage.read_task("wf", "t") == [1, 2]


def test_collect_garbage_removes_temporary_files(tmp_path: Any) -> None:
    """A local write killed before its rename leaves a ``.tmp-*`` file behind."""
    storage = FileStorage(tmp_path)
    storage.register_persistent_serializers(NumpySerializer())
    storage.save("wf", "t", np.zeros(10))
    (tmp_path / "wf" / ".tmp-0123456789abcdef").write_bytes(b"partial")
    (tmp_path / "wf" / ".side" / "t" / ".tmp-0123456789abcdef").write_bytes(b"partial")
    assert storage.collect_garbage("wf") == 2
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert len(left) == 2
    assert left[0].startswith("wf/.side/t/")
    assert left[0].endswith(".npy")
    assert left[1] == "wf/t"
    np.testing.assert_array_equal(storage.read_task("wf", "t"), np.zeros(10))


def test_collect_garbage_races_only_with_itself(place: Any) -> None:
    storage = np_storage(place)
    for i in range(5):
        storage.save("wf", "t", np.full(100, i))
        storage.save("wf", f"u{i}", np.full(100, i))
    counts: list[int] = []
    race([lambda: counts.append(storage.collect_garbage("wf")) for _ in range(3)])
    assert sum(counts) >= 4  # a file two of them saw may be counted by both
    assert len(side_files(place)) == 1
    np.testing.assert_array_equal(storage.read_task("wf", "t"), np.full(100, 4))
