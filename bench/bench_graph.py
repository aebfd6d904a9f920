"""How fast the core builds graphs and workflows, and how fast it imports.

Run with ``uv run python bench/bench_graph.py`` (``--quick`` for a short run). Prints
tables; asserts nothing. Issue 2's targets: building a graph costs at most 2 µs and
500 bytes per node, for a 100,000-node chain and for one node with 100,000 parents,
growing linearly; ``python -c "import functionfuse"`` takes at most 100 ms.

The garbage collector stays on, as in a user's process. Memory is measured with
tracemalloc: the bytes still allocated once the graph is built, divided by its nodes
(everything the graph holds: nodes, argument tuples, parent tuples, children lists...).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from functionfuse import BaseWorkflow, workflow
from functionfuse.runtime import Node


@workflow
def inc(x: int) -> int:
    return x + 1


@workflow
def source(i: int) -> int:
    return i


@workflow
def concat(*parts: Any) -> list[Any]:
    return list(parts)


class Graph(BaseWorkflow):
    """A backend that runs nothing: workflow construction alone is measured."""

    def run(self, **options: Any) -> Any:
        return None


# -- graph shapes: each returns (leaf, number of nodes) -------------------------------------


def chain(n: int) -> tuple[Node, int]:
    node = inc(0)
    for _ in range(n - 1):
        node = inc(node)
    return node, n


def fan_in_list(n: int) -> tuple[Node, int]:
    """One node with ``n`` parents given in a list: ``concat([n0, n1, ...])``."""
    return concat([source(i) for i in range(n)]), n + 1


def fan_in_star(n: int) -> tuple[Node, int]:
    """One node with ``n`` parents given as positional arguments: ``concat(*nodes)``."""
    return concat(*[source(i) for i in range(n)]), n + 1


SHAPES: dict[str, Callable[[int], tuple[Node, int]]] = {
    "chain": chain,
    "fan-in concat([...])": fan_in_list,
    "fan-in concat(*nodes)": fan_in_star,
}


def best_of(repeat: int, build: Callable[[], Any]) -> tuple[float, float, Any]:
    """The fastest of ``repeat`` calls (GC on): wall and CPU seconds, and the last result.

    CPU time (this process only) is the steadier figure on a busy machine.
    """
    best_wall = best_cpu = float("inf")
    result = None
    for _ in range(repeat):
        result = None
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        result = build()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return best_wall, best_cpu, result


def bytes_per_node(shape: Callable[[int], tuple[Node, int]], n: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    graph, nodes = shape(n)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del graph
    return (after - before) / nodes


def concat_call_alone(n: int, star: bool) -> float:
    """Seconds for the single call ``concat(...)`` over ``n`` existing nodes."""
    parents = [source(i) for i in range(n)]
    gc.collect()
    start = time.perf_counter()
    if star:
        concat(*parents)
    else:
        concat(parents)
    return time.perf_counter() - start


def graph_table(sizes: list[int], repeat: int) -> None:
    print(f"Building graphs (GC on; best of {repeat} runs; per node: wall / CPU µs)")
    header = (
        f"{'shape':<23}{'nodes':>9}{'build ms':>10}{'µs/node':>13}{'B/node':>8}"
        f"{'workflow ms':>13}{'µs/node':>13}"
    )
    print(header)
    print("-" * len(header))
    for label, shape in SHAPES.items():
        for n in sizes:
            wall, cpu, (leaf, nodes) = best_of(repeat, lambda shape=shape, n=n: shape(n))
            wf_wall, wf_cpu, wf = best_of(
                repeat, lambda leaf=leaf: Graph(leaf, workflow_name="bench")
            )
            del leaf, wf  # nothing of one measurement may stay alive during the next
            memory = bytes_per_node(shape, n)
            per_node = f"{wall / nodes * 1e6:.2f} / {cpu / nodes * 1e6:.2f}"
            wf_per_node = f"{wf_wall / nodes * 1e6:.2f} / {wf_cpu / nodes * 1e6:.2f}"
            print(
                f"{label:<23}{nodes:>9,}{wall * 1e3:>10.1f}{per_node:>13}{memory:>8.0f}"
                f"{wf_wall * 1e3:>13.1f}{wf_per_node:>13}"
            )
    print()
    print("The fan-in node's own call, over parents already built")
    for star in (False, True):
        label = "concat(*nodes)" if star else "concat([...])"
        figures = []
        for n in sizes:
            seconds = min(concat_call_alone(n, star) for _ in range(repeat))
            figures.append(f"{n:,}: {seconds * 1e3:.1f} ms")
        print(f"  {label:<16}" + ", ".join(figures))
    print()


def import_time(runs: int) -> None:
    def once(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    once("import functionfuse")  # warm the file cache and bytecode
    bare = [once("pass") for _ in range(runs)]
    full = [once("import functionfuse") for _ in range(runs)]
    bare_ms = statistics.median(bare) * 1e3
    full_ms = statistics.median(full) * 1e3
    print(f'python -c "import functionfuse" (median of {runs} runs)')
    print(f"  interpreter alone : {bare_ms:6.1f} ms")
    print(f"  with the import   : {full_ms:6.1f} ms")
    print(f"  import functionfuse: {full_ms - bare_ms:5.1f} ms  (target <= 100 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller graphs, fewer runs")
    options = parser.parse_args()
    sizes = [1_000, 5_000] if options.quick else [10_000, 20_000, 50_000, 100_000]
    repeat = 1 if options.quick else 3
    print(f"Python {sys.version.split()[0]} on {sys.platform}; gc enabled: {gc.isenabled()}")
    print()
    graph_table(sizes, repeat)
    import_time(3 if options.quick else 9)


if __name__ == "__main__":
    main()
