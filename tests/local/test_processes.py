"""The processes backend (issue 15): what its own promises are, beyond the kit's checks.

Workers are real processes started by the backend; nodes report their process id.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import pytest

import functionfuse as ff
from functionfuse.runtime import dumps
from functionfuse_local import LocalWorkflow, ProcessWorkflow

# Worker processes import the nodes by module name: put their folder on sys.path (the
# workers get the driver's sys.path when they start).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from processes_nodes import Holder, make, pid, size, spin, total


def test_independent_nodes_run_in_parallel_processes() -> None:
    pids = ProcessWorkflow(spin(0.3), spin(0.3), workflow_name="p", max_workers=2).run()
    assert len(set(pids)) == 2
    assert os.getpid() not in pids


def test_spawn_start_method_works() -> None:
    """What macOS and Windows use: nothing is inherited from the driver."""
    wf = ProcessWorkflow(total(pid(), pid()), workflow_name="spawned", start_method="spawn")
    assert wf.run() > 0


def test_a_class_node_and_its_calls_live_in_one_worker() -> None:
    holder = Holder()
    holder.visit(pid())
    holder.visit(spin(0.1))
    last = holder.visit()
    pids = ProcessWorkflow(last, workflow_name="held", max_workers=2).run()
    assert len(set(pids)) == 1
    assert pids[0] != os.getpid()


def test_a_result_travels_only_where_a_consumer_needs_it(tmp_path: Path) -> None:
    """One worker: the value made there is used there, and never sent anywhere."""
    log = tmp_path / "arrivals.log"
    data = make(str(log))
    leaf = total(size(data), size(data), size(data))
    assert ProcessWorkflow(leaf, workflow_name="local-values", max_workers=1).run() == 3_000_000
    assert not log.exists()  # never unpickled: not sent to the driver nor another worker
    # Two workers: consumers elsewhere get it once per worker, through the driver.
    arrivals = ProcessWorkflow(leaf, workflow_name="two", max_workers=2)
    arrivals.run()
    received = log.read_text().split() if log.exists() else []
    assert len(received) <= 2  # the driver, then the other worker: at most once each


def test_a_memory_storage_is_refused() -> None:
    wf = ProcessWorkflow(pid(), workflow_name="mem")
    wf.set_storage("memory://processes")
    with pytest.raises(ff.ConfigurationError, match="memory storage"):
        wf.run()


def test_bad_options_are_refused() -> None:
    with pytest.raises(ff.ConfigurationError, match="max_workers"):
        ProcessWorkflow(pid(), workflow_name="bad", max_workers=0)
    with pytest.raises(ff.ConfigurationError, match="start_method"):
        ProcessWorkflow(pid(), workflow_name="bad", start_method="fork")


def test_found_by_name_and_gives_the_local_results(tmp_path: Path) -> None:
    backend = ff.backend("processes")
    assert backend is ProcessWorkflow
    leaf = total(size(make(str(tmp_path / "log"))), 1)
    assert backend(leaf, workflow_name="same").run() == LocalWorkflow(leaf, workflow_name="x").run()


def test_decorated_code_travels_by_reference() -> None:
    """The function inside a decorated one pickles by name (issue 15, item 2)."""
    node = spin(0)
    data = dumps(node.func)
    assert b"spin" in data
    assert len(data) < 200  # a name, not the code
    assert pickle.loads(data) is node.func


def test_decorated_functions_and_classes_pickle_with_the_standard_pickle() -> None:
    """pickle.loads(pickle.dumps(module.f)) gives back the decorated function."""
    import processes_nodes

    for decorated in (processes_nodes.spin, processes_nodes.Holder):
        data = pickle.dumps(decorated)
        assert len(data) < 200
        assert pickle.loads(data) is decorated
