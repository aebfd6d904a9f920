"""Runs on moto's S3 through a recording proxy (issue 19): resume by fingerprint in the
listing's pages and one read (the result index), saves written behind and flushed
before ``run()`` returns, PUTs without ``Expect: 100-continue``, stored results read
in one concurrent batch — and an index that is stale, lost, damaged or signed with
another key never makes a stale result look current."""

from __future__ import annotations

import contextvars
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlparse

import pytest

from functionfuse import NodeExecutionError, StorageError, workflow
from functionfuse_fs import FileStorage
from functionfuse_fs._index import decode_index, encode_index
from functionfuse_local import LocalWorkflow

from .http_proxy import HttpProxy, Request

N = 12
#: How many times ``square`` ran, by argument.
calls: Counter[int] = Counter()


@workflow
def square(i: int) -> int:
    calls[i] += 1
    return i * i


def build(n: int = N, shift: int = 0) -> LocalWorkflow:
    """n independent nodes; another ``shift`` is another version of them."""
    nodes = [square(i + shift).set_name(f"n{i}") for i in range(n)]
    return LocalWorkflow(*nodes, workflow_name="wf")


def server(s3_endpoint: str) -> tuple[str, int]:
    address = urlparse(s3_endpoint)
    assert address.hostname is not None
    assert address.port is not None
    return address.hostname, address.port


@pytest.fixture(autouse=True)
def record_only_at_start_and_end(monkeypatch: pytest.MonkeyPatch) -> None:
    # The request counts below hold the run record's two writes; a run slower than the
    # snapshot interval (a loaded machine) would add one.
    monkeypatch.setenv("FUNCTIONFUSE_RUN_RECORD_INTERVAL", "3600")


@pytest.fixture
def proxy(s3_endpoint: str, s3_options: dict[str, Any]) -> Iterator[HttpProxy]:
    with HttpProxy(server(s3_endpoint)) as proxy:
        yield proxy


def storage_via(proxy: HttpProxy, url: str, **kwargs: Any) -> FileStorage:
    """A fresh storage object (as a new process would make) reaching S3 through ``proxy``."""
    options = {"endpoint_url": proxy.endpoint, "key": "testing", "secret": "testing"}
    # skip_instance_cache: nothing carried over from another storage's s3fs.
    return FileStorage(url, {**options, "skip_instance_cache": True}, **kwargs)


def run(
    storage: FileStorage, resume: Any = None, return_results: bool = False, shift: int = 0
) -> Any:
    calls.clear()
    wf = build(shift=shift)
    wf.set_storage(storage)
    return wf.run(return_results=return_results, resume=resume)


def methods(requests: list[Request]) -> Counter[str]:
    return Counter(r.method for r in requests)


def test_resume_by_fingerprint_costs_what_resume_by_name_does(
    proxy: HttpProxy, s3_url: str
) -> None:
    run(storage_via(proxy, s3_url))
    first = proxy.clear()
    puts = [r for r in first if r.method == "PUT"]
    records = [r for r in puts if "/wf/.runs/" in r.path]
    assert len(records) == 2  # the run record: written as the run starts, and at its end
    assert len(puts) == N + 3  # the results, the index and the run record (twice)
    assert not [r for r in puts if "expect" in r.headers]  # one round trip each

    by_name = []
    for resume in ("name", "fingerprint"):
        run(storage_via(proxy, s3_url), resume=resume)
        assert calls == Counter()  # everything resumed
        by_name.append(methods(proxy.clear()))
    # The listing (one page) and the index: no read per stored result; the run record.
    assert by_name == [Counter(GET=2, PUT=2), Counter(GET=2, PUT=2)]

    # Results for run(): the listing, the index, then one GET per result, no HEADs.
    assert run(storage_via(proxy, s3_url), return_results=True) == [i * i for i in range(N)]
    assert methods(proxy.clear()) == Counter(GET=2 + N, PUT=2)


def test_an_index_vouches_only_for_the_bytes_it_saw(
    proxy: HttpProxy, s3_url: str, s3fs_client: Any
) -> None:
    run(storage_via(proxy, s3_url))
    folder = f"{s3_url}/wf"
    # Another writer replaces n3 after the index was written: its ETag changes.
    other = storage_via(proxy, s3_url)
    other.save("wf", "n3", 0, fingerprint=b"another version")
    proxy.clear()
    assert run(storage_via(proxy, s3_url), return_results=True)[3] == 9
    assert calls == Counter([3])  # run again, not taken for current
    # Only n3's header was read besides the listing and the index.
    gets = [r for r in proxy.clear() if r.method == "GET"]
    assert [r.headers.get("range") for r in gets].count("bytes=0-4095") == 1

    # A damaged index, then none: every header is read; nothing runs.
    for damage in (b"\x89FFX\r\n\x1a\n\x01\x01" + bytes(40), None):
        if damage is None:
            s3fs_client.rm_file(f"{folder}/.index")
        else:
            s3fs_client.pipe_file(f"{folder}/.index", damage)
        proxy.clear()
        run(storage_via(proxy, s3_url))
        assert calls == Counter()
        ranged = [r for r in proxy.clear() if r.headers.get("range") == "bytes=0-4095"]
        assert len(ranged) == N
    # ... and the index written back by that run spares the next one those reads.
    run(storage_via(proxy, s3_url))
    assert methods(proxy.clear()) == Counter(GET=2, PUT=2)  # and the run record (twice)


def test_an_index_signed_with_another_key_is_ignored(
    proxy: HttpProxy, s3_url: str, s3fs_client: Any
) -> None:
    # Version 1's results in b; version 2's index (made in a) says they are version 2.
    run(storage_via(proxy, f"{s3_url}/b", signing_key="key B"))
    run(storage_via(proxy, f"{s3_url}/a", signing_key="key B"), shift=100)
    version_2 = decode_index(s3fs_client.cat_file(f"{s3_url}/a/wf/.index"), "wf", b"key B")
    etags = {
        info["name"].rsplit("/", 1)[-1]: info["ETag"]
        for info in s3fs_client.ls(f"{s3_url}/b/wf", detail=True, refresh=True)
        if info["type"] == "file"  # not the run records' folder
    }
    forged = {name: replace(entry, validator=etags[name]) for name, entry in version_2.items()}
    # Signed with the storage's key, the lie would be believed (so this test can fail):
    s3fs_client.pipe_file(f"{s3_url}/b/wf/.index", encode_index(forged, "wf", b"key B"))
    run(storage_via(proxy, f"{s3_url}/b", signing_key="key B"), shift=100)
    assert calls == Counter()
    # Signed with another key (or unsigned), it is ignored: version 1 is found stale.
    for key in (b"key A", None):
        s3fs_client.pipe_file(f"{s3_url}/b/wf/.index", encode_index(forged, "wf", key))
        run(storage_via(proxy, f"{s3_url}/b", signing_key="key B"), shift=100)
        assert calls == Counter(range(100, 100 + N)), key
        run(storage_via(proxy, f"{s3_url}/b", signing_key="key B"))  # version 1 again


def test_run_returns_once_every_save_is_durable(proxy: HttpProxy, s3_url: str) -> None:
    wf = build(40)
    wf.set_storage(storage_via(proxy, s3_url))
    wf.run(return_results=False)
    # At once, from a storage object that shares nothing with the run's.
    fresh = storage_via(proxy, s3_url)
    assert len(fresh.list_tasks("wf")) == 40
    assert fresh.read_task("wf", "n39") == 39 * 39


def test_a_failed_background_save_fails_the_run_naming_its_node(
    s3_endpoint: str, s3_options: dict[str, Any], s3_url: str
) -> None:
    def refuse(request: Request) -> bool:  # S3 says AccessDenied to writes of n5
        return request.method == "PUT" and request.path.split("?")[0].endswith("/wf/n5")

    with HttpProxy(server(s3_endpoint), refuse=refuse) as proxy:
        wf = build()
        wf.set_storage(storage_via(proxy, s3_url))
        with pytest.raises(NodeExecutionError) as caught:
            wf.run(return_results=False)
    error = caught.value
    assert error.node_name == "n5"
    for part in ("task 'n5'", "s3://", "Access Denied"):
        assert part in str(error)
    # Every other result is stored, and read back.
    storage = FileStorage(s3_url, s3_options)
    assert sorted(storage.list_tasks("wf")) == sorted(f"n{i}" for i in range(N) if i != 5)
    assert storage.read_task("wf", "n4") == 16


def refusing_puts_of(*names: str) -> Any:
    """A proxy's ``refuse``: S3 says AccessDenied to writes of these results (each is
    the first request of a fresh connection: nothing before it succeeded)."""

    def refuse(request: Request) -> bool:
        return request.method == "PUT" and request.path.split("?")[0].endswith(names)

    return refuse


def test_a_failed_upload_is_reported_to_the_run_that_saved_it(
    s3_endpoint: str, s3_options: dict[str, Any], s3_url: str
) -> None:
    """Two runs on one storage object: run B's upload fails; run A's flush returns
    (its result stored), and B's raises naming B's task."""
    with HttpProxy(server(s3_endpoint), refuse=refusing_puts_of("/b/bad")) as proxy:
        storage = storage_via(proxy, s3_url)
        run_a, run_b = contextvars.Context(), contextvars.Context()  # as two threads
        session_b = run_b.run(storage.write_behind)
        run_b.run(storage.save, "b", "bad", 1)  # written behind: the failure comes later
        session_a = run_a.run(storage.write_behind)
        run_a.run(storage.save, "a", "good", 2)
        assert not storage.file_exists("b", "bad")  # B's upload has ended
        run_a.run(storage.flush, session_a)  # B's failure is not A's
        with pytest.raises(StorageError, match="task 'bad'") as caught:
            run_b.run(storage.flush, session_b)
    assert getattr(caught.value, "task_name", None) == "bad"
    assert FileStorage(s3_url, s3_options).read_task("a", "good") == 2


def test_a_node_made_durable_leaves_the_run_writing_behind(s3_endpoint: str, s3_url: str) -> None:
    """A worker sharing the run's storage object waits for its node's save alone: it
    is not failed for the run's failed upload, and the run still writes behind."""
    refuse = refusing_puts_of("/wf/bad1", "/wf/bad2")
    with HttpProxy(server(s3_endpoint), refuse=refuse) as proxy:
        storage = storage_via(proxy, s3_url)
        session = storage.write_behind()
        storage.save("wf", "bad1", 1)  # fails in the background
        assert not storage.file_exists("wf", "bad1")
        errors: list[BaseException] = []

        def worker() -> None:  # another thread: no session of its own
            try:
                storage.make_durable("wf", "n1")
            except BaseException as error:
                errors.append(error)

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        assert errors == []
        storage.save("wf", "bad2", 2)  # still written behind: save() does not raise
        with pytest.raises(StorageError, match=r"task 'bad1'.*and 1 more: 'bad2'"):
            storage.flush(session)
