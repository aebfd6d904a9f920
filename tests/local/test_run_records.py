"""Run records (issue 18, point 1): what each run did with each node, kept beside its
results — statuses and why, errors, blocked nodes, retries, where and when each ran."""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

import functionfuse as ff
from functionfuse import NodeExecutionError, StorageError, workflow
from functionfuse.run_records import list_runs, read_run
from functionfuse_fs import FileStorage
from functionfuse_local import LocalWorkflow, ProcessWorkflow

HERE = Path(__file__).parent


@workflow
def load(n: int) -> list[int]:
    return list(range(n))


@workflow
def scale(xs: list[int], k: int) -> list[int]:
    return [k * x for x in xs]


@workflow
def total(xs: list[int]) -> int:
    return sum(xs)


@workflow
def explode(xs: list[int]) -> int:
    raise ValueError("bad input")


@workflow
class Model:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.seen: list[int] = []

    def fit(self, xs: list[int]) -> int:
        self.seen = xs
        return len(xs)

    def predict(self, x: int) -> float:
        return self.rate * x


def nodes_of(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["name"]: node for node in record["nodes"]}


def statuses(record: dict[str, Any]) -> dict[str, str]:
    return {node["name"]: node["status"] for node in record["nodes"]}


def pipeline(k: int) -> Any:
    data = load(4).set_name("data")
    scaled = scale(data, k).set_name("scaled")
    return total(scaled).set_name("sum")


class CountingStorage(FileStorage):
    """A FileStorage that counts the requests it gets, by method."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.__dict__["calls"] = {}

    def _count(self, method: str) -> None:
        self.__dict__["calls"][method] = self.__dict__["calls"].get(method, 0) + 1

    def save(self, *args: Any, **kwargs: Any) -> int:
        self._count("save")
        return super().save(*args, **kwargs)

    def save_run_record(self, *args: Any, **kwargs: Any) -> None:
        self._count("save_run_record")
        super().save_run_record(*args, **kwargs)


def test_statuses_and_why_nodes_ran_again(tmp_path: Path) -> None:
    storage = str(tmp_path / "store")
    wf = LocalWorkflow(pipeline(2), workflow_name="records")
    wf.set_storage(storage)
    assert wf.run() == 12
    first = read_run(storage, "records")
    assert first == wf.last_run_record
    assert first["format"] == "functionfuse-run/1"
    assert first["state"] == "finished"
    assert (first["backend"], first["resume"], first["error"]) == ("local", "fingerprint", None)
    assert first["ended"] >= first["started"]
    assert statuses(first) == {"data": "ran", "scaled": "ran", "sum": "ran"}
    node = nodes_of(first)["scaled"]
    assert node["kind"] == "function"
    assert node["function"] == f"{__name__}.scale"
    assert node["parents"] == ["data"]
    assert node["instance"] is None
    assert node["worker"] == f"pid {os.getpid()} on {socket.gethostname()}"
    assert first["started"] <= node["start"] <= node["end"] <= first["ended"]
    assert node["size"] > 0
    assert node["result_repr"] == "[0, 2, 4, 6]"
    assert list(node["fingerprint"]) == ["fingerprint"]  # what identifies its result

    wf = LocalWorkflow(pipeline(3), workflow_name="records")  # argument k changed
    wf.set_storage(storage)
    assert wf.run() == 18
    second = nodes_of(wf.last_run_record)
    assert statuses(wf.last_run_record) == {"data": "stored", "scaled": "reran", "sum": "reran"}
    assert second["scaled"]["reasons"] == ["argument 'k' changed"]
    assert second["scaled"]["causes"] == ["argument changed"]
    # What its fingerprint is made of, now that it explains something.
    parts = second["scaled"]["fingerprint"]
    assert {"fingerprint", "code", "arguments", "argument #1", "code scale"} <= set(parts), parts
    assert second["sum"]["reasons"] == ["upstream changed ('scaled')"]
    assert second["sum"]["causes"] == ["upstream changed"]
    stored = second["data"]
    assert stored["start"] is None
    assert stored["worker"] is None
    assert stored["reasons"] == []
    assert (
        stored["fingerprint"]["fingerprint"]
        == nodes_of(first)["data"]["fingerprint"]["fingerprint"]
    )

    runs = list_runs(storage, "records")
    assert [run["run_id"] for run in runs] == [wf.last_run_record["run_id"], first["run_id"]]
    assert runs[0]["counts"] == {
        "ran": 0,
        "stored": 1,
        "reran": 2,
        "failed": 0,
        "blocked": 0,
        "not_saved": 0,
        "pending": 0,
    }
    assert read_run(storage, "records", first["run_id"]) == first
    assert ff.storage_factory(storage).list_tasks("records") == ["data", "scaled", "sum"]


def test_failure_traceback_blocked_nodes_and_nodes_kept_out_of_storage(tmp_path: Path) -> None:
    data = load(3).set_name("data")
    broken = explode(data).set_name("broken")
    after = total([broken]).set_name("after")
    later = total([after]).set_name("later")
    side = scale(data, 2).set_name("side")
    wf = LocalWorkflow(later, side, workflow_name="failing")
    wf.set_storage(str(tmp_path))
    wf.query("side").set_storage(False)
    with pytest.raises(NodeExecutionError):
        wf.run(keep_going=True)
    record = wf.last_run_record
    assert record is not None
    assert record["state"] == "failed"
    assert "'broken'" in record["error"]
    assert "\n" not in record["error"]
    assert read_run(str(tmp_path), "failing") == record
    nodes = nodes_of(record)
    assert statuses(record) == {
        "data": "ran",
        "broken": "failed",
        "after": "blocked",
        "later": "blocked",
        "side": "not_saved",
    }
    assert nodes["broken"]["error"] == "ValueError: bad input"
    assert nodes["broken"]["traceback"].startswith("Traceback (most recent call last)")
    assert 'raise ValueError("bad input")' in nodes["broken"]["traceback"]
    assert nodes["broken"]["start"] is not None
    assert nodes["after"]["blocked_by"] == nodes["later"]["blocked_by"] == "broken"
    assert nodes["after"]["start"] is None
    assert nodes["side"]["size"] is None


def test_retries_and_class_nodes_with_their_calls(tmp_path: Path) -> None:
    attempts = tmp_path / "attempts"

    @workflow
    def flaky(x: int) -> int:
        with attempts.open("a") as file:
            file.write("x")
        if len(attempts.read_text()) < 3:
            raise OSError("not yet")
        return x

    model: Any = Model(0.5).set_name("model")
    fitted = model.fit(load(2).set_name("data")).set_name("fit")
    predicted = model.predict(flaky(fitted).set_name("flaky")).set_name("predict")
    wf = LocalWorkflow(predicted, workflow_name="classes")
    wf.query("flaky").set_retries(3, OSError)
    assert wf.run() == 1.0
    nodes = nodes_of(wf.last_run_record)
    assert nodes["flaky"]["retries"] == 2
    assert nodes["flaky"]["status"] == "ran"
    assert nodes["fit"]["retries"] == 0
    assert (nodes["model"]["kind"], nodes["model"]["function"]) == ("class", f"{__name__}.Model")
    for call in ("fit", "predict"):
        assert nodes[call]["kind"] == "method"
        assert nodes[call]["instance"] == "model"
        assert nodes[call]["function"] == f"{__name__}.Model.{call}"
    assert nodes["predict"]["parents"] == ["fit", "flaky"]
    assert nodes["predict"]["result_repr"] == "1.0"


def test_a_run_without_storage_keeps_its_record_in_memory_only(tmp_path: Path) -> None:
    wf = LocalWorkflow(pipeline(2), workflow_name="plain")
    assert wf.last_run_record is None
    assert wf.run() == 12
    record = wf.last_run_record
    assert record is not None
    assert record["state"] == "finished"
    assert statuses(record) == {"data": "ran", "scaled": "ran", "sum": "ran"}

    broken = total([explode(load(2).set_name("data")).set_name("broken")]).set_name("after")
    wf = LocalWorkflow(broken, workflow_name="plain-failing")
    with pytest.raises(NodeExecutionError):
        wf.run()
    record = wf.last_run_record
    assert record is not None
    assert record["state"] == "failed"
    assert statuses(record) == {"data": "ran", "broken": "failed", "after": "pending"}
    assert nodes_of(record)["broken"]["error"] == "ValueError: bad input"


def test_an_interrupted_run_says_so(tmp_path: Path) -> None:
    @workflow
    def interrupt(xs: list[int]) -> int:
        raise KeyboardInterrupt

    wf = LocalWorkflow(
        total([interrupt(load(2).set_name("data")).set_name("stop")]).set_name("after"),
        workflow_name="stopped",
    )
    wf.set_storage(str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        wf.run()
    record = read_run(str(tmp_path), "stopped")
    assert record["state"] == "interrupted"
    assert record["ended"] is not None
    assert statuses(record) == {"data": "ran", "stop": "pending", "after": "pending"}
    assert nodes_of(record)["stop"]["start"] is not None  # it had started


def test_one_record_write_per_run_and_none_per_node(tmp_path: Path) -> None:
    storage = CountingStorage(tmp_path / "store")
    wf = LocalWorkflow(pipeline(2), workflow_name="counted")
    wf.set_storage(storage)
    wf.run_record_interval = 0  # no snapshots: only the record at the end
    wf.run()
    assert storage.calls == {"save": 3, "save_run_record": 1}
    wf.run()  # resumes: nothing saved, one record
    assert storage.calls == {"save": 3, "save_run_record": 2}
    assert storage.list_run_records("counted") == sorted(
        r["run_id"] for r in list_runs(storage, "counted")
    )


def test_a_running_run_writes_snapshots(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    seen: list[dict[str, Any]] = []

    @workflow
    def watch(xs: list[int]) -> int:
        """Waits until a snapshot of this very run shows it running."""
        from functionfuse.run_records import read_run

        for _ in range(500):
            try:
                record = read_run(store, "snapshots")
            except StorageError:
                record = None
            # The first snapshot (at the start) has every node pending; then "data" ran.
            if record is not None and statuses(record)["data"] == "ran":
                seen.append(record)
                return len(xs)
            import time

            time.sleep(0.01)
        raise AssertionError("no snapshot was written while the run ran")

    wf = LocalWorkflow(
        total([watch(load(2).set_name("data")).set_name("watch")]).set_name("after"),
        workflow_name="snapshots",
    )
    wf.set_storage(store)
    wf.run_record_interval = 0.02
    wf.run()
    [snapshot] = seen
    assert snapshot["ended"] is None
    assert snapshot["run_id"] == wf.last_run_record["run_id"]
    assert statuses(snapshot) == {"data": "ran", "watch": "pending", "after": "pending"}
    assert read_run(store, "snapshots")["state"] == "finished"


class NoRecords:
    """A storage of the original contract only: no run records."""

    always_read = False

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], bytes] = {}

    def new_workflow(self, workflow_name: str) -> None:
        pass

    def save(self, workflow_name: str, task_name: str, obj: object) -> None:
        self.data[workflow_name, task_name] = pickle.dumps(obj)

    def read_task(self, workflow_name: str, task_name: str) -> Any:
        try:
            return pickle.loads(self.data[workflow_name, task_name])
        except KeyError:
            raise FileNotFoundError(task_name) from None

    def file_exists(self, workflow_name: str, task_name: str) -> bool:
        return (workflow_name, task_name) in self.data

    def list_tasks(self, workflow_name: str, pattern: str = "*") -> list[str]:
        return sorted(t for w, t in self.data if w == workflow_name)

    def remove_task(self, workflow_name: str, task_name: Any = None, pattern: Any = None) -> None:
        self.data.pop((workflow_name, task_name), None)

    def remove_workflow(self, workflow_name: str) -> None:
        for key in [k for k in self.data if k[0] == workflow_name]:
            del self.data[key]


def test_a_storage_without_run_records_records_nothing_and_says_so() -> None:
    storage = NoRecords()
    wf = LocalWorkflow(pipeline(2), workflow_name="old-storage")
    wf.set_storage(storage)
    wf.resume = "name"
    assert wf.run() == 12
    assert wf.last_run_record is not None
    assert statuses(wf.last_run_record) == {"data": "ran", "scaled": "ran", "sum": "ran"}
    assert sorted(storage.data) == [("old-storage", n) for n in ("data", "scaled", "sum")]
    with pytest.raises(ff.ConfigurationError, match="keeps no run records"):
        list_runs(storage, "old-storage")  # type: ignore[arg-type]


def test_missing_runs_are_named(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"no runs recorded for workflow 'nothing'.*run it"):
        list_runs(str(tmp_path), "nothing")
    with pytest.raises(StorageError, match="no runs recorded for workflow 'nothing'"):
        read_run(str(tmp_path), "nothing")
    LocalWorkflow(pipeline(1), workflow_name="some").set_storage(str(tmp_path))
    wf = LocalWorkflow(pipeline(1), workflow_name="some")
    wf.set_storage(str(tmp_path))
    wf.run()
    with pytest.raises(
        StorageError, match="no run '20200101T000000Z-abcdef' recorded for workflow 'some'"
    ):
        read_run(str(tmp_path), "some", "20200101T000000Z-abcdef")
    with pytest.raises(StorageError, match=r"run id '\.\./x'"):
        read_run(str(tmp_path), "some", "../x")


#: A result of task ``t`` of workflow ``wf`` (the list [1, 2, 3]) as FileStorage wrote it
#: before run records existed.
OLD_RESULT = bytes.fromhex(
    "894646520d0a1a0a0101010000010000000000000000002274000000000000000000000016800595"
    "0b000000000000005d94284b014b024b03652e5659f7450e94632c60f9338ac7cf6c2824a77e4b82"
    "d3834ed63a764670ff2fc8"
)


def test_a_storage_written_before_run_records_reads_as_before(tmp_path: Path) -> None:
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "t").write_bytes(OLD_RESULT)
    storage = FileStorage(tmp_path)
    assert storage.list_tasks("wf") == ["t"]
    assert storage.read_task("wf", "t") == [1, 2, 3]
    assert storage.list_run_records("wf") == []
    storage.save_run_record("wf", "20261203T000000Z-aaaaaa", b"{}")
    assert (folder / ".runs" / "20261203T000000Z-aaaaaa.json.gz").read_bytes() == b"{}"
    assert storage.list_tasks("wf") == ["t"]
    assert storage.list_tasks("wf", "*") == ["t"]
    assert storage.read_task("wf", "t") == [1, 2, 3]
    assert storage.collect_garbage("wf") == 0
    assert storage.list_run_records("wf") == ["20261203T000000Z-aaaaaa"]
    storage.remove_task("wf", pattern="*")
    assert storage.list_run_records("wf") == ["20261203T000000Z-aaaaaa"]
    storage.remove_workflow("wf")
    assert not folder.exists()


def test_processes_report_where_and_when_each_node_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Worker processes import the nodes by module name (see test_processes.py).
    monkeypatch.syspath_prepend(str(HERE))
    import processes_nodes

    first = processes_nodes.pid(1).set_name("first")
    second = processes_nodes.pid(first).set_name("second")
    wf = ProcessWorkflow(first, second, workflow_name="processes", max_workers=2)
    wf.set_storage(str(tmp_path))
    pids = wf.run()
    record = read_run(str(tmp_path), "processes")
    nodes = nodes_of(record)
    host = socket.gethostname()
    for name, pid in zip(["first", "second"], pids, strict=True):
        assert pid != os.getpid()
        node = nodes[name]
        assert node["worker"] == f"pid {pid} on {host}"
        assert record["started"] <= node["start"] <= node["end"] <= record["ended"]
        assert node["size"] > 0
        assert node["status"] == "ran"


def test_a_killed_run_leaves_a_running_record(
    tmp_path: Path, deadline: Callable[[float], AbstractContextManager[None]]
) -> None:
    """SIGKILLed at its fourth node: the last snapshot says what had run, and that it
    was running (no end, the rest pending)."""
    store, marker = str(tmp_path / "store"), tmp_path / "stalled"
    child = subprocess.Popen(
        [sys.executable, str(HERE / "killed_run_child.py"), store, str(marker)]
    )
    try:
        with deadline(60):
            record = None
            while record is None or "ran" not in statuses(record).get("step_2", ""):
                time.sleep(0.05)
                assert child.poll() is None, "the run ended before it was killed"
                if marker.exists():
                    try:
                        record = read_run(store, "killed")
                    except StorageError:
                        record = None
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    record = read_run(store, "killed")
    assert record["state"] == "running"
    assert record["ended"] is None
    assert statuses(record) == {
        "step_0": "ran",
        "step_1": "ran",
        "step_2": "ran",
        "stall": "pending",
        "after": "pending",
    }
    assert nodes_of(record)["stall"]["start"] is not None
    assert [run["state"] for run in list_runs(store, "killed")] == ["running"]


def test_records_written_node_by_node_read_back_whole(tmp_path: Path) -> None:
    """A record with a "nodes" list, keys left out where empty (the contract's form, as
    a tool may write it) reads back with every key; list_runs counts it."""
    import gzip
    import json

    record = {
        "format": "functionfuse-run/1",
        "run_id": "20261203T000000Z-abcdef",
        "workflow": "by-hand",
        "backend": "local",
        "started": 1.0,
        "ended": 2.0,
        "state": "failed",
        "nodes": [
            {"name": "a", "kind": "function", "status": "ran", "start": 1.5, "future": 1},
            {"name": "b", "kind": "function", "parents": ["a"], "status": "failed"},
            {"name": "c", "kind": "function", "parents": ["b"], "status": "blocked"},
        ],
    }
    storage = FileStorage(tmp_path)
    data = gzip.compress(json.dumps(record).encode())
    storage.save_run_record("by-hand", record["run_id"], data)
    found = read_run(storage, "by-hand")
    assert [node["name"] for node in found["nodes"]] == ["a", "b", "c"]
    first = found["nodes"][0]
    assert first["start"] == 1.5
    assert first["future"] == 1  # unknown keys are kept
    assert (first["parents"], first["reasons"], first["retries"], first["error"]) == (
        [],
        [],
        0,
        None,
    )
    assert found["nodes"][2]["parents"] == ["b"]
    [summary] = list_runs(storage, "by-hand")
    assert summary["counts"]["failed"] == summary["counts"]["blocked"] == 1
    # The readers' helpers, for bytes or a document read elsewhere: the same record.
    from functionfuse.run_records import expand_record, load_record

    assert load_record(data) == found
    assert expand_record(json.loads(gzip.decompress(data))) == found


def test_a_damaged_record_is_named_and_the_others_still_list(tmp_path: Path) -> None:
    wf = LocalWorkflow(pipeline(1), workflow_name="damaged")
    wf.set_storage(str(tmp_path))
    wf.run()
    good = wf.last_run_record
    assert good is not None
    storage = FileStorage(tmp_path)
    storage.save_run_record("damaged", "20200101T000000Z-000000", b"\x1f\x8b not gzip")
    assert [run["run_id"] for run in list_runs(storage, "damaged")] == [good["run_id"]]
    with pytest.raises(
        StorageError, match=r"run '20200101T000000Z-000000' of workflow 'damaged'.*damaged"
    ):
        read_run(storage, "damaged", "20200101T000000Z-000000")


def test_records_on_s3_are_read_from_a_storage_opened_elsewhere(
    s3_url: str, s3_options: dict[str, Any]
) -> None:
    config = {"kind": "s3", "options": {"path": s3_url, "storage_options": s3_options}}
    wf = LocalWorkflow(pipeline(2), workflow_name="on-s3")
    wf.set_storage(config)
    wf.run()
    [run] = list_runs(config, "on-s3")  # another storage object, as another machine
    assert run["state"] == "finished"
    assert run["counts"]["ran"] == 3
    assert read_run(config, "on-s3") == wf.last_run_record
    assert ff.storage_factory(config).list_tasks("on-s3") == ["data", "scaled", "sum"]


def test_a_leaf_found_damaged_in_a_batch_read_says_why_it_ran_again(tmp_path: Path) -> None:
    """Two leaves are read in one batch (read_tasks); the damaged one re-runs, and its
    record says why, as for a result read alone."""
    data = load(3).set_name("data")
    wf = LocalWorkflow(total(data).set_name("a"), total(data).set_name("b"), workflow_name="two")
    wf.set_storage(str(tmp_path))
    wf.run()
    path = tmp_path / "two" / "b"
    whole = path.read_bytes()
    path.write_bytes(whole[:-1] + bytes([whole[-1] ^ 1]))  # found only when read
    with pytest.warns(ff.FunctionFuseWarning, match="'b'"):
        assert wf.run() == [3, 3]
    record = wf.last_run_record
    assert record is not None
    b = nodes_of(record)["b"]
    assert (b["status"], b["reasons"], b["causes"]) == (
        "reran",
        ["stored result could not be used"],
        ["stored result is damaged"],
    )
    assert nodes_of(record)["a"]["status"] == "stored"


class FailingFlush(FileStorage):
    """A storage whose flush() fails with something else than a StorageError."""

    def flush(self) -> None:
        raise OSError("disk gone")


def test_a_flush_failing_after_a_failed_node_keeps_the_node_error_and_the_record(
    tmp_path: Path,
) -> None:
    storage = FailingFlush(tmp_path / "store")
    wf = LocalWorkflow(explode(load(2).set_name("data")).set_name("boom"), workflow_name="flush")
    wf.set_storage(storage)
    with (
        pytest.warns(ff.FunctionFuseWarning, match=r"workflow 'flush'.*disk gone"),
        pytest.raises(NodeExecutionError, match="bad input"),
    ):
        wf.run()
    record = read_run(storage, "flush")
    assert record["state"] == "failed"
    assert "bad input" in record["error"]
    assert statuses(record) == {"data": "ran", "boom": "failed"}


def test_a_bug_making_the_record_never_fails_a_run_nor_hides_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functionfuse._records import RunRecorder

    def bug(*args: Any) -> Any:
        raise ZeroDivisionError("a bug in the recorder")

    # A bug while the record is made (there is none known: one is made up).
    monkeypatch.setattr(RunRecorder, "_record", bug)
    wf = LocalWorkflow(pipeline(2), workflow_name="buggy")
    wf.set_storage(str(tmp_path))
    wf.run_record_interval = 0  # the record only at the end
    with pytest.warns(ff.FunctionFuseWarning, match=r"run record of workflow 'buggy'.*a bug"):
        assert wf.run() == 12
    failing = LocalWorkflow(explode(load(2)).set_name("boom"), workflow_name="buggy")
    failing.set_storage(str(tmp_path))  # snapshots too: the first one, at the start, fails
    with (
        pytest.warns(ff.FunctionFuseWarning, match=r"run record of workflow 'buggy'.*a bug"),
        pytest.raises(NodeExecutionError, match="bad input"),
    ):
        failing.run()


def test_a_run_killed_before_its_first_snapshot_leaves_a_running_record(
    tmp_path: Path, deadline: Callable[[float], AbstractContextManager[None]]
) -> None:
    """Snapshots every 10 minutes: killed well before, it still leaves the record its
    start wrote (every node pending)."""
    store, marker = str(tmp_path / "store"), tmp_path / "stalled"
    child = subprocess.Popen(
        [sys.executable, str(HERE / "killed_run_child.py"), store, str(marker), "600"]
    )
    try:
        with deadline(60):
            while not marker.exists():
                time.sleep(0.05)
                assert child.poll() is None, "the run ended before it was killed"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    record = read_run(store, "killed")
    assert (record["state"], record["ended"]) == ("running", None)
    assert set(statuses(record).values()) == {"pending"}


def test_short_reprs_never_repr_anything_big_whole() -> None:
    """A big value inside a list or dict is not repr'd (its __repr__ is not even
    called), and a big bytes result is cut before its repr (memory counted)."""
    import tracemalloc

    from functionfuse._record_format import REPR_LIMIT, short_repr

    calls: list[str] = []

    class Big:
        def __sizeof__(self) -> int:
            return 10**8

        def __repr__(self) -> str:
            calls.append("big")
            return "Big()"

    class Small:
        def __repr__(self) -> str:
            calls.append("small")
            return "Small()"

    assert short_repr([1, Big()], True) == "[1, <Big ...>]"
    assert short_repr({"k": Big()}, True) == "{'k': <Big ...>}"
    assert short_repr(Big(), True) is None
    assert calls == []
    assert short_repr([Small()], True) == "[Small()]"
    assert calls == ["small"]

    big = b"x" * 20_000_000
    tracemalloc.start()
    try:
        text = short_repr(big, True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000  # not a 20 MB repr
    assert text is not None
    assert text.startswith("b'xxx")
    assert len(text) <= REPR_LIMIT
    assert short_repr(bytearray(b"ab"), True) == "bytearray(b'ab')"
    assert short_repr(b"ab", True) == "b'ab'"


def test_the_newest_run_skips_damaged_records_and_says_so(tmp_path: Path) -> None:
    wf = LocalWorkflow(pipeline(1), workflow_name="newest")
    wf.set_storage(str(tmp_path))
    wf.run()
    good = wf.last_run_record
    assert good is not None
    storage = FileStorage(tmp_path)
    damaged = "29991231T235959Z-000000"  # newer than any run, and unreadable
    storage.save_run_record("newest", damaged, b"\x1f\x8b not gzip")
    with pytest.warns(ff.FunctionFuseWarning, match=rf"'newest'.*{damaged}.*cannot be read"):
        assert read_run(storage, "newest")["run_id"] == good["run_id"]


def test_snapshots_leave_the_garbage_collector_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The collector is the process's: the snapshot thread never switches it off (and so
    never back on behind a node that switched it off meanwhile)."""
    import gc
    import threading

    switched: list[str] = []
    disable = gc.disable

    def counted() -> None:
        switched.append(threading.current_thread().name)
        disable()

    monkeypatch.setattr(gc, "disable", counted)

    @workflow
    def wait(xs: list[int]) -> int:
        import time

        time.sleep(0.3)  # several snapshots
        return len(xs)

    wf = LocalWorkflow(wait(load(2)).set_name("wait"), workflow_name="collector")
    wf.set_storage(str(tmp_path))
    wf.run_record_interval = 0.02
    wf.run()
    assert switched  # the driver pauses it while it makes the record
    assert "functionfuse-run-record" not in switched


def test_an_error_is_recorded_in_one_line_of_at_most_500_characters(tmp_path: Path) -> None:
    @workflow
    def shout(xs: list[int]) -> int:
        raise ValueError("x" * 10_000 + "\nsecond line")

    wf = LocalWorkflow(shout(load(1)).set_name("shout"), workflow_name="long")
    with pytest.raises(NodeExecutionError) as caught:
        wf.run()
    record = wf.last_run_record
    assert record is not None
    line = nodes_of(record)["shout"]["error"]
    assert line.startswith("ValueError: xxx")
    assert line.endswith("...")
    assert len(line) == 500
    assert record["error"] is not None
    assert len(record["error"]) <= 500
    assert "second line" in str(caught.value)  # the run's error keeps the whole message
