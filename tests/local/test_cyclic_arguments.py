"""Arguments that hold themselves or share containers, end to end on the local backend
with FileStorage: the graph builds, the nodes are fingerprinted (so a second run reads
every result back) and each function gets a copy of the shape it was given (issue 20).
"""

from __future__ import annotations

from typing import Any

from functionfuse import workflow
from functionfuse_local import LocalWorkflow

from .conftest import Reports


@workflow
def number(x: int) -> int:
    return x


@workflow
def loop_summary(loop: list[Any]) -> tuple[Any, Any, bool]:
    return loop[0], loop[1], loop[2] is loop


@workflow
def config_summary(config: dict[str, Any]) -> tuple[Any, bool]:
    return config["x"], config["self"] is config


@workflow
def depth_and_leaf(shared: list[Any]) -> tuple[int, Any, bool]:
    depth = 0
    while len(shared) == 2:
        assert shared[0] is shared[1]
        shared, depth = shared[0], depth + 1
    return depth, shared[0], True


@workflow
def echo(value: Any) -> Any:
    return value  # stored as it is: a list that holds itself


def build(tail: int) -> list[Any]:
    a = number(7).set_name("a")
    loop: list[Any] = [a, tail]
    loop.append(loop)
    config: dict[str, Any] = {"x": a}
    config["self"] = config
    shared: list[Any] = [a]
    literal: list[Any] = [tail]
    for _ in range(40):
        shared = [shared, shared]
    literal.append(literal)
    return [
        loop_summary(loop).set_name("loop"),
        config_summary(config).set_name("config"),
        depth_and_leaf(shared).set_name("shared"),
        echo(literal).set_name("literal"),
    ]


def run(leaves: list[Any], storage: Any) -> Any:
    wf = LocalWorkflow(*leaves, workflow_name="cyclic")
    wf.set_storage(storage)
    return wf.run()


def test_arguments_that_hold_themselves_run_and_resume(
    storage: Any, reports: Reports, deadline: Any
) -> None:
    with deadline(20):
        first = run(build(2), storage)
    assert first[:3] == [(7, 2, True), (7, True), (40, 7, True)]
    literal = first[3]
    assert literal[0] == 2
    assert literal[1] is literal
    assert set(reports.started) == {"a", "loop", "config", "shared", "literal"}

    reports.clear()
    with deadline(20):
        again = run(build(2), storage)  # the same graph, built again: all read back
    assert again[:3] == first[:3]
    assert again[3][1] is again[3]
    assert not reports.started

    with deadline(20):
        changed = run(build(3), storage)  # another literal inside the loops
    assert changed[0] == (7, 3, True)
    assert set(reports.started) == {"loop", "literal"}
