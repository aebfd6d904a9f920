"""Run records on Dask: where and when each node ran come from the Dask workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask_nodes as n
import pytest

from functionfuse import NodeExecutionError
from functionfuse.run_records import read_run
from functionfuse_dask import DaskWorkflow


def test_a_recorded_run_names_the_dask_workers_and_their_times(
    dask_client: Any, worker_pids: dict[str, int], tmp_path: Path
) -> None:
    first = n.where().set_name("first")
    second = n.where(first).set_name("second")
    probe: Any = n.Probe(10)
    probe.set_name("probe")
    added = probe.add(1).set_name("added")
    wf = DaskWorkflow(first, second, added, workflow_name="dask-records", client=dask_client)
    wf.set_storage(str(tmp_path))
    (_, at_first), (_, at_second), _ = wf.run()
    record = read_run(str(tmp_path), "dask-records")
    assert record == wf.last_run_record
    assert record["backend"] == "dask"
    assert record["state"] == "finished"
    nodes = {node["name"]: node for node in record["nodes"]}
    assert {name: node["status"] for name, node in nodes.items()} == dict.fromkeys(
        ["first", "second", "probe", "added"], "ran"
    )
    assert nodes["first"]["worker"] == f"dask worker {at_first}"
    assert nodes["second"]["worker"] == f"dask worker {at_second}"
    assert nodes["probe"]["worker"] == nodes["added"]["worker"]
    for node in nodes.values():
        assert node["worker"].removeprefix("dask worker ") in worker_pids, node
        assert record["started"] <= node["start"] <= node["end"] <= record["ended"]
        if node["kind"] != "class":
            assert node["size"] is not None
            assert node["size"] > 0


def test_a_run_without_storage_never_names_the_driver_as_the_worker(dask_client: Any) -> None:
    """Without a storage that keeps records the workers do not say where nodes ran, and
    the record does not guess (the driver only submitted them)."""
    first = n.where().set_name("first")
    wf = DaskWorkflow(
        n.where(first).set_name("second"), workflow_name="unrecorded", client=dask_client
    )
    wf.run()
    record = wf.last_run_record
    assert record is not None
    assert [node["status"] for node in record["nodes"]] == ["ran", "ran"]
    assert [node["worker"] for node in record["nodes"]] == [None, None]


def test_retries_reach_the_record_with_no_hook_listening(dask_client: Any, tmp_path: Path) -> None:
    # The failed attempts come back with the result (or on the final error).
    for retries, runs in ((3, tmp_path / "works.log"), (2, tmp_path / "fails.log")):
        node = n.fails_then_works(str(runs), 2).set_name("flaky")
        wf = DaskWorkflow(node, workflow_name="dask-retries", client=dask_client)
        wf.set_storage(str(tmp_path / "store"))
        wf.query("flaky").set_retries(retries, exceptions=["OSError"])
        if retries == 3:
            assert wf.run(resume=False) == "worked"
        else:
            with pytest.raises(NodeExecutionError):
                wf.run(resume=False)
        record = wf.last_run_record
        assert record is not None
        (flaky,) = record["nodes"]
        assert (flaky["status"], flaky["retries"]) == (
            ("ran", 2) if retries == 3 else ("failed", 1)
        )
