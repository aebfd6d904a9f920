"""Regression tests for the review of resume by lineage, end to end on the local backend.

Each test pins one finding of the review, with a LocalWorkflow and a FileStorage in
``tmp_path``: values that crashed a run with a storage although it runs fine without
one (C1, C2, C4), a graph whose fingerprints changed when nothing did (P1), reasons
given to ``functionfuse_node_rerun`` that named the wrong cause (M1-M3, C4) and a big
argument pickled again for each use (F2). The unit side of these findings is in
``tests/core/test_fingerprint_review.py``.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from functionfuse import FunctionFuseWarning, NodeExecutionError, workflow
from functionfuse_fs import FileStorage
from functionfuse_local import LocalWorkflow

from .conftest import Reports

WORKFLOW = "review"

# -- running; the hook recorder (Reports) and the storage are in conftest.py ----------


def run(
    leaves: list[Any],
    storage: Any,
    reports: Reports | None = None,
    kept_out: tuple[str, ...] = (),
    **options: Any,
) -> Any:
    """Run a fresh LocalWorkflow over ``leaves`` on ``storage`` (reports cleared first);
    the nodes named in ``kept_out`` are not stored."""
    if reports is not None:
        reports.clear()
    wf = LocalWorkflow(*leaves, workflow_name=WORKFLOW)
    wf.set_storage(storage)
    for name in kept_out:
        wf.query(name).set_storage(False)
    return wf.run(**options)


def run_allowing_warnings(leaves: list[Any], storage: Any) -> Any:
    """:func:`run`, where a FunctionFuseWarning (a node reported as not fingerprintable)
    is allowed but no other warning is."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(leaves, storage)
    assert all(issubclass(w.category, FunctionFuseWarning) for w in caught), [
        str(w.message) for w in caught
    ]
    return result


runs: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _reset_runs() -> None:
    runs.clear()


# -- C1: unhashable callables and classes --------------------------------------------------------


@dataclasses.dataclass
class Scale:
    """A callable config object: ``eq=True`` makes it unhashable."""

    k: int

    def __call__(self, x: int) -> int:
        runs["scale"] += 1
        return x * self.k


class Meta(type):
    """A metaclass with ``__eq__`` and no ``__hash__``: its classes are unhashable."""

    def __eq__(cls, other: object) -> bool:
        return cls is other

    __hash__ = None  # type: ignore[assignment]


class Plugin(metaclass=Meta):
    pass


@workflow
def use(kind: Any) -> Any:
    runs["use"] += 1
    return kind.__name__ if isinstance(kind, type) else type(kind).__name__


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: workflow(Scale(2))(21), 42),
        (lambda: workflow(version="1")(Scale(3))(14), 42),
        (lambda: use(Plugin), "Plugin"),
    ],
    ids=["unhashable-callable", "unhashable-callable-with-version", "unhashable-class-argument"],
)
def test_unhashable_callables_and_classes_run_with_a_storage(
    storage: Any, build: Callable[[], Any], expected: Any
) -> None:
    """C1: a ``@dataclass`` instance with ``__call__`` as a node's function (with and
    without ``version=``), and a class whose metaclass defines ``__eq__`` without
    ``__hash__`` as an argument: the run with a FileStorage works as without one (the
    node may be reported as not fingerprintable, but no TypeError escapes), twice."""
    assert LocalWorkflow(build(), workflow_name=WORKFLOW).run() == expected
    assert run_allowing_warnings([build()], storage) == expected
    assert run_allowing_warnings([build()], storage) == expected


# -- C2: a raising __functionfuse_fingerprint__ ---------------------------------------------------


class Unready:
    """A value whose ``__functionfuse_fingerprint__`` raises."""

    def __functionfuse_fingerprint__(self) -> str:
        raise ValueError("no config loaded")


def test_a_raising_fingerprint_method_reports_the_node_as_not_fingerprintable(
    storage: Any, reports: Reports
) -> None:
    """C2: ``__functionfuse_fingerprint__`` raising does not crash the run: the node
    runs, with a FunctionFuseWarning and a rerun reason saying it cannot be
    fingerprinted."""
    with pytest.warns(FunctionFuseWarning, match="cannot be fingerprinted"):
        assert run([use(Unready()).set_name("unready")], storage, reports) == "Unready"
    assert runs == Counter(use=1)
    (reason,) = reports.reruns["unready"]
    assert reason.startswith("cannot be fingerprinted: ")
    assert "no config loaded" in reason


# -- C4: nodes that change their literal arguments ------------------------------------------------


@workflow
def open_it(cfg: dict[str, Any]) -> int:
    runs["open_it"] += 1
    cfg["lock"] = threading.Lock()  # e.g. caches a handle in the config it was given
    return 1


def test_a_node_leaving_something_unpicklable_in_its_argument_is_stored(
    storage: Any, reports: Reports
) -> None:
    """C4: the stamp of a node is what its arguments were when it ran, not after: a
    node that puts a lock into its literal dict argument runs, its result is stored
    and used by the next run."""
    assert run([open_it({"x": 1}).set_name("o")], storage, reports) == 1
    assert storage.list_tasks(WORKFLOW) == ["o"]
    assert run([open_it({"x": 1}).set_name("o")], storage, reports) == 1
    assert runs == Counter(open_it=1)
    assert reports.reruns == {}


def build_filler(version: str) -> list[Any]:
    """A node that fills a default into its literal argument in place (``version``: its
    ``@workflow(version=...)``)."""

    @workflow(version=version)
    def fit(cfg: dict[str, Any]) -> Any:
        runs["fit"] += 1
        cfg.setdefault("seed", 0)
        return cfg["lr"]

    return [fit({"lr": 0.1}).set_name("fit")]


def test_a_node_mutating_its_argument_then_bumped_reruns_for_its_code_only(
    storage: Any, reports: Reports
) -> None:
    """C4: a node that mutates its literal argument (``setdefault``), then has only its
    version bumped: the rerun reason is just "code changed" — the argument it was
    given did not change."""
    assert run(build_filler("1"), storage) == 0.1
    assert run(build_filler("1"), storage, reports) == 0.1
    assert runs == Counter(fit=1)
    assert run(build_filler("2"), storage, reports) == 0.1
    assert runs == Counter(fit=2)
    assert reports.reruns == {"fit": ["code changed (build_filler.<locals>.fit)"]}


# -- P1: nodes inside container subclasses --------------------------------------------------------


@workflow
def source(x: Any) -> Any:
    runs["source"] += 1
    return x


@workflow
def gather(holder: Any) -> Any:
    runs["gather"] += 1
    return dict(holder)


def test_a_node_in_an_ordereddict_resumes_in_a_second_run(storage: Any, reports: Reports) -> None:
    """P1: a node inside an OrderedDict or a defaultdict argument: the same workflow
    built and run a second time runs nothing."""

    def build() -> list[Any]:
        parent = source(1).set_name("s")
        return [
            gather(collections.OrderedDict(a=parent)).set_name("ordered"),
            gather(collections.defaultdict(list, a=parent)).set_name("default"),
        ]

    assert run(build(), storage, reports) == [{"a": 1}, {"a": 1}]
    assert runs == Counter(source=1, gather=2)
    runs.clear()
    assert run(build(), storage, reports) == [{"a": 1}, {"a": 1}]
    assert runs == Counter()
    assert reports.reruns == {}


# -- M1: which upstream changed --------------------------------------------------------------------

FAIL = {"train": False}


def build_training(version: str) -> list[Any]:
    """``train(config, data)``; ``config`` is cheap and kept out of storage, ``data``
    has ``@workflow(version=version)``; ``train`` fails while ``FAIL["train"]``."""

    @workflow
    def config() -> dict[str, float]:
        runs["config"] += 1
        return {"lr": 0.1}

    @workflow(version=version)
    def data() -> list[int]:
        runs["data"] += 1
        return [1, 2, 3]

    @workflow
    def train(cfg: dict[str, float], d: list[int]) -> float:
        runs["train"] += 1
        if FAIL["train"]:
            raise RuntimeError("GPU busy")
        return cfg["lr"] * sum(d)

    return [train(config().set_name("config"), data().set_name("data")).set_name("train")]


def test_the_reason_names_the_parent_that_changed(storage: Any, reports: Reports) -> None:
    """M1: ``data`` changed (and was stored) in a run where ``train`` failed; in the
    next run ``train`` is stale because of ``data``, not because of ``config`` (not
    stored, unchanged), and the reason names ``data`` only."""
    assert run(build_training("1"), storage, kept_out=("config",)) == pytest.approx(0.6)
    FAIL["train"] = True
    try:
        with pytest.raises(NodeExecutionError):
            run(build_training("2"), storage, kept_out=("config",))
    finally:
        FAIL["train"] = False
    assert run(build_training("2"), storage, reports, kept_out=("config",)) == pytest.approx(0.6)
    assert reports.reruns == {"train": ["upstream changed ('data')"]}


# -- M2: another method under the same node name ------------------------------------------------


@workflow
class Model:
    def __init__(self, lr: float) -> None:
        self.lr = lr

    def fit(self, x: float) -> float:
        runs["fit"] += 1
        return x * self.lr

    def predict(self, x: float) -> float:
        runs["predict"] += 1
        return x * self.lr / 2


def test_calling_another_method_under_the_same_name_is_a_code_change(
    storage: Any, reports: Reports
) -> None:
    """M2: ``m.fit(4)`` then ``m.predict(4)``, both named "fit": the node runs again
    and the reason says its code changed, not only that its upstream did."""

    def build(method: str) -> list[Any]:
        model: Any = Model(0.5)  # mypy keeps the class type of a decorated class
        model.set_name("model")
        return [model.call(method, 4).set_name("fit")]

    assert run(build("fit"), storage) == 2.0
    assert run(build("predict"), storage, reports) == 1.0
    assert runs == Counter(fit=1, predict=1)
    assert "code changed" in reports.reruns["fit"]


# -- M3: a result removed between listing and reading -----------------------------------------


class Vanishing(FileStorage):
    """A FileStorage where the result of ``vanish`` is removed by someone else after
    the run listed the stored tasks and before it read their fingerprints."""

    vanish: str | None = None

    def read_fingerprints(self, workflow_name: str, task_names: Any) -> Any:
        if self.vanish is not None and self.vanish in self.list_tasks(workflow_name):
            self.remove_task(workflow_name, self.vanish)
        return super().read_fingerprints(workflow_name, task_names)


def test_a_result_removed_before_its_fingerprint_is_read_just_runs(
    tmp_path: Path, reports: Reports
) -> None:
    """M3: a listed result that is gone when its fingerprint is read is not "stored
    without a fingerprint": the node just runs (as if it had not been listed), and its
    descendant, whose stored result still matches, is read."""
    storage = Vanishing(tmp_path / "storage")

    def build() -> list[Any]:
        return [gather({"a": source(3).set_name("a")}).set_name("b")]

    assert run(build(), storage) == {"a": 3}
    runs.clear()
    storage.vanish = "a"
    assert run(build(), storage, reports) == {"a": 3}
    assert "a" not in reports.reruns, reports.reruns
    assert runs == Counter(source=1)
    assert "a" in storage.list_tasks(WORKFLOW)


# -- F2: a big argument is pickled once per run ----------------------------------------------


class Counted:
    """A value compared by its pickle that counts how often it is pickled."""

    pickled = 0

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce__(self) -> tuple[Any, ...]:
        Counted.pickled += 1
        return (Counted, (self.data,))


def build_measure(version: str, data: Counted) -> list[Any]:
    @workflow(version=version)
    def measure(value: Counted) -> int:
        runs["measure"] += 1
        return len(value.data)

    return [measure(data).set_name("measure")]


def test_a_big_argument_is_pickled_once_per_run(storage: Any, reports: Reports) -> None:
    """F2: a run fingerprints a big argument (compared by its pickle) for the lineage,
    the stamp saved with the result and the explanation of a stale result: it is
    pickled once per run, not once for each."""
    big = Counted(b"\x01" * 5_000_000)
    Counted.pickled = 0
    assert run(build_measure("1", big), storage) == 5_000_000
    assert Counted.pickled == 1
    Counted.pickled = 0
    assert run(build_measure("2", big), storage, reports) == 5_000_000
    assert reports.reruns == {"measure": ["code changed (build_measure.<locals>.measure)"]}
    assert Counted.pickled == 1
