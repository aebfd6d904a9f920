"""Damaged, foreign, unsigned, tampered and moved results are refused before unpickling,
in every format version read (the ``version`` fixture: results saved by 0.1.0, and as
saved today); a result that cannot be pickled stores nothing."""

from __future__ import annotations

import hashlib
import os
import pickle
import struct
from pathlib import Path
from typing import Any

import pytest
import xxhash

from functionfuse import StorageError, StorageIntegrityError
from functionfuse_fs import KEY_ENV, FileStorage

from .conftest import save_in_version

MAGIC = b"\x89FFR\r\n\x1a\n"
KEY = "correct horse battery staple"


#: The unsigned digest of each format version: kind, and how to compute it.
UNSIGNED = {
    1: (1, lambda data: hashlib.sha256(data).digest()),
    2: (3, lambda data: xxhash.xxh3_128(data).digest()),
}


def forge(task_name: str, stream: bytes, *, version: int = 1, kind: int | None = None) -> bytes:
    """A result in the documented format ``version``, with its unsigned digest (SHA-256
    or XXH3-128): what anyone who can write the storage, but has no key, can make."""
    unsigned_kind, digest = UNSIGNED[version]
    name = task_name.encode()
    payload = struct.pack(">IQ", 0, len(stream)) + stream  # no out-of-band buffers
    header = struct.pack(
        ">8sBBBBHHQ", MAGIC, version, 1, kind or unsigned_kind, 0, len(name), 0, len(payload)
    )
    header += name
    return header + payload + digest(header + payload)


class Canary:
    """Unpickling it creates a file: proof that a payload was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


class Bomb:
    def __reduce__(self) -> tuple[Any, ...]:
        raise RuntimeError("boom while pickling")


def damaged(good: bytes) -> dict[str, bytes]:
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x01
    return {
        "zero-length": b"",
        "truncated": good[: len(good) // 2],
        "truncated header": good[:10],
        "digest cut off": good[:-1],
        "extra bytes": good + b"\x00",
        "flipped bit": bytes(flipped),
        "garbage": os.urandom(200),
        "plain pickle": pickle.dumps({"x": 1}),
        "wrong magic": b"\x89FFX" + good[4:],
        "wrong version": good[:8] + b"\x03" + good[9:],
        "unknown codec": good[:9] + b"\x07" + good[10:],
    }


#: Damage that leaves the header whole: the file is still listed as a result.
HEADER_INTACT = {"truncated", "digest cut off", "extra bytes", "flipped bit"}


def test_damaged_results_are_refused(storage: FileStorage, place: Any, version: int) -> None:
    save_in_version(storage, version, "wf", "t", list(range(100)))
    good = place.read_raw("wf", "t")
    for case, data in damaged(good).items():
        place.write_raw(data, "wf", "t")
        with pytest.raises(StorageIntegrityError) as info:
            storage.read_task("wf", "t")
        message = str(info.value)
        assert "task 't' of workflow 'wf'" in message, case
        assert "remove_task('wf', 't')" in message, case
        # Listed only while its header names the task (issue 20, defect 3)...
        assert storage.list_tasks("wf") == (["t"] if case in HEADER_INTACT else []), case
    storage.remove_task("wf", "t")  # ...and removable by its name, as the message says
    assert place.all_files() == []


def test_messages_say_what_is_wrong(storage: FileStorage, place: Any, version: int) -> None:
    save_in_version(storage, version, "wf", "t", 1)
    good = place.read_raw("wf", "t")
    expectations = {
        "zero-length": "empty",
        "truncated": "truncated",
        "wrong magic": "not a functionfuse result",
        "wrong version": "format version 3; this functionfuse-fs reads versions 1 and 2",
        "flipped bit": f"its {'SHA-256' if version == 1 else 'XXH3-128'} digest does not match",
    }
    for case, words in expectations.items():
        place.write_raw(damaged(good)[case], "wf", "t")
        with pytest.raises(StorageIntegrityError, match=words):
            storage.read_task("wf", "t")


def test_a_forged_unsigned_result_is_read_without_a_key(
    storage: FileStorage, place: Any, version: int
) -> None:
    # The format is what the docs say: an independent writer produces a valid result.
    place.write_raw(forge("t", pickle.dumps({"forged": True}), version=version), "wf", "t")
    assert storage.read_task("wf", "t") == {"forged": True}
    assert storage.read_header("wf", "t").format_version == version


def test_an_inconsistent_payload_is_refused(storage: FileStorage, place: Any, version: int) -> None:
    stream = pickle.dumps(1)
    _, digest = UNSIGNED[version]
    size = len(digest(b""))
    result = bytearray(forge("t", stream, version=version))
    result[24 + 1 : 24 + 1 + 4] = struct.pack(">I", 1)  # one buffer, which is not there
    header_and_payload = bytes(result[:-size])
    place.write_raw(header_and_payload + digest(header_and_payload), "wf", "t")
    with pytest.raises(StorageIntegrityError, match="buffer table"):
        storage.read_task("wf", "t")


@pytest.mark.parametrize(("version", "kind"), [(1, 3), (1, 4), (2, 1), (2, 2), (2, 9)])
def test_a_digest_kind_of_another_version_is_refused(
    storage: FileStorage, place: Any, version: int, kind: int
) -> None:
    place.write_raw(forge("t", pickle.dumps(1), version=version, kind=kind), "wf", "t")
    with pytest.raises(StorageIntegrityError, match=f"unknown digest kind {kind}"):
        storage.read_task("wf", "t")


def test_a_result_moved_to_another_name_is_refused(
    storage: FileStorage, place: Any, version: int
) -> None:
    save_in_version(storage, version, "wf", "a", 1)
    place.write_raw(place.read_raw("wf", "a"), "wf", "b")
    with pytest.raises(StorageIntegrityError, match="holds the result of task 'a'"):
        storage.read_task("wf", "b")


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "canary"
    assert not path.exists()
    pickle.loads(pickle.dumps(Canary(path))).close()  # the canary works...
    assert path.exists()
    path.unlink()  # ...and is armed again
    return path


def test_signed_storage_refuses_unsigned_results(place: Any, canary: Path, version: int) -> None:
    unsigned = place.storage()
    save_in_version(unsigned, version, "wf", "t", Canary(canary))
    signed = place.storage(signing_key=KEY)
    with pytest.raises(StorageIntegrityError, match="not signed"):
        signed.read_task("wf", "t")
    place.write_raw(forge("t", pickle.dumps(Canary(canary)), version=version), "wf", "t")
    with pytest.raises(StorageIntegrityError, match="not signed"):
        signed.read_task("wf", "t")
    assert not canary.exists()


def test_signed_storage_refuses_tampered_results(place: Any, canary: Path, version: int) -> None:
    signed = place.storage(signing_key=KEY)
    save_in_version(signed, version, "wf", "t", "harmless")
    header = signed.read_header("wf", "t")
    assert (header.signed, header.format_version) == (True, version)
    good = place.read_raw("wf", "t")
    evil = pickle.dumps(Canary(canary))
    # Swap the payload, fix the header's length, keep the old signature.
    header_size = 24 + 1
    payload = struct.pack(">IQ", 0, len(evil)) + evil
    tampered = bytearray(good[:header_size])
    tampered[16:24] = struct.pack(">Q", len(payload))
    place.write_raw(bytes(tampered) + payload + good[-32:], "wf", "t")
    with pytest.raises(StorageIntegrityError, match="signature does not match"):
        signed.read_task("wf", "t")
    # Or sign it with another key.
    save_in_version(place.storage(signing_key="another key"), version, "wf", "t", Canary(canary))
    with pytest.raises(StorageIntegrityError, match="signature does not match"):
        signed.read_task("wf", "t")
    assert not canary.exists()


def test_signed_storage_refuses_results_copied_to_another_task(
    place: Any, canary: Path, version: int
) -> None:
    signed = place.storage(signing_key=KEY)
    save_in_version(signed, version, "wf", "evil", Canary(canary))
    save_in_version(signed, version, "wf", "good", "harmless")
    place.write_raw(place.read_raw("wf", "evil"), "wf", "good")
    with pytest.raises(StorageIntegrityError):
        signed.read_task("wf", "good")
    place.write_raw(place.read_raw("wf", "evil"), "other", "evil")
    with pytest.raises(StorageIntegrityError, match="another workflow or task"):
        signed.read_task("other", "evil")
    assert not canary.exists()
    signed.read_task("wf", "evil").close()  # where it was saved, it is read
    assert canary.exists()


def test_unsigned_storage_refuses_signed_results(place: Any, version: int) -> None:
    save_in_version(place.storage(signing_key=KEY), version, "wf", "t", 1)
    with pytest.raises(StorageIntegrityError, match="configure the key"):
        place.storage().read_task("wf", "t")


def test_key_from_environment(place: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    from_env = place.storage()
    from_env.save("wf", "t", 1)
    assert from_env.read_header("wf", "t").signed
    assert place.storage(signing_key=KEY).read_task("wf", "t") == 1
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(StorageIntegrityError):
        place.storage().read_task("wf", "t")
    assert from_env.read_task("wf", "t") == 1  # the key was read when it was made


def test_intact_result_that_cannot_be_unpickled(storage: FileStorage, place: Any) -> None:
    place.write_raw(forge("t", b"cno_such_module_anywhere\nThing\n."), "wf", "t")
    with pytest.raises(StorageIntegrityError, match="intact but cannot be unpickled") as info:
        storage.read_task("wf", "t")
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_exception_mid_pickle_stores_nothing(storage: FileStorage, place: Any) -> None:
    with pytest.raises(StorageError, match="task 't' of workflow 'wf'") as info:
        storage.save("wf", "t", [b"x" * 100_000, Bomb()])
    assert isinstance(info.value.__cause__, RuntimeError)
    assert not storage.file_exists("wf", "t")
    assert storage.list_tasks("wf") == []
    assert place.all_files() == []  # no temporary file either


def test_exception_mid_pickle_keeps_the_earlier_result(storage: FileStorage, place: Any) -> None:
    storage.save("wf", "t", "before")
    with pytest.raises(StorageError):
        storage.save("wf", "t", [1, Bomb()])
    assert storage.read_task("wf", "t") == "before"
    assert place.all_files() == ["wf/t"]


def test_unpicklable_results_name_the_task(storage: FileStorage) -> None:
    with pytest.raises(StorageError, match="cannot be pickled") as info:
        storage.save("wf", "gen", (i for i in range(3)))
    assert "task 'gen' of workflow 'wf'" in str(info.value)
    assert not storage.file_exists("wf", "gen")


class Refusal:
    def __reduce__(self) -> tuple[Any, ...]:
        raise RuntimeError("This object stays in memory.")


def test_the_unpicklable_message_reads_well_when_the_reason_ends_a_sentence(
    storage: FileStorage,
) -> None:
    with pytest.raises(StorageError) as info:
        storage.save("wf", "t", Refusal())
    message = str(info.value)
    assert "(RuntimeError: This object stays in memory). Return a picklable value" in message
    assert ".)" not in message
    assert ".." not in message


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path)
    storage.new_workflow("wf")
    (tmp_path / "wf" / "t").mkdir()  # the final name is taken by a folder
    with pytest.raises(StorageError, match="cannot write the result of task 't'"):
        storage.save("wf", "t", 1)
    assert sorted(p.name for p in (tmp_path / "wf").iterdir()) == ["t"]
    with pytest.raises(StorageIntegrityError, match="folder"):
        storage.read_task("wf", "t")
