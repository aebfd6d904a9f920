"""Run by test_ray_cluster.py in a subprocess, away from the test session's own Ray.

``two-nodes TMP``: a ``ray.cluster_utils.Cluster`` of two nodes with different custom
resources; nodes pinned by remote args, storage pinned by ``storage_resource``.
``join ADDRESS TMP``: join a cluster started with ``ray start --head`` by its address.
``own-ray``: let RayWorkflow start Ray itself, with RAY_ENABLE_UV_RUN_RUNTIME_ENV unset.
Prints one JSON line with what the test checks.
"""

from __future__ import annotations

import json
import os
import sys

if sys.argv[1:2] != ["own-ray"]:
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # 127.0.0.1 everywhere

from typing import Any

import ray

import functionfuse as ff
from functionfuse import workflow
from functionfuse_fs import FileStorage
from functionfuse_ray import RayWorkflow


@workflow
def where(tag: str, *after: Any) -> tuple[str, str]:
    return tag, ray.get_runtime_context().get_node_id()


@workflow
class Located:
    def __init__(self) -> None:
        self.node = ray.get_runtime_context().get_node_id()

    def report(self) -> tuple[str, str]:
        return self.node, ray.get_runtime_context().get_node_id()


class NodeRecordingStorage(FileStorage):
    """A file storage that notes on which Ray node each save and read ran."""

    __slots__ = ()

    def _note(self, what: str, task_name: str) -> None:
        with open(os.path.join(self.url, "where.log"), "a") as log:
            log.write(f"{what} {task_name} {ray.get_runtime_context().get_node_id()}\n")

    def save(self, workflow_name: str, task_name: str, obj: object, **options: Any) -> None:  # type: ignore[override]
        self._note("save", task_name)
        super().save(workflow_name, task_name, obj, **options)

    def read_task(self, workflow_name: str, task_name: str) -> Any:
        self._note("read", task_name)
        return super().read_task(workflow_name, task_name)


def two_nodes(tmp: str) -> dict[str, Any]:
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "resources": {"alpha": 1},
            "include_dashboard": False,
            "temp_dir": os.path.join(tmp, "ray"),
        },
    )
    try:
        cluster.add_node(num_cpus=1, resources={"beta": 1, "disk": 1})
        ray.init(address=cluster.address)
        cluster.wait_for_nodes()
        ids = {
            name: next(n["NodeID"] for n in ray.nodes() if n["Alive"] and name in n["Resources"])
            for name in ("alpha", "beta")
        }
        a = where("a").set_name("on_alpha")
        b = where("b", a).set_name("on_beta")
        located = Located().set_name("located")
        report = located.report().set_name("report")
        wf = RayWorkflow(a, b, report, workflow_name="cluster", storage_resource="disk")
        wf.query("on_alpha").set_remote_args({"resources": {"alpha": 1}})
        wf.query("on_beta|located").set_remote_args({"resources": {"beta": 1}})
        store = os.path.join(tmp, "store")
        os.makedirs(store)
        wf.set_storage(NodeRecordingStorage(store))
        first = wf.run(return_results=True)
        os.remove(os.path.join(store, "where.log"))
        wf.storage.remove_task("cluster", "on_beta")  # type: ignore[union-attr]
        second = wf.run(return_results=True)
        with open(os.path.join(store, "where.log")) as log:
            resumed = [line.split() for line in log]
        return {"ids": ids, "first": first, "second": second, "resumed": resumed}
    finally:
        ray.shutdown()
        cluster.shutdown()


def join(address: str, tmp: str) -> dict[str, Any]:
    a = where("a").set_name("a")
    wf = RayWorkflow(where("b", a), workflow_name="joined", ray_init_args={"address": address})
    wf.set_storage(ff.storage_factory(os.path.join(tmp, "store")))
    result = wf.run(return_results=True)
    gcs = ray.get_runtime_context().gcs_address
    stored = sorted(wf.storage.list_tasks("joined"))  # type: ignore[union-attr]
    ray.shutdown()
    return {"result": result, "gcs": gcs, "stored": stored}


def own_ray() -> dict[str, Any]:
    from ray._private.runtime_env.uv_runtime_env_hook import _get_uv_run_cmdline

    wf = RayWorkflow(
        where("a"),
        workflow_name="own",
        ray_init_args={"num_cpus": 1, "include_dashboard": False},
    )
    result = wf.run(return_results=True)
    runtime_env = dict(ray.get_runtime_context().runtime_env)
    ray.shutdown()
    return {
        "result": result,
        "under_uv_run": bool(_get_uv_run_cmdline()),
        "runtime_env": sorted(runtime_env),
        "variable": os.environ.get("RAY_ENABLE_UV_RUN_RUNTIME_ENV"),
    }


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "two-nodes":
        outcome = two_nodes(*args)
    elif command == "join":
        outcome = join(*args)
    else:
        outcome = own_ray()
    print("RESULT " + json.dumps(outcome), flush=True)
