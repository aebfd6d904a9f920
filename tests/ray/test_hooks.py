"""Lifecycle hooks fire on the driver as Ray results complete."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray

import functionfuse as ff
from functionfuse import NodeExecutionError, hookimpl, workflow
from functionfuse.runtime import MISSING
from functionfuse_ray import RayWorkflow

from .graphs import inc, minus


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.thread_ids: set[int] = set()

    def _note(self, *event: Any) -> None:
        self.thread_ids.add(threading.get_ident())
        self.events.append(event)

    @hookimpl
    def functionfuse_workflow_start(
        self, workflow_name: str, backend: str, node_names: Any
    ) -> None:
        self._note("start", workflow_name, backend, list(node_names))

    @hookimpl
    def functionfuse_node_start(self, node_name: str) -> None:
        self._note("node_start", node_name)

    @hookimpl
    def functionfuse_node_finish(
        self, node_name: str, result: Any, duration: float, from_storage: bool
    ) -> None:
        assert duration >= 0
        self._note("node_finish", node_name, result, from_storage)

    @hookimpl
    def functionfuse_node_error(self, node_name: str, error: BaseException) -> None:
        self._note("node_error", node_name, type(error).__name__)

    @hookimpl
    def functionfuse_workflow_finish(self, error: BaseException | None) -> None:
        self._note("finish", type(error).__name__ if error else None)

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [event for event in self.events if event[0] == kind]


@pytest.fixture
def hooks() -> Iterator[Recorder]:
    recorder = Recorder()
    manager = ff.get_plugin_manager()
    manager.register(recorder)
    yield recorder
    manager.unregister(recorder)


def test_hooks_fire_on_the_driver_with_remote_references(hooks: Recorder) -> None:
    one = minus(4, 3).set_name("one")
    zero = minus(one, 1).set_name("zero")
    assert RayWorkflow(zero, workflow_name="hooked").run(return_results=True) == 0
    assert hooks.events[0] == ("start", "hooked", "ray", ["one", "zero"])
    assert hooks.events[-1] == ("finish", None)
    assert hooks.thread_ids == {threading.get_ident()}
    assert hooks.of("node_start") == [("node_start", "one"), ("node_start", "zero")]
    finished = {event[1]: event for event in hooks.of("node_finish")}
    assert set(finished) == {"one", "zero"}
    for _, _name, result, from_storage in finished.values():
        assert isinstance(result, ray.ObjectRef)  # the result stays remote
        assert from_storage is False
    assert ray.get(finished["one"][2]) == 1
    # Each node finishes after it starts.
    assert hooks.events.index(("node_start", "one")) < hooks.events.index(finished["one"])


@workflow
def boom(x: int) -> int:
    raise ZeroDivisionError(f"boom {x}")


def test_error_hooks(hooks: Recorder) -> None:
    bad = boom(inc(1)).set_name("bad")
    wf = RayWorkflow(inc(bad).set_name("after"), workflow_name="hooked")
    with pytest.raises(NodeExecutionError):
        wf.run()
    errors = {event[1]: event[2] for event in hooks.of("node_error")}
    # The failing node, and the one that could not run because of it.
    assert errors == {"bad": "ZeroDivisionError", "after": "ZeroDivisionError"}
    assert hooks.events[-1] == ("finish", "NodeExecutionError")


def test_stored_nodes_are_reported_from_storage(hooks: Recorder, tmp_path: Path) -> None:
    def build() -> RayWorkflow:
        one = minus(4, 3).set_name("one")
        wf = RayWorkflow(minus(one, 1).set_name("zero"), workflow_name="hooked")
        wf.set_storage(str(tmp_path))
        return wf

    build().run()
    hooks.events.clear()
    assert build().run(return_results=True) == 0
    assert hooks.of("node_start") == []
    assert hooks.of("node_finish") == [
        ("node_finish", "one", MISSING, True),
        ("node_finish", "zero", MISSING, True),
    ]


def test_bounded_tasks_in_flight(hooks: Recorder) -> None:
    # A node is in flight from node_start (submission) to node_finish.
    leaves = [inc(i) for i in range(60)]
    RayWorkflow(*leaves, workflow_name="bounded").run(max_pending_tasks=4)
    running = 0
    peak = 0
    for event in hooks.events:
        if event[0] == "node_start":
            running += 1
            peak = max(peak, running)
        elif event[0] == "node_finish":
            running -= 1
    assert running == 0
    assert peak <= 4
    assert len(hooks.of("node_finish")) == 60
