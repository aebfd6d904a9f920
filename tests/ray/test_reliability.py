"""keep_going and set_retries() on Ray (issue 6, item 5)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import functionfuse as ff
from functionfuse import NodeExecutionError, workflow
from functionfuse_ray import RayWorkflow


@workflow
def source(x: int) -> int:
    return x


@workflow
def broken(x: int) -> int:
    raise ValueError(f"broken at {x}")


@workflow
def plus(x: int, y: int) -> int:
    return x + y


@workflow
def flaky(marker: str, kind: str) -> str:
    """Raises on its first attempt (creating the marker), succeeds on the next."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise {"os": OSError, "value": ValueError}[kind]("first attempt fails")
    return "ok"


def failing_graph() -> list[Any]:
    a = source(1).set_name("a")
    b = broken(a).set_name("b")
    c = plus(b, a).set_name("c")  # waits on the failure
    d = plus(a, 10).set_name("d")  # independent of it
    e = plus(d, 100).set_name("e")
    return [c, e]


@pytest.mark.parametrize("max_pending_tasks", [0, 2])
def test_keep_going_runs_and_stores_what_does_not_depend_on_the_failure(
    tmp_path: Path, max_pending_tasks: int
) -> None:
    storage = ff.storage_factory(str(tmp_path))
    wf = RayWorkflow(*failing_graph(), workflow_name="keep")
    wf.set_storage(storage)
    with pytest.raises(NodeExecutionError) as caught:
        wf.run(keep_going=True, max_pending_tasks=max_pending_tasks)
    assert list(caught.value.failed) == ["b"]
    assert sorted(storage.list_tasks("keep")) == ["a", "d", "e"]


class Retried:
    def __init__(self) -> None:
        self.events: list[tuple[str, int, str, float]] = []

    @ff.hookimpl
    def functionfuse_node_retry(
        self, node_name: str, attempt: int, error: BaseException, delay: float
    ) -> None:
        self.events.append((node_name, attempt, type(error).__name__, delay))


@pytest.fixture
def retried() -> Any:
    recorder = Retried()
    ff.get_plugin_manager().register(recorder)
    yield recorder
    ff.get_plugin_manager().unregister(recorder)


@workflow
def failing_twice(folder: str) -> str:
    """Raises on its first two attempts (counted in files), succeeds on the third."""
    done = len(os.listdir(folder))
    open(os.path.join(folder, str(done)), "w").close()
    if done < 2:
        raise OSError(f"attempt {done + 1} fails")
    return f"ok after {done + 1}"


@workflow
class Flaky:
    def __init__(self, folder: str) -> None:
        self.folder = folder

    def fetch(self) -> str:
        return failing_twice.__wrapped__(self.folder)


def test_a_flaky_task_is_retried_on_its_worker_and_each_retry_is_reported(
    tmp_path: Path, retried: Retried
) -> None:
    wf = RayWorkflow(failing_twice(str(tmp_path)).set_name("flaky"), workflow_name="retries")
    wf.query("flaky").set_retries(3, exceptions=["OSError"], delay=0.01)
    assert wf.run() == "ok after 3"
    assert retried.events == [("flaky", 1, "OSError", 0.01), ("flaky", 2, "OSError", 0.01)]


def test_retries_that_run_out_report_every_attempt_but_the_last(
    tmp_path: Path, retried: Retried
) -> None:
    wf = RayWorkflow(failing_twice(str(tmp_path)).set_name("flaky"), workflow_name="retries")
    wf.query("flaky").set_retries(2, exceptions=[OSError])
    with pytest.raises(NodeExecutionError, match="attempt 2 fails") as caught:
        wf.run()
    assert list(caught.value.failed) == ["flaky"]
    assert retried.events == [("flaky", 1, "OSError", 0.0)]


def test_a_method_call_is_retried_on_its_actor(tmp_path: Path, retried: Retried) -> None:
    call = Flaky(str(tmp_path)).set_name("client").fetch().set_name("call")
    wf = RayWorkflow(call, workflow_name="retries")
    wf.query("call").set_retries(3)
    assert wf.run() == "ok after 3"
    assert [event[:2] for event in retried.events] == [("call", 1), ("call", 2)]


def test_retries_without_a_hook_listening(tmp_path: Path) -> None:
    node = flaky(str(tmp_path / "marker"), "os").set_name("flaky")
    wf = RayWorkflow(node, workflow_name="retries")
    wf.query("flaky").set_retries(2, exceptions=["OSError"])
    assert wf.run() == "ok"


def test_exceptions_not_listed_are_not_retried(tmp_path: Path) -> None:
    node = flaky(str(tmp_path / "marker"), "value").set_name("flaky")
    wf = RayWorkflow(node, workflow_name="retries")
    wf.query("flaky").set_retries(3, exceptions=[OSError])
    with pytest.raises(NodeExecutionError, match="first attempt fails"):
        wf.run()
