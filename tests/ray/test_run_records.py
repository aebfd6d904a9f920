"""Run records on Ray: where and when each node ran come from the Ray workers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from functionfuse import NodeExecutionError, workflow
from functionfuse.run_records import read_run
from functionfuse_ray import RayWorkflow

from .test_reliability import failing_twice


@workflow
def pid_of(x: int) -> int:
    return os.getpid()


@workflow
class Holder:
    def __init__(self, start: int) -> None:
        self.start = start

    def pid(self, x: int) -> int:
        return os.getpid()


def test_a_recorded_run_names_the_ray_workers_and_their_times(tmp_path: Path) -> None:
    first = pid_of(1).set_name("first")
    second = pid_of(first).set_name("second")
    holder = Holder(0).set_name("holder")
    call = holder.pid(second).set_name("call")
    wf = RayWorkflow(first, call, workflow_name="ray-records")
    wf.set_storage(str(tmp_path))
    pids = wf.run()
    record = read_run(str(tmp_path), "ray-records")
    assert record == wf.last_run_record
    assert record["backend"] == "ray"
    assert record["state"] == "finished"
    nodes = {node["name"]: node for node in record["nodes"]}
    assert {name: node["status"] for name, node in nodes.items()} == dict.fromkeys(
        ["first", "second", "holder", "call"], "ran"
    )
    for name, pid in zip(["first", "call"], pids, strict=True):
        assert pid != os.getpid()
        assert nodes[name]["worker"].startswith("ray worker ")
        assert nodes[name]["worker"].endswith(f"(pid {pid})"), nodes[name]["worker"]
    for node in nodes.values():
        assert node["worker"].startswith("ray worker "), node
        assert record["started"] <= node["start"] <= node["end"] <= record["ended"]
        if node["kind"] != "class":
            assert node["size"] is not None
            assert node["size"] > 0


def test_retries_reach_the_record_with_no_hook_listening(tmp_path: Path) -> None:
    # Each attempt's failure comes back in the node's status (or its final error).
    for retries, folder in ((3, tmp_path / "works"), (2, tmp_path / "fails")):
        folder.mkdir()
        node = failing_twice(str(folder)).set_name("flaky")
        wf = RayWorkflow(node, workflow_name="ray-retries")
        wf.set_storage(str(tmp_path / "store"))
        wf.query("flaky").set_retries(retries, exceptions=["OSError"])
        if retries == 3:
            assert wf.run(resume=False) == "ok after 3"
        else:
            with pytest.raises(NodeExecutionError):
                wf.run(resume=False)
        record = wf.last_run_record
        assert record is not None
        (flaky,) = record["nodes"]
        assert (flaky["status"], flaky["retries"]) == (
            ("ran", 2) if retries == 3 else ("failed", 1)
        )
