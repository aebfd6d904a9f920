"""Per-node remote args, actors, plugins on the worker, and the backend by name."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import ray

import functionfuse as ff
from functionfuse import workflow
from functionfuse_plugins import InitializerPlugin, PluginCollection
from functionfuse_ray import RayWorkflow

from .graphs import Counter


@workflow
def assigned() -> dict[str, float]:
    return dict(ray.get_runtime_context().get_assigned_resources())


@workflow
class Probe:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.calls: list[int] = []

    def step(self, n: int) -> tuple[int, list[int]]:
        self.calls.append(n)
        return self.pid, list(self.calls)

    def resources(self) -> dict[str, float]:
        return dict(ray.get_runtime_context().get_assigned_resources())


def test_remote_args_go_to_task_options() -> None:
    plain = assigned().set_name("plain")
    gadget = assigned().set_name("gadget")
    wf = RayWorkflow(plain, gadget, workflow_name="options")
    wf.query("gadget").set_remote_args({"num_cpus": 0, "resources": {"gadget": 1.5}})
    plain_resources, gadget_resources = wf.run(return_results=True)
    assert plain_resources == {"CPU": 1.0}
    assert gadget_resources == {"gadget": 1.5}


def test_class_node_is_an_actor_running_its_calls_in_order() -> None:
    probe = Probe().set_name("probe")
    calls = [probe.step(i) for i in range(6)]
    used = probe.resources()
    wf = RayWorkflow(*calls, used, workflow_name="actor")
    wf.query("probe").set_remote_args({"resources": {"gadget": 0.5}})
    *results, resources = wf.run(return_results=True)
    pids = {pid for pid, _ in results}
    assert len(pids) == 1
    assert os.getpid() not in pids
    assert [seen for _, seen in results] == [list(range(i + 1)) for i in range(6)]
    assert resources.get("gadget") == 0.5


def test_instance_given_as_leaf_is_returned_after_its_calls() -> None:
    probe = Probe()
    probe.step(1)
    probe.step(2)
    instance = RayWorkflow(probe, workflow_name="instance").run(return_results=True)
    assert instance.calls == [1, 2]


class Flaky:
    """Fails the first time it is called in a given folder (state in a file)."""

    def __init__(self, folder: Path) -> None:
        self.flag = os.path.join(folder, "failed-once")

    def __call__(self) -> int:
        if not os.path.exists(self.flag):
            open(self.flag, "w").close()
            raise RuntimeError("first attempt fails")
        return 7


@workflow
def flaky(attempt: Flaky) -> int:
    return attempt()


def test_retry_options(tmp_path: Path) -> None:
    wf = RayWorkflow(flaky(Flaky(tmp_path)).set_name("flaky"), workflow_name="retry")
    wf.query("flaky").set_remote_args({"max_retries": 1, "retry_exceptions": True})
    assert wf.run(return_results=True) == 7


def remember(key: str, value: str) -> None:
    # Process state that survives pickling: node functions travel by value, so a
    # module-level dict would be copied, not shared.
    os.environ[key] = value


@workflow
def read_state(key: str) -> Any:
    return os.environ.pop(key, None), os.getpid()


class Ordered:
    def __init__(self, counter: Counter, name: str) -> None:
        self.counter = counter
        self.name = name

    def __call__(self) -> None:
        self.counter.hit(f"{self.name}:{os.getpid()}")


def test_node_plugins_run_on_the_worker_before_the_node(tmp_path: Path) -> None:
    counter = Counter(tmp_path)
    first = read_state("FF_TEST_GREETING").set_name("first")
    second = read_state("FF_TEST_GREETING").set_name("second")
    wf = RayWorkflow(first, second, workflow_name="plugins")
    wf.set_plugin(
        "first",
        PluginCollection(
            [
                InitializerPlugin(Ordered(counter, "a")),
                InitializerPlugin(lambda: remember("FF_TEST_GREETING", "hello")),
                InitializerPlugin(Ordered(counter, "b")),
            ]
        ),
    )
    (value, pid), (other, _) = wf.run(return_results=True)
    assert value == "hello"
    assert pid != os.getpid()
    assert other is None  # the plugin is attached to "first" only
    with open(counter.path) as file:
        lines = file.read().split()
    assert lines == [f"a:{pid}", f"b:{pid}"]


def test_hook_plugin_initializer_runs_around_every_node(tmp_path: Path) -> None:
    counter = Counter(tmp_path)

    class Everywhere:
        @ff.hookimpl
        def functionfuse_remote_initialize(self, node_name: str) -> Any:
            return Ordered(counter, node_name)

    manager = ff.get_plugin_manager()
    plugin = Everywhere()
    manager.register(plugin)
    try:
        one = read_state("x").set_name("one")
        RayWorkflow(one, read_state("y").set_name("two"), workflow_name="w").run()
    finally:
        manager.unregister(plugin)
    assert sorted(name.split(":")[0] for name in counter.counts()) == ["one", "two"]


def test_backend_found_by_name() -> None:
    assert ff.backend("ray") is RayWorkflow
    assert RayWorkflow.backend_name == "ray"


def test_uses_the_ray_already_running() -> None:
    wf = RayWorkflow(read_state("x"), workflow_name="w", ray_init_args={"num_cpus": 64})
    assert ray.cluster_resources()["CPU"] == 2  # the session's Ray, not a new one
    wf.run()


@pytest.mark.parametrize("pending", [1, 7])
def test_results_with_bounded_tasks_in_flight(pending: int) -> None:
    from .graphs import chain, fan_in

    leaves, expected = fan_in(40)
    assert RayWorkflow(*leaves, workflow_name="fan").run(True, pending) == expected
    leaves, expected = chain(25)
    assert RayWorkflow(*leaves, workflow_name="chain").run(True, pending) == expected


@workflow
class Model:
    def __init__(self) -> None:
        self.fitted = False

    def fit(self) -> dict[str, float]:
        self.fitted = True
        return dict(ray.get_runtime_context().get_assigned_resources())


def test_actor_options_matching_class_and_methods_go_to_the_actor() -> None:
    # One pattern matches the class node and its method: the actor gets the resources,
    # the call goes without them (it runs inside the actor).
    model = Model().set_name("model")
    wf = RayWorkflow(model.fit().set_name("model_fit"), workflow_name="methods")
    wf.query("model.*").set_remote_args({"num_cpus": 1, "resources": {"gadget": 0.5}})
    assert wf.run() == {"CPU": 1.0, "gadget": 0.5}


def test_method_call_options_reach_the_call() -> None:
    model = Model().set_name("model")
    wf = RayWorkflow(model.fit().set_name("model_fit"), workflow_name="methods")
    wf.query("model_fit").set_remote_args({"max_task_retries": 1, "name": "fitting"})
    assert wf.run() == {}


def test_actor_options_on_a_method_node_alone_are_refused() -> None:
    model = Model().set_name("model")
    wf = RayWorkflow(model.fit().set_name("model_fit"), workflow_name="methods")
    wf.query("model_fit").set_remote_args({"num_cpus": 1})
    with pytest.raises(ff.ConfigurationError) as caught:
        wf.run()
    message = str(caught.value)
    assert "'model_fit'" in message
    assert "workflow 'methods'" in message
    assert "query('model')" in message  # where to set them instead
    assert "num_cpus" in message


def test_bad_option_key_is_a_configuration_error_after_in_flight_tasks(tmp_path: Path) -> None:
    counter = Counter(tmp_path)
    storage = ff.storage_factory(str(tmp_path / "store"))
    slow = slow_hit(counter).set_name("slow")
    bad = slow_hit(counter).set_name("bad")
    wf = RayWorkflow(slow, bad, workflow_name="bad_key")
    wf.set_storage(storage)
    wf.query("bad").set_remote_args({"no_such_option": 1})
    with pytest.raises(ff.ConfigurationError) as caught:
        wf.run()
    message = str(caught.value)
    assert "'bad'" in message
    assert "workflow 'bad_key'" in message
    assert "no_such_option" in message
    # The slow node, in flight when "bad" was refused, finished and was stored first.
    assert counter.counts() == {"slow": 1}
    assert storage.list_tasks("bad_key") == ["slow"]


@workflow
def slow_hit(counter: Counter) -> int:
    import time

    time.sleep(0.5)
    counter.hit("slow")
    return 1


class DriverSideFails:
    def local_initialize(self) -> None:
        raise RuntimeError("plugin broke on the driver")


def test_plugin_raising_on_the_driver_names_the_node(tmp_path: Path) -> None:
    counter = Counter(tmp_path)
    storage = ff.storage_factory(str(tmp_path / "store"))
    slow = slow_hit(counter).set_name("slow")
    other = read_state("x").set_name("other")
    wf = RayWorkflow(slow, other, workflow_name="plugin_fails")
    wf.set_storage(storage)
    wf.set_plugin("other", DriverSideFails())
    with pytest.raises(ff.NodeExecutionError) as caught:
        wf.run()
    error = caught.value
    assert error.node_name == "other"
    assert error.workflow_name == "plugin_fails"
    assert list(error.failed) == ["other"]
    assert isinstance(error.__cause__, RuntimeError)
    assert "plugin broke on the driver" in str(error)
    assert storage.list_tasks("plugin_fails") == ["slow"]
