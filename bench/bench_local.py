"""Local backend overhead: µs per node, graph build + run, garbage collector on.

    uv run python bench/bench_local.py [--quick]

Compares, side by side in one process: a plain Python loop making the same calls, the
local backend without storage, with memory storage and with file storage, on a chain
and on a wide fan-in; then file storage against writing the same pickles by hand, and
the peak memory of a chain of 20 MB arrays.
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import shutil
import statistics
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

import functionfuse
import functionfuse.runtime
from functionfuse import workflow
from functionfuse_local import LocalWorkflow


def inc(x: int) -> int:
    return x + 1


def total(xs: list[int]) -> int:
    return sum(xs)


inc_node = workflow(inc)
total_node = workflow(total)


def plain_chain(n: int) -> int:
    x = inc(0)
    for _ in range(n - 1):
        x = inc(x)
    return x


def plain_fan_in(n: int) -> int:
    return total([inc(i) for i in range(n - 1)])


def chain_graph(n: int) -> Any:
    x = inc_node(0)
    for _ in range(n - 1):
        x = inc_node(x)
    return x


def fan_in_graph(n: int) -> Any:
    return total_node([inc_node(i) for i in range(n - 1)])


def run_local(build: Callable[[int], Any], n: int, storage: Any) -> int:
    wf = LocalWorkflow(build(n), workflow_name=f"bench-{uuid.uuid4().hex[:8]}")
    if storage is not None:
        wf.set_storage(storage)
    return int(wf.run())


def best_of(repeat: int, func: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def overhead_table(sizes: list[int], repeat: int, tmp: str) -> None:
    print(f"\nµs per node, graph build + run (best of {repeat}, gc on)")
    header = f"{'graph':<8}{'nodes':>9}{'plain':>9}{'local':>9}{'memory':>9}{'file':>9}"
    print(header)
    print("-" * len(header))
    for name, plain, graph in (
        ("chain", plain_chain, chain_graph),
        ("fan-in", plain_fan_in, fan_in_graph),
    ):
        for n in sizes:
            # Each run gets a fresh workflow name, so no run resumes from another.
            memory = functionfuse.storage_factory(f"memory://bench-{uuid.uuid4().hex}")
            file_root = os.path.join(tmp, uuid.uuid4().hex)
            files = functionfuse.storage_factory(file_root)
            row = [
                best_of(repeat, partial(plain, n)),
                best_of(repeat, partial(run_local, graph, n, None)),
                best_of(repeat, partial(run_local, graph, n, memory)),
                best_of(1, partial(run_local, graph, n, files)),
            ]
            shutil.rmtree(file_root, ignore_errors=True)
            cells = "".join(f"{t / n * 1e6:>9.2f}" for t in row)
            print(f"{name:<8}{n:>9}{cells}")


def file_storage_vs_plain_writes(n: int, tmp: str) -> None:
    """FileStorage.save against pickle + write to a temp file + os.replace, by hand.

    The two take turns result by result, so that a disk whose speed swings (a VM's does,
    by 2-10x within seconds) slows both alike.
    """
    payload = list(range(100))
    ratios = []
    for round_ in range(5):
        plain_root = os.path.join(tmp, f"plain-{round_}")
        os.makedirs(plain_root)
        storage = functionfuse.storage_factory(os.path.join(tmp, f"ff-{round_}"))
        storage.new_workflow("w")
        plain = ours = 0.0
        for i in range(n):
            start = time.perf_counter()
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
            final = os.path.join(plain_root, f"task_{i}")
            temp = final + ".tmp"
            with open(temp, "wb") as f:
                f.write(data)
            os.replace(temp, final)
            middle = time.perf_counter()
            storage.save("w", f"task_{i}", payload)
            ours += time.perf_counter() - middle
            plain += middle - start
        ratios.append(ours / plain)
    print(f"\nfile storage save vs open/write/os.replace by hand, {n} results, 5 rounds:")
    print(
        f"  last round: by hand {plain / n * 1e6:.1f} µs, FileStorage {ours / n * 1e6:.1f} µs;"
        f" ratio median {statistics.median(ratios):.2f}x, worst {max(ratios):.2f}x"
    )


def peak_arrays(length: int = 50, megabytes: int = 20) -> None:
    """A chain of nodes each returning a fresh array: how many are alive at the peak."""

    @workflow
    def grow(previous: np.ndarray | None) -> np.ndarray:
        fresh = np.ones(megabytes * 2**20 // 8)
        if previous is not None:
            fresh += previous[:1]
        return fresh

    node = grow(None)
    for _ in range(length - 1):
        node = grow(node)
    wf = LocalWorkflow(node, workflow_name="peak")
    tracemalloc.start()
    wf.run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"\nchain of {length} nodes x {megabytes} MB arrays: peak "
        f"{peak / 2**20:.0f} MB = {peak / (megabytes * 2**20):.2f} arrays alive at once"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 nodes only")
    parser.add_argument(
        "--dir",
        default=None,
        help="folder for the file-storage figures (default: the system temp folder); "
        "/dev/shm separates our overhead from a slow or noisy disk",
    )
    args = parser.parse_args()
    sizes = [10_000] if args.quick else [10_000, 100_000]
    functionfuse.runtime.lifecycle_hooks()  # the one-off plugin scan, outside the timings
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(f"file storage in {tmp}")
        overhead_table(sizes, 3, tmp)
        file_storage_vs_plain_writes(2_000, tmp)
    peak_arrays()


if __name__ == "__main__":
    main()
