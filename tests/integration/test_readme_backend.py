"""The README's complete backend (``SerialWorkflow``) works as the README says.

The code is taken from the README itself, so the page cannot drift from what runs: it
must give the local backend's results, resume from storage, retry, keep going, run a
damaged stored result again, and replay a class chain — all through the core's plan.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import functionfuse as ff
from functionfuse import NodeExecutionError, workflow
from functionfuse_local import LocalWorkflow

README = Path(__file__).resolve().parents[2] / "README.md"


def _serial_backend() -> Any:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"```python\n(import time\n.*?class SerialWorkflow.*?)```", text, re.S)
    assert found, "the README shows SerialWorkflow"
    namespace: dict[str, Any] = {}
    exec(compile(found.group(1), str(README), "exec"), namespace)
    return namespace["SerialWorkflow"]


Serial = _serial_backend()
calls: Counter[str] = Counter()
failures: Counter[str] = Counter()


@workflow
def load(n: int) -> list[int]:
    calls["load"] += 1
    return list(range(n))


@workflow
def split(xs: list[int]) -> tuple[list[int], list[int]]:
    calls["split"] += 1
    return xs[::2], xs[1::2]


@workflow
def flaky(xs: list[int]) -> int:
    calls["flaky"] += 1
    if failures["flaky"] < 1:
        failures["flaky"] += 1
        raise OSError("once")
    return sum(xs)


@workflow
def broken(xs: list[int]) -> int:
    raise ValueError("always")


@workflow
class Model:
    def __init__(self, w: int) -> None:
        calls["Model"] += 1
        self.w = w

    def fit(self, xs: list[int]) -> int:
        calls["fit"] += 1
        self.w += sum(xs)
        return self.w

    def predict(self, x: int) -> int:
        calls["predict"] += 1
        return self.w * x


def graph() -> list[Any]:
    parts = split(load(6).set_name("load")).set_name("split")
    model = Model(1).set_name("model")
    model.fit(parts[0]).set_name("fit")
    predict = model.predict(2).set_name("predict")
    total = flaky({"odd": parts[1]}["odd"]).set_name("flaky")
    return [predict, total, parts[1]]


def run(backend: Any, storage: Any = None, **options: Any) -> Any:
    wf = backend(*graph(), workflow_name="readme")
    wf.query("flaky").set_retries(2, OSError)
    if storage is not None:
        wf.set_storage(storage)
    calls.clear()
    failures.clear()
    return wf.run(**options)


def test_same_results_as_the_local_backend() -> None:
    assert run(Serial) == run(LocalWorkflow) == [14, 9, [1, 3, 5]]


def test_resumes_and_replays_a_class_chain(tmp_path: Path) -> None:
    storage = ff.storage_factory(str(tmp_path / "store"))
    assert run(Serial, storage) == [14, 9, [1, 3, 5]]
    assert run(Serial, storage) == [14, 9, [1, 3, 5]]
    assert calls == Counter()  # everything from storage
    # A damaged method result: warned about, its chain replayed, nothing else runs.
    path = tmp_path / "store" / "readme" / "predict"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.warns(ff.FunctionFuseWarning, match="'predict'"):
        assert run(Serial, storage) == [14, 9, [1, 3, 5]]
    assert calls == Counter(Model=1, fit=1, predict=1)


def test_keep_going_runs_everything_else(tmp_path: Path) -> None:
    storage = ff.storage_factory(str(tmp_path / "store"))
    wf = Serial(broken(load(3).set_name("load")).set_name("broken"), load(4), workflow_name="k")
    wf.set_storage(storage)
    with pytest.raises(NodeExecutionError, match=r"1 node\(s\) of workflow 'k' failed") as caught:
        wf.run(keep_going=True)
    assert sorted(caught.value.failed) == ["broken"]
    assert storage.list_tasks("k") == ["load", "load_0"]
