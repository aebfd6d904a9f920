"""Resume by fingerprint on Ray (issue 7, item 3): the same plan as on the local backend.

The driver decides from the stamps stored in the results' headers (read on a storage
node when ``storage_resource`` pins storage), the workers save each result with its
stamp, and results stored by one backend resume on the other.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import functionfuse as ff
from functionfuse import hookimpl, workflow
from functionfuse._fingerprint import Lineage
from functionfuse_local import LocalWorkflow
from functionfuse_ray import RayWorkflow

from .graphs import Counter


@workflow
def load(counter: Counter, n: int) -> list[int]:
    counter.hit("load")
    return list(range(n))


@workflow
def scale(counter: Counter, xs: list[int], factor: int) -> list[int]:
    counter.hit("scale")
    return [x * factor for x in xs]


@workflow
def report(counter: Counter, xs: list[int], label: str) -> str:
    counter.hit("report")
    return f"{label}: {sum(xs)}"


def pipeline(counter: Counter, factor: int) -> Any:
    data = load(counter, 4).set_name("load")
    scaled = scale(counter, data, factor).set_name("scale")
    return report(counter, scaled, "sum").set_name("report")


class Reruns:
    """Records the functionfuse_node_rerun calls (driver side)."""

    def __init__(self) -> None:
        self.calls: dict[str, list[str]] = {}

    @hookimpl
    def functionfuse_node_rerun(self, node_name: str, reasons: Sequence[str]) -> None:
        self.calls[node_name] = list(reasons)


@pytest.fixture
def reruns() -> Iterator[Reruns]:
    recorder = Reruns()
    manager = ff.get_plugin_manager()
    manager.register(recorder)
    try:
        yield recorder
    finally:
        manager.unregister(recorder)


def ray_run(counter: Counter, factor: int, storage: Any, **options: Any) -> Any:
    wf = RayWorkflow(pipeline(counter, factor), workflow_name="lineage", **options)
    wf.set_storage(storage)
    return wf.run()


@pytest.mark.parametrize("storage_resource", [None, "storage_disk"])
def test_a_changed_argument_reruns_its_node_and_descendants(
    tmp_path: Path, reruns: Reruns, storage_resource: str | None
) -> None:
    counter = Counter(tmp_path)
    storage = ff.storage_factory(str(tmp_path / "store"))
    options = {"storage_resource": storage_resource}
    assert ray_run(counter, 2, storage, **options) == "sum: 12"
    assert counter.counts() == {"load": 1, "scale": 1, "report": 1}
    # Saved by the workers with the stamp the driver computed.
    wf = LocalWorkflow(pipeline(counter, 2), workflow_name="lineage")
    lineage = Lineage(wf.nodes)
    for name, node in wf.graph_traversal():
        assert storage.read_fingerprint("lineage", name) == lineage.stamp(node), name

    counter.clear()
    assert ray_run(counter, 2, storage, **options) == "sum: 12"
    assert counter.counts() == {}
    assert reruns.calls == {}

    assert ray_run(counter, 3, storage, **options) == "sum: 18"
    assert counter.counts() == {"scale": 1, "report": 1}
    assert reruns.calls == {
        "scale": ["argument 'factor' changed"],
        "report": ["upstream changed ('scale')"],
    }


def test_resume_name_and_false_on_ray(tmp_path: Path) -> None:
    counter = Counter(tmp_path)
    storage = ff.storage_factory(str(tmp_path / "store"))
    ray_run(counter, 2, storage)
    counter.clear()
    wf = RayWorkflow(pipeline(counter, 5), workflow_name="lineage")
    wf.set_storage(storage)
    assert wf.run(resume="name") == "sum: 12"  # the stale result, as asked
    assert counter.counts() == {}
    assert wf.run(resume=False) == "sum: 30"
    assert counter.counts() == {"load": 1, "scale": 1, "report": 1}


def test_results_resume_across_backends(tmp_path: Path) -> None:
    counter = Counter(tmp_path)
    storage = ff.storage_factory(str(tmp_path / "store"))
    ray_run(counter, 2, storage)
    counter.clear()
    wf = LocalWorkflow(pipeline(counter, 2), workflow_name="lineage")
    wf.set_storage(storage)
    assert wf.run() == "sum: 12"
    assert counter.counts() == {}  # stored by Ray, up to date for the local backend

    wf = LocalWorkflow(pipeline(counter, 4), workflow_name="lineage")
    wf.set_storage(storage)
    assert wf.run() == "sum: 24"
    counter.clear()
    assert ray_run(counter, 4, storage) == "sum: 24"
    assert counter.counts() == {}  # and the other way round


def test_a_bad_resume_value_fails_before_anything_runs(tmp_path: Path) -> None:
    counter = Counter(tmp_path)
    wf = RayWorkflow(pipeline(counter, 2), workflow_name="lineage")  # no storage
    with pytest.raises(ff.ConfigurationError, match=r"'lineage'.*'by name'"):
        wf.run(resume="by name")
    assert counter.counts() == {}


class _ReplaceWhenSkipped:
    """Replaces a stored result, as another run of other code would, right after the
    driver reports it as taken from storage (before a worker reads it)."""

    def __init__(self, storage: Any, node: str) -> None:
        self.storage = storage
        self.node = node

    @hookimpl
    def functionfuse_node_finish(self, node_name: str, from_storage: bool) -> None:
        if node_name == self.node and from_storage:
            self.storage.save("lineage", node_name, [100, 200], fingerprint=b"ff1:" + bytes(64))


@pytest.mark.parametrize("storage_resource", [None, "storage_disk"])
def test_a_result_replaced_during_the_run_is_not_used(
    tmp_path: Path, storage_resource: str | None
) -> None:
    """Issue 20, 1: a worker reads a stored parent only if it still has the fingerprint
    the driver planned on; else the node runs again (never a value of other code)."""
    counter = Counter(tmp_path)
    storage = ff.storage_factory(str(tmp_path / "store"))
    options = {"storage_resource": storage_resource}
    assert ray_run(counter, 2, storage, **options) == "sum: 12"
    storage.remove_task("lineage", "scale")  # scale runs next time, reading load
    counter.clear()
    replace = _ReplaceWhenSkipped(storage, "load")
    manager = ff.get_plugin_manager()
    manager.register(replace)
    try:
        with pytest.warns(ff.FunctionFuseWarning, match="'load'.*another fingerprint"):
            assert ray_run(counter, 2, storage, **options) == "sum: 12"
    finally:
        manager.unregister(replace)
    assert counter.counts() == {"load": 1, "scale": 1}
    assert storage.read_task("lineage", "load") == [0, 1, 2, 3]
