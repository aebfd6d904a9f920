"""Class nodes on Dask: the instance lives on one worker; its calls run there, in order."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import dask_nodes as n

import functionfuse as ff
from functionfuse_dask import DaskWorkflow, InstanceLost


def test_calls_run_in_order_on_the_worker_holding_the_instance(
    dask_client: Any, worker_pids: dict[str, int], tmp_path: Path
) -> None:
    """Arguments made on both workers come to the instance; it never moves."""
    log = str(tmp_path / "ran.log")
    first, second = sorted(worker_pids)
    a = n.logged(log, "a", 1).set_name("a")
    b = n.logged(log, "b", 2).set_name("b")
    probe: Any = n.Probe(10)
    probe.set_name("probe")
    one = probe.add(a).set_name("one")
    two = probe.add(b).set_name("two")
    three = probe.add([a, b]).set_name("three")  # a nested argument: a template
    history = probe.history().set_name("history")
    wf = DaskWorkflow(one, two, three, history, workflow_name="probe", client=dask_client)
    wf.query("a").set_remote_args({"workers": [first]})
    wf.query("b").set_remote_args({"workers": [second]})

    (p1, v1, c1), (p2, v2, c2), (p3, v3, c3), (built_in, ran_in, calls) = wf.run()

    assert built_in in worker_pids.values()
    assert p1 == p2 == p3 == ran_in == built_in
    assert (v1, v2, v3) == (11, 13, 13)
    assert (c1, c2, c3) == ([1], [1, 2], [1, 2, [1, 2]])
    assert calls == [1, 2, [1, 2]]


def test_instances_are_spread_over_the_workers(
    dask_client: Any, worker_pids: dict[str, int]
) -> None:
    histories = []
    for i in range(2):
        probe: Any = n.Probe(i)
        probe.set_name(f"probe_{i}")
        histories.append(probe.history().set_name(f"history_{i}"))
    results = DaskWorkflow(*histories, workflow_name="spread", client=dask_client).run()
    assert {built_in for built_in, _, _ in results} == set(worker_pids.values())


def test_a_class_node_given_returns_its_instance_after_its_calls(dask_client: Any) -> None:
    probe: Any = n.Probe(1)
    probe.add(2)
    probe.add(3)
    instance = DaskWorkflow(probe, workflow_name="instance", client=dask_client).run()
    assert (instance.value, instance.calls) == (6, [2, 3])


def test_an_instance_lost_with_its_worker_fails_its_class_node() -> None:
    """Dask would wait forever for the worker of a pinned call; the run fails instead,
    naming the class node (on a cluster of its own: its one worker is killed)."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=1, **n.CLUSTER_OPTIONS) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        (address,) = client.scheduler_info()["workers"]
        probe: Any = n.Probe(0)
        probe.set_name("probe")
        call = probe.add(n.kill_worker().set_name("killer")).set_name("call")
        wf = DaskWorkflow(call, workflow_name="lost", client=client)
        wf.query("probe|killer").set_remote_args({"workers": [address]})
        outcome: list[BaseException] = []

        def run() -> None:
            try:
                wf.run()
            except BaseException as error:
                outcome.append(error)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(timeout=120)
        assert not thread.is_alive(), "the run waited for the lost worker"
    (error,) = outcome
    assert isinstance(error, ff.NodeExecutionError)
    assert error.node_name == "probe"
    assert isinstance(error.__cause__, InstanceLost)
    assert address in str(error.__cause__)
