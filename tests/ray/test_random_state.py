"""A seeded workflow draws the same numbers on Ray as locally, run after run."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy

import functionfuse as ff
from functionfuse import workflow
from functionfuse_local import LocalWorkflow
from functionfuse_plugins import PluginCollection, RandomStatePlugin
from functionfuse_ray import RayWorkflow


@workflow
def draw(tag: str, *after: Any) -> tuple[str, float, float]:
    return tag, random.random(), float(numpy.random.random())


@workflow
class Sampler:
    def __init__(self) -> None:
        self.first = random.random()

    def sample(self) -> tuple[float, float]:
        return self.first, random.random()


def graph() -> list[Any]:
    a = draw("a").set_name("a")
    b = draw("b", a).set_name("b")
    sampler = Sampler().set_name("sampler")
    s = sampler.sample().set_name("sample")
    return [a, b, draw("c").set_name("c"), s]


def run(backend: type[ff.BaseWorkflow], plugin: Any, storage: Any = None) -> Any:
    wf = backend(*graph(), workflow_name="seeded")
    wf.set_plugin(None, plugin)
    if storage is not None:
        wf.set_storage(storage)
    if backend is RayWorkflow:
        return wf.run(return_results=True)
    return wf.run()


def test_same_numbers_on_local_and_ray_and_across_runs() -> None:
    local = run(LocalWorkflow, RandomStatePlugin(seed=7))
    plugin = RandomStatePlugin(seed=7)
    on_ray = run(RayWorkflow, plugin)
    assert on_ray == local
    assert run(RayWorkflow, plugin) == local  # the same plugin again
    by_name = ff.plugin("random_state", seed=7)
    assert run(RayWorkflow, by_name) == local
    assert run(RayWorkflow, PluginCollection([RandomStatePlugin(seed=7)])) == local
    assert run(RayWorkflow, RandomStatePlugin(seed=8)) != local


def test_resumed_workflow_keeps_every_nodes_seed(tmp_path: Path) -> None:
    storage = ff.storage_factory(str(tmp_path))
    full = run(RayWorkflow, RandomStatePlugin(seed=7), storage)
    storage.remove_task("seeded", "c")  # a node late in graph order runs again...
    # ... in a fresh process (a fresh plugin): it must get the seed it had.
    assert run(RayWorkflow, RandomStatePlugin(seed=7), storage) == full
