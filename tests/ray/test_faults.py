"""Ray faults: a worker process killed during a node (SIGKILL, as the OOM killer does).

With retries left, Ray runs the node again and the workflow goes on as if nothing had
happened; once they run out, the error names the node whose worker died — also when the
failure reaches the driver through the nodes that depend on it (Ray's system errors
carry no node: the driver finds it among the failed node's ancestors).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from ray.exceptions import ObjectLostError, RayActorError, WorkerCrashedError

import functionfuse as ff
from functionfuse import NodeExecutionError, hookimpl, workflow
from functionfuse_fs import FileStorage
from functionfuse_ray import RayWorkflow
from functionfuse_ray._watch import Watcher

from .graphs import Counter, inc


def kill_this_worker() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@workflow
def die_once(marker: str, counter: Counter, x: int) -> int:
    """Kills its worker on the first attempt (which leaves ``marker``), then returns."""
    counter.hit("attempt")
    if not os.path.exists(marker):
        with open(marker, "w"):
            pass
        kill_this_worker()
    return x * 10


@workflow
def die(x: int) -> int:
    kill_this_worker()
    return x


@workflow
def join(*xs: int) -> int:
    return sum(xs)


@workflow
class Fragile:
    """Its actor dies in ``work`` while ``marker`` does not exist (and leaves it)."""

    def __init__(self, marker: str, counter: Counter) -> None:
        counter.hit("built")
        self.marker = marker
        self.counter = counter

    def work(self, x: int) -> int:
        self.counter.hit("work")
        if not os.path.exists(self.marker):
            with open(self.marker, "w"):
                pass
            kill_this_worker()
        return x + 100

    def more(self, x: int) -> int:
        return x + 1000


class SaveCounting(FileStorage):
    """A file storage that counts its saves (in ``saves.log`` next to its folder)."""

    __slots__ = ()

    def save(self, workflow_name: str, task_name: str, obj: object, **options: Any) -> None:
        Counter(os.path.dirname(self.url)).hit(f"save {task_name}")
        super().save(workflow_name, task_name, obj, **options)


class Quiet:
    """Lifecycle hooks that do nothing: with them the run watches every task."""

    @hookimpl
    def functionfuse_node_error(self, node_name: str, error: BaseException) -> None:
        pass


#: How the driver watches the run: the sinks only (results fetched or not), a bound on
#: the tasks in flight, or every task (hooks registered).
MODES = ["results", "no_results", "bounded", "hooks"]


@pytest.fixture(params=MODES)
def run_options(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    mode = request.param
    if mode != "hooks":
        yield {
            "results": {"return_results": True},
            "no_results": {"return_results": False},
            "bounded": {"return_results": True, "max_pending_tasks": 1},
        }[mode]
        return
    manager = ff.get_plugin_manager()
    quiet = Quiet()
    manager.register(quiet)
    try:
        yield {"return_results": True}
    finally:
        manager.unregister(quiet)


def failure_of(wf: RayWorkflow, options: dict[str, Any]) -> NodeExecutionError:
    with pytest.raises(NodeExecutionError) as caught:
        wf.run(**options)
    return caught.value


# -- a worker killed once: retried --------------------------------------------------------


@pytest.mark.parametrize("max_pending_tasks", [0, 1])
def test_a_worker_killed_on_its_first_attempt_is_retried(
    tmp_path: Path, max_pending_tasks: int
) -> None:
    counter = Counter(tmp_path)
    storage = SaveCounting(str(tmp_path / "store"))
    marker = str(tmp_path / "killed-once")

    def build() -> RayWorkflow:
        flaky = die_once(marker, counter, inc(1).set_name("src")).set_name("flaky")
        wf = RayWorkflow(
            inc(flaky).set_name("after"), join(flaky, 1).set_name("also"), workflow_name="faults"
        )
        wf.query("flaky").set_remote_args({"max_retries": 1})
        wf.set_storage(storage)
        return wf

    assert build().run(return_results=True, max_pending_tasks=max_pending_tasks) == [21, 21]
    assert os.path.exists(marker)
    counts = counter.counts()
    assert counts["attempt"] == 2  # killed, then retried
    assert counts["save flaky"] == 1  # the result is stored once, by the attempt that ran
    assert storage.read_task("faults", "flaky") == 20
    assert sorted(storage.list_tasks("faults")) == ["after", "also", "flaky", "src"]

    counter.clear()  # a re-run resumes: nothing runs again
    assert build().run(return_results=True) == [21, 21]
    assert counter.counts() == {}


# -- retries run out: the error names the node whose worker died ---------------------------


def check_names_die(error: NodeExecutionError) -> None:
    assert error.node_name == "die"
    assert list(error.failed) == ["die"]
    assert "node 'die' of workflow 'faults' failed on Ray with WorkerCrashedError" in str(error)
    assert isinstance(error.__cause__, WorkerCrashedError)


@pytest.mark.parametrize("run_options", ["results", "no_results"], indirect=True)
def test_a_killed_leaf_is_named(run_options: dict[str, Any]) -> None:
    wf = RayWorkflow(die(inc(1)).set_name("die"), workflow_name="faults")
    wf.query("die").set_remote_args({"max_retries": 0})
    check_names_die(failure_of(wf, run_options))


def test_a_killed_node_seen_through_its_child_is_named(run_options: dict[str, Any]) -> None:
    wf = RayWorkflow(inc(die(1).set_name("die")).set_name("after"), workflow_name="faults")
    wf.query("die").set_remote_args({"max_retries": 0})
    check_names_die(failure_of(wf, run_options))


def test_a_node_killed_on_every_attempt_is_named_once_retries_run_out() -> None:
    # Killed twice: Ray gives up after the retry; the failure shows through the child.
    wf = RayWorkflow(inc(die(1).set_name("die")).set_name("after"), workflow_name="faults")
    wf.query("die").set_remote_args({"max_retries": 1})
    check_names_die(failure_of(wf, {"return_results": True}))


@pytest.mark.parametrize("run_options", ["results", "bounded", "hooks"], indirect=True)
def test_the_killed_node_is_found_among_several_ancestors(
    run_options: dict[str, Any], tmp_path: Path
) -> None:
    # src -> ok ----------> joined -> after
    #    \-> die -> mid --/
    src = inc(0).set_name("src")
    ok = inc(src).set_name("ok")
    mid = inc(die(src).set_name("die")).set_name("mid")
    after = inc(join(ok, mid).set_name("joined")).set_name("after")
    wf = RayWorkflow(after, inc(ok).set_name("fine"), workflow_name="faults")
    wf.set_storage(ff.storage_factory(str(tmp_path / "store")))
    wf.query("die").set_remote_args({"max_retries": 0})
    check_names_die(failure_of(wf, run_options))
    stored = set(wf.storage.list_tasks("faults"))  # type: ignore[union-attr]
    assert {"src", "ok"} <= stored  # ("fine" too, unless the driver stopped submitting)
    assert not stored & {"die", "mid", "joined", "after"}


def test_a_lost_result_names_the_node_that_made_it() -> None:
    # A one-machine Ray loses no object: hand the watcher the error Ray would send.
    @ray.remote(num_returns=2)
    def made(x: int) -> tuple[int, None]:
        return x, None

    with RayWorkflow(inc(1), workflow_name="faults").start_run() as plan:
        watcher = Watcher(plan)
        refs = {name: made.remote(i) for i, name in enumerate(["a", "b"])}
        watcher.held.update({name: status for name, (_, status) in refs.items()})
        watcher.suspects = lambda name: {"a", "b"} if name == "c" else set()
        lost = ObjectLostError(refs["b"][0].hex(), None, "")
        watcher.note_failure("c", lost)
        assert list(watcher.failures) == ["b"]
        watcher.note_failure("d", lost)  # not among the suspects: where it was seen
        assert list(watcher.failures) == ["b", "d"]


# -- class nodes: the actor killed during a method call ------------------------------------

#: How the method node's failure reaches the driver: as a result, through a node that
#: depends on it, or through the next call on the same (dead) actor.
THROUGH = ["leaf", "child", "later_call"]


@pytest.mark.parametrize("run_options", ["results", "hooks"], indirect=True)
def test_class_nodes_work_while_hooks_watch_every_task(
    run_options: dict[str, Any], tmp_path: Path
) -> None:
    # With hooks registered the actor was once built holding (instance, None).
    fragile = Fragile(str(tmp_path / "marker"), Counter(tmp_path)).set_name("model")
    wf = RayWorkflow(inc(fragile.more(inc(1))), workflow_name="faults")
    assert wf.run(**run_options) == (1003 if run_options["return_results"] else None)


def test_a_killed_actor_restarts_when_the_class_node_allows_it(tmp_path: Path) -> None:
    counter = Counter(tmp_path)
    fragile = Fragile(str(tmp_path / "killed-once"), counter).set_name("model")
    worked = fragile.work(inc(1)).set_name("work")
    wf = RayWorkflow(inc(worked).set_name("after"), workflow_name="faults")
    wf.query("model").set_remote_args({"max_restarts": 1, "max_task_retries": 1})
    assert wf.run(return_results=True) == 103
    assert counter.counts() == {"built": 2, "work": 2}  # rebuilt, and the call retried


@pytest.mark.parametrize(
    ("run_options", "through"),
    [
        *[(mode, through) for mode in ("results", "hooks") for through in THROUGH],
        ("no_results", "leaf"),
        ("bounded", "later_call"),
    ],
    indirect=["run_options"],
)
def test_a_killed_actor_without_restarts_names_the_method_node(
    run_options: dict[str, Any], tmp_path: Path, through: str
) -> None:
    fragile = Fragile(str(tmp_path / "killed-once"), Counter(tmp_path)).set_name("model")
    worked = fragile.work(1).set_name("work")
    if through == "leaf":
        leaves = [worked]
    elif through == "child":
        leaves = [inc(worked).set_name("after")]
    else:  # the call after it, on the dead actor
        leaves = [fragile.more(2).set_name("later")]
    wf = RayWorkflow(*leaves, workflow_name="faults")
    error = failure_of(wf, run_options)
    assert error.node_name == "work"
    assert list(error.failed) == ["work"]
    assert isinstance(error.__cause__, RayActorError)
