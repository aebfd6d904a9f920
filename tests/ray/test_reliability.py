"""keep_going and set_retries() on Ray (issue 6, item 5)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import functionfuse as ff
from functionfuse import ConfigurationError, NodeExecutionError, workflow
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


def test_retries_map_to_ray_and_a_flaky_task_succeeds(tmp_path: Path) -> None:
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


def test_retries_and_max_retries_together_are_refused() -> None:
    wf = RayWorkflow(source(1).set_name("a"), workflow_name="retries")
    wf.query("a").set_retries(2).set_remote_args({"max_retries": 5})
    with pytest.raises(ConfigurationError, match=r"'a'.*max_retries"):
        wf.run()
