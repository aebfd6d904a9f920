"""Run by test_ray_driver_kill.py in a subprocess: one workflow, run to the end.

``python ray_driver_kill_script.py ray TMP``: on a Ray of its own (one CPU, no
dashboard, its temporary folder under ``TMP/ray``), with file storage in ``TMP/store``.
``python ray_driver_kill_script.py local TMP``: the same workflow on the local backend,
storage in ``TMP/store`` — the clean run the test compares with.

Every node appends its name to ``TMP/executions.log`` when it starts (one small
``O_APPEND`` write, atomic), then works for a moment. Prints ``RESULT <json>``.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # 127.0.0.1 on Linux

import json
import sys
import time
from typing import Any

import functionfuse as ff
from functionfuse import workflow

WORKFLOW = "driver_kill"
#: How long each node works (seconds): with one CPU, the nodes finish one by one.
WORK = 0.3
FAN = 4
CHAIN = 4


@workflow
def step(log_folder: str, name: str, *inputs: int) -> int:
    fd = os.open(os.path.join(log_folder, "executions.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{name}\n".encode())
    finally:
        os.close(fd)
    time.sleep(WORK)
    return sum(inputs) * 3 + len(name)


def build(log_folder: str) -> list[Any]:
    """A fan of FAN nodes and a chain of CHAIN, joined by "total"."""
    fan = [step(log_folder, f"fan_{i}", i).set_name(f"fan_{i}") for i in range(FAN)]
    link = step(log_folder, "chain_0", 1).set_name("chain_0")
    for i in range(1, CHAIN):
        link = step(log_folder, f"chain_{i}", link).set_name(f"chain_{i}")
    total = step(log_folder, "total", *fan, link).set_name("total")
    return [total, link, fan[0]]


def main(mode: str, tmp: str) -> None:
    leaves = build(tmp)
    storage = ff.storage_factory(os.path.join(tmp, "store"))
    if mode == "local":
        from functionfuse_local import LocalWorkflow

        local = LocalWorkflow(*leaves, workflow_name=WORKFLOW)
        local.set_storage(storage)
        print("RESULT " + json.dumps(local.run()), flush=True)
        return

    import ray

    from functionfuse_ray import RayWorkflow

    wf = RayWorkflow(
        *leaves,
        workflow_name=WORKFLOW,
        ray_init_args={
            "address": "local",  # a Ray of its own, never one already running
            "num_cpus": 1,
            "include_dashboard": False,
            "_temp_dir": os.path.join(tmp, "ray"),
            "logging_level": "WARNING",
        },
    )
    wf.set_storage(storage)
    print("STARTED", flush=True)
    result = wf.run(return_results=True)
    print("RESULT " + json.dumps(result), flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
