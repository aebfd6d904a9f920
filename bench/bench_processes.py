"""The processes backend against the local backend and a plain process pool.

    uv run python bench/bench_processes.py [--quick]

In one process, side by side:

- eight independent CPU-bound one-second nodes: the local backend (one after another)
  against the processes backend on ``--workers`` processes (2), and their ratio;
- the cost of a run's pool: a one-node workflow, start of the workers to their end
  (the first run also starts the forkserver), and with ``start_method="spawn"``;
- per-node cost of 1,000 tiny independent nodes: the processes backend against
  ``concurrent.futures.ProcessPoolExecutor.map`` on the same function.

Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

from functionfuse import workflow
from functionfuse_local import LocalWorkflow, ProcessWorkflow


def burn(seconds: float) -> float:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    return seconds


def inc(x: int) -> int:
    return x + 1


def total(*xs: float) -> float:
    return sum(xs)


burn_node = workflow(burn)
inc_node = workflow(inc)
total_node = workflow(total)


def timed(run: object) -> float:
    start = time.perf_counter()
    run()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer and shorter runs")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    seconds = 0.25 if args.quick else 1.0
    repeat = 2 if args.quick else 3

    print(f"eight CPU-bound {seconds:g}-s nodes, {args.workers} worker processes")
    print(f"{'backend':<12} {'seconds':>8}")
    local_times, process_times = [], []
    for _ in range(repeat):
        leaf = total_node(*[burn_node(seconds) for _ in range(8)])
        local_times.append(timed(LocalWorkflow(leaf, workflow_name="b").run))
        wf = ProcessWorkflow(leaf, workflow_name="b", max_workers=args.workers)
        process_times.append(timed(wf.run))
    local, processes = statistics.median(local_times), statistics.median(process_times)
    print(f"{'local':<12} {local:>8.2f}\n{'processes':<12} {processes:>8.2f}")
    print(f"ratio processes / local: {processes / local:.2f} (target <= 0.6)\n")

    print("a run's pool: start the workers, run one node, stop them (seconds)")
    for method in ("forkserver", "spawn"):
        times = [
            timed(
                lambda m=method: ProcessWorkflow(
                    inc_node(1), workflow_name="p", max_workers=args.workers, start_method=m
                ).run()
            )
            for _ in range(5)
        ]
        rest = ", ".join(f"{t:.3f}" for t in times[1:])
        print(f"  {method:<10} first {times[0]:.3f}, then {rest} (target <= 1 s)")

    count = 200 if args.quick else 1000
    print(f"\n{count} tiny independent nodes, µs per node (median of {repeat})")
    pool_times, backend_times = [], []
    for _ in range(repeat):
        with ProcessPoolExecutor(args.workers) as pool:
            start = time.perf_counter()
            list(pool.map(inc, range(count)))
            pool_times.append(time.perf_counter() - start)
        leaves = [inc_node(i) for i in range(count)]
        wf = ProcessWorkflow(*leaves, workflow_name="tiny", max_workers=args.workers)
        backend_times.append(timed(wf.run))
    pool, backend = statistics.median(pool_times), statistics.median(backend_times)
    print(f"  ProcessPoolExecutor.map {pool / count * 1e6:8.1f}")
    print(f"  ProcessWorkflow         {backend / count * 1e6:8.1f}  (pool start included)")


if __name__ == "__main__":
    main()
