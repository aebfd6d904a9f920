"""Resume from file and S3 storage: workers save; stored nodes are neither run nor read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import functionfuse as ff
from functionfuse import FunctionFuseWarning, workflow
from functionfuse_ray import RayWorkflow

from .graphs import Counter


@workflow
def source(counter: Counter, n: int) -> list[int]:
    counter.hit("source")
    return list(range(n))


@workflow
def double(counter: Counter, xs: list[int]) -> list[int]:
    counter.hit("double")
    return [2 * x for x in xs]


@workflow
def combine(counter: Counter, a: list[int], b: list[int]) -> int:
    counter.hit("combine")
    return sum(a) + sum(b)


@workflow
class Accumulator:
    def __init__(self, counter: Counter, start: int) -> None:
        counter.hit("Accumulator")
        self.counter = counter
        self.value = start

    def add(self, xs: list[int]) -> int:
        self.counter.hit("add")
        self.value += sum(xs)
        return self.value


def pipeline(counter: Counter) -> tuple[Any, Any]:
    src = source(counter, 4).set_name("source")
    doubled = double(counter, src).set_name("double")
    acc = Accumulator(counter, start=100).set_name("acc")
    acc.add(src).set_name("add_1")
    second = acc.add(doubled).set_name("add_2")
    total = combine(counter, doubled, src).set_name("combine")
    return total, second


@pytest.fixture(params=["file", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "file":
        return ff.storage_factory({"kind": "file", "options": {"path": str(tmp_path / "store")}})
    s3_url = request.getfixturevalue("s3_url")
    options = request.getfixturevalue("s3_options")
    return ff.storage_factory(s3_url, **options)


@pytest.fixture
def counter(tmp_path: Path) -> Counter:
    return Counter(tmp_path)


def run_pipeline(storage: Any, counter: Counter, **options: Any) -> Any:
    wf = RayWorkflow(*pipeline(counter), workflow_name="resume")
    wf.set_storage(storage)
    return wf.run(return_results=True, **options)


ALL = ["add_1", "add_2", "combine", "double", "source"]


def test_second_run_executes_nothing(storage: Any, counter: Counter) -> None:
    assert run_pipeline(storage, counter) == [18, 118]
    assert counter.counts() == {"source": 1, "double": 1, "combine": 1, "Accumulator": 1, "add": 2}
    assert sorted(storage.list_tasks("resume")) == ALL
    counter.clear()
    assert run_pipeline(storage, counter) == [18, 118]
    assert counter.counts() == {}


def test_after_remove_task_only_that_node_runs(storage: Any, counter: Counter) -> None:
    run_pipeline(storage, counter)
    counter.clear()
    storage.remove_task("resume", "combine")
    assert run_pipeline(storage, counter) == [18, 118]
    assert counter.counts() == {"combine": 1}


def test_removed_method_result_replays_its_chain(storage: Any, counter: Counter) -> None:
    run_pipeline(storage, counter)
    counter.clear()
    storage.remove_task("resume", "add_1")
    assert run_pipeline(storage, counter) == [18, 118]
    assert counter.counts() == {"Accumulator": 1, "add": 2}


def test_resume_with_bounded_tasks_in_flight(storage: Any, counter: Counter) -> None:
    run_pipeline(storage, counter, max_pending_tasks=2)
    counter.clear()
    storage.remove_task("resume", "double")
    assert run_pipeline(storage, counter, max_pending_tasks=1) == [18, 118]
    assert counter.counts() == {"double": 1}


def _spoil(result: bytes) -> bytes:
    """A stored result with its last byte (in the digest) flipped."""
    return result[:-1] + bytes([result[-1] ^ 1])


def test_stored_results_not_needed_are_not_read(tmp_path: Path, counter: Counter) -> None:
    # "source" is needed only by stored nodes: were it read, its corrupt file would be
    # noticed and the node run again.
    storage = ff.storage_factory(str(tmp_path / "store"))
    run_pipeline(storage, counter)
    counter.clear()
    source = tmp_path / "store" / "resume" / "source"
    good = source.read_bytes()
    # Damaged after the header, which holds the (up to date) fingerprint: the damage is
    # found only by reading the result (a damaged header is found before the run).
    source.write_bytes(_spoil(good))
    storage.remove_task("resume", "combine")  # combine reads double and source...
    storage.remove_task("resume", "add_2")  # ... and this replays the chain, which reads it
    with pytest.warns(FunctionFuseWarning, match="'source'.*not usable"):
        assert run_pipeline(storage, counter) == [18, 118]
    # The unusable result shows up mid-run, after the instance was built (class nodes
    # are not stored, and nothing waits on a stored result to build it); the run starts
    # over with "source" run again, and the chain replayed once more.
    assert counter.counts() == {"source": 1, "combine": 1, "Accumulator": 2, "add": 2}

    counter.clear()
    source.write_bytes(_spoil(source.read_bytes()))
    wf = RayWorkflow(*pipeline(counter), workflow_name="resume")
    wf.set_storage(storage)
    assert wf.run(return_results=False) is None  # nothing runs, nothing needs "source"
    assert counter.counts() == {}


def test_query_keeps_nodes_out_of_storage(tmp_path: Path, counter: Counter) -> None:
    storage = ff.storage_factory(str(tmp_path / "store"))
    wf = RayWorkflow(*pipeline(counter), workflow_name="resume")
    wf.set_storage(storage)
    wf.query("double|add_.*").set_storage(False)
    assert wf.run(return_results=True) == [18, 118]
    assert sorted(storage.list_tasks("resume")) == ["combine", "source"]
    counter.clear()
    assert wf.run(return_results=True) == [18, 118]
    assert counter.counts() == {"double": 1, "Accumulator": 1, "add": 2}


@workflow
def as_tuple(values: list[int]) -> Any:
    return tuple(values)


@workflow
def kind_of(value: Any) -> str:
    return type(value).__name__


def test_always_read_hands_consumers_what_was_stored(tmp_path: Path) -> None:
    storage = ff.storage_factory(str(tmp_path / "store"))
    storage.always_read = True
    values = as_tuple([1, 2])
    wf = RayWorkflow(kind_of(values), values, workflow_name="always")
    wf.set_storage(storage)
    assert wf.run(return_results=True) == ["tuple", (1, 2)]
    assert storage.read_task("always", "as_tuple_0") == (1, 2)


def test_memory_storage_is_refused(counter: Counter) -> None:
    wf = RayWorkflow(*pipeline(counter), workflow_name="resume")
    wf.set_storage("memory://ray-test")
    with pytest.raises(ff.ConfigurationError, match="memory"):
        wf.run()


@workflow
class Keeper:
    def __init__(self, counter: Counter, value: list[int]) -> None:
        counter.hit("Keeper")
        self.value = value

    def get(self) -> list[int]:
        return self.value


def test_corrupt_stored_parent_of_a_class_node_runs_again(tmp_path: Path, counter: Counter) -> None:
    storage = ff.storage_factory(str(tmp_path / "store"))

    def build() -> RayWorkflow:
        src = source(counter, 3).set_name("source")
        held = Keeper(counter, src).set_name("keeper").get().set_name("get")
        wf = RayWorkflow(double(counter, held).set_name("double"), workflow_name="keeper")
        wf.set_storage(storage)
        return wf

    first = RayWorkflow(source(counter, 3).set_name("source"), workflow_name="keeper")
    first.set_storage(storage)
    assert first.run() == [0, 1, 2]
    # Emptied: no longer a stored result (not listed), so it runs again, unannounced.
    (tmp_path / "store" / "keeper" / "source").write_bytes(b"")
    counter.clear()
    assert build().run() == [0, 2, 4]
    assert counter.counts() == {"source": 1, "Keeper": 1, "double": 1}


@workflow
def independent(counter: Counter) -> int:
    import time

    time.sleep(0.3)
    counter.hit("independent")
    return 5


def test_work_finished_before_a_restart_is_read_not_run_again(
    tmp_path: Path, counter: Counter
) -> None:
    storage = ff.storage_factory(str(tmp_path / "store"))

    def build() -> RayWorkflow:
        src = source(counter, 3).set_name("source")
        wf = RayWorkflow(
            independent(counter).set_name("independent"),
            double(counter, src).set_name("double"),
            workflow_name="relist",
        )
        wf.set_storage(storage)
        return wf

    first = RayWorkflow(source(counter, 3).set_name("source"), workflow_name="relist")
    first.set_storage(storage)
    first.run()
    stored = tmp_path / "store" / "relist" / "source"
    stored.write_bytes(_spoil(stored.read_bytes()))  # damaged past its (listed) header
    counter.clear()
    # The first attempt runs "independent" (and stores it) while reading "source"
    # fails; the second attempt reads it instead of running it again.
    with pytest.warns(FunctionFuseWarning, match="'source'.*not usable"):
        assert build().run() == [5, [0, 2, 4]]
    assert counter.counts() == {"independent": 1, "source": 1, "double": 1}
