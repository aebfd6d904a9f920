"""Which cluster a run uses: a given Client, an address or scheduler file, or a
LocalCluster of its own, shut down after the run."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import dask
import dask_nodes as n
import psutil
import pytest

import functionfuse as ff
from functionfuse_dask import DaskWorkflow
from functionfuse_dask._connect import default_cluster_options


def _clients(client: Any) -> int:
    return int(client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.clients)))


def test_the_given_client_is_used_and_left_open(dask_client: Any) -> None:
    pid, _ = DaskWorkflow(n.where(), workflow_name="connect", client=dask_client).run()
    assert pid in dask_client.run(os.getpid).values()
    assert dask_client.status == "running"


def test_an_address_is_connected_to_for_the_run(dask_cluster: Any, dask_client: Any) -> None:
    before = _clients(dask_client)
    wf = DaskWorkflow(n.where(), workflow_name="connect", address=dask_cluster.scheduler_address)
    pid, _ = wf.run()
    assert pid in dask_client.run(os.getpid).values()
    # Its client was closed (the scheduler hears of it a moment later).
    deadline = time.monotonic() + 10
    while _clients(dask_client) != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _clients(dask_client) == before


def test_a_scheduler_file_is_connected_to(
    dask_cluster: Any, dask_client: Any, tmp_path: Path
) -> None:
    # What `dask scheduler --scheduler-file` writes, in short (Client.write_scheduler_file
    # fails on a busy scheduler: its metrics have tuple keys, which JSON refuses).
    path = tmp_path / "scheduler.json"
    path.write_text(json.dumps({"type": "Scheduler", "address": dask_cluster.scheduler_address}))
    wf = DaskWorkflow(n.where(), workflow_name="connect", address=path)  # a PathLike too
    pid, _ = wf.run()
    assert pid in dask_client.run(os.getpid).values()


def test_a_missing_scheduler_file_is_a_configuration_error(tmp_path: Path) -> None:
    wf = DaskWorkflow(n.where(), workflow_name="connect", address=str(tmp_path / "none.json"))
    with pytest.raises(ff.ConfigurationError, match=r"scheduler file .* does not exist"):
        wf.run()


def test_an_unreachable_address_is_a_configuration_error() -> None:
    wf = DaskWorkflow(n.where(), workflow_name="connect", address="tcp://127.0.0.1:9")
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(ff.ConfigurationError, match=r"could not connect .*127\.0\.0\.1:9"),
    ):
        wf.run()


def test_the_local_cluster_it_starts_is_shut_down_after_the_run() -> None:
    wf = DaskWorkflow(n.scheduler_address(), workflow_name="own", cluster_options={"n_workers": 1})
    pid, address = wf.run()
    assert pid != os.getpid()  # a worker process (the default: processes=True)
    deadline = time.monotonic() + 60  # generous: a loaded machine stops it slowly
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not psutil.pid_exists(pid), "the worker process outlived the run"
    retry = DaskWorkflow(n.where(), workflow_name="own", address=address)
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(ff.ConfigurationError, match="could not connect"),
    ):
        retry.run()  # the scheduler is gone too


def test_the_local_cluster_defaults_are_small_and_without_a_dashboard() -> None:
    options = default_cluster_options()
    assert options["dashboard_address"] is None
    assert options["threads_per_worker"] == 1
    assert options["processes"] is True
    assert 1 <= options["n_workers"] <= 4


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"client": "tcp://127.0.0.1:8786"}, "must be a distributed.Client"),
        ({"address": 8786}, "address of workflow"),
        ({"cluster_options": ["n_workers"]}, "must be a dict"),
    ],
)
def test_bad_options_are_refused_when_the_workflow_is_made(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ff.ConfigurationError, match=message):
        DaskWorkflow(n.where(), workflow_name="connect", **options)


def test_a_client_and_an_address_or_cluster_options_are_refused(dask_client: Any) -> None:
    with pytest.raises(ff.ConfigurationError, match="both a client and an address"):
        DaskWorkflow(n.where(), workflow_name="c", client=dask_client, address="tcp://x:1")
    with pytest.raises(ff.ConfigurationError, match="would be ignored"):
        DaskWorkflow(n.where(), workflow_name="c", client=dask_client, cluster_options={})


def test_a_memory_storage_is_refused_with_worker_processes(dask_client: Any) -> None:
    wf = DaskWorkflow(n.where(), workflow_name="connect", client=dask_client)
    wf.set_storage(ff.storage_factory({"kind": "memory", "options": {"path": "dask-test"}}))
    with pytest.raises(ff.ConfigurationError, match="memory storage"):
        wf.run()


def test_the_backend_is_found_by_name() -> None:
    assert ff.backend("dask") is DaskWorkflow
