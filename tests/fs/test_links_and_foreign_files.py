"""Links and foreign files in a storage's folders (issue 20, defects 2 and 3).

Defect 2: a symbolic link planted where a workflow keeps its side files
(``<wf>/.side`` or ``<wf>/.side/<task>``) made ``collect_garbage()`` delete what the link
points to, and report 0 files removed. No destructive operation (``remove_task``,
``remove_workflow``, ``collect_garbage``, a save replacing a file) follows a link below
the root any more: each refuses with a StorageError naming the link and leaves what it
points to alone. A workflow folder that is a link (to another disk) is read and saved
through; only a save replacing that task's own result changes a file there.

Defect 3: ``list_tasks`` counted every safely named file of a workflow folder as a
result, so ``remove_task(pattern=...)`` and ``fuse rm --pattern`` deleted files that are
not results. A file now counts only when its header names its task (and says it is
signed, when the storage has a key); with a key, pattern removal checks the signature.

Links are tested on the local disk through ``os`` (what a path selects) and through
fsspec's local filesystem (how fsspec filesystems with links behave); foreign files on
every place (local disk, memory://, S3).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fsspec  # type: ignore[import-untyped]
import numpy as np
import pytest

from functionfuse import StorageError, StorageIntegrityError
from functionfuse_fs import FileStorage, NumpySerializer
from functionfuse_fs._files import FsspecFiles

#: NumpySerializer is deprecated, and still the serializer that ships: it stands here
#: for any persistent serializer.
pytestmark = pytest.mark.filterwarnings("ignore:NumpySerializer is deprecated:DeprecationWarning")

KEY = "k" * 32

MakeStorage = Callable[..., FileStorage]


@pytest.fixture(params=["os", "fsspec"])
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> MakeStorage:
    """Storages on ``tmp_path/store``, through os or through fsspec's local filesystem,
    keeping arrays as side files."""

    def make(**kwargs: Any) -> FileStorage:
        storage = FileStorage(tmp_path / "store", **kwargs)
        if request.param == "fsspec":
            # No URL selects fsspec's local filesystem (local paths go through os).
            storage._files = FsspecFiles(fsspec.filesystem("file"), "file")
        storage.register_persistent_serializers(NumpySerializer(min_bytes=64))
        return storage

    (tmp_path / "store").mkdir()
    return make


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the storage, holding what links point to."""
    folder = tmp_path / "outside"
    (folder / "t").mkdir(parents=True)
    (folder / "t" / "precious.npy").write_bytes(b"precious")
    (folder / "victim").mkdir()
    (folder / "victim" / "precious.txt").write_bytes(b"precious")
    (folder / "notes").write_bytes(b"precious")
    return folder


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every file and folder under ``folder``, with its content (or the link's target)."""
    found: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_symlink():
            found[name] = f"-> {path.readlink()}"
        elif path.is_file():
            found[name] = path.read_bytes()
        else:
            found[name] = "folder"
    return found


def refused(link: Path) -> Any:
    """pytest.raises for the StorageError naming ``link`` as a symbolic link."""
    # fsspec shows local paths as file://tmp/..., without the leading slash.
    where = re.escape(str(link).lstrip("/"))
    return pytest.raises(StorageError, match=rf"(?s){where}.*symbolic link")


# -- defect 2: links where a workflow keeps its side files -------------------------------------


@pytest.mark.parametrize("where", [".side", ".side/gone", ".side/t"])
def test_collect_garbage_never_deletes_through_a_link(
    disk: MakeStorage, outside: Path, tmp_path: Path, where: str
) -> None:
    storage = disk()
    storage.save("wf", "t", np.zeros(100))
    storage.save("wf", "t", np.ones(100))  # an unused side file to collect
    link = tmp_path / "store" / "wf" / where
    if link.exists():  # the real folder goes where the link points
        link.rename(outside / f"moved{link.name}")
    link.symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    with refused(link):
        storage.collect_garbage("wf")
    assert snapshot(outside) == before
    assert link.is_symlink()


@pytest.mark.parametrize("where", [".side", ".side/t"])
@pytest.mark.parametrize("how", ["name", "pattern"])
def test_remove_task_never_deletes_through_a_side_folder_link(
    disk: MakeStorage, outside: Path, tmp_path: Path, where: str, how: str
) -> None:
    storage = disk()
    storage.save("wf", "t", 1)  # no side files: no side folder
    link = tmp_path / "store" / "wf" / where
    link.parent.mkdir(exist_ok=True)
    link.symlink_to(outside if where == ".side" else outside / "t", target_is_directory=True)
    before = snapshot(outside)
    with refused(link):
        if how == "name":
            storage.remove_task("wf", "t")
        else:
            storage.remove_task("wf", pattern="*")
    assert snapshot(outside) == before
    assert (tmp_path / "store" / "wf" / "t").is_file()  # nothing was removed


def test_remove_workflow_removes_a_side_folder_link_not_its_target(
    disk: MakeStorage, outside: Path, tmp_path: Path
) -> None:
    storage = disk()
    storage.save("wf", "t", 1)
    (tmp_path / "store" / "wf" / ".side").symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    storage.remove_workflow("wf")
    assert not (tmp_path / "store" / "wf").exists()
    assert snapshot(outside) == before


def test_save_refuses_to_write_side_files_through_a_link(
    disk: MakeStorage, outside: Path, tmp_path: Path
) -> None:
    storage = disk()
    storage.new_workflow("wf")
    link = tmp_path / "store" / "wf" / ".side"
    link.symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    with refused(link):
        storage.save("wf", "t", np.zeros(100))
    assert snapshot(outside) == before
    assert storage.list_tasks("wf") == []


def test_save_replaces_a_link_at_the_results_name_not_its_target(
    disk: MakeStorage, outside: Path, tmp_path: Path
) -> None:
    storage = disk()
    storage.new_workflow("wf")
    link = tmp_path / "store" / "wf" / "t"
    link.symlink_to(outside / "notes")
    before = snapshot(outside)
    storage.save("wf", "t", [1, 2])
    assert snapshot(outside) == before
    assert not link.is_symlink()
    assert storage.read_task("wf", "t") == [1, 2]


def test_remove_task_removes_a_link_at_the_results_name_not_its_target(
    disk: MakeStorage, outside: Path, tmp_path: Path
) -> None:
    storage = disk()
    storage.new_workflow("wf")
    link = tmp_path / "store" / "wf" / "t"
    link.symlink_to(outside / "notes")
    before = snapshot(outside)
    storage.remove_task("wf", "t")
    assert not link.is_symlink()
    assert not link.exists()
    assert snapshot(outside) == before


# -- a workflow folder that is a link: to another disk, or planted ------------------------------


@pytest.fixture
def other_disk(tmp_path: Path) -> Path:
    """``store/wf`` is a link to ``other-disk/wf``, which also holds a file of its own."""
    folder = tmp_path / "other-disk" / "wf"
    folder.mkdir(parents=True)
    (folder / "notes").write_bytes(b"precious")
    (tmp_path / "store").mkdir(exist_ok=True)
    (tmp_path / "store" / "wf").symlink_to(folder, target_is_directory=True)
    return folder


def test_a_linked_workflow_folder_is_read_and_saved_through(
    disk: MakeStorage, other_disk: Path
) -> None:
    storage = disk()
    storage.new_workflow("wf")
    storage.save("wf", "t", np.zeros(100))
    storage.save("wf", "u", 1)
    assert storage.list_tasks("wf") == ["t", "u"]  # not "notes"
    storage.save("wf", "t", np.ones(100))  # replaces its own earlier result
    np.testing.assert_array_equal(storage.read_task("wf", "t"), np.ones(100))
    assert storage.read_task("wf", "u") == 1
    assert (other_disk / "t").is_file()
    assert (other_disk / "notes").read_bytes() == b"precious"


def test_a_save_through_a_linked_workflow_folder_replaces_only_a_result(
    disk: MakeStorage, other_disk: Path, tmp_path: Path
) -> None:
    storage = disk()
    unsigned = disk()
    unsigned.save("wf", "plain", 1)
    before = snapshot(other_disk)
    with pytest.raises(StorageError, match=r"(?s)'notes'.*not a stored result"):
        storage.save("wf", "notes", 1)
    with pytest.raises(StorageError, match=r"(?s)'plain'.*not a stored result"):
        disk(signing_key=KEY).save("wf", "plain", 2)  # unsigned: not this storage's result
    assert snapshot(other_disk) == before


def test_destructive_operations_refuse_a_linked_workflow_folder(
    disk: MakeStorage, other_disk: Path, tmp_path: Path
) -> None:
    storage = disk()
    storage.save("wf", "t", np.zeros(100))
    storage.save("wf", "t", np.ones(100))
    before = snapshot(other_disk)
    link = tmp_path / "store" / "wf"
    for operation in [
        lambda: storage.remove_task("wf", "t"),
        lambda: storage.remove_task("wf", pattern="*"),
        lambda: storage.remove_workflow("wf"),
        lambda: storage.collect_garbage("wf"),
    ]:
        with refused(link):
            operation()
        assert snapshot(other_disk) == before
        assert link.is_symlink()


# -- defect 3: files that are not results ------------------------------------------------------

FOREIGN = ["copy", "empty", "notes", "pickled"]


def plant_foreign_files(storage: FileStorage, place: Any) -> None:
    """Results ``real``, ``other`` and a long name, beside files that are not results."""
    storage.save("wf", "real", 1)
    storage.save("wf", "other", 2, fingerprint=b"f" * 10_000)  # a header past the probe
    storage.save("wf", "x" * 300, 3)
    place.write_raw(b"junk", "wf", "notes")
    place.write_raw(b"", "wf", "empty")
    place.write_raw(pickle.dumps([1, 2]), "wf", "pickled")
    place.write_raw(place.read_raw("wf", "real"), "wf", "copy")  # names task "real"


def test_files_that_are_not_results_are_not_listed(storage: FileStorage, place: Any) -> None:
    plant_foreign_files(storage, place)
    assert storage.list_tasks("wf") == ["other", "real", "x" * 300]
    assert storage.list_tasks("wf", "*e*") == ["other", "real"]
    assert storage.list_tasks("wf", "no*") == []


def test_pattern_removal_removes_only_results(storage: FileStorage, place: Any) -> None:
    plant_foreign_files(storage, place)
    storage.remove_task("wf", pattern="*")
    assert place.all_files() == [f"wf/{name}" for name in FOREIGN]


def test_a_file_that_is_not_a_result_is_still_removed_by_its_name(
    storage: FileStorage, place: Any
) -> None:
    """The integrity error says ``remove_task(wf, task)``: that keeps working."""
    plant_foreign_files(storage, place)
    for name in FOREIGN:
        with pytest.raises(StorageIntegrityError, match=re.escape(f"remove_task('wf', {name!r})")):
            storage.read_task("wf", name)
        storage.remove_task("wf", name)
    assert storage.list_tasks("wf") == ["other", "real", "x" * 300]
    assert not any(name in place.all_files() for name in FOREIGN)


def _flip_payload_byte(data: bytes) -> bytes:
    out = bytearray(data)
    out[len(out) - 32 - 5] ^= 0x01  # inside the pickle stream, before the digest
    return bytes(out)


def test_with_a_key_only_signed_results_count(place: Any) -> None:
    signed = place.storage(signing_key=KEY)
    unsigned = place.storage()
    signed.save("wf", "good", 1)
    signed.save("wf", "tampered", 2)
    place.write_raw(_flip_payload_byte(place.read_raw("wf", "tampered")), "wf", "tampered")
    unsigned.save("wf", "plain", 3)
    assert signed.list_tasks("wf") == ["good", "tampered"]
    assert unsigned.list_tasks("wf") == ["good", "plain", "tampered"]
    # Pattern removal checks each signature first: the tampered file is left, and named.
    with pytest.raises(StorageIntegrityError, match=r"(?s)'tampered'.*remove_task"):
        signed.remove_task("wf", pattern="*")
    assert place.all_files() == ["wf/plain", "wf/tampered"]
    signed.remove_task("wf", "tampered")  # by its name: removed
    assert place.all_files() == ["wf/plain"]
