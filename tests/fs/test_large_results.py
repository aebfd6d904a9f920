"""Large results: read into place with the digest computed as the bytes come in, arrays
writable and independent of the file; results saved by functionfuse-fs 0.1.0 still read."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from functionfuse import StorageIntegrityError
from functionfuse_fs import FileStorage
from functionfuse_fs import _files as files_module
from functionfuse_fs._files import LARGE_READ_MIN
from functionfuse_fs._format import Signer

from .conftest import save_in_version

KEY = "large results key"
#: Written by functionfuse-fs 0.1.0 (format version 1) as ``v1-<task>.ffr``: the value
#: below, saved under workflow "wf" with fingerprint ``fp-1`` (unsigned) or ``fp-2``
#: (signed with ``FIXTURE_KEY``).
DATA = Path(__file__).parent / "data"
FIXTURE_KEY = "0.1.0 fixture key"
FIXTURE_FINGERPRINTS = {"unsigned": b"fp-1", "signed": b"fp-2"}


def big_value() -> dict[str, Any]:
    # Over LARGE_READ_MIN: read in a thread, chunk by chunk, into anonymous memory.
    return {"array": np.arange(3 * LARGE_READ_MIN // 8, dtype=np.float64), "n": 7}


@pytest.fixture(params=[False, True], ids=["unsigned", "signed"])
def signed(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def local(tmp_path: Path, signed: bool) -> FileStorage:
    return FileStorage(tmp_path / "store", signing_key=KEY if signed else None)


def test_large_results_round_trip_writable(tmp_path: Path, version: int, signed: bool) -> None:
    storage = local(tmp_path, signed)
    value = big_value()
    save_in_version(storage, version, "wf", "t", value)
    back = storage.read_task("wf", "t")
    np.testing.assert_array_equal(back["array"], value["array"])
    assert back["array"].flags.writeable
    assert back["array"].flags.aligned
    # The array owns its memory: removing or replacing the file changes nothing (a
    # memory-mapped file would change under it, or fault once truncated).
    storage.remove_task("wf", "t")
    storage.save("wf", "t", "replaced")
    back["array"][0] = -1.0
    assert back["array"][1:].sum() == value["array"][1:].sum()


def test_large_arrays_are_read_into_place(
    tmp_path: Path, signed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = local(tmp_path, signed)
    storage.save("wf", "t", big_value())
    buffers: list[Any] = []
    real = files_module._allocate

    def allocate(size: int) -> Any:
        buffers.append(real(size))
        return buffers[-1]

    monkeypatch.setattr(files_module, "_allocate", allocate)
    back = storage.read_task("wf", "t")
    (buffer,) = buffers  # one buffer for the file...
    # ...and the array is a view of it: nothing was copied after the read.
    assert np.shares_memory(back["array"], np.frombuffer(buffer, dtype=np.uint8))


def test_large_reads_hash_each_byte_once(
    tmp_path: Path, version: int, signed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = local(tmp_path, signed)
    save_in_version(storage, version, "wf", "t", big_value())
    hashed: list[int] = []
    real = Signer.hasher

    def hasher(self: Signer, kind: int) -> Any:
        inner = real(self, kind)

        class Counting:
            def update(self, data: Any) -> None:
                hashed.append(memoryview(data).nbytes)
                inner.update(data)

            def digest(self) -> bytes:
                return inner.digest()

        return Counting()

    monkeypatch.setattr(Signer, "hasher", hasher)
    storage.read_task("wf", "t")
    size = (tmp_path / "store" / "wf" / "t").stat().st_size
    # Hashed as it came in, in chunks, and never again (the names of a signed result
    # are hashed after the bytes).
    assert len(hashed) > 2
    assert sum(hashed[: len(hashed) - 4 * signed]) == size - (32 if signed or version == 1 else 16)


def test_damaged_large_results_are_refused(tmp_path: Path, version: int, signed: bool) -> None:
    storage = local(tmp_path, signed)
    save_in_version(storage, version, "wf", "t", big_value())
    path = tmp_path / "store" / "wf" / "t"
    good = path.read_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x10  # inside the array
    damage = {
        "flipped bit": (bytes(flipped), "does not match"),
        "truncated": (good[: len(good) // 2], "truncated"),
        "digest cut off": (good[:-1], "truncated"),
        "extra bytes": (good + b"\x00" * LARGE_READ_MIN, "unexpected bytes"),
    }
    for data, reason in damage.values():
        path.write_bytes(data)
        with pytest.raises(StorageIntegrityError, match=reason):
            storage.read_task("wf", "t")


def test_large_signed_results_moved_or_signed_elsewhere_are_refused(
    tmp_path: Path, version: int
) -> None:
    storage = local(tmp_path, signed=True)
    save_in_version(storage, version, "wf", "t", big_value())
    folder = tmp_path / "store"
    (folder / "other").mkdir()
    shutil.copy(folder / "wf" / "t", folder / "other" / "t")
    shutil.copy(folder / "wf" / "t", folder / "wf" / "u")
    for workflow, task in [("other", "t"), ("wf", "u")]:
        with pytest.raises(StorageIntegrityError, match="signature does not match"):
            storage.read_task(workflow, task)
    save_in_version(FileStorage(folder, signing_key="another key"), version, "wf", "t", 1)
    with pytest.raises(StorageIntegrityError, match="signature does not match"):
        storage.read_task("wf", "t")


@pytest.mark.parametrize("task", ["unsigned", "signed"])
def test_results_saved_by_0_1_0_are_read(tmp_path: Path, task: str) -> None:
    folder = tmp_path / "store"
    (folder / "wf").mkdir(parents=True)
    shutil.copy(DATA / f"v1-{task}.ffr", folder / "wf" / task)
    key = FIXTURE_KEY if task == "signed" else None
    storage = FileStorage(folder, signing_key=key)
    header = storage.read_header("wf", task)
    assert (header.format_version, header.signed) == (1, key is not None)
    back = storage.read_task("wf", task, fingerprint=FIXTURE_FINGERPRINTS[task])
    assert back["text"] == "saved by functionfuse-fs 0.1.0"
    np.testing.assert_array_equal(back["array"], np.arange(4096, dtype=np.float64))
    assert back["array"].flags.writeable
    # ...and refused as 0.1.0 refused them: with another key, without one, elsewhere.
    with pytest.raises(StorageIntegrityError):
        FileStorage(folder, signing_key="another key").read_task("wf", task)
    if key is not None:
        with pytest.raises(StorageIntegrityError, match="configure the key"):
            FileStorage(folder).read_task("wf", task)
        shutil.copy(folder / "wf" / task, folder / "wf" / "moved")
        with pytest.raises(StorageIntegrityError, match="signature does not match"):
            storage.read_task("wf", "moved")
    # A new save of the task writes the current format.
    storage.save("wf", task, back)
    assert storage.read_header("wf", task).format_version == 2


class Failing:
    """A file whose reads stop after the first chunk: with an error, or at a premature
    end (a file truncated while it is read)."""

    def __init__(self, path: str, mode: str, buffering: int, error: bool) -> None:
        self._file = open(path, mode, buffering=buffering)  # noqa: SIM115
        self._error = error
        self._reads = 0

    def __enter__(self) -> Failing:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def fileno(self) -> int:
        return self._file.fileno()

    def readinto(self, view: memoryview) -> int:
        self._reads += 1
        if self._reads == 1:
            return self._file.readinto(view)
        if self._error:
            raise OSError("the disk went away")
        return 0


@pytest.mark.parametrize("error", [True, False], ids=["error", "premature end"])
def test_a_large_read_that_fails_midway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: bool
) -> None:
    storage = local(tmp_path, signed=True)
    storage.save("wf", "t", big_value())

    def failing_open(path: str, mode: str, buffering: int = -1) -> Failing:
        return Failing(path, mode, buffering, error)

    monkeypatch.setattr(files_module, "open", failing_open, raising=False)
    if error:
        with pytest.raises(OSError, match="the disk went away"):
            storage.read_task("wf", "t")
    else:
        with pytest.raises(StorageIntegrityError, match="it is truncated"):
            storage.read_task("wf", "t")
    # The reading thread is gone (by name: other threads of the process come and go).
    assert not [t for t in threading.enumerate() if t.name == "functionfuse-read"]
