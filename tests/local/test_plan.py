"""``functionfuse.lineage.plan(wf)``: what a run would do, without running anything.

The plan says for each node whether it would run, and why, exactly as the run that
follows it does: the same nodes start, and the ``functionfuse_node_rerun`` hook hears
the same reasons. Making it runs nothing, calls no hook, reads no result and writes
nothing to storage.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import functionfuse as ff
from functionfuse import workflow
from functionfuse.lineage import Plan, plan
from functionfuse_fs import FileStorage
from functionfuse_local import LocalWorkflow

from .conftest import Reports

calls: Counter[str] = Counter()


@workflow
def load(n: int) -> list[int]:
    calls["load"] += 1
    return list(range(n))


@workflow
def total(xs: list[int], k: int) -> int:
    calls["total"] += 1
    return sum(xs) * k


@workflow
def hold(xs: list[int], lock: Any) -> list[int]:
    return xs


@workflow
class Model:
    def __init__(self, lr: float) -> None:
        calls["Model"] += 1
        self.lr = lr
        self.w = 0

    def fit(self, x: int) -> int:
        calls["fit"] += 1
        self.w = x
        return x

    def predict(self, x: int) -> float:
        calls["predict"] += 1
        return self.w * x * self.lr


def build(k: int = 2, x: int = 3, lr: float = 0.5, extra: Any = None) -> list[Any]:
    data = load(4).set_name("data")
    summed = total(data, k).set_name("total")
    model = Model(lr).set_name("model")
    model.fit(summed).set_name("fit")
    leaves = [summed, model.predict(x).set_name("predict")]
    if extra is not None:
        leaves.append(total(data, extra).set_name("extra"))
    return leaves


def workflow_of(storage: Any, **arguments: Any) -> LocalWorkflow:
    wf = LocalWorkflow(*build(**arguments), workflow_name="plan")
    if storage is not None:
        wf.set_storage(storage)
    return wf


def lines(found: Plan) -> list[str]:
    return str(found).splitlines()


def check_against_a_run(found: Plan, wf: LocalWorkflow, reports: Reports) -> None:
    """The run does what the plan said: the nodes it said would run start, and each
    rerun has the reasons it gave."""
    reports.clear()
    wf.run()
    assert sorted(reports.started) == sorted(found.would_run)
    for name, reasons in reports.reruns.items():
        assert list(found[name].reasons) == reasons, name


def test_without_a_storage_everything_would_run() -> None:
    found = plan(workflow_of(None))
    assert found.would_run == ["data", "total", "model", "fit", "predict"]
    assert all(node.reasons == ("no storage",) for node in found.nodes)
    assert found.mode == "fingerprint"


def test_a_plan_runs_nothing_calls_no_hook_and_writes_nothing(
    tmp_path: Path, reports: Reports
) -> None:
    calls.clear()
    storage = FileStorage(str(tmp_path / "store"))
    found = plan(workflow_of(storage))
    assert lines(found) == [
        "would run   data: not stored",
        "would run   total: not stored",
        "would run   model: builds the instance for 'fit', 'predict'",
        "would run   fit: not stored",
        "would run   predict: not stored",
        "5 of 5 nodes would run.",
    ]
    assert calls == Counter()
    assert reports.started == Counter()
    assert reports.reruns == {}
    assert not (tmp_path / "store").exists()  # no workflow folder made


def test_the_plan_of_each_change_is_what_the_run_then_does(storage: Any, reports: Reports) -> None:
    workflow_of(storage).run()
    found = plan(workflow_of(storage))
    assert found.would_run == []
    assert lines(found)[-1] == "Nothing would run: every stored result is up to date."

    for arguments, expected in [
        (
            {"k": 3},
            [
                "up to date  data",
                "would run   total: argument 'k' changed",
                "would run   model: builds the instance for 'fit', 'predict'",
                "would run   fit: upstream changed ('total')",
                "would run   predict: upstream changed ('fit')",
                "4 of 5 nodes would run.",
            ],
        ),
        (
            {"k": 3, "x": 4},
            [
                "up to date  data",
                "up to date  total",
                "would run   model: builds the instance for 'fit', 'predict'",
                "would run   fit: replayed on its instance 'model' for 'predict'",
                "would run   predict: argument 'x' changed",
                "3 of 5 nodes would run.",
            ],
        ),
        (
            {"k": 3, "x": 4, "lr": 0.25, "extra": 5},
            [
                "up to date  data",
                "up to date  total",
                "would run   model: builds the instance for 'fit', 'predict'",
                "would run   fit: upstream changed ('model')",
                "would run   predict: upstream changed ('fit')",
                "would run   extra: not stored",
                "4 of 6 nodes would run.",
            ],
        ),
    ]:
        found = plan(workflow_of(storage, **arguments))
        assert lines(found) == expected
        check_against_a_run(found, workflow_of(storage, **arguments), reports)
    assert plan(workflow_of(storage, k=3, x=4, lr=0.25, extra=5)).would_run == []


def test_resume_modes_and_nodes_kept_out_of_storage(storage: Any) -> None:
    workflow_of(storage).run()
    assert plan(workflow_of(storage), resume=False).would_run == [
        "data",
        "total",
        "model",
        "fit",
        "predict",
    ]
    assert plan(workflow_of(storage), resume=False)["data"].reasons == ("resume is off",)
    stale = workflow_of(storage, k=5)
    assert plan(stale, resume="name").would_run == []
    stale.resume = "name"
    assert plan(stale).mode == "name"
    assert plan(stale).would_run == []
    kept_out = workflow_of(storage)
    kept_out.query("data").set_storage(False)
    found = plan(kept_out)
    assert found.would_run == ["data"]
    assert found["data"].reasons == ("kept out of storage",)
    assert found["data"].causes == (None,)


def test_an_unfingerprintable_node_would_run_every_time_without_a_warning(
    storage: Any,
) -> None:
    """The plan lists it with its reason (pytest makes a FunctionFuseWarning an error)."""
    wf = LocalWorkflow(hold(load(2), threading.Lock()).set_name("locked"), workflow_name="lk")
    wf.set_storage(storage)
    with pytest.warns(ff.FunctionFuseWarning):
        wf.run()
    found = plan(wf)
    assert found.would_run == ["locked"]
    (reason,) = found["locked"].reasons
    assert reason.startswith("cannot be fingerprinted: ")
    assert found["locked"].causes == (ff.RerunReason.UNFINGERPRINTABLE,)


def test_a_plan_reads_headers_not_results(tmp_path: Path) -> None:
    class Counting(FileStorage):
        reads = 0

        def read_task(self, *args: Any, **kwargs: Any) -> Any:
            Counting.reads += 1
            return super().read_task(*args, **kwargs)

    storage = Counting(str(tmp_path / "store"))
    workflow_of(storage).run()
    Counting.reads = 0
    assert plan(workflow_of(storage, k=7)).would_run == ["total", "model", "fit", "predict"]
    assert Counting.reads == 0
