"""Fingerprinting cost: µs per node, next to the local backend's own per-node cost.

    uv run python bench/bench_fingerprint.py [--quick] [--dir /dev/shm]

Issue 7's target: fingerprinting costs at most 1 µs per node with small literal
arguments, on top of the local backend's per-node cost. Side by side in one process,
garbage collector on, taking turns:

- ``local``: build + run of the graph on the local backend, no storage (its floor);
- ``fingerprints``: computing every node's fingerprint for that graph (what a run with
  a storage adds, besides reading the stored fingerprints);
- then whole runs with file storage, resuming by name and by fingerprint: a first run
  (everything runs and is saved) and a second one (everything resumes). Their
  difference also holds the reading of every stored header, which is storage I/O.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import functionfuse
import functionfuse.runtime
from functionfuse import workflow
from functionfuse._fingerprint import Lineage
from functionfuse_local import LocalWorkflow


@workflow
def step(previous: int, k: int) -> int:
    """A chain link with a small literal argument: ``step(prev, i)``."""
    return previous + k


@workflow
def leaf(i: int, label: str, scale: float) -> int:
    """A root with small literal arguments only."""
    return i


@workflow
def total(*parts: int) -> int:
    return sum(parts)


def chain(n: int) -> Any:
    x = leaf(0, "start", 1.0)
    for i in range(n - 1):
        x = step(x, i)
    return x


def fan_in(n: int) -> Any:
    return total(*[leaf(i, "leaf", 0.5) for i in range(n - 1)])


def timed(func: Callable[[], Any]) -> float:
    gc.collect()
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def run_local_built(build: Callable[[int], Any], n: int) -> Any:
    return run_local(build(n))


def run_local(graph: Any, storage: Any = None, resume: Any = None, name: str = "") -> Any:
    wf = LocalWorkflow(graph, workflow_name=name or f"bench-{uuid.uuid4().hex[:8]}")
    if storage is not None:
        wf.set_storage(storage)
    return wf.run(resume=resume)


def cost_table(sizes: list[int], rounds: int) -> None:
    print(f"\nµs per node, best of {rounds} taking turns, gc on")
    header = f"{'graph':<8}{'nodes':>9}{'local':>9}{'fingerprints':>14}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    for name, build in (("chain", chain), ("fan-in", fan_in)):
        for n in sizes:
            local: list[float] = []
            prints: list[float] = []
            for _ in range(rounds):
                local.append(timed(partial(run_local_built, build, n)))
                order = LocalWorkflow(build(n), workflow_name="fingerprints").nodes
                prints.append(timed(partial(Lineage, order)))
                del order
            best_local, best_prints = min(local) / n * 1e6, min(prints) / n * 1e6
            print(
                f"{name:<8}{n:>9}{best_local:>9.2f}{best_prints:>14.2f}"
                f"{best_prints / best_local:>8.2f}"
            )


def storage_table(n: int, rounds: int, folder: str) -> None:
    print(f"\nfile storage in {folder}, {n} nodes, µs per node, median of {rounds}")
    header = f"{'graph':<8}{'run':<8}{'by name':>9}{'by fingerprint':>16}{'difference':>12}"
    print(header)
    print("-" * len(header))
    for name, build in (("chain", chain), ("fan-in", fan_in)):
        first: dict[str, list[float]] = {"name": [], "fingerprint": []}
        second: dict[str, list[float]] = {"name": [], "fingerprint": []}
        for _ in range(rounds):
            for mode in ("name", "fingerprint"):  # taking turns
                storage = functionfuse.storage_factory(os.path.join(folder, uuid.uuid4().hex))
                wf_name = f"bench-{mode}"
                for times in (first, second):
                    graph = build(n)
                    times[mode].append(timed(partial(run_local, graph, storage, mode, wf_name)))
        for label, times in (("first", first), ("resume", second)):
            by_name = statistics.median(times["name"]) / n * 1e6
            by_print = statistics.median(times["fingerprint"]) / n * 1e6
            print(f"{name:<8}{label:<8}{by_name:>9.2f}{by_print:>16.2f}{by_print - by_name:>12.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 nodes only")
    parser.add_argument("--dir", default=None, help="folder for the file-storage runs")
    args = parser.parse_args()
    sizes = [10_000] if args.quick else [10_000, 100_000]
    functionfuse.runtime.lifecycle_hooks()  # the one-off plugin scan, outside the timings
    cost_table(sizes, 5)
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        storage_table(2_000 if args.quick else 10_000, 3, folder)


if __name__ == "__main__":
    main()
