"""NodePluginTests: every promise a node plugin makes, as pytest checks.

Subclass it in your test suite, name the plugin once and say how to make it::

    class TestSeeds(NodePluginTests):
        plugin = "random_state"                   # entry-point name, "pkg.mod:Class", or the class
        options = {"seed": 7}                     # valid constructor options
        invalid_options = [{"min": 5, "max": 1}]  # each must be refused when the plugin is made
        capabilities = {NodePluginTests.SEEDS}    # what else it promises (see below)

The kit makes a fresh plugin for every workflow it runs (override :meth:`make_plugin`
for a plugin that needs more than options) and attaches it, behind a stand-in that logs
each call, to small workflows on the local backend (functionfuse-local) — with a file
storage under ``tmp_path`` (functionfuse-fs) to see nodes read from storage; checks that
need these are skipped where they are not installed.

What a plugin does where a node runs is seen through a **probe**: a function the kit's
nodes call as their body, right after the plugins' worker side, that observes — and
consumes — the plugin's effect (``random.random`` for a seeding plugin: it reads the
generator and moves it on). With a probe, the probe must see the same thing before each
attempt, in a second run, in a resumed run, after a pickle round trip, beside other
plugins and inside a collection. Declare ``capabilities = {SEEDS}`` for a plugin that
seeds Python's :mod:`random` (the probe is then ``random.random``), or set ``probe`` for
any other effect; without either, those comparisons are skipped.

``lacks`` declares what the plugin does not do by design: :data:`WORKER_SIDE` (its
``remote_initialize`` returns None: it only acts on the driver) and :data:`PLAIN_PICKLE`
(its worker side needs cloudpickle, e.g. it ships a lambda: it runs on Ray, not in a
process pool).

Invalid options must be refused with :class:`functionfuse.ConfigurationError` (a
ValueError), whose message names the option or shows the value given for it: users
meet these errors in config files and on the command line, where functionfuse reports
its own errors as configuration mistakes and anything else as a crash. Unknown option
names need no listing here: :func:`functionfuse.plugin` refuses them itself.
"""

from __future__ import annotations

import itertools
import pickle
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import functionfuse as ff
from functionfuse._plugins import prepare_plugin
from functionfuse.testing._plugin_support import (
    PLAIN_PICKLE,
    PLUGIN,
    SEEDS,
    STAGE,
    WORKER_SIDE,
    WORKFLOW,
    Marker,
    PluginUnderTest,
    Recorder,
    attempt,
    cloudpickle_module,
    described,
    diamond,
    file_storage,
    local_backend,
    round_trip,
)

__all__ = ["PLAIN_PICKLE", "SEEDS", "WORKER_SIDE", "NodePluginTests"]


class NodePluginTests(PluginUnderTest):
    """The node-plugin contract; subclass with ``plugin`` and ``options`` (see the module)."""

    # -- made, and a node plugin ---------------------------------------------------------------

    def test_made(self) -> None:
        """The plugin is made from its name (or class) and ``options``, as a user makes it."""
        plugin = self.make_plugin()
        assert plugin is not None, f"making {type(self).plugin!r} gave None"
        repr(plugin)  # error messages show it

    def test_is_a_node_plugin(self) -> None:
        """The plugin passes prepare_plugin; its driver side gives each node a callable or None."""
        try:
            plugin = self.make_plugin()
        except Exception as error:
            pytest.skip(f"the plugin cannot be made ({described(error)}): see test_made")
        node_plugin, problem = attempt(prepare_plugin, plugin)
        for node in ("kit_a", "kit_b"):
            if problem is None:
                _, problem = attempt(node_plugin.initialize, WORKFLOW, node)
            if isinstance(problem, ff.ConfigurationError):
                pytest.fail(f"not a node plugin: {problem}")
            if problem is not None:
                raise problem

    def test_invalid_options_are_refused(self) -> None:
        """Each of ``invalid_options`` is refused when the plugin is made, with a
        ConfigurationError naming the option."""
        invalid = type(self).invalid_options
        if not invalid:
            pytest.skip("declares no invalid_options")
        for options in invalid:
            made, error = attempt(self._make, options)
            if error is None:
                pytest.fail(
                    f"the plugin accepted {dict(options)!r} and gave {made!r}; check its "
                    "options when it is made, not when a node runs."
                )
            if not isinstance(error, ff.ConfigurationError):
                pytest.fail(
                    f"the plugin refused {dict(options)!r} with {described(error)}; refuse it "
                    "with functionfuse.ConfigurationError (a ValueError), naming the option."
                )
            text = str(error)
            named = [k for k, v in options.items() if k in text or repr(v) in text]
            assert named, (
                f"the plugin refused {dict(options)!r} with a message that names none of "
                f"these options nor their values: {text!r}"
            )

    # -- where and when it runs --------------------------------------------------------------------

    def test_driver_side_runs_once_per_node_in_graph_order(self, tmp_path: Path) -> None:
        """The driver side runs once per node, in graph order, on the driver, before the
        node — for nodes read from storage too."""
        backend = local_backend()
        storage = file_storage(tmp_path)
        driver = threading.get_ident()
        for run in ("the first run", "a resumed run (every result stored)"):
            workflow = backend(*diamond(), workflow_name=WORKFLOW)
            workflow.set_storage(storage)
            workflow.set_plugin(None, Recorder(self._ready()))
            order = [name for name, _ in workflow.graph_traversal()]
            STAGE.events.clear()
            workflow.run()
            called = STAGE.nodes("driver")
            assert called == order, (
                f"in {run} the driver side ran for {called}; expected once per node, in "
                f"graph order: {order}"
            )
            assert all(e.thread == driver for e in STAGE.events if e.kind == "driver")
            ran = STAGE.nodes("node")
            if run == "the first run":
                for name in order:
                    kinds = [e.kind for e in STAGE.events if e.node == name]
                    assert kinds in (["driver", "worker", "node"], ["driver", "node"]), (
                        f"node {name!r}: expected its driver side, its worker side, then the "
                        f"node; the log says {kinds}"
                    )
            else:
                assert not ran, f"nodes {ran} ran again although their results were stored"

    def test_worker_side_runs_before_each_attempt(self) -> None:
        """The worker side runs where the node runs, right before it, once per attempt."""
        if WORKER_SIDE in type(self).lacks:
            pytest.skip(f"the plugin declares it lacks a worker side ({WORKER_SIDE!r})")
        workflow = local_backend()(*diamond(), workflow_name=WORKFLOW)
        workflow.set_plugin(None, Recorder(self._ready()))
        workflow.query("kit_b").set_retries(2)
        STAGE.flaky = frozenset({"kit_b"})
        STAGE.probe = probe = self._probe()
        workflow.run()
        events = STAGE.events
        if not STAGE.nodes("worker"):
            pytest.fail(
                "the plugin gave no worker side (remote_initialize returned None), so nothing "
                "runs where the nodes run: local_initialize runs on the driver. Do the work "
                "in the callable remote_initialize returns, or declare "
                f"lacks = {{{WORKER_SIDE!r}}} for a plugin that only acts on the driver."
            )
        for name, _ in workflow.graph_traversal():
            attempts = 2 if name == "kit_b" else 1
            kinds = [e.kind for e in events if e.node == name and e.kind != "driver"]
            assert kinds == ["worker", "node"] * attempts, (
                f"node {name!r} ({attempts} attempt(s)): expected the worker side right "
                f"before each attempt; the log says {kinds}"
            )
        for before, event in itertools.pairwise(events):
            if event.kind == "node":
                assert (before.kind, before.node, before.thread) == (
                    "worker",
                    event.node,
                    event.thread,
                ), f"node {event.node!r} ran right after {before}, not after its worker side"
        if probe is not None:
            first, second = STAGE.seen["kit_b"]
            assert first == second, (
                f"the probe saw {first!r} on the first attempt of a node and {second!r} on "
                "the second: the plugin's effect does not happen right before each attempt "
                "(is it done on the driver, in local_initialize or remote_initialize, "
                "instead of in the callable remote_initialize returns?)"
            )

    def test_worker_side_pickles(self) -> None:
        """The worker side pickles (with pickle, and cloudpickle when installed) and does
        the same after the round trip."""
        call = prepare_plugin(self._ready()).initialize(WORKFLOW, "kit_a")
        if call is None:
            self._skip_without_worker_side()
            return
        picklers: list[tuple[str, Callable[[Any], bytes]]] = []
        if PLAIN_PICKLE not in type(self).lacks:
            picklers.append(("pickle", pickle.dumps))
        cloudpickle = cloudpickle_module()
        if cloudpickle is not None:
            picklers.append(("cloudpickle", cloudpickle.dumps))
        if not picklers:
            pytest.skip(f"lacks {PLAIN_PICKLE!r} and cloudpickle is not installed")
        probe = self._probe()
        for name, dumps in picklers:
            clone, error = attempt(round_trip, dumps, call)
            if error is not None:
                pytest.fail(
                    f"the worker side {call!r} does not survive {name}: {described(error)}. "
                    "It must reach a Ray worker or another process: return an instance of a "
                    "module-level class or a module-level function, holding values (a seed, "
                    "a path), not locks, open files or the plugin's driver-side state."
                )
            assert callable(clone), f"{call!r} came back from {name} as {clone!r}"
            clone()
            if probe is None:
                continue
            call()
            seen = probe()
            call()
            if probe() != seen:
                continue  # not repeatable here: test_worker_side_runs_before_each_attempt
            clone()
            after = probe()
            assert after == seen, (
                f"after a round trip through {name} the worker side no longer does its work: "
                f"the probe saw {seen!r} after the original and {after!r} after the copy. Does "
                "it act on a pickled copy of some state (a bound method of a random.Random "
                "instance, such as random.seed) instead of the worker's own?"
            )

    # -- beside other plugins ------------------------------------------------------------------

    def test_only_the_nodes_it_is_attached_to(self) -> None:
        """Attached to some nodes (set_plugin(pattern, ...)), the plugin runs for those only."""
        manager = ff.get_plugin_manager()
        before = set(manager.get_plugins())
        plugin = self._ready()
        added = set(manager.get_plugins()) - before
        assert not added, (
            f"making the plugin registered {sorted(map(repr, added))} with functionfuse's plugin "
            "manager, where hook plugins run around every node of every workflow; a node "
            "plugin runs only on the nodes set_plugin() attaches it to: do not register it."
        )
        workflow = local_backend()(*diamond(), workflow_name=WORKFLOW)
        workflow.set_plugin("kit_[bd]", Recorder(plugin))
        workflow.run()
        assert STAGE.nodes("driver") == ["kit_b", "kit_d"], STAGE.events
        assert STAGE.nodes("worker") in (["kit_b", "kit_d"], []), STAGE.events
        assert sorted(STAGE.nodes("node")) == ["kit_a", "kit_b", "kit_c", "kit_d"]

    def test_two_plugins_on_one_node_run_in_order(self) -> None:
        """Beside other plugins on a node, it runs in the order set (set_plugin adds)."""
        backend = local_backend()
        workflow = backend(*diamond(), workflow_name=WORKFLOW)
        workflow.set_plugin("kit_b", Recorder(Marker(), "before"))
        workflow.set_plugin("kit_b", Recorder(self._ready()))
        workflow.set_plugin("kit_b", Recorder(Marker(), "after"))
        STAGE.probe = probe = self._probe()
        workflow.run()
        order = ["before", PLUGIN, "after"]
        assert STAGE.labels("driver", "kit_b") == order, STAGE.events
        assert STAGE.labels("worker", "kit_b") in (order, ["before", "after"]), STAGE.events
        if probe is not None:
            alone = backend(*diamond(), workflow_name=WORKFLOW)
            alone.set_plugin("kit_b", self._ready())
            alone.run()
            beside, by_itself = STAGE.seen["kit_b"]
            assert beside == by_itself, (
                f"the probe saw {beside!r} with plugins beside it and {by_itself!r} alone"
            )

    def test_works_in_a_plugin_collection(self) -> None:
        """It works as a member of a PluginCollection (functionfuse-plugins)."""
        try:
            collection = ff.plugin("collection", plugins=[Recorder(self._ready())])
        except ff.UnknownComponentError:
            pytest.skip("needs functionfuse-plugins (the 'collection' plugin)")
        backend = local_backend()
        workflow = backend(*diamond(), workflow_name=WORKFLOW)
        workflow.set_plugin("kit_[bd]", collection)
        STAGE.probe = probe = self._probe()
        workflow.run()
        assert STAGE.nodes("driver") == ["kit_b", "kit_d"], STAGE.events
        assert STAGE.nodes("worker") in (["kit_b", "kit_d"], []), STAGE.events
        if probe is not None:
            direct = backend(*diamond(), workflow_name=WORKFLOW)
            direct.set_plugin("kit_[bd]", self._ready())
            direct.run()
            for name in ("kit_b", "kit_d"):
                member, attached = STAGE.seen[name]
                assert member == attached, (
                    f"node {name!r}: the probe saw {member!r} in a collection and "
                    f"{attached!r} with the plugin attached directly"
                )

    # -- the same behaviour every time ---------------------------------------------------------

    def test_same_behaviour_when_run_again(self) -> None:
        """Run again, the same workflow gives its nodes the same: the probe sees the same."""
        STAGE.probe = self._probe_or_skip()
        workflow = local_backend()(*diamond(), workflow_name=WORKFLOW)
        workflow.set_plugin(None, self._ready())
        workflow.run()
        workflow.run()
        for name, seen in STAGE.seen.items():
            first, second = seen
            assert first == second, (
                f"node {name!r}: the probe saw {first!r} in the first run of a workflow and "
                f"{second!r} when the same workflow ran again: does the plugin move on with every "
                "call (a counter) instead of giving each node the same every time?"
            )

    def test_same_behaviour_when_resumed(self, tmp_path: Path) -> None:
        """A resumed run gives the nodes that run again what they got the first time."""
        STAGE.probe = self._probe_or_skip()
        backend = local_backend()
        storage = file_storage(tmp_path)
        for run in ("first", "resumed"):
            workflow = backend(*diamond(), workflow_name=WORKFLOW)  # as a new process would
            workflow.set_storage(storage)
            workflow.set_plugin(None, self._ready())
            workflow.run()
            if run == "first":
                for name in ("kit_b", "kit_d"):
                    storage.remove_task(WORKFLOW, name)
        for name in ("kit_b", "kit_d"):
            seen = STAGE.seen[name]
            assert len(seen) == 2, f"node {name!r} did not run again once its result was removed"
            assert seen[0] == seen[1], (
                f"node {name!r}: the probe saw {seen[0]!r} in the first run and {seen[1]!r} "
                "when it ran again in a resumed run, where its ancestors came from storage"
            )
