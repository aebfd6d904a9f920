"""run(keep_going=True): a failure stops only what depends on it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

import functionfuse as ff
from functionfuse import NodeExecutionError, workflow
from functionfuse_local import LocalWorkflow

runs: Counter[str] = Counter()
broken: set[str] = set()


@workflow
def step(tag: str, *inputs: int) -> int:
    runs[tag] += 1
    if tag in broken:
        raise ValueError(f"{tag} is broken")
    return len(tag) + sum(inputs)


@workflow
class Tally:
    def __init__(self, start: int) -> None:
        self.total = start

    def add(self, tag: str, x: int) -> int:
        runs[tag] += 1
        if tag in broken:
            raise ValueError(f"{tag} is broken")
        self.total += x
        return self.total


def graph() -> list[Any]:
    """a -> b -> c and a -> d -> e, f alone; a tally chain t1 -> t2 -> t3 on d."""
    a = step("a").set_name("a")
    b = step("bb", a).set_name("b")
    c = step("ccc", b).set_name("c")
    d = step("dddd", a).set_name("d")
    e = step("eeeee", d).set_name("e")
    f = step("f").set_name("f")
    tally = Tally(0).set_name("tally")
    tally.add("t1", d).set_name("t1")
    tally.add("t2", d).set_name("t2")
    t3 = tally.add("t3", d).set_name("t3")
    return [c, e, f, t3]


@pytest.fixture(autouse=True)
def fresh() -> Any:
    runs.clear()
    broken.clear()
    yield
    broken.clear()


def run(keep_going: bool, storage: Any = None) -> Any:
    wf = LocalWorkflow(*graph(), workflow_name="keep")
    if storage is not None:
        wf.set_storage(storage)
    return wf.run(keep_going=keep_going)


def test_everything_independent_of_the_failure_runs_and_is_stored(tmp_path: Any) -> None:
    storage = ff.storage_factory(str(tmp_path))
    broken.update({"bb", "t2"})
    with pytest.raises(NodeExecutionError) as caught:
        run(True, storage)
    error = caught.value
    assert sorted(error.failed) == ["b", "t2"]
    assert error.node_name == "b"
    assert isinstance(error.__cause__, ValueError)
    message = str(error)
    assert "'b' (ValueError: bb is broken)" in message
    assert "'t2' (ValueError: t2 is broken)" in message
    assert "2 node(s) that depend on them did not run" in message  # c and t3
    assert runs == Counter(a=1, bb=1, dddd=1, eeeee=1, f=1, t1=1, t2=1)
    assert storage.list_tasks("keep") == ["a", "d", "e", "f", "t1"]
    # Fixed: the next run resumes; only what failed or did not run runs now.
    broken.clear()
    runs.clear()
    assert run(False, storage) == [6, 10, 1, 15]
    assert runs == Counter(bb=1, ccc=1, t1=1, t2=1, t3=1)  # the tally chain replays


def test_without_keep_going_the_first_failure_stops_the_run() -> None:
    broken.add("bb")
    with pytest.raises(NodeExecutionError) as caught:
        run(False)
    assert list(caught.value.failed) == ["b"]
    assert "f" not in runs  # created after b: never reached


def test_keep_going_without_failures_returns_the_results() -> None:
    assert run(True) == run(False) == [6, 10, 1, 15]


def test_hooks_hear_every_failure_and_nothing_from_nodes_not_run() -> None:
    events: list[tuple[str, str]] = []

    class Recorder:
        @ff.hookimpl
        def functionfuse_node_start(self, node_name: str) -> None:
            events.append(("start", node_name))

        @ff.hookimpl
        def functionfuse_node_error(self, node_name: str) -> None:
            events.append(("error", node_name))

    recorder = Recorder()
    ff.get_plugin_manager().register(recorder)
    try:
        broken.update({"a"})
        with pytest.raises(NodeExecutionError) as caught:
            run(True)
    finally:
        ff.get_plugin_manager().unregister(recorder)
    assert list(caught.value.failed) == ["a"]
    assert ("error", "a") in events
    started = {name for kind, name in events if kind == "start"}
    assert started == {"a", "f", "tally"}  # all else waits on a
