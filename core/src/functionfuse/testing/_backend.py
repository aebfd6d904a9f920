"""BackendTests: every promise the README makes of a backend, as pytest checks.

Subclass it in your test suite, name the backend once and declare what it lacks::

    class TestThreads(BackendTests):
        backend = "threads"               # entry-point name, or the class itself
        options = {"max_workers": 2}      # constructor options
        lacks = frozenset()               # e.g. {CLASS_NODES} for a backend without them

A backend that runs nodes elsewhere must be started by the author's fixtures (a Ray
session, a Dask cluster); the checks only build workflows and run them.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

import functionfuse as ff
from functionfuse.testing import _graphs as g

__all__ = [
    "CLASS_NODES",
    "KEEP_GOING",
    "PLUGINS",
    "RETRIES",
    "SEEDED_DRAWS",
    "BackendTests",
    "load_backend",
]

#: Capabilities a backend may declare it lacks (``lacks = frozenset({...})``).
CLASS_NODES = "class_nodes"  # stateful nodes: a class and its method calls
KEEP_GOING = "keep_going"  # run(keep_going=True)
RETRIES = "retries"  # query().set_retries()
PLUGINS = "plugins"  # node plugins run where the node runs
#: Nodes seeded by random_state draw as on the local backend (not so where nodes share
#: one process's generators while running at once, as on a thread pool).
SEEDED_DRAWS = "seeded_draws"


def load_backend(spec: str | type) -> type[ff.BaseWorkflow]:
    """A backend class from an entry-point name, ``package.module:Class`` or the class."""
    if isinstance(spec, type):
        return spec
    if ":" in spec:
        module, _, name = spec.partition(":")
        found = getattr(importlib.import_module(module), name)
    else:
        found = ff.backend(spec)
    if not (isinstance(found, type) and issubclass(found, ff.BaseWorkflow)):
        raise TypeError(f"{spec!r} is {found!r}, not a functionfuse.BaseWorkflow subclass")
    return found


class Events:
    """What the lifecycle hooks hear, in order (driver side)."""

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []

    @ff.hookimpl
    def functionfuse_workflow_start(self, workflow_name: str) -> None:
        self.log.append(("workflow_start", workflow_name))

    @ff.hookimpl
    def functionfuse_workflow_finish(self, error: BaseException | None) -> None:
        self.log.append(("workflow_finish", error))

    @ff.hookimpl
    def functionfuse_node_start(self, node_name: str) -> None:
        self.log.append(("start", node_name))

    @ff.hookimpl
    def functionfuse_node_finish(self, node_name: str, from_storage: bool) -> None:
        self.log.append(("finish", node_name, from_storage))

    @ff.hookimpl
    def functionfuse_node_error(self, node_name: str, error: BaseException) -> None:
        self.log.append(("error", node_name, error))

    @ff.hookimpl
    def functionfuse_node_retry(self, node_name: str, attempt: int) -> None:
        self.log.append(("retry", node_name, attempt))

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [event[1:] for event in self.log if event[0] == kind]

    def clear(self) -> None:
        self.log.clear()


class BackendTests:
    """The backend contract; subclass with ``backend`` (and ``options``, ``lacks``)."""

    #: The backend: an entry-point name, ``"package.module:Class"``, or the class.
    backend: ClassVar[str | type] = ""
    #: Keyword arguments for the backend's constructor, besides ``workflow_name``.
    options: ClassVar[Mapping[str, Any]] = {}
    #: Capabilities the backend does not have (:data:`CLASS_NODES`, :data:`KEEP_GOING`,
    #: :data:`RETRIES`, :data:`PLUGINS`, :data:`SEEDED_DRAWS`): their checks are skipped.
    lacks: ClassVar[frozenset[str]] = frozenset()

    # -- fixtures and helpers ---------------------------------------------------------------

    @pytest.fixture
    def tally(self, tmp_path: Path) -> g.Tally:
        return g.Tally(str(tmp_path / "tally.log"))

    @pytest.fixture
    def events(self) -> Iterator[Events]:
        recorder = Events()
        manager = ff.get_plugin_manager()
        manager.register(recorder)
        try:
            yield recorder
        finally:
            manager.unregister(recorder)

    def make_storage(self, tmp_path: Path) -> Any:
        """A fresh storage every worker can reach (override for remote workers)."""
        try:
            return ff.storage_factory({"kind": "file", "options": {"path": str(tmp_path / "s")}})
        except ff.UnknownComponentError:
            pytest.skip("storage checks need a storage: pip install functionfuse-fs")

    def workflow(self, *nodes: Any, name: str = "kit", storage: Any = None) -> Any:
        wf = load_backend(self.backend)(*nodes, workflow_name=name, **dict(self.options))
        if storage is not None:
            wf.set_storage(storage)
        return wf

    def needs(self, capability: str) -> None:
        if capability in self.lacks:
            pytest.skip(f"the backend declares it lacks {capability!r}")

    # -- graph semantics ----------------------------------------------------------------------

    def test_returns_the_result_of_the_node_given(self, tally: g.Tally) -> None:
        """run() returns the result of the single node given."""
        leaf = g.scale(tally, g.numbers(tally, 4), 2)
        assert self.workflow(leaf).run() == [0, 2, 4, 6]

    def test_returns_a_list_for_several_nodes_in_their_order(self, tally: g.Tally) -> None:
        """run() returns one result per node given, in the order given."""
        data = g.numbers(tally, 3)
        first, second = g.scale(tally, data, 10), g.add(tally, 1, 2)
        assert self.workflow(second, first).run() == [3, [0, 10, 20]]

    def test_items_of_a_result_are_selected(self, tally: g.Tally) -> None:
        """node[i] and node[i][j] select items of a node's result, as arguments and leaves."""
        parts = g.halves(tally, g.numbers(tally, 5))
        leaf = g.total(tally, parts[0], parts[1][1])
        assert self.workflow(leaf, parts[1][0]).run() == [16, 5]

    def test_nested_and_keyword_arguments(self, tally: g.Tally) -> None:
        """Nodes nested in lists, tuples, dicts, named tuples and keywords get their values."""
        a: Any = g.add(tally, 1, 1)
        b: Any = g.add(tally, 2, 2)
        leaf = g.gather(tally, [a, 1, (b,)], {"a": a, "b": [b]}, g.Point(a, 3))
        keyword = g.total(tally, a, extra=b)
        assert self.workflow(leaf, keyword).run() == [[[2, 1, (4,)], {"a": 2, "b": [4]}, (2, 3)], 6]

    def test_runs_the_whole_graph_of_the_nodes_given(self, tally: g.Tally) -> None:
        """A workflow runs the whole graph its nodes belong to, each node exactly once."""
        data = g.numbers(tally, 3)
        g.total(tally, g.scale(tally, data, 2), g.scale(tally, data, 3))
        assert self.workflow(data).run() == [0, 1, 2]
        assert tally.counts() == {"numbers": 1, "scale": 2, "total": 1}

    def test_return_results_false(self, tally: g.Tally) -> None:
        """run(return_results=False) returns None and still runs every node."""
        leaf = g.add(tally, g.add(tally, 1, 2), 3)
        assert self.workflow(leaf).run(return_results=False) is None
        assert tally.counts() == {"add": 2}

    def test_class_node_calls_run_in_order_on_one_instance(self, tally: g.Tally) -> None:
        """A class node's method calls run in call order on one instance."""
        self.needs(CLASS_NODES)
        acc: Any = g.Accumulator(tally, 10)
        acc.add(1)
        second = acc.add(g.add(tally, 1, 1))
        history = acc.history()
        assert self.workflow(history, second).run() == [[1, 2], 13]
        assert tally.counts()["Accumulator"] == 1

    def test_a_class_node_given_returns_its_instance(self, tally: g.Tally) -> None:
        """A class node given to the workflow returns its instance, after every call."""
        self.needs(CLASS_NODES)
        acc: Any = g.Accumulator(tally, 1)
        acc.add(2)
        acc.add(3)
        instance = self.workflow(acc).run()
        assert (instance.value, instance.calls) == (6, [2, 3])

    def test_a_workflow_runs_many_times(self, tally: g.Tally) -> None:
        """A workflow can run many times; the graph is not changed by a run."""
        wf = self.workflow(g.scale(tally, g.numbers(tally, 2), 5))
        assert wf.run() == wf.run() == [0, 5]
        assert tally.counts() == {"numbers": 2, "scale": 2}

    def test_the_same_nodes_in_two_workflows(self, tally: g.Tally) -> None:
        """The same nodes can be handed to two workflows."""
        leaf = g.scale(tally, g.numbers(tally, 2), 3)
        assert self.workflow(leaf, name="one").run() == self.workflow(leaf, name="two").run()

    # -- storage and resume -------------------------------------------------------------------

    def _pipeline(self, tally: g.Tally, factor: int) -> list[Any]:
        data = g.numbers(tally, 4).set_name("numbers")
        scaled = g.scale(tally, data, factor).set_name("scale")
        return [g.total(tally, scaled).set_name("total"), g.add(tally, 1, 2).set_name("add")]

    def test_a_second_run_resumes_everything(self, tally: g.Tally, tmp_path: Path) -> None:
        """With a storage, a second run of unchanged nodes runs nothing, same results."""
        storage = self.make_storage(tmp_path)
        first = self.workflow(*self._pipeline(tally, 2), storage=storage).run()
        tally.clear()
        assert self.workflow(*self._pipeline(tally, 2), storage=storage).run() == first == [12, 3]
        assert tally.counts() == {}
        assert sorted(storage.list_tasks("kit")) == ["add", "numbers", "scale", "total"]

    def test_a_changed_argument_reruns_its_node_and_descendants(
        self, tally: g.Tally, tmp_path: Path
    ) -> None:
        """A changed argument re-runs that node and its descendants, nothing else."""
        storage = self.make_storage(tmp_path)
        self.workflow(*self._pipeline(tally, 2), storage=storage).run()
        tally.clear()
        assert self.workflow(*self._pipeline(tally, 3), storage=storage).run() == [18, 3]
        assert tally.counts() == {"scale": 1, "total": 1}

    def test_resume_by_name_and_off(self, tally: g.Tally, tmp_path: Path) -> None:
        """resume="name" uses what is stored under each name; resume=False runs all."""
        storage = self.make_storage(tmp_path)
        self.workflow(*self._pipeline(tally, 2), storage=storage).run()
        tally.clear()
        wf = self.workflow(*self._pipeline(tally, 5), storage=storage)
        assert wf.run(resume="name") == [12, 3]
        assert tally.counts() == {}
        assert wf.run(resume=False) == [30, 3]
        assert tally.counts() == {"numbers": 1, "scale": 1, "total": 1, "add": 1}

    def test_class_nodes_resume_as_a_chain(self, tally: g.Tally, tmp_path: Path) -> None:
        """A class node whose calls are all stored is not built again."""
        self.needs(CLASS_NODES)
        storage = self.make_storage(tmp_path)

        def graph() -> Any:
            acc: Any = g.Accumulator(tally, 1)
            acc.set_name("acc")
            acc.add(2).set_name("first")
            return acc.add(3).set_name("second")

        assert self.workflow(graph(), storage=storage).run() == 6
        tally.clear()
        assert self.workflow(graph(), storage=storage).run() == 6
        assert tally.counts() == {}

    def test_storage_false_nodes_always_run_and_are_never_saved(
        self, tally: g.Tally, tmp_path: Path
    ) -> None:
        """query(p).set_storage(False) nodes always run and are never saved."""
        storage = self.make_storage(tmp_path)
        for _ in range(2):
            wf = self.workflow(*self._pipeline(tally, 2), storage=storage)
            wf.query("numbers").set_storage(False)
            assert wf.run() == [12, 3]
        assert tally.counts()["numbers"] == 2
        assert "numbers" not in storage.list_tasks("kit")

    def test_hooks_report_from_storage_exactly(
        self, tally: g.Tally, tmp_path: Path, events: Events
    ) -> None:
        """node_finish says from_storage=True exactly for the nodes not run."""
        storage = self.make_storage(tmp_path)
        self.workflow(*self._pipeline(tally, 2), storage=storage).run()
        events.clear()
        self.workflow(*self._pipeline(tally, 3), storage=storage).run()
        finished = {name: from_storage for name, from_storage in events.of("finish")}
        assert finished == {"numbers": True, "scale": False, "total": False, "add": True}
        assert sorted(name for (name,) in events.of("start")) == ["scale", "total"]

    # -- failures -----------------------------------------------------------------------------

    def test_a_failing_node_is_named_and_finished_work_is_stored(
        self, tally: g.Tally, tmp_path: Path, events: Events
    ) -> None:
        """A failing node raises NodeExecutionError naming workflow and node, cause chained."""
        storage = self.make_storage(tmp_path)
        data = g.numbers(tally, 3).set_name("numbers")
        leaf = g.scale(tally, g.fail(tally, data).set_name("broken"), 2).set_name("after")
        with pytest.raises(ff.NodeExecutionError) as caught:
            self.workflow(leaf, storage=storage).run()
        error = caught.value
        assert (error.workflow_name, error.node_name) == ("kit", "broken")
        assert "broken" in str(error)
        assert "kit" in str(error)
        assert isinstance(error.__cause__, ValueError)
        assert "fail got" in str(error.__cause__)
        assert storage.list_tasks("kit") == ["numbers"]
        assert tally.counts()["scale"] == 0
        errored = [name for name, _ in events.of("error")]
        assert "broken" in errored  # (Ray also reports the nodes that could not run)
        assert "numbers" not in errored
        assert events.log[-1][0] == "workflow_finish"
        assert events.log[-1][1] is not None

    def test_keep_going_runs_everything_not_downstream_of_a_failure(
        self, tally: g.Tally, tmp_path: Path
    ) -> None:
        """run(keep_going=True) runs and stores all but the failure's descendants."""
        self.needs(KEEP_GOING)
        storage = self.make_storage(tmp_path)
        data = g.numbers(tally, 3).set_name("numbers")
        blocked = g.scale(tally, g.fail(tally, data).set_name("broken"), 2).set_name("blocked")
        other = g.scale(tally, data, 3).set_name("other")
        with pytest.raises(ff.NodeExecutionError) as caught:
            self.workflow(blocked, other, storage=storage).run(keep_going=True)
        assert sorted(caught.value.failed) == ["broken"]
        assert sorted(storage.list_tasks("kit")) == ["numbers", "other"]
        assert tally.counts()["scale"] == 1

    def test_retries_run_a_node_again_and_report_each_retry(
        self, tally: g.Tally, events: Events
    ) -> None:
        """set_retries runs a failing node again, each retry reported to node_retry."""
        self.needs(RETRIES)
        wf = self.workflow(g.flaky(tally, 2).set_name("flaky"))
        wf.query("flaky").set_retries(3, OSError)
        assert wf.run() == "done"
        assert tally.counts()["flaky"] == 3
        assert events.of("retry") == [("flaky", 1), ("flaky", 2)]

    def test_retries_only_on_the_exceptions_given(self, tally: g.Tally) -> None:
        """An exception not named in set_retries fails the node at once."""
        self.needs(RETRIES)
        wf = self.workflow(g.flaky(tally, 1, "KeyError").set_name("flaky"))
        wf.query("flaky").set_retries(3, OSError)
        with pytest.raises(ff.NodeExecutionError):
            wf.run()
        assert tally.counts()["flaky"] == 1

    # -- hooks and node plugins ----------------------------------------------------------------

    def test_lifecycle_hooks_in_order(self, tally: g.Tally, events: Events) -> None:
        """Hooks: workflow_start first, each node's start before its finish, finish last."""
        leaf = g.add(tally, g.add(tally, 1, 2).set_name("a"), 3).set_name("b")
        self.workflow(leaf).run()
        kinds = [event[0] for event in events.log]
        assert kinds[0] == "workflow_start"
        assert kinds[-1] == "workflow_finish"
        assert events.log[-1][1] is None
        for name in ("a", "b"):
            assert events.log.index(("start", name)) < events.log.index(("finish", name, False))

    def test_node_plugins_run_right_before_their_node_where_it_runs(self, tally: g.Tally) -> None:
        """A node plugin's remote callable runs right before its node, in its process."""
        self.needs(PLUGINS)
        label = f"mark-{Path(tally.path).parent.name}"
        first, second = g.MarkPlugin(f"{label}-1"), g.MarkPlugin(f"{label}-2")
        leaf = g.marker(tally).set_name("marked")
        plain = g.add(tally, 1, 1).set_name("plain")
        wf = self.workflow(leaf, plain)
        wf.set_plugin("marked", first)
        wf.query("marked").set_plugin(second)  # a second plugin runs after the first
        (marks, _pid), _ = wf.run()
        assert marks[-2:] == [f"{label}-1", f"{label}-2"]
        assert first.driver_calls == second.driver_calls == ["marked"]

    def test_seeded_nodes_draw_as_on_the_local_backend(self, tally: g.Tally) -> None:
        """A random_state-seeded workflow draws the same numbers as on the local backend."""
        self.needs(PLUGINS)
        self.needs(SEEDED_DRAWS)
        try:
            local = ff.backend("local")
            ff.plugin("random_state", seed=11)
        except ff.UnknownComponentError:
            pytest.skip("needs functionfuse-local and functionfuse-plugins")

        def draws(backend: Any) -> Any:
            leaves = [g.draw(tally, i).set_name(f"draw_{i}") for i in range(3)]
            wf = backend(
                *leaves, workflow_name="seeded", **({} if backend is local else self.options)
            )
            wf.set_plugin(None, ff.plugin("random_state", seed=11))
            return wf.run()

        assert draws(load_backend(self.backend)) == draws(local)
