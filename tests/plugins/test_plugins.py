"""functionfuse-plugins: seeds, collections, initializers, creation by name (local backend)."""

from __future__ import annotations

import functools
import pickle
import random
from typing import Any

import numpy
import pytest

import functionfuse as ff
from functionfuse import ConfigurationError, workflow
from functionfuse.runtime import prepare_plugin
from functionfuse_local import LocalWorkflow
from functionfuse_plugins import (
    InitializerPlugin,
    PluginCollection,
    RandomStatePlugin,
    seed_installed_generators,
)


def seeds_given(plugin: RandomStatePlugin, names: list[str], workflow_name: str = "w") -> list[int]:
    """Drive a plugin as a backend does and report the seed each node gets."""
    node_plugin = prepare_plugin(plugin)
    seeds = []
    for name in names:
        seeder = node_plugin.initialize(workflow_name, name)
        seeds.append(seeder.seed)  # type: ignore[union-attr]
    return seeds


def test_seed_advances_by_one_per_node_and_wraps() -> None:
    plugin = RandomStatePlugin(min=5, max=8, seed=6)
    assert seeds_given(plugin, ["a", "b", "c", "d", "e"]) == [7, 8, 5, 6, 7]


def test_a_node_keeps_its_seed_when_run_again() -> None:
    plugin = RandomStatePlugin(seed=0)
    assert seeds_given(plugin, ["a", "b"]) == [1, 2]
    assert seeds_given(plugin, ["a", "b", "c"]) == [1, 2, 3]
    assert seeds_given(plugin, ["a"], workflow_name="other") == [4]


def test_original_interface_advances_on_every_call() -> None:
    plugin = RandomStatePlugin(0, 2, 1, None)
    plugin.local_initialize()
    assert plugin.remote_initialize().seed == 2  # type: ignore[attr-defined]
    plugin.local_initialize()
    assert plugin.remote_initialize().seed == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min": 3, "max": 2}, "min <= max"),
        ({"seed": 10, "max": 5}, "outside"),
        ({"seed": "0"}, "must be an int"),
        ({"seed_func": 42}, "callable"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RandomStatePlugin(**options)


@pytest.mark.parametrize(
    "seed_func",
    [
        random.seed,
        random.Random(3).seed,
        functools.partial(random.seed),
        numpy.random.RandomState(0).seed,
        numpy.random.default_rng(0).bit_generator.random_raw,
    ],
    ids=["random.seed", "Random().seed", "partial", "RandomState().seed", "bit_generator"],
)
def test_seed_func_bound_to_a_generator_is_refused(seed_func: Any) -> None:
    with pytest.raises(ConfigurationError, match="seeds a copy") as caught:
        RandomStatePlugin(seed_func=seed_func)
    assert "Leave seed_func out" in str(caught.value)


def seed_python(seed: int) -> None:
    random.seed(seed)


@pytest.mark.parametrize("seed_func", [numpy.random.seed, seed_python, lambda s: random.seed(s)])
def test_seed_funcs_that_act_on_the_worker_are_accepted(seed_func: Any) -> None:
    RandomStatePlugin(seed_func=seed_func)


def test_module_level_numpy_seed_pickles_by_reference() -> None:
    # Why numpy.random.seed is accepted: it is a module function, not a bound method of
    # a generator, so a worker that unpickles it seeds its own global generator.
    assert pickle.loads(pickle.dumps(numpy.random.seed)) is numpy.random.seed
    assert pickle.loads(pickle.dumps(random.seed)).__self__ is not random._inst  # type: ignore[attr-defined]


def test_default_seeding_seeds_random_and_numpy() -> None:
    seed_installed_generators(11)
    first = (random.random(), numpy.random.random())
    seed_installed_generators(11)
    assert (random.random(), numpy.random.random()) == first
    seed_installed_generators(2**40 + 11)  # numpy takes the seed modulo 2**32
    assert numpy.random.random() == first[1]


@workflow
def draw(tag: str) -> tuple[str, float, float]:
    return tag, random.random(), float(numpy.random.random())


def seeded_draws(plugin: Any) -> list[Any]:
    leaves = [draw(f"n{i}").set_name(f"n{i}") for i in range(4)]
    wf = LocalWorkflow(*leaves, workflow_name="draws")
    wf.set_plugin(None, plugin)
    return wf.run()  # type: ignore[no-any-return]


def test_seeded_workflow_draws_the_same_numbers_run_after_run() -> None:
    plugin = RandomStatePlugin(seed=100)
    first = seeded_draws(plugin)
    assert seeded_draws(plugin) == first  # same plugin: each node keeps its seed
    assert seeded_draws(RandomStatePlugin(seed=100)) == first  # a fresh one: same seeds
    assert seeded_draws(RandomStatePlugin(seed=200)) != first
    assert len({value for _, value, _ in first}) == 4  # every node got its own seed
    random.seed(101)
    assert first[0][1] == random.random()  # the first node was seeded with seed + 1


def test_created_by_name() -> None:
    plugin = ff.plugin("random_state", seed=100)
    assert isinstance(plugin, RandomStatePlugin)
    assert seeded_draws(plugin) == seeded_draws(RandomStatePlugin(seed=100))
    assert isinstance(ff.plugin("initializer", func=print), InitializerPlugin)
    collection = ff.plugin("collection", plugins=[plugin])
    assert isinstance(collection, PluginCollection)
    with pytest.raises(ConfigurationError, match="does not take these options"):
        ff.plugin("random_state", sed=1)


def test_collection_runs_members_in_order() -> None:
    order: list[str] = []

    class Member(ff.Plugin):
        def __init__(self, name: str) -> None:
            self.name = name

        def local_initialize(self) -> None:
            order.append(f"local {self.name}")

        def remote_initialize(self) -> Any:
            return lambda: order.append(f"remote {self.name}")

    @workflow
    def work() -> int:
        order.append("node")
        return 1

    wf = LocalWorkflow(work().set_name("work"), workflow_name="collection")
    wf.set_plugin(
        "work",
        PluginCollection(
            [Member("a"), InitializerPlugin(lambda: order.append("init")), Member("b")]
        ),
    )
    assert wf.run() == 1
    assert order == ["local a", "local b", "remote a", "init", "remote b", "node"]


def test_collection_of_original_style_plugins_by_hand() -> None:
    calls: list[str] = []

    class Old:
        def local_initialize(self) -> None:
            calls.append("local")

        def remote_initialize(self) -> Any:
            return lambda: calls.append("remote")

    collection = PluginCollection([Old(), Old()])
    collection.local_initialize()
    remote = collection.remote_initialize()
    assert remote is not None
    remote()
    assert calls == ["local", "local", "remote", "remote"]


def test_collection_members_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="not a node plugin"):
        PluginCollection([object()])
    with pytest.raises(ConfigurationError, match="list of node plugins"):
        PluginCollection("random_state")  # type: ignore[arg-type]


def test_initializer_needs_a_callable_and_pickles() -> None:
    with pytest.raises(ConfigurationError, match="callable"):
        InitializerPlugin(42)  # type: ignore[arg-type]
    remote = prepare_plugin(InitializerPlugin(print)).initialize("w", "n")
    assert pickle.loads(pickle.dumps(remote)) is print
    chained = PluginCollection([RandomStatePlugin(), RandomStatePlugin()])
    call = prepare_plugin(chained).initialize("w", "n")
    assert pickle.loads(pickle.dumps(call)).calls[1].seed == 1  # type: ignore[attr-defined]


def test_resumed_local_workflow_keeps_every_nodes_seed(tmp_path: Any) -> None:
    """Stored nodes still take their seed, so a node run again gets the one it had."""

    def run(storage: Any) -> list[Any]:
        wf = LocalWorkflow(
            *[draw(f"n{i}").set_name(f"n{i}") for i in range(4)], workflow_name="resumed"
        )
        wf.set_plugin(None, RandomStatePlugin(seed=7))  # a fresh plugin: a fresh process
        wf.set_storage(storage)
        return wf.run()  # type: ignore[no-any-return]

    storage = ff.storage_factory(str(tmp_path))
    full = run(storage)
    storage.remove_task("resumed", "n2")  # a node late in graph order runs again
    assert run(storage) == full
    # A result found corrupt when read runs again with the seed it had too.
    path = tmp_path / "resumed" / "n1"
    path.write_bytes(path.read_bytes()[:-1])  # its header intact: still a stored result
    with pytest.warns(ff.FunctionFuseWarning, match="'n1'"):
        assert run(storage) == full
