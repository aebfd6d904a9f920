"""The worked third-party backend, examples/functionfuse-threads, as a user meets it.

Every scenario runs in a fresh interpreter with the example installed apart from the
workspace (see conftest.py) and picks the backend by its entry-point name.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

RunChecked = Callable[[list[str], Path, dict[str, str]], str]

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).with_name("scenarios.py")


@pytest.fixture
def scenario(threads_env: dict[str, str], run_checked: RunChecked) -> Callable[..., Any]:
    """Run a scenario of scenarios.py in a fresh interpreter; its JSON result."""

    def run(name: str, argument: str = "") -> Any:
        out = run_checked([sys.executable, str(SCENARIOS), name, argument], ROOT, threads_env)
        return json.loads(out.strip().splitlines()[-1])

    return run


def test_installed_and_found_by_name(threads_env: dict[str, str], run_checked: RunChecked) -> None:
    code = """
import json, functionfuse
from functionfuse_threads import ThreadWorkflow
found = [(c.kind, c.name, c.distribution, c.version) for c in functionfuse.components()
         if c.name == "threads"]
print(json.dumps([found, functionfuse.backend("threads") is ThreadWorkflow,
                  ThreadWorkflow.__module__, ThreadWorkflow.backend_name]))
"""
    out = run_checked([sys.executable, "-c", code], ROOT, threads_env)
    found, same, module, name = json.loads(out.strip().splitlines()[-1])
    assert found == [["backend", "threads", "functionfuse-threads", "0.1.0"]]
    assert same is True
    assert name == "threads"
    assert module == "functionfuse_threads._workflow"


def test_same_results_as_the_local_backend(scenario: Callable[..., Any]) -> None:
    results = scenario("graphs")
    for graph in ("chain", "fan_in", "nested_args", "items", "stateful"):
        expected, one_thread, four_threads = results[graph]
        assert one_thread == expected, graph
        assert four_threads == expected, graph
    assert results["chain"][0] == "31"
    assert results["instance_leaf"] == ["Accumulator", 6]


def test_independent_nodes_run_at_the_same_time(scenario: Callable[..., Any]) -> None:
    results = scenario("concurrency")
    assert results["two_threads"] == "ab"  # both waited on one barrier: they overlapped
    assert results["one_thread"] == "BrokenBarrierError"  # max_workers=1: one at a time


def test_resumes_from_storage_as_the_local_backend_does(
    scenario: Callable[..., Any], tmp_path: Path
) -> None:
    results = scenario("resume", str(tmp_path))
    threads, local = results["threads"], results["local"]
    assert threads == local
    by_label = {label: (result, runs, warnings) for label, result, runs, warnings in threads}
    everything = {"Accumulator": 1, "add": 2, "combine": 1, "double": 1, "source": 1}
    assert by_label["fresh"] == ([18, 118], everything, 0)
    assert by_label["stored"] == ([18, 118], {}, 0)
    assert by_label["a call of the chain missing"] == ([18, 118], {"Accumulator": 1, "add": 2}, 0)
    assert by_label["a leaf corrupt"] == ([18, 118], {"combine": 1}, 1)
    assert by_label["a leaf and a parent corrupt"] == ([18, 118], {"combine": 1, "source": 1}, 2)
    assert by_label["the last call of the chain corrupt"] == (
        [18, 118],
        {"Accumulator": 1, "add": 2},
        1,
    )
    assert by_label["a parent of stored nodes missing"] == ([18, 118], {"double": 1}, 0)


def test_a_failing_node_is_named_and_the_others_finish_and_are_stored(
    scenario: Callable[..., Any], tmp_path: Path
) -> None:
    results = scenario("failure", str(tmp_path))
    error = results["error"]
    assert error["workflow"] == "failing"
    assert error["node"] == "fragile"
    assert error["failed"] == ["fragile"]
    assert error["cause"] == "ValueError('fragile got 2')"
    assert error["message"].startswith(
        "node 'fragile' of workflow 'failing' failed with ValueError: fragile got 2."
    )
    # `slow` was running when `fragile` failed: it finished and was stored.
    assert results["stored_after_failure"] == ["slow"]
    assert results["second_run"] == [1 + 3, {"fragile": 1}]
    first, failed = results["two_failures"]
    assert first in ("f1", "f2")
    assert failed == ["f1", "f2"]
    assert results["bad_item"] == ["total_0", "IndexError"]
    assert "max_workers" in results["bad_option"]
    assert "positive integer" in results["bad_option"]


def test_retries_and_keep_going_as_the_local_backend(
    scenario: Callable[..., Any], tmp_path: Path
) -> None:
    """Issue 13: the example runs nodes through the core's node protocol, so it honours
    set_retries() (it used to ignore it) and keep_going like the local backend."""
    results = scenario("retries", str(tmp_path))
    assert results["threads retries"] == results["local retries"]
    assert results["threads retries"] == [2, 2, [["flaky", 1, "flaky 1 failed once"]]]
    local = results["local keep_going"]
    threads = results["threads keep_going"]
    assert (
        threads[:3] == local[:3] == ["fragile", ["fragile"], "1 node(s) of workflow 'keep' failed"]
    )
    assert local[3] == threads[3] == ["slow"]  # the other branch ran and is stored
    assert local[4] == threads[4] == {"fragile": 1, "slow": 1}


def test_hooks_progress_plugins_and_memory(scenario: Callable[..., Any], tmp_path: Path) -> None:
    results = scenario("observers", str(tmp_path))
    names = ["source", "double", "acc", "add_1", "add_2", "combine"]
    assert results["statuses"] == [
        dict.fromkeys(names, "ran"),
        dict.fromkeys(names, "from storage"),
    ]
    first, second = results["plain"]
    assert first.startswith("functionfuse: workflow 'observed' on threads, 6 nodes\n")
    assert "6 ran, 0 from storage, 0 failed, 0 not run" in first
    assert "[6/6] 6 nodes from storage\n" in second
    # Every hook is called on the thread that called run().
    assert results["hook_threads"] == [results["main_thread"]]
    events = results["events"]
    assert len(events) == 6 + 6 + 6  # start and finish per node, then 6 from storage
    for name in names:
        assert events.index(f"start {name}") < events.index(f"finish {name}")
    assert events.index("finish add_1") < events.index("start add_2")
    # The initializer ran on the node's pool thread, right before it.
    node_thread, prepared_on = results["initializer"]
    assert node_thread.startswith("functionfuse-init")
    assert prepared_on == node_thread
    # One thread: nodes run in graph order and draw what they draw on the local backend.
    local_draws, thread_draws = results["seeded"]
    assert thread_draws == local_draws
    # Intermediate results are released as soon as their consumers have run.
    assert max(results["alive"]) <= 2


def test_saves_on_pool_threads_are_written_behind(
    s3_url: str, s3_options: dict[str, Any], scenario: Callable[..., Any]
) -> None:
    results = scenario("written_behind", json.dumps({"url": s3_url, "options": s3_options}))
    assert results["outputs"] == [[i, True] for i in range(8)]  # each in the run's session
    assert results["stored"] == results["outputs"]  # and durable once run() returned


def test_the_example_passes_the_conformance_kit_from_its_own_tests(
    threads_env: dict[str, str], run_checked: RunChecked, tmp_path: Path
) -> None:
    """Issue 14: the example's own test file (the lines an author adds) passes the kit."""
    tests = ROOT / "examples" / "functionfuse-threads" / "tests"
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    ini = str(tmp_path / "pytest.ini")
    command = [sys.executable, "-m", "pytest", str(tests), "-c", ini, "--rootdir", str(tmp_path)]
    out = run_checked([*command, "-q", "-p", "no:cacheprovider"], tmp_path, threads_env)
    assert " passed" in out, out
    assert "failed" not in out, out
