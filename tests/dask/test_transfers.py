"""Results travel between workers, once per worker, and never through the driver."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dask_nodes as n

from functionfuse_dask import DaskWorkflow


def test_a_100_mb_result_reaches_each_worker_once_and_never_the_driver(
    dask_client: Any, worker_pids: dict[str, int], tmp_path: Path
) -> None:
    """One node makes a 100 MB value, eight consume it, four on each worker: the value
    is pickled once (for the worker that did not make it) and never in this process."""
    log = str(tmp_path / "pickles.log")
    value = n.big(log, 100).set_name("big")
    consumers = [n.consume(value, i).set_name(f"consume_{i}") for i in range(8)]
    first, second = sorted(worker_pids)
    wf = DaskWorkflow(*consumers, workflow_name="transfers", client=dask_client)
    wf.query("consume_[0-3]").set_remote_args({"workers": [first]})
    wf.query("consume_[4-7]").set_remote_args({"workers": [second]})

    results = wf.run()

    assert [total for total, _ in results] == [1 + i for i in range(8)]
    assert [pid for _, pid in results] == [worker_pids[first]] * 4 + [worker_pids[second]] * 4
    events = [line.split() for line in n.lines(log)]
    assert str(os.getpid()) not in {pid for _, pid in events}  # never in the driver
    pickled = [pid for kind, pid in events if kind == "pickle"]
    unpickled = [pid for kind, pid in events if kind == "unpickle"]
    assert len(pickled) == 1, events  # sent once, to the other worker
    assert len(unpickled) == 1, events
    assert {int(pickled[0]), int(unpickled[0])} == set(worker_pids.values())


def test_nested_arguments_and_items_are_resolved_on_the_workers(
    dask_client: Any, tmp_path: Path
) -> None:
    """f([a, b]), f(cfg={"x": a}) and f(a[0]) get their values, the big one included,
    without the value passing through the driver."""
    log = str(tmp_path / "pickles.log")
    value = n.big(log, 10).set_name("big")
    pair = n.logged(str(tmp_path / "ran.log"), "pair", (value, 3)).set_name("pair")
    nested = n.consume([pair[0]][0], 2).set_name("nested")  # an item of a node
    listed = n.logged(str(tmp_path / "ran.log"), "listed", [pair[1], {"x": pair[1]}])
    wf = DaskWorkflow(nested, listed, workflow_name="nested", client=dask_client)
    (total, _), items = wf.run()
    assert total == 3
    assert items == [3, {"x": 3}]
    pids = {line.split()[1] for line in n.lines(log)}
    assert str(os.getpid()) not in pids
