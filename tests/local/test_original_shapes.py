"""What the original Function Fuse's own test-suite checks, with only the imports mapped.

Its tests build small graphs with ``workflow``, run them with ``LocalWorkflow`` (from
``functionfuse.backends.builtin.localback``; here ``functionfuse_local``), store them
with ``storage_factory`` (``functionfuse.storage``; here ``functionfuse``) and look nodes
up with ``find_nodes``. These are tests of the same shapes, written for this suite.
"""

from __future__ import annotations

from pathlib import Path

from functionfuse import storage_factory, workflow
from functionfuse_local import LocalWorkflow


@workflow
def add(a: int, b: int) -> int:
    return a + b


@workflow
def add_pair(a: int, b: int) -> tuple[int, int]:
    return a + b, b


@workflow
def minus(a: int, b: int) -> int:
    return a - b


@workflow
class RunningSum:
    def __init__(self, start: int) -> None:
        self.start = start

    def add(self, n: int) -> int:
        self.start += n
        return self.start


def diamond() -> object:
    s1 = add(1, 1)
    s2 = add(s1, 1)
    return minus(s1, s2)


def test_a_diamond_of_default_named_nodes() -> None:
    assert LocalWorkflow(diamond(), workflow_name="first").run() == -1


def test_items_of_tuple_results() -> None:
    s1 = add_pair(1, 1)
    s2 = add_pair(s1[0], 1)
    assert LocalWorkflow(minus(s1[0], s2[0]), workflow_name="second").run() == -1


def test_file_storage_from_a_config_twice(tmp_path: Path) -> None:
    storage = storage_factory({"kind": "file", "options": {"path": str(tmp_path)}})
    for _ in range(2):
        wf = LocalWorkflow(diamond(), workflow_name="storage_test")
        wf.set_storage(storage)
        assert wf.run() == -1
    assert storage.list_tasks("storage_test") == ["add_0", "add_1", "minus_0"]


def test_a_class_node_with_named_and_unnamed_calls() -> None:
    for named in (False, True):
        one = minus(4, 3)
        running = RunningSum(start=one)
        two = minus(3, one)
        calls = [running.add(two), running.add(two), running.add(one)]
        result = minus(calls[-1], 2)
        if named:
            one.set_name("four_minus_three")
            running.set_name("RunningSum")
            two.set_name("three_minus_one")
            names = ["one_plus_two", "three_plus_two", "five_plus_one"]
            for call, name in zip(calls, names, strict=True):
                call.set_name(name)
            result.set_name("six_minus_two")
        assert LocalWorkflow(result, workflow_name="first").run() == 4


def test_find_nodes_with_the_original_patterns() -> None:
    s1 = add(1, 1).set_name("First sum")
    s2 = add(s1, 1).set_name("Second sum")
    wf = LocalWorkflow(minus(s1, s2).set_name("Single minus"), workflow_name="first")
    assert [n.get_name() for n in wf.find_nodes(r"^.*sum.*$")] == ["First sum", "Second sum"]
    assert [n.get_name() for n in wf.find_nodes(r"^.*minus.*$")] == ["Single minus"]
