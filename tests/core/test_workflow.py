"""BaseWorkflow: construction, traversal, names, node selection and settings."""

from __future__ import annotations

import re
from typing import Any

import pytest

from functionfuse import (
    BaseWorkflow,
    ConfigurationError,
    FunctionFuseWarning,
    GraphError,
    Plugin,
    Query,
    workflow,
)
from functionfuse.runtime import PLUGIN, REMOTE_ARGS, STORAGE, Node, NodePlugin


@workflow
def load(n: int) -> list[int]:
    return list(range(n))


@workflow
def scale(data: list[int], factor: int) -> list[int]:
    return [x * factor for x in data]


@workflow
def total(*parts: list[int]) -> int:
    return sum(sum(p) for p in parts)


class Graph(BaseWorkflow):
    """A trivial backend: runs nothing, counts runs."""

    runs = 0

    def run(self, **options: Any) -> Any:
        self.runs += 1
        return self.runs


def pipeline() -> Node:
    data = load(10).set_name("data")
    clean = scale(data, 1).set_name("data_clean")
    double = scale(clean, 2).set_name("double")
    return total(clean, double).set_name("total")


class Recorder(Plugin):
    def __init__(self) -> None:
        self.calls = 0

    def local_initialize(self) -> None:
        self.calls += 1


# -- construction -------------------------------------------------------------------------


def test_duplicate_names_are_rejected_naming_them() -> None:
    a = load(1).set_name("same")
    b = scale(a, 2).set_name("same")
    c = scale(b, 3).set_name("other")
    with pytest.raises(GraphError, match="several nodes named 'same'") as info:
        Graph(c, workflow_name="dup")
    assert "set_name()" in str(info.value)
    assert "'dup'" in str(info.value)


def test_a_name_given_twice_across_leaves_is_rejected() -> None:
    a = load(1).set_name("x")
    b = load(2).set_name("x")
    Graph(a, workflow_name="one graph")  # each alone is fine
    with pytest.raises(GraphError, match="'x'"):
        Graph(a, b, workflow_name="two graphs")


def test_a_given_name_clashing_with_a_default_name_is_rejected() -> None:
    a = load(1).set_name("load_0")
    b = load(2)
    with pytest.raises(GraphError, match="'load_0'"):
        Graph(total(a, b), workflow_name="clash")


@pytest.mark.parametrize("name", ["", None])
def test_workflow_name_is_required(name: Any) -> None:
    with pytest.raises(ConfigurationError, match="workflow_name"):
        Graph(load(1), workflow_name=name)


def test_workflow_needs_nodes() -> None:
    with pytest.raises(GraphError, match="no nodes"):
        Graph(workflow_name="empty")
    with pytest.raises(GraphError, match="not a workflow node"):
        Graph(load(1), 3, workflow_name="bad")  # type: ignore[arg-type]


def test_abstract_run() -> None:
    class NoRun(BaseWorkflow):
        pass

    with pytest.raises(TypeError, match="abstract"):
        NoRun(load(1), workflow_name="x")  # type: ignore[abstract]


# -- traversal ----------------------------------------------------------------------------


def test_traversal_is_stable_and_does_not_change_the_graph() -> None:
    leaf = pipeline()
    wf = Graph(leaf, workflow_name="wf")
    nodes = wf.nodes
    snapshot = [(n.parents, list(n.children), n.name, n.args, n.kwargs) for n in nodes]
    orders = [list(wf.graph_traversal()) for _ in range(5)]
    assert all(order == orders[0] for order in orders)
    assert [name for name, _ in orders[0]] == ["data", "data_clean", "double", "total"]
    assert [wf.run(), wf.run()] == [1, 2]
    assert [(n.parents, list(n.children), n.name, n.args, n.kwargs) for n in nodes] == (snapshot)
    again = Graph(leaf, workflow_name="wf")
    assert list(again.graph_traversal()) == orders[0]


def test_two_workflows_over_the_same_nodes_keep_their_own_settings() -> None:
    leaf = pipeline()
    first = Graph(leaf, workflow_name="first")
    second = Graph(leaf.parents[0], workflow_name="second")
    assert first.nodes == second.nodes
    first.query("data.*").set_remote_args({"num_cpus": 2})
    first.set_plugin("total", Recorder())
    for node in second.nodes:
        assert second.settings(node) is None
    assert first.settings(leaf) is not None
    assert PLUGIN in first.settings(leaf)
    assert leaf.backend_info == {}  # the node itself is not changed


def test_node_backend_info_is_seen_by_every_workflow_and_overlaid() -> None:
    leaf = pipeline()
    leaf.set_backend_info(REMOTE_ARGS, {"num_gpus": 1})
    leaf.backend_info["custom"] = "kept"
    first = Graph(leaf, workflow_name="first")
    second = Graph(leaf, workflow_name="second")
    first.query("total").set_remote_args({"num_cpus": 4})
    assert first.settings(leaf) == {REMOTE_ARGS: {"num_cpus": 4}, "custom": "kept"}
    assert second.settings(leaf) == {REMOTE_ARGS: {"num_gpus": 1}, "custom": "kept"}


def test_several_leaves_and_node_items() -> None:
    data = load(4).set_name("data")
    parts = scale(data, 1).set_name("parts")
    wf = Graph(parts[1], data, workflow_name="items")
    values = {data: [0, 1, 2, 3], parts: ["a", "b"]}
    assert wf.collect_results(values.__getitem__) == ["b", [0, 1, 2, 3]]
    single = Graph(parts, workflow_name="single")
    assert single.collect_results(values.__getitem__) == ["a", "b"]


def test_name_of() -> None:
    leaf = pipeline()
    wf = Graph(leaf, workflow_name="wf")
    assert wf.name_of(leaf) == "total"
    assert wf.name_of(leaf.parents[0]) == "data_clean"
    with pytest.raises(GraphError, match="not part of workflow 'wf'"):
        wf.name_of(load(1))


# -- find_nodes and query -----------------------------------------------------------------


def test_find_nodes_full_match() -> None:
    wf = Graph(pipeline(), workflow_name="wf")

    def names(pattern: str | None) -> list[str]:
        return [wf.name_of(n) for n in wf.find_nodes(pattern)]

    assert names(None) == ["data", "data_clean", "double", "total"]
    assert names("data") == ["data"]  # not data_clean: a full match
    assert names("data.*") == ["data", "data_clean"]
    assert names("ata") == []  # not a search either
    assert names("d.*|total") == ["data", "data_clean", "double", "total"]


def test_find_nodes_invalid_regex() -> None:
    wf = Graph(pipeline(), workflow_name="wf")
    with pytest.raises(ConfigurationError, match=re.escape("'data(' of workflow 'wf'")):
        wf.find_nodes("data(")
    with pytest.raises(ConfigurationError, match="regular expression"):
        wf.query("[")


def test_query_setters_land_in_settings() -> None:
    leaf = pipeline()
    wf = Graph(leaf, workflow_name="wf")
    plugin = Recorder()
    query = wf.query("data.*")
    assert isinstance(query, Query)
    assert len(query) == 2
    assert query.set_remote_args({"num_cpus": 1}) is query
    query.set_plugin(plugin).set_storage(False).set_backend_info("retries", 3)
    wf.query("double").set_remote_args({"num_gpus": 1})
    by_name = dict(wf.graph_traversal())
    for name in ("data", "data_clean"):
        settings = wf.settings(by_name[name])
        assert settings is not None
        assert settings[REMOTE_ARGS] == {"num_cpus": 1}
        assert settings[STORAGE] is False
        assert settings["retries"] == 3
        (attached,) = settings[PLUGIN]  # a tuple: set_plugin adds to what is there
        assert isinstance(attached, NodePlugin)
        assert attached.plugin is plugin
    assert wf.settings(by_name["double"]) == {REMOTE_ARGS: {"num_gpus": 1}}
    assert wf.settings(by_name["total"]) is None
    assert [wf.name_of(n) for n in query] == ["data", "data_clean"]
    assert "data_clean" in repr(query)


def test_set_remote_args_copies_and_checks_its_argument() -> None:
    wf = Graph(pipeline(), workflow_name="wf")
    options = {"num_cpus": 1}
    wf.query("total").set_remote_args(options)
    options["num_cpus"] = 8
    (node,) = wf.find_nodes("total")
    assert wf.settings(node) == {REMOTE_ARGS: {"num_cpus": 1}}
    with pytest.raises(ConfigurationError, match="dict of options"):
        wf.query("total").set_remote_args([("num_cpus", 1)])  # type: ignore[arg-type]


def test_set_plugin_on_the_workflow() -> None:
    wf = Graph(pipeline(), workflow_name="wf")
    plugin = Recorder()
    wf.set_plugin("double|total", plugin)
    attached = {wf.name_of(n): (wf.settings(n) or {}).get(PLUGIN) for n in wf.nodes}
    assert attached["data"] is None
    assert attached["data_clean"] is None
    assert attached["double"][0] is attached["total"][0]  # validated once
    assert isinstance(attached["total"][0], NodePlugin)
    assert attached["total"][0].plugin is plugin


def test_set_plugin_again_adds_a_plugin_run_after_the_first() -> None:
    """Issue 13: several node plugins per node, run in the order they were set."""
    from functionfuse_local import LocalWorkflow

    calls: list[str] = []

    class Mark(Plugin):
        def __init__(self, label: str) -> None:
            self.label = label

        def remote_initialize(self) -> Any:
            return lambda: calls.append(self.label)

    wf = LocalWorkflow(pipeline(), workflow_name="wf")
    wf.set_plugin("total", Mark("first"))
    wf.query("total").set_plugin(Mark("second"))
    wf.run()
    assert calls == ["first", "second"]


def test_set_plugin_validates_when_attached() -> None:
    wf = Graph(pipeline(), workflow_name="wf")
    with pytest.raises(ConfigurationError, match="is not a node plugin"):
        wf.set_plugin("total", object())


def test_pattern_matching_nothing_warns_with_the_names() -> None:
    wf = Graph(pipeline(), workflow_name="wf")
    with pytest.warns(
        FunctionFuseWarning, match="'nope' matches no node.*'data_clean'"
    ) as by_query:
        query = wf.query("nope")
    assert len(query) == 0
    query.set_remote_args({"num_cpus": 1})  # a no-op, not an error
    assert all(wf.settings(n) is None for n in wf.nodes)
    with pytest.warns(FunctionFuseWarning, match="matches no node") as by_set_plugin:
        wf.set_plugin("nope", Recorder())
    # Both point at the line that gave the pattern, in this file.
    assert [w.filename for w in [*by_query, *by_set_plugin]] == [__file__, __file__]


def test_set_storage_with_an_object() -> None:
    class Memory:
        always_read = False

        def new_workflow(self, workflow_name: str) -> None: ...

        def save(self, workflow_name: str, task_name: str, obj: object) -> None: ...

        def read_task(self, workflow_name: str, task_name: str) -> Any: ...

        def file_exists(self, workflow_name: str, task_name: str) -> bool:
            return False

        def list_tasks(self, workflow_name: str, pattern: str = "*") -> list[str]:
            return []

        def remove_task(
            self, workflow_name: str, task_name: str | None = None, pattern: str | None = None
        ) -> None: ...

        def remove_workflow(self, workflow_name: str) -> None: ...

    wf = Graph(pipeline(), workflow_name="wf")
    assert wf.storage is None
    storage = Memory()
    wf.set_storage(storage)
    assert wf.storage is storage
    wf.set_storage(None)
    assert wf.storage is None
    with pytest.raises(ConfigurationError, match="config dict, a URL or a path"):
        wf.set_storage(42)  # type: ignore[arg-type]
