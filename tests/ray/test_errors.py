"""A failing node: an error naming workflow and node, the remote traceback, nothing lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import functionfuse as ff
from functionfuse import NodeExecutionError, workflow
from functionfuse_ray import RayWorkflow, UnpicklableNodeError

from .graphs import Counter, inc


class Boom(ValueError):
    pass


@workflow
def fail(x: int) -> int:
    raise Boom(f"bad input {x}")


@workflow
def slow_ok(counter: Counter, x: int) -> int:
    import time

    time.sleep(0.5)
    counter.hit("slow_ok")
    return x


@workflow
def join(*xs: Any) -> int:
    return len(xs)


def test_error_names_workflow_and_node_with_remote_traceback() -> None:
    bad = fail(inc(1)).set_name("bad")
    wf = RayWorkflow(inc(bad), workflow_name="errors")
    with pytest.raises(NodeExecutionError) as caught:
        wf.run(return_results=True)
    error = caught.value
    assert error.workflow_name == "errors"
    assert error.node_name == "bad"  # the failing node, not the leaf that reported it
    assert list(error.failed) == ["bad"]
    message = str(error)
    assert "node 'bad' of workflow 'errors'" in message
    assert "Boom" in message
    assert "bad input 2" in message
    assert "raise Boom" in message  # the remote traceback's source line
    assert isinstance(error.__cause__, Boom)


@pytest.mark.parametrize("options", [{}, {"max_pending_tasks": 2}])
def test_error_is_raised_without_fetching_results(options: dict[str, Any]) -> None:
    bad = fail(1).set_name("bad")
    wf = RayWorkflow(inc(inc(bad)), inc(5), workflow_name="errors")
    with pytest.raises(NodeExecutionError, match="node 'bad'"):
        wf.run(**options)


def test_a_failure_off_the_leaves_path_is_reported() -> None:
    ok = inc(1)
    fail(ok).set_name("dead_end")  # nobody consumes it and it is not a leaf
    wf = RayWorkflow(inc(ok), workflow_name="errors")
    with pytest.raises(NodeExecutionError, match="'dead_end'"):
        wf.run(return_results=True)


def test_finished_nodes_are_stored_and_the_run_resumes(tmp_path: Path) -> None:
    counter = Counter(tmp_path)
    storage = ff.storage_factory(str(tmp_path / "store"))

    def build(broken: bool) -> RayWorkflow:
        slow = slow_ok(counter, 1).set_name("slow")
        first = (fail(0) if broken else inc(0)).set_name("first")
        leaf = join(slow, first).set_name("leaf")
        wf = RayWorkflow(leaf, workflow_name="stored")
        wf.set_storage(storage)
        return wf

    with pytest.raises(NodeExecutionError, match="'first'"):
        build(broken=True).run()
    # "first" failed at once, but the run waited for the slow branch and its save.
    assert counter.counts() == {"slow_ok": 1}
    assert sorted(storage.list_tasks("stored")) == ["slow"]
    assert build(broken=False).run(return_results=True) == 2
    assert counter.counts() == {"slow_ok": 1}


@workflow
class Fragile:
    def __init__(self, fail_in_init: bool) -> None:
        if fail_in_init:
            raise Boom("constructor")

    def method(self, fail_here: bool) -> int:
        if fail_here:
            raise Boom("method")
        return 1


@pytest.mark.parametrize(
    ("fail_in_init", "fail_in_method", "expected"),
    [(True, False, "model"), (False, True, "call_1")],
)
def test_failing_constructor_and_method_are_named(
    fail_in_init: bool, fail_in_method: bool, expected: str
) -> None:
    model = Fragile(fail_in_init).set_name("model")
    model.method(False).set_name("call_0")
    last = model.method(fail_in_method).set_name("call_1")
    after = model.method(False).set_name("call_2")
    wf = RayWorkflow(inc(last), after, workflow_name="actors")
    with pytest.raises(NodeExecutionError) as caught:
        wf.run(return_results=True)
    assert caught.value.node_name == expected
    assert "Boom" in str(caught.value)
    assert isinstance(caught.value.__cause__, Boom)


class Unpicklable:
    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle this")


@workflow
def make_unpicklable() -> Any:
    return Unpicklable()


def test_unserialisable_result_fails_its_node(tmp_path: Path) -> None:
    storage = ff.storage_factory(str(tmp_path / "store"))
    wf = RayWorkflow(make_unpicklable().set_name("odd"), workflow_name="odd")
    wf.set_storage(storage)
    with pytest.raises(NodeExecutionError, match="'odd'"):
        wf.run()
    assert storage.list_tasks("odd") == []


def test_bad_options_are_configuration_errors() -> None:
    wf = RayWorkflow(inc(1), workflow_name="options")
    with pytest.raises(ff.ConfigurationError, match="max_pending_tasks"):
        wf.run(max_pending_tasks=-1)
    with pytest.raises(ff.ConfigurationError, match="ray_init_args"):
        RayWorkflow(inc(1), workflow_name="options", ray_init_args="auto")  # type: ignore[arg-type]
    with pytest.raises(ff.ConfigurationError, match="storage_resource"):
        RayWorkflow(inc(1), workflow_name="options", storage_resource="")


@workflow
class Tally:
    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.total = 0

    def add(self, n: int) -> int:
        self.counter.hit(f"add {n}")
        self.total += n
        return self.total


def test_calls_after_a_failed_call_do_not_run_or_store(tmp_path: Path) -> None:
    # The second call never runs (its argument failed); the third must not run on an
    # instance that lacks the second call's change, nor store a wrong total.
    counter = Counter(tmp_path)
    storage = ff.storage_factory(str(tmp_path / "store"))
    tally = Tally(counter).set_name("tally")
    tally.add(1).set_name("add_1")
    tally.add(fail(2)).set_name("add_bad")
    last = tally.add(3).set_name("add_3")
    wf = RayWorkflow(last, workflow_name="chain")
    wf.set_storage(storage)
    with pytest.raises(NodeExecutionError) as caught:
        wf.run(return_results=True)
    assert caught.value.node_name == "fail_0"
    assert counter.counts() == {"add 1": 1}
    assert sorted(storage.list_tasks("chain")) == ["add_1"]


@workflow
def boom(x: int) -> int:
    raise ValueError(f"boom {x}")


@workflow
class Holder:
    def __init__(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value


@pytest.mark.parametrize("watched", [False, True])
def test_failing_parent_of_a_class_node_is_named(watched: bool) -> None:
    # The class node's constructor never runs: the parent that raised is the culprit,
    # as on the local backend, with its own exception.
    from functionfuse_local import LocalWorkflow

    def build() -> Any:
        parent = boom(1).set_name("parent")
        return Holder(parent).set_name("the_class").get().set_name("get")

    with pytest.raises(NodeExecutionError) as local:
        LocalWorkflow(build(), workflow_name="class_parent").run()
    assert local.value.node_name == "parent"

    class Listener:
        @ff.hookimpl
        def functionfuse_node_error(self, node_name: str) -> None:
            pass

    manager = ff.get_plugin_manager()
    listener = Listener()
    if watched:
        manager.register(listener)
    try:
        with pytest.raises(NodeExecutionError) as caught:
            RayWorkflow(build(), workflow_name="class_parent").run()
    finally:
        if watched:
            manager.unregister(listener)
    error = caught.value
    assert error.node_name == "parent"
    assert list(error.failed) == ["parent"]
    assert "node 'parent' of workflow 'class_parent' failed on Ray with ValueError" in str(error)
    assert "boom 1" in str(error)
    assert isinstance(error.__cause__, ValueError)


class TwoPartError(Exception):
    """Pickles, but cannot be unpickled: its args hold one value, __init__ wants two."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"{what} failed because {why}")


@workflow
def odd_failure(x: int) -> int:
    raise TwoPartError("odd_failure", f"x is {x}")


def test_exception_that_cannot_be_unpickled_names_its_node() -> None:
    culprit = odd_failure(inc(1)).set_name("culprit")
    wf = RayWorkflow(inc(culprit).set_name("last"), workflow_name="odd_errors")
    with pytest.raises(NodeExecutionError) as caught:
        wf.run()
    error = caught.value
    assert error.node_name == "culprit"
    assert list(error.failed) == ["culprit"]
    message = str(error)
    assert "failed on Ray with TwoPartError" in message
    assert "odd_failure failed because x is 2" in message
    assert "raise TwoPartError" in message  # the remote traceback
    assert isinstance(error.__cause__, UnpicklableNodeError)
    assert error.__cause__.type_name.endswith("test_errors.TwoPartError")
    assert error.__cause__.message == "odd_failure failed because x is 2"
