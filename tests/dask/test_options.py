"""set_remote_args on Dask: Client.submit's resources, workers, retries and priority."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask_nodes as n
import pytest

import functionfuse as ff
from functionfuse_dask import DaskWorkflow


def test_resources_and_priority_reach_the_task(dask_client: Any) -> None:
    node = n.task_options().set_name("opts")
    wf = DaskWorkflow(node, workflow_name="options", client=dask_client)
    wf.query("opts").set_remote_args({"resources": {"gadget": 1}, "priority": 5})
    seen = wf.run()
    assert seen["resources"] == {"gadget": 1}
    assert seen["priority"][0] == -5  # Dask's priority tuple: higher runs first


def test_a_node_without_options_has_none(dask_client: Any) -> None:
    seen = DaskWorkflow(n.task_options(), workflow_name="options", client=dask_client).run()
    assert not seen["resources"]
    assert seen["priority"][0] == 0


def test_workers_choose_where_a_node_runs(dask_client: Any, worker_pids: dict[str, int]) -> None:
    first, second = sorted(worker_pids)
    a = n.where().set_name("a")
    b = n.where(1).set_name("b")
    wf = DaskWorkflow(a, b, workflow_name="options", client=dask_client)
    wf.query("a").set_remote_args({"workers": first})
    wf.query("b").set_remote_args({"workers": [second]})
    assert wf.run() == [(worker_pids[first], first), (worker_pids[second], second)]


def test_dask_retries_run_a_failing_task_again(dask_client: Any, tmp_path: Path) -> None:
    log = str(tmp_path / "runs.log")
    wf = DaskWorkflow(
        n.fails_then_works(log, 2).set_name("flaky"), workflow_name="options", client=dask_client
    )
    wf.query("flaky").set_remote_args({"retries": 2})
    assert wf.run() == "worked"
    assert len(n.lines(log)) == 3


@pytest.mark.parametrize(
    ("remote_args", "message"),
    [
        ({"num_cpus": 2}, "unknown key 'num_cpus'"),
        ({"resources": ["gadget"]}, "resources"),
        ({"resources": {"gadget": -1}}, "resources"),
        ({"workers": 3}, "workers"),
        ({"retries": -1}, "retries"),
        ({"retries": True}, "retries"),
        ({"priority": "high"}, "priority"),
        ({"allow_other_workers": True}, "allow_other_workers without workers"),
    ],
)
def test_bad_remote_args_fail_before_anything_runs(
    dask_client: Any, tmp_path: Path, remote_args: dict[str, Any], message: str
) -> None:
    log = str(tmp_path / "ran.log")
    first = n.logged(log, "first", 1).set_name("first")
    wf = DaskWorkflow(
        n.logged(log, "second", first).set_name("second"), workflow_name="opts", client=dask_client
    )
    wf.query("second").set_remote_args(remote_args)
    with pytest.raises(ff.ConfigurationError, match=message) as caught:
        wf.run()
    assert "'second'" in str(caught.value)
    assert "opts" in str(caught.value)
    if message.startswith("unknown"):
        for key in ("allow_other_workers", "priority", "resources", "retries", "workers"):
            assert key in str(caught.value)
    assert n.lines(log) == []  # nothing ran: options are checked first


def test_a_method_call_takes_no_worker_of_its_own(dask_client: Any) -> None:
    probe: Any = n.Probe(0)
    probe.set_name("probe")
    call = probe.add(1).set_name("call")
    wf = DaskWorkflow(call, workflow_name="opts", client=dask_client)
    wf.query("call").set_remote_args({"workers": ["somewhere"]})
    with pytest.raises(ff.ConfigurationError, match="set it on the class node"):
        wf.run()


def test_a_pattern_matching_class_and_calls_gives_them_the_same_worker(
    dask_client: Any, worker_pids: dict[str, int]
) -> None:
    address = sorted(worker_pids)[1]
    probe: Any = n.Probe(0)
    probe.set_name("probe")
    probe.add(1).set_name("probe_add")
    history = probe.history().set_name("probe_history")
    wf = DaskWorkflow(history, workflow_name="opts", client=dask_client)
    wf.query("probe.*").set_remote_args({"workers": [address], "priority": 1})
    built_in, ran_in, calls = wf.run()
    assert built_in == ran_in == worker_pids[address]
    assert calls == [1]


def test_a_class_node_needing_what_no_worker_has_is_refused(dask_client: Any) -> None:
    probe: Any = n.Probe(0)
    probe.set_name("probe")
    wf = DaskWorkflow(probe.history(), workflow_name="opts", client=dask_client)
    wf.query("probe").set_remote_args({"resources": {"quantum": 1}})
    with pytest.raises(ff.ConfigurationError, match=r"class node 'probe'.*'quantum'"):
        wf.run()
