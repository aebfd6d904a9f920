"""Failures on Dask: the node named, its exception chained, the worker's traceback shown;
the run stops at the first failure unless keep_going; max_pending_tasks bounds the tasks
in flight."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask_nodes as n
import pytest

import functionfuse as ff
from functionfuse.runtime import UnpicklableNodeError
from functionfuse_dask import DaskWorkflow


def test_an_exception_that_cannot_unpickle_still_names_its_node(dask_client: Any) -> None:
    wf = DaskWorkflow(
        n.raises_unpicklable().set_name("odd"), workflow_name="fail", client=dask_client
    )
    with pytest.raises(ff.NodeExecutionError) as caught:
        wf.run()
    assert caught.value.node_name == "odd"
    cause = caught.value.__cause__
    assert isinstance(cause, UnpicklableNodeError)
    assert cause.type_name.endswith("Unpicklable")
    assert "1-2" in str(cause)


def test_the_error_shows_the_workers_traceback(dask_client: Any, tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    wf = DaskWorkflow(
        n.fails_then_works(log, 5).set_name("flaky"), workflow_name="fail", client=dask_client
    )
    with pytest.raises(ff.NodeExecutionError) as caught:
        wf.run()
    message = str(caught.value)
    assert "node 'flaky' of workflow 'fail' failed with OSError" in message
    assert "Remote traceback" in message
    assert "fails_then_works" in message
    assert "_worker.py" not in message  # the backend's own frames are left out
    assert isinstance(caught.value.__cause__, OSError)


def test_a_failure_through_a_nested_argument_names_the_failing_parent(
    dask_client: Any, tmp_path: Path
) -> None:
    log = str(tmp_path / "ran.log")
    broken = n.fails_then_works(str(tmp_path / "runs.log"), 5).set_name("broken")
    after = n.logged(log, "after", {"x": [broken]}).set_name("after")
    with pytest.raises(ff.NodeExecutionError) as caught:
        DaskWorkflow(after, workflow_name="fail", client=dask_client).run()
    assert caught.value.node_name == "broken"
    assert n.lines(log) == []


def test_keep_going_counts_the_nodes_that_did_not_run(dask_client: Any, tmp_path: Path) -> None:
    log = str(tmp_path / "ran.log")
    broken = n.fails_then_works(str(tmp_path / "runs.log"), 5).set_name("broken")
    blocked = n.logged(log, "blocked", broken).set_name("blocked")
    also = n.logged(log, "also", blocked).set_name("also")
    fine = n.logged(log, "fine", 1).set_name("fine")
    wf = DaskWorkflow(also, fine, workflow_name="fail", client=dask_client)
    with pytest.raises(ff.NodeExecutionError) as caught:
        wf.run(keep_going=True)
    assert list(caught.value.failed) == ["broken"]
    assert "2 node(s) that depend on them did not run" in str(caught.value)
    assert n.lines(log) == ["fine"]


class Concurrency:
    """Started minus finished nodes, at most (what the hooks see of the tasks in flight)."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.finished = 0

    @ff.hookimpl
    def functionfuse_node_start(self) -> None:
        self.running += 1
        self.most = max(self.most, self.running)

    @ff.hookimpl
    def functionfuse_node_finish(self, from_storage: bool) -> None:
        if not from_storage:
            self.running -= 1
            self.finished += 1


@pytest.fixture
def concurrency() -> Iterator[Concurrency]:
    recorder = Concurrency()
    manager = ff.get_plugin_manager()
    manager.register(recorder)
    try:
        yield recorder
    finally:
        manager.unregister(recorder)


def test_max_pending_tasks_bounds_the_tasks_in_flight(
    dask_client: Any, tmp_path: Path, concurrency: Concurrency
) -> None:
    log = str(tmp_path / "ran.log")
    leaves = [n.logged(log, f"n{i}", i) for i in range(40)]
    total = n.logged(log, "total", leaves)
    result = DaskWorkflow(total, workflow_name="bounded", client=dask_client).run(
        max_pending_tasks=4
    )
    assert result == list(range(40))
    assert concurrency.finished == 41
    assert concurrency.most <= 4


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_max_pending_tasks_must_be_a_count(dask_client: Any, bad: Any) -> None:
    wf = DaskWorkflow(n.where(), workflow_name="bounded", client=dask_client)
    with pytest.raises(ff.ConfigurationError, match="max_pending_tasks"):
        wf.run(max_pending_tasks=bad)


def test_a_node_that_kills_its_worker_is_named(tmp_path: Path) -> None:
    """Dask gives up on a task whose worker died (KilledWorker, naming the task's key):
    the error names the node, also when it reaches the driver through a consumer."""
    import dask
    from distributed import Client, KilledWorker, LocalCluster

    log = str(tmp_path / "ran.log")
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(n_workers=1, **n.CLUSTER_OPTIONS) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        killer = n.kill_worker().set_name("killer")
        after = n.logged(log, "after", killer).set_name("after")
        with pytest.raises(ff.NodeExecutionError) as caught:
            DaskWorkflow(after, workflow_name="killed", client=client).run()
    assert caught.value.node_name == "killer"
    assert isinstance(caught.value.__cause__, KilledWorker)
    assert n.lines(log) == []
