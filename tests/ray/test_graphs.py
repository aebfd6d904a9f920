"""Every shared graph gives the same result on Ray as on the local backend."""

from __future__ import annotations

import os
from typing import Any

import pytest

from functionfuse import workflow
from functionfuse_local import LocalWorkflow
from functionfuse_ray import RayWorkflow

from .graphs import GRAPHS, inc


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_graph_gives_the_same_result_on_ray_and_local(name: str) -> None:
    leaves, expected = GRAPHS[name]()
    ray_result = RayWorkflow(*leaves, workflow_name=name).run(return_results=True)
    local_result = LocalWorkflow(*leaves, workflow_name=name).run()
    assert ray_result == expected
    assert local_result == expected


class DriverMustNotLoad:
    """Unpickles anywhere but in the process that made it (the test's driver)."""

    def __init__(self, driver_pid: int) -> None:
        self.driver_pid = driver_pid

    def __reduce__(self) -> Any:
        return (_load_away_from, (self.driver_pid,))


def _load_away_from(driver_pid: int) -> DriverMustNotLoad:
    if os.getpid() == driver_pid:
        raise AssertionError("a whole parent result reached the driver")
    return DriverMustNotLoad(driver_pid)


@workflow
def heavy_pair(driver_pid: int) -> tuple[DriverMustNotLoad, int]:
    return DriverMustNotLoad(driver_pid), 5


def test_items_are_selected_on_the_workers() -> None:
    pair = heavy_pair(os.getpid())
    wf = RayWorkflow(pair[1], inc(pair[1]), workflow_name="items")
    assert wf.run(return_results=True) == [5, 6]


def test_run_without_results_returns_none_and_runs_again() -> None:
    leaves, _ = GRAPHS["stateful"]()
    wf = RayWorkflow(*leaves, workflow_name="again")
    assert wf.run(return_results=False) is None
    assert wf.run() == 4  # results by default, as the local backend
