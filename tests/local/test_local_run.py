"""LocalWorkflow without storage: results, graph shapes, hooks, plugins, errors, memory."""

from __future__ import annotations

import gc
import weakref
from collections import namedtuple
from typing import Any

import pytest

import functionfuse as ff
from functionfuse import NodeExecutionError, hookimpl, workflow
from functionfuse_local import LocalWorkflow


@workflow
def minus(a: int, b: int) -> int:
    return a - b


@workflow
class IncrementalSum:
    def __init__(self, start: int) -> None:
        self.start = start

    def add(self, n: int) -> int:
        self.start += n
        return self.start


@workflow
def pair(x: int) -> tuple[int, int]:
    return x, x * 10


@workflow
def total(*items: Any, extra: Any = 0) -> int:
    def flat(value: Any) -> int:
        if isinstance(value, dict):
            return sum(flat(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return sum(flat(v) for v in value)
        return int(value)

    return flat(items) + flat(extra)


def test_stateful_graph_from_design() -> None:
    one = minus(4, 3)
    s = IncrementalSum(start=one)
    two = minus(3, one)
    s.add(two)
    s.add(two)
    six = s.add(one)
    result = minus(six, 2)
    wf = LocalWorkflow(result, workflow_name="stateful")
    assert wf.run() == 4
    assert wf.run() == 4  # a workflow runs many times; the instance is built afresh


def test_several_leaves_items_and_nested_arguments() -> None:
    p = pair(3)
    Point = namedtuple("Point", "x y")
    nested = total([p[0], (p[1], 1)], {"a": p[1]}, extra=Point(p[0], 2))
    wf = LocalWorkflow(nested, p[1], p, workflow_name="nested")
    assert wf.run() == [3 + 30 + 1 + 30 + 3 + 2, 30, (3, 30)]


def test_handing_the_first_node_runs_the_whole_graph() -> None:
    calls: list[str] = []

    @workflow
    def step(name: str, *_: Any) -> str:
        calls.append(name)
        return name

    a = step("a")
    b = step("b", a)
    step("c", b)
    assert LocalWorkflow(a, workflow_name="root").run() == "a"
    assert calls == ["a", "b", "c"]


def test_two_workflows_over_the_same_nodes() -> None:
    one = minus(4, 3)
    two = minus(3, one)
    first = LocalWorkflow(two, workflow_name="first")
    second = LocalWorkflow(one, two, workflow_name="second")
    assert first.run() == 2
    assert second.run() == [1, 2]
    assert first.run() == 2


class Hooks:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    @hookimpl
    def functionfuse_workflow_start(self, workflow_name: str, backend: str) -> None:
        self.events.append(("start", workflow_name, backend))

    @hookimpl
    def functionfuse_node_start(self, node_name: str) -> None:
        self.events.append(("node_start", node_name))

    @hookimpl
    def functionfuse_node_finish(self, node_name: str, result: Any, from_storage: bool) -> None:
        self.events.append(("node_finish", node_name, result, from_storage))

    @hookimpl
    def functionfuse_node_error(self, node_name: str, error: BaseException) -> None:
        self.events.append(("node_error", node_name, type(error).__name__))

    @hookimpl
    def functionfuse_workflow_finish(self, error: BaseException | None) -> None:
        self.events.append(("finish", type(error).__name__ if error else None))


@pytest.fixture
def hooks() -> Any:
    recorder = Hooks()
    manager = ff.get_plugin_manager()
    manager.register(recorder)
    yield recorder
    manager.unregister(recorder)


def test_lifecycle_hooks(hooks: Hooks) -> None:
    one = minus(4, 3).set_name("one")
    minus(one, 1).set_name("zero")
    LocalWorkflow(one, workflow_name="hooked").run()
    assert hooks.events == [
        ("start", "hooked", "local"),
        ("node_start", "one"),
        ("node_finish", "one", 1, False),
        ("node_start", "zero"),
        ("node_finish", "zero", 0, False),
        ("finish", None),
    ]


@workflow
def boom(x: int) -> int:
    raise ZeroDivisionError(f"boom {x}")


def test_failing_node_names_workflow_and_node(hooks: Hooks) -> None:
    one = minus(4, 3).set_name("one")
    bad = boom(one).set_name("bad")
    with pytest.raises(NodeExecutionError) as caught:
        LocalWorkflow(bad, workflow_name="failing").run()
    error = caught.value
    assert error.workflow_name == "failing"
    assert error.node_name == "bad"
    assert "'bad'" in str(error)
    assert "'failing'" in str(error)
    assert isinstance(error.__cause__, ZeroDivisionError)
    assert ("node_error", "bad", "ZeroDivisionError") in hooks.events
    assert hooks.events[-1] == ("finish", "NodeExecutionError")


def test_failing_method_and_constructor_are_named() -> None:
    @workflow
    class Fragile:
        def __init__(self, fail: bool) -> None:
            if fail:
                raise ValueError("cannot build")

        def use(self) -> int:
            raise KeyError("nope")

    with pytest.raises(NodeExecutionError, match="Fragile_0"):
        LocalWorkflow(Fragile(True), workflow_name="w").run()
    good = Fragile(False)
    with pytest.raises(NodeExecutionError, match=r"Fragile\.use_0") as caught:
        LocalWorkflow(good.use(), workflow_name="w").run()
    assert isinstance(caught.value.__cause__, KeyError)


class Blob:
    """A result that can be watched with a weak reference."""

    def __init__(self, index: int) -> None:
        self.index = index


def test_intermediate_results_are_released_as_soon_as_consumed() -> None:
    alive_during: dict[int, list[int]] = {}
    refs: dict[int, weakref.ref[Blob]] = {}

    @workflow
    def make(previous: Blob | None, index: int) -> Blob:
        gc.collect()
        alive_during[index] = sorted(i for i, ref in refs.items() if ref() is not None)
        blob = Blob(index)
        refs[index] = weakref.ref(blob)
        return blob

    node = make(None, 0)
    first = node
    for index in range(1, 8):
        node = make(node, index)
    result = LocalWorkflow(first, node, workflow_name="release").run()
    assert result[1].index == 7
    # While node i runs, only its input (i - 1) and the kept leaf 0 are alive.
    for index in range(2, 8):
        assert alive_during[index] == [0, index - 1]


def test_instance_lives_until_its_last_method_call() -> None:
    @workflow
    class Holder:
        def __init__(self) -> None:
            self.items: list[int] = []

        def push(self, x: int) -> int:
            self.items.append(x)
            return len(self.items)

    holder = Holder()
    holder.push(1)
    two = holder.push(2)
    assert LocalWorkflow(minus(two, 0), workflow_name="holder").run() == 2


@pytest.mark.parametrize("with_storage", [False, True])
def test_instance_is_released_after_its_last_call_without_consumers(
    with_storage: bool, tmp_path: Any
) -> None:
    """A model whose last call (fit) feeds nobody must not live until the run ends."""
    alive: list[weakref.ref[Any]] = []
    seen_alive: list[bool] = []

    @workflow
    class Model:
        def __init__(self) -> None:
            alive.append(weakref.ref(self))

        def fit(self, x: int) -> int:
            return x

    @workflow
    def later(x: int) -> int:
        gc.collect()
        seen_alive.append(alive[0]() is not None)
        return x

    data = minus(3, 1)
    Model().fit(data)  # the model's last call: no node uses its result
    wf = LocalWorkflow(later(data), workflow_name="release")
    if with_storage:
        wf.set_storage(str(tmp_path))
    assert wf.run() == 2
    assert seen_alive == [False]


def test_node_plugin_runs_before_the_node() -> None:
    order: list[str] = []

    class Recorder(ff.Plugin):
        def local_initialize(self) -> None:
            order.append("local")

        def remote_initialize(self) -> Any:
            return lambda: order.append("remote")

    @workflow
    def work() -> int:
        order.append("node")
        return 1

    wf = LocalWorkflow(work().set_name("work"), workflow_name="plugins")
    wf.set_plugin("work", Recorder())
    assert wf.run() == 1
    assert order == ["local", "remote", "node"]


def test_hook_plugin_initializer_runs_around_every_node() -> None:
    seen: list[str] = []

    class Everywhere:
        @hookimpl
        def functionfuse_remote_initialize(self, node_name: str) -> Any:
            return lambda: seen.append(node_name)

    manager = ff.get_plugin_manager()
    plugin = Everywhere()
    manager.register(plugin)
    try:
        one = minus(4, 3).set_name("one")
        LocalWorkflow(minus(one, 1).set_name("zero"), workflow_name="w").run()
    finally:
        manager.unregister(plugin)
    assert seen == ["one", "zero"]


def test_backend_found_by_name() -> None:
    assert ff.backend("local") is LocalWorkflow


@pytest.mark.parametrize("with_storage", [False, True])
def test_calls_made_after_the_workflow_was_built_are_not_part_of_it(
    with_storage: bool, tmp_path: Any
) -> None:
    @workflow
    class Acc:
        def __init__(self) -> None:
            self.value = 0

        def add(self, x: int) -> int:
            self.value += x
            return self.value

    acc = Acc().set_name("acc")
    first = acc.add(1).set_name("first")
    wf = LocalWorkflow(first, workflow_name="late")
    if with_storage:
        wf.set_storage(str(tmp_path))
    acc.add(2).set_name("later")  # after the workflow: not in it
    assert wf.run() == 1
    assert wf.run() == 1  # and again, from storage when there is one
    if with_storage:
        assert wf.storage is not None
        assert wf.storage.list_tasks("late") == ["first"]
