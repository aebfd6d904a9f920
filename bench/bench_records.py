"""What run records cost: µs per node with the recorder and with it silenced, side by side.

    uv run python bench/bench_records.py [--nodes 10000] [--rounds 5] [--ray] [--dask]

The same process runs each workflow alternately with the real run recorder and with a
silent one (no events kept, nothing written), best of ``--rounds`` each, so that a busy
machine slows both alike; the difference is what recording costs per node. Then the
size of one record and the time to build and write it. ``--ray`` / ``--dask``: the same
on a local Ray / Dask cluster with file storage (there a recorded run fetches where and
when each node ran: Ray's status returns, Dask's event log).
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench_local import chain_graph, fan_in_graph  # beside this script: the same graphs

import functionfuse
import functionfuse._plan as plan_module
from functionfuse._record_format import dump_record
from functionfuse._records import RunRecorder
from functionfuse_local import LocalWorkflow


class _Ignoring(dict):  # type: ignore[type-arg]
    def __setitem__(self, key: Any, value: Any) -> None:
        pass


class SilentRecorder:
    """Stands for the recorder: hears nothing, writes nothing."""

    storage = None

    def __init__(self, plan: Any, **_: Any) -> None:
        self.stamps = _Ignoring()
        self.tasks = _Ignoring()
        self.unusable: set[str] = set()
        self.listed: set[str] = set()

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def run(
    build: Callable[[int], Any],
    n: int,
    storage: Any,
    silent: bool,
    backend: Callable[..., Any] = LocalWorkflow,
) -> float:
    setattr(plan_module, "RunRecorder", SilentRecorder if silent else RunRecorder)  # noqa: B010
    wf = backend(build(n), workflow_name=f"bench-{uuid.uuid4().hex[:8]}")
    if storage is not None:
        wf.set_storage(storage)
    wf.run_record_interval = 0
    gc.collect()
    start = time.perf_counter()
    wf.run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ray", action="store_true", help="also on a local Ray")
    parser.add_argument("--dask", action="store_true", help="also on a local Dask cluster")
    args = parser.parse_args()
    n = args.nodes
    functionfuse.runtime.lifecycle_hooks()  # the one-off plugin scan, outside the timings
    print(f"\nµs per node, run only (best of {args.rounds}, alternating, gc on)")
    header = f"{'graph':<8}{'storage':<9}{'silent':>9}{'recorded':>10}{'cost':>8}"
    print(header)
    print("-" * len(header))
    for name, build in (("chain", chain_graph), ("fan-in", fan_in_graph)):
        for kind in ("none", "memory"):
            storage = None if kind == "none" else f"memory://bench-{uuid.uuid4().hex}"
            silent, recorded = [], []
            for _ in range(args.rounds):
                silent.append(run(build, n, storage, True))
                recorded.append(run(build, n, storage, False))
            a, b = min(silent) / n * 1e6, min(recorded) / n * 1e6
            print(f"{name:<8}{kind:<9}{a:>9.2f}{b:>10.2f}{b - a:>+8.2f}")
    setattr(plan_module, "RunRecorder", RunRecorder)  # noqa: B010
    if args.ray or args.dask:
        distributed(args, min(n, 1000))

    wf = LocalWorkflow(fan_in_graph(n), workflow_name="bench-record")
    storage = functionfuse.storage_factory(f"memory://bench-{uuid.uuid4().hex}")
    wf.set_storage(storage)
    wf.run()
    [run_id] = storage.list_run_records("bench-record")
    stored = storage.read_run_record("bench-record", run_id)
    recorder = wf._last_run  # the run's recorder: its record as stored, by column
    assert recorder is not None
    start = time.perf_counter()
    data = dump_record(recorder.record(recorder.state, recorder.summary))
    dumped = time.perf_counter() - start
    assert len(data) == len(stored)
    print(
        f"\none record of {n} nodes: {len(data) / 1e3:.0f} kB stored (gzip), "
        f"built and dumped in {dumped * 1e3:.0f} ms"
    )


def distributed(args: argparse.Namespace, n: int) -> None:
    """Silent against recorded on Ray and Dask, file storage in a temporary folder."""
    backends: list[tuple[str, Callable[..., Any]]] = []
    if args.ray:
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        from functionfuse_ray import RayWorkflow

        def ray_workflow(*nodes: Any, workflow_name: str) -> Any:
            return RayWorkflow(
                *nodes,
                workflow_name=workflow_name,
                ray_init_args={"num_cpus": 2, "include_dashboard": False},
            )

        backends.append(("ray", ray_workflow))
    if args.dask:
        from distributed import Client, LocalCluster

        from functionfuse_dask import DaskWorkflow

        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2, threads_per_worker=1, dashboard_address=None
        )
        client = Client(cluster)  # type: ignore[no-untyped-call]

        def dask_workflow(*nodes: Any, workflow_name: str) -> Any:
            return DaskWorkflow(*nodes, workflow_name=workflow_name, client=client)

        backends.append(("dask", dask_workflow))
    print(f"\nµs per node with file storage, {n} nodes (best of 3, alternating)")
    header = f"{'backend':<8}{'graph':<8}{'silent':>9}{'recorded':>10}{'cost':>8}"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as folder:
        for label, backend in backends:
            for name, build in (("chain", chain_graph), ("fan-in", fan_in_graph)):
                silent, recorded = [], []
                for _ in range(3):
                    root = os.path.join(folder, uuid.uuid4().hex)
                    silent.append(run(build, n, root, True, backend))
                    root = os.path.join(folder, uuid.uuid4().hex)
                    recorded.append(run(build, n, root, False, backend))
                a, b = min(silent) / n * 1e6, min(recorded) / n * 1e6
                print(f"{label:<8}{name:<8}{a:>9.1f}{b:>10.1f}{b - a:>+8.1f}")
    setattr(plan_module, "RunRecorder", RunRecorder)  # noqa: B010


if __name__ == "__main__":
    main()
