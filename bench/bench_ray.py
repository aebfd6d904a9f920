"""functionfuse-ray overhead against hand-written Ray, and the driver's memory.

    uv run python bench/bench_ray.py [--quick] [--repeat N] [--skip-memory]

In one process, on one local Ray (2 CPUs unless ``--cpus``), alternating the two so
that both see the same machine state:

- a 300-node chain and a 2,000-node fan-in, written with raw ``ray.remote`` and as a
  functionfuse graph run by ``RayWorkflow`` (graph building included), median of
  ``--repeat`` runs each, and their ratio;
- eight independent CPU-bound one-second nodes on ``RayWorkflow`` against the local
  backend;
- the driver's resident memory while a 100,000-node workflow runs with
  ``max_pending_tasks=1000``, against the same workflow submitted the way the original
  Function Fuse does it (every ObjectRef kept on its node until the end).

Timings are printed, never asserted. Ray is started with its ``uv run`` worker
environments off and on 127.0.0.1.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # 127.0.0.1 on Linux

import argparse
import gc
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import ray

from functionfuse import workflow
from functionfuse.runtime import Node
from functionfuse_local import LocalWorkflow
from functionfuse_ray import RayWorkflow


def inc(x: int) -> int:
    return x + 1


def add(*xs: int) -> int:
    return sum(xs)


def spin(seconds: float, tag: int) -> int:
    """CPU-bound work: a busy loop for ``seconds``."""
    end = time.perf_counter() + seconds
    count = 0
    while time.perf_counter() < end:
        count += 1
    return tag


inc_remote = ray.remote(inc)
add_remote = ray.remote(add)
inc_node = workflow(inc)
add_node = workflow(add)
spin_node = workflow(spin)


# -- the DAGs, both ways ---------------------------------------------------------------


def raw_chain(n: int) -> int:
    ref = inc_remote.remote(0)
    for _ in range(n - 1):
        ref = inc_remote.remote(ref)
    return int(ray.get(ref))


def ff_chain(n: int) -> int:
    node = inc_node(0)
    for _ in range(n - 1):
        node = inc_node(node)
    return int(RayWorkflow(node, workflow_name="chain").run(return_results=True))


def raw_fan_in(n: int) -> int:
    refs = [inc_remote.remote(i) for i in range(n - 1)]
    return int(ray.get(add_remote.remote(*refs)))


def ff_fan_in(n: int) -> int:
    parts = [inc_node(i) for i in range(n - 1)]
    return int(RayWorkflow(add_node(*parts), workflow_name="fan_in").run(return_results=True))


def alternate(
    repeat: int, first: Callable[[], Any], second: Callable[[], Any]
) -> tuple[list[float], list[float]]:
    """Time ``first`` and ``second`` in turns (one warm-up each, not counted)."""
    first()
    second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for func, into in ((first, times[0]), (second, times[1])):
            gc.collect()
            start = time.perf_counter()
            func()
            into.append(time.perf_counter() - start)
    return times


def overhead_table(repeat: int, chain: int, fan_in: int) -> None:
    rows = []
    for label, raw, ours in (
        (f"chain of {chain}", lambda: raw_chain(chain), lambda: ff_chain(chain)),
        (f"fan-in of {fan_in}", lambda: raw_fan_in(fan_in), lambda: ff_fan_in(fan_in)),
    ):
        raw_times, ff_times = alternate(repeat, raw, ours)
        raw_median, ff_median = statistics.median(raw_times), statistics.median(ff_times)
        rows.append((label, raw_median, ff_median, ff_median / raw_median))
    print(f"\nOverhead against raw ray.remote (median of {repeat}, graph building included)")
    print(f"{'DAG':<18}{'raw Ray (s)':>13}{'functionfuse (s)':>18}{'ratio':>8}")
    for label, raw_median, ff_median, ratio in rows:
        print(f"{label:<18}{raw_median:>13.3f}{ff_median:>18.3f}{ratio:>8.2f}")


def parallel_table(count: int, seconds: float) -> None:
    def nodes() -> list[Node]:
        return [spin_node(seconds, i) for i in range(count)]

    start = time.perf_counter()
    RayWorkflow(*nodes(), workflow_name="spin").run(return_results=True)
    on_ray = time.perf_counter() - start
    start = time.perf_counter()
    LocalWorkflow(*nodes(), workflow_name="spin").run()
    local = time.perf_counter() - start
    print(f"\n{count} independent CPU-bound {seconds:g}-s nodes")
    print(f"{'local (s)':>10}{'Ray (s)':>10}{'Ray / local':>13}")
    print(f"{local:>10.2f}{on_ray:>10.2f}{on_ray / local:>13.2f}")


# -- driver memory ----------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def peak_rss() -> Iterator[list[int]]:
    """Sample the resident set size every 20 ms; yields ``[peak]`` filled at exit."""
    peak = [rss_bytes()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()
        peak[0] = max(peak[0], rss_bytes())


def wide_chains(count: int, length: int) -> list[Node]:
    """``count`` independent chains of ``length`` nodes: parallel, yet ordered."""
    ends = []
    for start in range(count):
        node = inc_node(start)
        for _ in range(length - 1):
            node = inc_node(node)
        ends.append(node)
    return ends


def run_like_the_original(leaves: list[Node], max_pending_tasks: int) -> None:
    """Submit as the original Function Fuse's RayWorkflow.run does, without storage:
    every node's ObjectRef kept (``exec_node.result``) and, once more than
    ``max_pending_tasks`` are pending, ``ray.wait`` for one at a time."""
    wf = LocalWorkflow(*leaves, workflow_name="original")  # for graph_traversal only
    result_of: dict[Node, Any] = {}
    pending: list[Any] = []
    for _, node in wf.graph_traversal():
        args = [result_of[arg] if isinstance(arg, Node) else arg for arg in node.args]
        while len(pending) > max_pending_tasks:
            _, pending = ray.wait(pending, fetch_local=False)
        ref = inc_remote.remote(*args)
        pending.append(ref)
        result_of[node] = ref
    ends = [result_of[leaf] for leaf in leaves]
    ray.wait(ends, num_returns=len(ends), fetch_local=False)


def memory_table(count: int, length: int, max_pending_tasks: int) -> None:
    nodes = count * length
    print(
        f"\nDriver memory: {nodes:,} nodes ({count} chains of {length}), "
        f"max_pending_tasks={max_pending_tasks}"
    )
    print(f"{'run':<34}{'graph (MB)':>12}{'run peak (MB)':>15}{'time (s)':>10}")
    for label, runner in (
        ("functionfuse-ray", "ours"),
        ("as the original (refs kept)", "original"),
    ):
        gc.collect()
        before = rss_bytes()
        leaves = wide_chains(count, length)
        built = rss_bytes()
        start = time.perf_counter()
        with peak_rss() as peak:
            if runner == "ours":
                RayWorkflow(*leaves, workflow_name="memory").run(
                    max_pending_tasks=max_pending_tasks
                )
            else:
                run_like_the_original(leaves, max_pending_tasks)
        elapsed = time.perf_counter() - start
        mb = 1024 * 1024
        print(
            f"{label:<34}{(built - before) / mb:>12.1f}{(peak[0] - built) / mb:>15.1f}"
            f"{elapsed:>10.1f}"
        )
        del leaves
        gc.collect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller, fewer repeats")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per side")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--skip-memory", action="store_true")
    options = parser.parse_args()
    repeat = options.repeat or (3 if options.quick else 9)
    ray.init(num_cpus=options.cpus, include_dashboard=False, logging_level="ERROR")
    try:
        print(f"Ray {ray.__version__}, {options.cpus} CPUs")
        overhead_table(repeat, chain=300, fan_in=2000)
        parallel_table(count=8, seconds=0.25 if options.quick else 1.0)
        if not options.skip_memory:
            if options.quick:
                memory_table(count=100, length=100, max_pending_tasks=1000)
            else:
                memory_table(count=1000, length=100, max_pending_tasks=1000)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
