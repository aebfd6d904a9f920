"""LocalWorkflow with storage: resume by counting executions, on local disk and S3."""

from __future__ import annotations

import os
import pickle
from collections import Counter
from typing import Any

import pytest

import functionfuse as ff
from functionfuse import FunctionFuseWarning, NodeExecutionError, StorageError, workflow
from functionfuse_local import LocalWorkflow

runs: Counter[str] = Counter()


@workflow
def source(n: int) -> list[int]:
    runs["source"] += 1
    return list(range(n))


@workflow
def double(xs: list[int]) -> list[int]:
    runs["double"] += 1
    return [2 * x for x in xs]


@workflow
def combine(a: list[int], b: list[int]) -> int:
    runs["combine"] += 1
    return sum(a) + sum(b)


@workflow
class Accumulator:
    def __init__(self, start: int) -> None:
        runs["Accumulator"] += 1
        self.value = start

    def add(self, xs: list[int]) -> int:
        runs["add"] += 1
        self.value += sum(xs)
        return self.value


def pipeline() -> tuple[Any, Any]:
    src = source(4).set_name("source")
    doubled = double(src).set_name("double")
    acc = Accumulator(start=100).set_name("acc")
    acc.add(src).set_name("add_1")
    second = acc.add(doubled).set_name("add_2")
    total = combine(doubled, src).set_name("combine")
    return total, second


@pytest.fixture(params=["file", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    if request.param == "file":
        return ff.storage_factory({"kind": "file", "options": {"path": str(tmp_path)}})
    s3_url = request.getfixturevalue("s3_url")
    options = request.getfixturevalue("s3_options")
    return ff.storage_factory(s3_url, **options)


@pytest.fixture(autouse=True)
def _reset_counts() -> None:
    runs.clear()


def run_pipeline(storage: Any, **kwargs: Any) -> Any:
    wf = LocalWorkflow(*pipeline(), workflow_name="resume")
    wf.set_storage(storage)
    return wf.run(**kwargs)


def test_second_run_executes_nothing(storage: Any) -> None:
    assert run_pipeline(storage) == [18, 118]
    assert runs == Counter(source=1, double=1, combine=1, Accumulator=1, add=2)
    runs.clear()
    assert run_pipeline(storage) == [18, 118]
    assert runs == Counter()
    assert sorted(storage.list_tasks("resume")) == ["add_1", "add_2", "combine", "double", "source"]


def test_after_remove_task_only_that_node_runs(storage: Any) -> None:
    run_pipeline(storage)
    runs.clear()
    storage.remove_task("resume", "combine")
    assert run_pipeline(storage) == [18, 118]
    assert runs == Counter(combine=1)


def test_removed_method_result_replays_its_chain(storage: Any) -> None:
    run_pipeline(storage)
    runs.clear()
    storage.remove_task("resume", "add_1")
    assert run_pipeline(storage) == [18, 118]
    # The instance is rebuilt and both calls run, so add_2 sees the right state.
    assert runs == Counter(Accumulator=1, add=2)


def test_query_keeps_nodes_out_of_storage(tmp_path: Any) -> None:
    storage = ff.storage_factory(str(tmp_path))
    for _ in range(2):
        wf = LocalWorkflow(*pipeline(), workflow_name="partial")
        wf.set_storage(storage)
        wf.query("double").set_storage(False)
        assert wf.run() == [18, 118]
    assert runs["double"] == 2
    assert "double" not in storage.list_tasks("partial")


def test_always_read_returns_what_was_stored(tmp_path: Any) -> None:
    storage = ff.storage_factory(
        {"kind": "file", "options": {"path": str(tmp_path), "always_read": True}}
    )
    assert storage.always_read
    assert run_pipeline(storage) == [18, 118]


def test_failure_keeps_finished_results_and_resumes(storage: Any) -> None:
    calls = Counter()

    @workflow
    def fragile(xs: list[int], fail: bool) -> int:
        calls["fragile"] += 1
        if fail:
            raise RuntimeError("disk on fire")
        return len(xs)

    def build(fail: bool) -> Any:
        src = source(3).set_name("source")
        doubled = double(src).set_name("double")
        return fragile(doubled, fail).set_name("fragile")

    wf = LocalWorkflow(build(True), workflow_name="fail")
    wf.set_storage(storage)
    with pytest.raises(NodeExecutionError, match="'fragile'") as caught:
        wf.run()
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert sorted(storage.list_tasks("fail")) == ["double", "source"]
    runs.clear()
    wf = LocalWorkflow(build(False), workflow_name="fail")
    wf.set_storage(storage)
    assert wf.run() == 3
    assert runs == Counter()  # source and double came from storage


def test_corrupt_result_is_recomputed_with_a_warning(tmp_path: Any) -> None:
    storage = ff.storage_factory(str(tmp_path))
    run_pipeline(storage)
    runs.clear()
    # Resume is lazy: a stored node is read only when something needs it. The
    # leaf combine is read; once found corrupt it runs again, which needs the
    # (also corrupt) double, which in turn reads the intact source.
    for name in ("combine", "double"):
        path = tmp_path / "resume" / name
        data = path.read_bytes()
        path.write_bytes(data[:-10])  # its digest cut short: still listed, refused
    with pytest.warns(FunctionFuseWarning) as caught:
        assert run_pipeline(storage) == [18, 118]
    warned = " ".join(str(w.message) for w in caught)
    assert "'combine'" in warned
    assert "'double'" in warned
    assert runs == Counter(double=1, combine=1)
    runs.clear()
    assert run_pipeline(storage) == [18, 118]
    assert runs == Counter()


class Unpicklable:
    def __reduce__(self) -> Any:
        raise pickle.PicklingError("refuses to be pickled")


def test_unpicklable_result_fails_its_node_and_stores_nothing(storage: Any) -> None:
    @workflow
    def make() -> list[Any]:
        return [1, Unpicklable()]

    wf = LocalWorkflow(make().set_name("make"), workflow_name="pickle")
    wf.set_storage(storage)
    with pytest.raises(NodeExecutionError, match="'make'") as caught:
        wf.run()
    assert isinstance(caught.value.__cause__, StorageError)
    assert storage.list_tasks("pickle") == []
    assert not storage.file_exists("pickle", "make")


def test_hostile_names_stay_inside_the_storage(tmp_path: Any) -> None:
    root = tmp_path / "root"
    storage = ff.storage_factory(str(root))
    names = ["../x", "/abs", "a/b", "with space", "..", "ünï"]
    nodes = [source(i).set_name(name) for i, name in enumerate(names)]
    wf = LocalWorkflow(*nodes, workflow_name="../hostile")
    wf.set_storage(storage)
    wf.run()
    assert sorted(storage.list_tasks("../hostile")) == sorted(names)
    for folder, _, files in os.walk(tmp_path):
        for name in files:
            assert os.path.realpath(os.path.join(folder, name)).startswith(str(root.resolve()))
    runs.clear()
    wf.run()
    assert runs == Counter()


class Reports:
    """Records what the node hooks hear: (event, node, from_storage)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, bool | None]] = []

    @ff.hookimpl
    def functionfuse_node_start(self, node_name: str) -> None:
        self.events.append(("start", node_name, None))

    @ff.hookimpl
    def functionfuse_node_finish(self, node_name: str, from_storage: bool) -> None:
        self.events.append(("finish", node_name, from_storage))


def test_a_stored_result_found_corrupt_is_reported_as_run(tmp_path: Any) -> None:
    """Hooks (and so the progress summary) hear that the node ran after all."""
    storage = ff.storage_factory(str(tmp_path))
    run_pipeline(storage)
    path = tmp_path / "resume" / "combine"
    # Damaged after its header, which is intact and up to date: the damage is found
    # only when the result is read (a damaged header is found before the run starts).
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    reports = Reports()
    manager = ff.get_plugin_manager()
    manager.register(reports)
    try:
        runs.clear()
        with pytest.warns(FunctionFuseWarning, match="'combine'"):
            assert run_pipeline(storage) == [18, 118]
    finally:
        manager.unregister(reports)
    assert runs == Counter(combine=1)
    combine = [event for event in reports.events if event[1] == "combine"]
    # First skipped as stored, then read at the end, found corrupt and run.
    assert combine == [
        ("finish", "combine", True),
        ("start", "combine", None),
        ("finish", "combine", False),
    ]
