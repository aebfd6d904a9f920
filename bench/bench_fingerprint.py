"""Fingerprinting cost: µs per node, next to the local backend's own per-node cost.

    uv run python bench/bench_fingerprint.py [--quick] [--dir /dev/shm]

Issue 7's target: fingerprinting costs at most 1 µs per node with small literal
arguments, on top of the local backend's per-node cost. Issue 16's: at most 1.5 µs per
node for 100,000 nodes whose functions call helpers spread over ten project modules
(the ``project`` table: each module's helpers call the next module's and read its
constants; the code walk is done once per function per run). Side by side in one
process, garbage collector on, taking turns:

- ``local``: build + run of the graph on the local backend, no storage (its floor);
- ``fingerprints``: computing every node's fingerprint for that graph (what a run with
  a storage adds, besides reading the stored fingerprints), code walk included;
- then whole runs with file storage, resuming by name and by fingerprint: a first run
  (everything runs and is saved) and a second one (everything resumes). Their
  difference also holds the reading of every stored header, which is storage I/O.

The first two tables count CPU time (``time.process_time``), the storage table wall
time: on a machine shared with other work, wall-clock figures of CPU-bound loops vary
twofold from one run to the next.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import statistics
import sys
import tempfile
import textwrap
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


#: Ten project modules: each has helpers that call the next module's and read its settings.
HELPER_MODULE = """
import {next_module}

SCALE = {index}
OFFSETS = (1, 2, {index})


def helper_a(x):
    return _inner(x) * SCALE + {next_module}.helper_b(x)


def helper_b(x):
    return x + OFFSETS[0] + {next_module}.SCALE


def _inner(x):
    return x - 1


class Scaler:
    factor = {index}

    def apply(self, x):
        return helper_a(x) * self.factor
"""

NODES_MODULE = """
from functionfuse import workflow
{imports}

{functions}
"""

NODE_FUNCTION = """
@workflow
def step_{index}(previous, k):
    return previous + k + {calls}
"""


def write_project(folder: str, modules: int = 10) -> Any:
    """Ten helper modules and a module of ten node functions, each calling a helper of
    every module; returns the imported module of node functions."""
    stem = f"bench_project_{uuid.uuid4().hex[:8]}"
    names = [f"{stem}_helpers_{i}" for i in range(modules)]
    for i, name in enumerate(names):
        source = HELPER_MODULE.format(index=i, next_module=names[(i + 1) % modules])
        with open(os.path.join(folder, f"{name}.py"), "w") as file:
            file.write(textwrap.dedent(source))
    functions = []
    for i in range(modules):
        calls = " + ".join(
            f"{names[(i + j) % modules]}.helper_a(k)"
            if j % 2 == 0
            else f"{names[(i + j) % modules]}.Scaler().apply(k)"
            for j in range(modules)
        )
        functions.append(NODE_FUNCTION.format(index=i, calls=calls))
    source = NODES_MODULE.format(
        imports="\n".join(f"import {name}" for name in names), functions="".join(functions)
    )
    with open(os.path.join(folder, f"{stem}_nodes.py"), "w") as file:
        file.write(source)
    sys.path.insert(0, folder)
    importlib.invalidate_caches()
    return importlib.import_module(f"{stem}_nodes")


def project_graph(nodes: Any, n: int) -> Any:
    """``n`` nodes cycling through the ten node functions, each on the previous one."""
    functions = [getattr(nodes, f"step_{i}") for i in range(10)]
    x = leaf(0, "start", 1.0)
    for i in range(n - 1):
        x = functions[i % 10](x, i)
    return x


def project_table(sizes: list[int], rounds: int, folder: str) -> None:
    nodes = write_project(folder)
    print(f"\nten project modules, ten node functions; CPU µs per node, best of {rounds}, gc on")
    header = f"{'nodes':>9}{'local':>9}{'fingerprints':>14}{'ratio':>8}{'first walk (ms)':>17}"
    print(header)
    print("-" * len(header))
    for n in sizes:
        local: list[float] = []
        prints: list[float] = []
        for _ in range(rounds):
            local.append(cpu_timed(partial(run_local, project_graph(nodes, n))))
            order = LocalWorkflow(project_graph(nodes, n), workflow_name="project").nodes
            prints.append(cpu_timed(partial(Lineage, order)))
            del order
        # The code walk alone: a Lineage of one node of each function (fresh caches).
        small = LocalWorkflow(project_graph(nodes, 11), workflow_name="walk").nodes
        walk = min(cpu_timed(partial(Lineage, small)) for _ in range(rounds))
        best_local, best_prints = min(local) / n * 1e6, min(prints) / n * 1e6
        print(
            f"{n:>9}{best_local:>9.2f}{best_prints:>14.2f}{best_prints / best_local:>8.2f}"
            f"{walk * 1e3:>17.2f}"
        )


def timed(func: Callable[[], Any], clock: Callable[[], float] = time.perf_counter) -> float:
    gc.collect()
    start = clock()
    func()
    return clock() - start


def cpu_timed(func: Callable[[], Any]) -> float:
    """The CPU time ``func`` takes in this process: what fingerprinting costs, whatever
    else the machine runs meanwhile (wall-clock figures on a shared machine vary 2x)."""
    return timed(func, time.process_time)


def run_local_built(build: Callable[[int], Any], n: int) -> Any:
    return run_local(build(n))


def run_local(graph: Any, storage: Any = None, resume: Any = None, name: str = "") -> Any:
    wf = LocalWorkflow(graph, workflow_name=name or f"bench-{uuid.uuid4().hex[:8]}")
    if storage is not None:
        wf.set_storage(storage)
    return wf.run(resume=resume)


def cost_table(sizes: list[int], rounds: int) -> None:
    print(f"\nCPU µs per node, best of {rounds} taking turns, gc on")
    header = f"{'graph':<8}{'nodes':>9}{'local':>9}{'fingerprints':>14}{'ratio':>8}"
    print(header)
    print("-" * len(header))
    for name, build in (("chain", chain), ("fan-in", fan_in)):
        for n in sizes:
            local: list[float] = []
            prints: list[float] = []
            for _ in range(rounds):
                local.append(cpu_timed(partial(run_local_built, build, n)))
                order = LocalWorkflow(build(n), workflow_name="fingerprints").nodes
                prints.append(cpu_timed(partial(Lineage, order)))
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
    with tempfile.TemporaryDirectory() as folder:
        project_table(sizes, 5, folder)
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        storage_table(2_000 if args.quick else 10_000, 3, folder)


if __name__ == "__main__":
    main()
