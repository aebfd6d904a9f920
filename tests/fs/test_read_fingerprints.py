"""FileStorage.read_fingerprints on local disk, memory:// and S3 (moto).

What the storage reads is recorded by wrappers that delegate to the real calls: the
bytes each local read returned, and on S3 every GET request with the bytes the server
sent for it (its ContentLength).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from functionfuse import StorageIntegrityError
from functionfuse_fs import FileStorage
from functionfuse_fs._files import LocalFiles, OnChunk, ReadBuffer
from functionfuse_fs._format import HEADER_PROBE
from functionfuse_fs._names import encode_name

# The place fixture's Place (tests/fs/conftest.py): its folder is not a package.
Place = Any

BIG = 5 * 1024 * 1024


@dataclass
class Reads:
    """What a storage read from its filesystem, as the real calls returned it."""

    sizes: list[int] = field(default_factory=list)
    whole_files: int = 0
    requests: int = 0
    batches: list[list[str]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    @property
    def total(self) -> int:
        return sum(self.sizes)


def spy(place: Place, storage: FileStorage, monkeypatch: pytest.MonkeyPatch) -> Reads:
    """Record every read ``storage`` makes from here on (the calls still happen)."""
    reads = Reads()
    if place.kind == "file":
        real_head, real_read = LocalFiles.read_head, LocalFiles.read

        def read_head(self: LocalFiles, path: str, size: int) -> bytes:
            data = real_head(self, path, size)
            reads.sizes.append(len(data))
            return data

        def read(self: LocalFiles, path: str, on_chunk: OnChunk | None = None) -> ReadBuffer:
            data = real_read(self, path, on_chunk)
            reads.sizes.append(len(data))
            reads.whole_files += 1
            return data

        monkeypatch.setattr(LocalFiles, "read_head", read_head)
        monkeypatch.setattr(LocalFiles, "read", read)
        return reads
    fs = storage._files._fs  # type: ignore[attr-defined]
    real_ranges = fs.cat_ranges

    def cat_ranges(paths: list[str], starts: Any, ends: Any, **kwargs: Any) -> Any:
        reads.batches.append(list(paths))
        return real_ranges(paths, starts, ends, **kwargs)

    monkeypatch.setattr(fs, "cat_ranges", cat_ranges)
    if place.kind == "s3":
        real_call = fs._call_s3

        async def call_s3(method: str, *args: Any, **kwargs: Any) -> Any:
            if method != "get_object":
                return await real_call(method, *args, **kwargs)
            reads.requests += 1
            reads.in_flight += 1
            reads.max_in_flight = max(reads.max_in_flight, reads.in_flight)
            try:
                response = await real_call(method, *args, **kwargs)
            finally:
                reads.in_flight -= 1
            reads.sizes.append(response["ContentLength"])
            reads.whole_files += "Range" not in kwargs
            return response

        monkeypatch.setattr(fs, "_call_s3", call_s3)
    else:
        real_cat = fs.cat_file

        def cat_file(path: str, start: int | None = None, end: int | None = None) -> Any:
            data = real_cat(path, start, end)
            reads.sizes.append(len(data))
            reads.whole_files += start is None and end is None
            return data

        monkeypatch.setattr(fs, "cat_file", cat_file)
    return reads


@pytest.fixture
def no_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def assert_refused(found: object, name: str, reason: str = "") -> None:
    """``found`` is the (returned, not raised) refusal of the result of ``name`` in
    workflow 'wf', saying ``reason``."""
    assert isinstance(found, StorageIntegrityError), (name, found)
    message = str(found)
    assert f"task {name!r} of workflow 'wf'" in message, message
    assert reason in message, message


def test_fingerprints_of_stored_results(storage: FileStorage) -> None:
    storage.save("wf", "text", 1, fingerprint="sha256:abc")
    storage.save("wf", "raw", 2, fingerprint=b"\x00\x01")
    storage.save("wf", "plain", 3)
    storage.save("wf", "empty", 4, fingerprint=b"")
    names = ["text", "raw", "plain", "empty", "missing"]
    assert storage.read_fingerprints("wf", names) == {
        "text": b"sha256:abc",
        "raw": b"\x00\x01",
        "plain": None,
        "empty": None,
    }
    for name in names[:-1]:
        assert storage.read_fingerprints("wf", [name]) == {
            name: storage.read_fingerprint("wf", name)
        }


def test_missing_names_and_workflows_are_left_out(storage: FileStorage) -> None:
    storage.save("wf", "t", 1, fingerprint="f")
    assert storage.read_fingerprints("wf", ["a", "b"]) == {}
    assert storage.read_fingerprints("never-made", ["t"]) == {}
    storage.remove_task("wf", "t")
    assert storage.read_fingerprints("wf", ["t"]) == {}


def test_any_iterable_and_duplicates(
    storage: FileStorage, place: Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.save("wf", "a", 1, fingerprint="fa")
    storage.save("wf", "b", 2, fingerprint="fb")
    reads = spy(place, storage, monkeypatch)
    found = storage.read_fingerprints("wf", (n for n in ["b", "a", "b", "a", "c"]))
    assert found == {"b": b"fb", "a": b"fa"}
    assert list(found) == ["b", "a"]
    # One read per distinct name that is stored, and one batch on fsspec (S3: ranged
    # GETs that also give each object's ETag, for the index; "c" is not listed).
    assert len(reads.sizes) == 2
    assert [len(batch) for batch in reads.batches] == ([3] if place.kind == "memory" else [])


def test_empty_input_reads_nothing(
    storage: FileStorage, place: Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.save("wf", "a", 1, fingerprint="fa")
    reads = spy(place, storage, monkeypatch)
    assert storage.read_fingerprints("wf", []) == {}
    assert storage.read_fingerprints("wf", iter(())) == {}
    assert (reads.sizes, reads.batches) == ([], [])
    # The spy does see reads (so the assertion above can fail).
    storage.read_fingerprints("wf", ["a"])
    assert reads.sizes


def damaged_files(good: bytes) -> dict[str, bytes]:
    """Raw contents that are not a usable result, each named by what is wrong."""
    version = bytearray(good)
    version[8] = 99
    codec = bytearray(good)
    codec[9] = 77
    name_len = bytearray(good)
    name_len[12:14] = (0xFFFF).to_bytes(2, "big")  # the header claims 64 KiB of name
    return {
        "empty": b"",
        "garbage": b"not a functionfuse result, just some text " * 3,
        "garbage-big": bytes(range(256)) * 64,
        "in-magic": good[:5],
        "in-fixed": good[:20],
        "in-name": good[:26],
        "other-version": bytes(version),
        "other-codec": bytes(codec),
        "long-name-cut": bytes(name_len),
        "bad-utf8": good[:24] + b"\xff" + good[25:],
    }


def damage_reasons(files: dict[str, bytes]) -> dict[str, str]:
    """What _format says is wrong with each of the ``damaged_files`` of the result of
    the task 'template' with fingerprint 'fp' (a 34-byte header)."""
    not_ours = "it is not a functionfuse result (wrong magic bytes)"
    return {
        "empty": "the file is empty (zero bytes)",
        "garbage": not_ours,
        "garbage-big": not_ours,
        "in-magic": "it is truncated: 5 bytes, shorter than a header",
        "in-fixed": "it is truncated: 20 bytes, shorter than a header",
        "in-name": "it is truncated: 26 bytes, inside its header",
        "other-version": "it has format version 99; this functionfuse-fs reads versions 1 and 2",
        "other-codec": "it has an unknown codec id 77",
        # The whole file is read for the 64 KiB header it claims, and is shorter.
        "long-name-cut": (
            f"it is truncated: {len(files['long-name-cut'])} bytes, inside its header"
        ),
        "bad-utf8": "its header holds a task name that is not UTF-8",
    }


def test_damaged_results_are_integrity_errors(
    storage: FileStorage, place: Place, no_warnings: None
) -> None:
    storage.save("wf", "good", list(range(100)), fingerprint="fp")
    storage.save("wf", "template", "x" * 10_000, fingerprint="fp")
    files = damaged_files(place.read_raw("wf", "template"))
    reasons = damage_reasons(files)
    assert list(reasons) == list(files)
    if place.kind == "s3":
        # S3 answers a ranged GET of an empty object with 416: the read fails.
        reasons["empty"] = "it cannot be read (OSError"
    for name, data in files.items():
        place.write_raw(data, "wf", name)
        found = storage.read_fingerprints("wf", [name])
        assert list(found) == [name]
        assert_refused(found[name], name, reasons[name])
    names = ["good", *files, "missing"]
    found = storage.read_fingerprints("wf", names)
    assert list(found) == names[:-1]
    assert found["good"] == b"fp"
    for name in files:
        assert_refused(found[name], name, reasons[name])


def test_a_truncated_payload_still_gives_its_fingerprint(
    storage: FileStorage, place: Place
) -> None:
    # Only the header is read, so a cut payload is not noticed: read_task checks that.
    storage.save("wf", "t", b"x" * 10_000, fingerprint="fp")
    place.write_raw(place.read_raw("wf", "t")[:HEADER_PROBE], "wf", "t")
    assert storage.read_fingerprints("wf", ["t"]) == {"t": b"fp"}


def test_another_tasks_result_is_an_integrity_error(
    storage: FileStorage, place: Place, no_warnings: None
) -> None:
    storage.save("wf", "a", 1, fingerprint="fa")
    storage.save("wf", "b", 2, fingerprint="fb")
    place.write_raw(place.read_raw("wf", "a"), "wf", "b")
    found = storage.read_fingerprints("wf", ["a", "b"])
    assert list(found) == ["a", "b"]
    assert found["a"] == b"fa"
    assert_refused(found["b"], "b", "holds the result of task 'a'")
    # The same file under another workflow is that workflow's own task: accepted.
    place.write_raw(place.read_raw("wf", "a"), "wf2", "a")
    assert storage.read_fingerprints("wf2", ["a"]) == {"a": b"fa"}


@pytest.mark.parametrize("place", ["file", "memory"], indirect=True)  # S3 has no folders
def test_a_folder_in_place_of_a_result(
    storage: FileStorage, place: Place, no_warnings: None
) -> None:
    place.write_raw(b"x", "wf", "t", "inside")
    found = storage.read_fingerprints("wf", ["t"])
    # The local disk cannot read a folder; memory:// sees no file there.
    if place.kind == "file" or found:
        assert list(found) == ["t"]
        assert_refused(found["t"], "t", "it cannot be read")


@pytest.mark.parametrize(
    "name", ["../escape", "/abs/path", "a/b", "..", ".", "nul\x00byte", "C:\\x", "~%2F", "é ü"]
)
def test_hostile_names_stay_in_their_folder(storage: FileStorage, place: Place, name: str) -> None:
    storage.save("wf", name, 1, fingerprint="in")
    assert storage.read_fingerprints("wf", [name]) == {name: b"in"}
    assert "/" not in encode_name(name)
    # A result outside the folder that a raw path would reach is never read.
    storage.save("victim", "t", 1, fingerprint="outside")
    storage.save("victim", "wf", 1, fingerprint="outside")
    for hostile in ["../victim/t", "../wf", "..", "/", "../../victim/t"]:
        found = storage.read_fingerprints("wf", [hostile])
        assert found == ({hostile: b"in"} if hostile == name else {}), hostile


def test_a_header_longer_than_the_probe_is_read_whole(
    storage: FileStorage, place: Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    long_name = "n" * 3000  # a cut, hash-suffixed file name
    fingerprint = bytes(range(256)) * 200  # 51 KiB
    storage.save("wf", long_name, b"payload" * 100_000, fingerprint=fingerprint)
    storage.save("wf", "short", 1, fingerprint="s")
    short_size = len(place.read_raw("wf", "short"))
    reads = spy(place, storage, monkeypatch)
    found = storage.read_fingerprints("wf", [long_name, "short"])
    assert found == {long_name: fingerprint, "short": b"s"}
    # The probe of each name, then the long header alone: never a whole file.
    header_size = 24 + len(long_name) + len(fingerprint)
    assert reads.whole_files == 0
    assert sorted(reads.sizes) == [short_size, HEADER_PROBE, header_size]


@pytest.mark.parametrize("fingerprint", [b"sha256:" + b"0" * 64, None])
def test_a_big_payload_is_not_downloaded(
    storage: FileStorage,
    place: Place,
    monkeypatch: pytest.MonkeyPatch,
    fingerprint: bytes | None,
) -> None:
    storage.save("wf", "big", b"\x01" * BIG, fingerprint=fingerprint)
    storage.save("wf", "array", bytearray(BIG), fingerprint=fingerprint)
    reads = spy(place, storage, monkeypatch)
    assert storage.read_fingerprints("wf", ["big", "array"]) == {
        "big": fingerprint,
        "array": fingerprint,
    }
    assert reads.whole_files == 0
    assert reads.sizes == [HEADER_PROBE, HEADER_PROBE]
    # The spy sees a whole read (so the assertions above can fail).
    storage.read_task("wf", "big")
    assert reads.whole_files == 1
    assert reads.total > BIG


@pytest.mark.parametrize("place", ["memory", "s3"], indirect=True)
def test_remote_names_go_in_one_batched_call(
    storage: FileStorage, place: Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"task_{i}" for i in range(50)]
    for i, name in enumerate(names):
        storage.save("wf", name, i, fingerprint=None if i % 7 == 0 else f"fp{i}")
    reads = spy(place, storage, monkeypatch)
    found = storage.read_fingerprints("wf", [*names, "missing_1", "missing_2"])
    assert found == {
        name: None if i % 7 == 0 else f"fp{i}".encode() for i, name in enumerate(names)
    }
    if place.kind == "memory":
        assert len(reads.batches) == 1
        assert sorted(reads.batches[0]) == sorted(
            place.path("wf", name) for name in [*names, "missing_1", "missing_2"]
        )
    else:
        # One ranged GET per stored name (with its ETag, for the index), sent
        # concurrently; the listing says the missing ones are missing.
        assert reads.requests == 50
        assert reads.whole_files == 0
        assert reads.max_in_flight > 1
        assert max(reads.sizes) < 100
    # The loop of single reads does not batch (so the assertions above can fail).
    reads.batches.clear()
    for name in names[:3]:
        storage.read_fingerprint("wf", name)
    assert reads.batches == []


@pytest.mark.parametrize("place", ["s3"], indirect=True)
def test_s3_errors_of_one_object_are_integrity_errors(
    storage: FileStorage, place: Place, monkeypatch: pytest.MonkeyPatch, no_warnings: None
) -> None:
    storage.save("wf", "a", 1, fingerprint="fa")
    storage.save("wf", "b", 2, fingerprint="fb")
    fs = storage._files._fs  # type: ignore[attr-defined]
    real_call = fs._call_s3

    async def call_s3(method: str, *args: Any, **kwargs: Any) -> Any:
        if method == "get_object" and kwargs["Key"].endswith("/b"):
            raise PermissionError(kwargs["Key"])
        return await real_call(method, *args, **kwargs)

    monkeypatch.setattr(fs, "_call_s3", call_s3)
    found = storage.read_fingerprints("wf", ["a", "b", "c"])
    assert list(found) == ["a", "b"]
    assert found["a"] == b"fa"
    assert_refused(found["b"], "b", "it cannot be read (PermissionError")
