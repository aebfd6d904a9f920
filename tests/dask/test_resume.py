"""Resuming on Dask: stored parents are read on the workers; one that turns out unusable
(damaged, gone) makes its node run again in the same run, with a warning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask_nodes as n
import pytest

import functionfuse as ff
from functionfuse_dask import DaskWorkflow


def _storage(tmp_path: Path) -> Any:
    return ff.storage_factory({"kind": "file", "options": {"path": str(tmp_path / "store")}})


def _damage(tmp_path: Path, workflow: str, node: str) -> None:
    """Flip the last byte: the header (and its fingerprint) still say "up to date", so
    the run plans to read it; the digest, checked where it is read, refuses it."""
    path = tmp_path / "store" / workflow / node
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def _pipeline(log: str, factor: int) -> Any:
    data = n.logged(log, "data", [1, 2, 3]).set_name("data")
    return n.logged(log, "scaled", [data, factor]).set_name("scaled")


def test_stored_parents_are_read_on_the_workers(dask_client: Any, tmp_path: Path) -> None:
    log = str(tmp_path / "ran.log")
    storage = _storage(tmp_path)
    wf = DaskWorkflow(_pipeline(log, 2), workflow_name="resume", client=dask_client)
    wf.set_storage(storage)
    assert wf.run() == [[1, 2, 3], 2]
    wf = DaskWorkflow(_pipeline(log, 3), workflow_name="resume", client=dask_client)
    wf.set_storage(storage)
    assert wf.run() == [[1, 2, 3], 3]
    assert n.lines(log) == ["data", "scaled", "scaled"]  # data was read, not run


def test_an_unusable_stored_parent_runs_again_in_the_same_run(
    dask_client: Any, tmp_path: Path
) -> None:
    log = str(tmp_path / "ran.log")
    storage = _storage(tmp_path)
    wf = DaskWorkflow(_pipeline(log, 2), workflow_name="resume", client=dask_client)
    wf.set_storage(storage)
    wf.run()
    _damage(tmp_path, "resume", "data")
    wf = DaskWorkflow(_pipeline(log, 3), workflow_name="resume", client=dask_client)
    wf.set_storage(storage)
    with pytest.warns(ff.FunctionFuseWarning, match="'data'.*not usable"):
        assert wf.run() == [[1, 2, 3], 3]
    assert n.lines(log) == ["data", "scaled", "data", "scaled"]
    # Stored again, whole: a third run reads it.
    wf = DaskWorkflow(_pipeline(log, 4), workflow_name="resume", client=dask_client)
    wf.set_storage(storage)
    assert wf.run() == [[1, 2, 3], 4]
    assert n.lines(log)[-1:] == ["scaled"]
    assert n.lines(log).count("data") == 2


def test_an_unusable_stored_leaf_runs_again(dask_client: Any, tmp_path: Path) -> None:
    log = str(tmp_path / "ran.log")
    storage = _storage(tmp_path)
    for expected_runs in (1, 2):
        wf = DaskWorkflow(
            n.logged(log, "leaf", 7).set_name("leaf"), workflow_name="leaf", client=dask_client
        )
        wf.set_storage(storage)
        if expected_runs == 2:
            _damage(tmp_path, "leaf", "leaf")
            with pytest.warns(ff.FunctionFuseWarning, match="not usable"):
                assert wf.run() == 7
        else:
            assert wf.run() == 7
        assert n.lines(log) == ["leaf"] * expected_runs


def test_an_unusable_method_result_replays_its_chain(dask_client: Any, tmp_path: Path) -> None:
    """A method call's result is the instance's state after the calls before it: when it
    cannot be read, a fresh instance runs the whole chain again."""
    log = str(tmp_path / "ran.log")
    storage = _storage(tmp_path)

    def graph(factor: int) -> Any:
        probe: Any = n.Probe(0)
        probe.set_name("probe")
        first = probe.add(1).set_name("first")
        probe.add(2).set_name("second")
        return n.logged(log, "use", [first, factor]).set_name("use")

    wf = DaskWorkflow(graph(1), workflow_name="chain", client=dask_client)
    wf.set_storage(storage)
    (_, value, calls), _ = wf.run()
    assert (value, calls) == (1, [1])
    _damage(tmp_path, "chain", "first")
    wf = DaskWorkflow(graph(2), workflow_name="chain", client=dask_client)
    wf.set_storage(storage)
    with pytest.warns(ff.FunctionFuseWarning, match="'first'.*not usable"):
        (_, value, calls), factor = wf.run()
    assert (value, calls, factor) == (1, [1], 2)
    assert n.lines(log) == ["use", "use"]
    assert sorted(storage.list_tasks("chain")) == ["first", "second", "use"]


def test_a_node_run_again_keeps_its_remote_args(
    dask_client: Any, worker_pids: dict[str, int], tmp_path: Path
) -> None:
    """A stored node whose result turns out unusable runs with its own remote args."""
    storage = _storage(tmp_path)
    log = str(tmp_path / "ran.log")
    for address in sorted(worker_pids):  # each worker in turn: not where it ran by chance
        name = f"kept-{address.rsplit(':', 1)[1]}"
        for factor in (1, 2):
            placed = n.where(address).set_name("placed")
            wf = DaskWorkflow(
                n.logged(log, "use", [placed, factor]).set_name("use"),
                workflow_name=name,
                client=dask_client,
            )
            wf.set_storage(storage)
            wf.query("placed").set_remote_args({"workers": [address]})
            if factor == 1:
                wf.run()
                _damage(tmp_path, name, "placed")
                continue
            with pytest.warns(ff.FunctionFuseWarning, match="'placed'.*not usable"):
                (pid, ran_on), _ = wf.run()
            assert (pid, ran_on) == (worker_pids[address], address)
