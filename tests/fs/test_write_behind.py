"""Saves written behind (issue 19): bounded memory, read-your-writes, the setting."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from functionfuse import ConfigurationError, storage_factory
from functionfuse_fs import FileStorage
from functionfuse_fs._writer import Session, WriteBehind


def test_uploads_waiting_never_hold_more_than_the_bound() -> None:
    writes = WriteBehind(100)
    session = Session(writes)
    gate = threading.Event()
    writes.submit("w/a", "a", 60, gate.wait, session)
    # 60 + 60 > 100: the second save waits until the first upload is done.
    second = threading.Thread(target=writes.submit, args=("w/b", "b", 60, lambda: None, session))
    second.start()
    second.join(0.2)
    assert second.is_alive()
    gate.set()
    second.join(10)
    assert not second.is_alive()
    assert writes.wait_session(session) == []
    # Larger than the bound: never written behind (the storage uploads it in turn).
    assert not writes.accepts(101)
    assert writes.accepts(100)


def test_a_failed_upload_is_reported_once_by_path() -> None:
    writes = WriteBehind(100)

    def refused() -> None:
        raise PermissionError("Access Denied")

    session = Session(writes)
    writes.submit("w/a", "a", 10, refused, session)
    failure = writes.wait("w/a")
    assert failure is not None
    assert (failure.task_name, type(failure.error)) == ("a", PermissionError)
    assert [f.path for f in writes.wait_session(session)] == ["w/a"]
    assert writes.wait_session(session) == []


def test_a_run_reads_its_own_saves_before_they_are_flushed(
    s3_url: str, s3_options: dict[str, Any]
) -> None:
    storage = FileStorage(s3_url, s3_options)
    session = storage.write_behind()  # what a run does
    for i in range(20):
        storage.save("wf", f"t{i}", list(range(i)), fingerprint=b"fp")
    assert storage.read_task("wf", "t19", fingerprint=b"fp") == list(range(19))
    assert len(storage.list_tasks("wf")) == 20
    storage.remove_task("wf", "t0")
    storage.flush(session)
    other = FileStorage(s3_url, s3_options)
    assert other.list_tasks("wf") == sorted(f"t{i}" for i in range(1, 20))
    # After the flush, saves are done when save() returns again.
    storage.save("wf", "late", 1)
    assert other.read_task("wf", "late") == 1


@pytest.mark.parametrize("value", [-1, True, 1.5, "64 MiB"])
def test_write_behind_bytes_must_be_a_size(value: object, s3_url: str) -> None:
    with pytest.raises(ConfigurationError, match="write_behind_bytes"):
        storage_factory({"kind": "s3", "options": {"path": s3_url, "write_behind_bytes": value}})


def test_write_behind_bytes_from_a_config_and_a_url(
    s3_url: str, s3_options: dict[str, Any]
) -> None:
    for storage in (
        storage_factory(
            {
                "kind": "s3",
                "options": {"path": s3_url, "storage_options": s3_options, "write_behind_bytes": 0},
            }
        ),
        storage_factory(s3_url, write_behind_bytes=0, **s3_options),
    ):
        assert isinstance(storage, FileStorage)
        session = storage.write_behind()
        storage.save("wf", "t", 1)
        # Nothing waits: another storage object sees it before any flush.
        assert FileStorage(s3_url, s3_options).read_task("wf", "t") == 1
        storage.flush(session)


def test_saves_to_one_path_land_in_the_order_they_were_submitted() -> None:
    """Submitting does not wait for an earlier upload to the same path: it takes its
    place after it at once (two saves at the same moment cannot swap)."""
    writes = WriteBehind(100)
    session = Session(writes)
    gate = threading.Event()
    landed: list[str] = []

    def first() -> None:
        gate.wait(10)  # only so that a broken writer fails instead of hanging
        landed.append("first")

    writes.submit("w/a", "a", 10, first, session)
    writes.submit("w/a", "a", 10, lambda: landed.append("second"), session)
    writes.submit("w/a", "a", 10, lambda: landed.append("third"), session)
    assert landed == [], "a submit waited for the upload before it"
    gate.set()
    assert writes.wait_session(session) == []
    assert landed == ["first", "second", "third"]
