"""functionfuse-dask overhead against hand-written Dask, on the same DAGs.

    uv run python bench/bench_dask.py [--quick] [--repeat N] [--workers N]

In one process, on one LocalCluster (2 single-threaded worker processes unless
``--workers``, no dashboard), alternating the two so that both see the same machine state:
a 300-node chain and a 1,000-node fan-in, written with raw ``client.submit`` (``pure=False``,
as the backend submits: every run computes) and as a functionfuse graph run by
``DaskWorkflow`` on the same client (graph building included); the median of ``--repeat``
runs each, and their ratio. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

from distributed import Client, LocalCluster

from functionfuse import workflow
from functionfuse_dask import DaskWorkflow


def inc(x: int) -> int:
    return x + 1


def add(*xs: int) -> int:
    return sum(xs)


inc_node = workflow(inc)
add_node = workflow(add)


# -- the DAGs, both ways ---------------------------------------------------------------


def raw_chain(client: Any, n: int) -> int:
    future = client.submit(inc, 0, pure=False)
    for _ in range(n - 1):
        future = client.submit(inc, future, pure=False)
    return int(future.result())


def ff_chain(client: Any, n: int) -> int:
    node = inc_node(0)
    for _ in range(n - 1):
        node = inc_node(node)
    return int(DaskWorkflow(node, workflow_name="chain", client=client).run())


def raw_fan_in(client: Any, n: int) -> int:
    parts = [client.submit(inc, i, pure=False) for i in range(n - 1)]
    return int(client.submit(add, *parts, pure=False).result())


def ff_fan_in(client: Any, n: int) -> int:
    parts = [inc_node(i) for i in range(n - 1)]
    return int(DaskWorkflow(add_node(*parts), workflow_name="fan_in", client=client).run())


def alternate(
    repeat: int, first: Callable[[], Any], second: Callable[[], Any]
) -> tuple[list[float], list[float]]:
    """Time ``first`` and ``second`` in turns, the order swapped every round so that
    neither always runs right after the other (one warm-up each, not counted)."""
    assert first() == second()
    times: tuple[list[float], list[float]] = ([], [])
    for round_ in range(repeat):
        pair = [(first, times[0]), (second, times[1])]
        for func, into in pair if round_ % 2 == 0 else reversed(pair):
            gc.collect()
            start = time.perf_counter()
            func()
            into.append(time.perf_counter() - start)
    return times


def overhead_table(client: Any, repeat: int, chain: int, fan_in: int) -> None:
    rows = []
    for label, raw, ours in (
        (
            f"chain of {chain}",
            lambda: raw_chain(client, chain),
            lambda: ff_chain(client, chain),
        ),
        (
            f"fan-in of {fan_in}",
            lambda: raw_fan_in(client, fan_in),
            lambda: ff_fan_in(client, fan_in),
        ),
    ):
        raw_times, ff_times = alternate(repeat, raw, ours)
        raw_median, ff_median = statistics.median(raw_times), statistics.median(ff_times)
        # Each round's two runs saw nearly the same machine: the median of their ratios
        # holds up best when other work comes and goes.
        paired = statistics.median(f / r for r, f in zip(raw_times, ff_times, strict=True))
        rows.append((label, raw_median, ff_median, paired, min(ff_times) / min(raw_times)))
    print(
        f"\nOverhead against raw client.submit ({repeat} rounds, taking turns, graph "
        "building included): medians; the median of each round's ratio; the best runs' ratio"
    )
    print(
        f"{'DAG':<18}{'raw Dask (s)':>14}{'functionfuse (s)':>18}{'ratio':>8}"
        f"{'paired':>8}{'best':>7}"
    )
    for label, raw_median, ff_median, paired, best in rows:
        print(
            f"{label:<18}{raw_median:>14.3f}{ff_median:>18.3f}{ff_median / raw_median:>8.2f}"
            f"{paired:>8.2f}{best:>7.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per side")
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    repeat = options.repeat or (3 if options.quick else 9)
    with (
        LocalCluster(
            n_workers=options.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # its HTTP: a free port
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        import dask
        import distributed

        print(
            f"Dask {dask.__version__}, distributed {distributed.__version__}, "
            f"{options.workers} worker processes x 1 thread"
        )
        overhead_table(client, repeat, chain=300, fan_in=1000)


if __name__ == "__main__":
    main()
