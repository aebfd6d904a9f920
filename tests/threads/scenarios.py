"""Scenarios for the threads backend, run in a fresh interpreter by test_threads.py.

``python scenarios.py NAME [ARG]``: the installed ``functionfuse-threads`` must be on
``PYTHONPATH``; the backend is always picked by its entry-point name. Each scenario
prints one JSON document on its last line of output.
"""

from __future__ import annotations

import io
import json
import random
import sys
import threading
import time
import warnings
import weakref
from collections import Counter, namedtuple
from collections.abc import Callable
from pathlib import Path
from typing import Any

import functionfuse
from functionfuse import NodeExecutionError, hookimpl, workflow

Threads: Any = functionfuse.backend("threads")  # takes max_workers=
Local: Any = functionfuse.backend("local")

runs: Counter[str] = Counter()


# -- research code ----------------------------------------------------------------------


@workflow
def source(n: int) -> list[int]:
    runs["source"] += 1
    return list(range(n))


@workflow
def double(xs: list[int]) -> list[int]:
    runs["double"] += 1
    return [2 * x for x in xs]


@workflow
def combine(a: list[int], b: list[int]) -> int:
    runs["combine"] += 1
    return sum(a) + sum(b)


@workflow
def inc(x: int) -> int:
    return x + 1


@workflow
def total(*items: Any, extra: Any = 0) -> int:
    def flat(value: Any) -> int:
        if isinstance(value, dict):
            return sum(flat(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return sum(flat(v) for v in value)
        return int(value)

    return flat(items) + flat(extra)


@workflow
def pair(x: int) -> tuple[int, tuple[int, int]]:
    return x, (x * 10, x * 100)


Point = namedtuple("Point", "x y")


@workflow
def point(x: int, y: int) -> Point:
    return Point(x, y)


@workflow
class Accumulator:
    def __init__(self, start: int) -> None:
        runs["Accumulator"] += 1
        self.value = start

    def add(self, xs: Any) -> int:
        runs["add"] += 1
        self.value += sum(xs) if isinstance(xs, list) else xs
        return self.value


# -- graphs -----------------------------------------------------------------------------


def chain() -> tuple[Any, ...]:
    node = inc(0)
    for _ in range(30):
        node = inc(node)
    return (node,)


def fan_in() -> tuple[Any, ...]:
    return (total(*[inc(i) for i in range(40)]),)


def nested_args() -> tuple[Any, ...]:
    a, b = inc(1), inc(2)
    return (
        total([a, (b, 3)], {"x": a, "y": [b, {"z": a}]}, extra={"w": [b, 5]}),
        point(a, y=b),
    )


def items() -> tuple[Any, ...]:
    p = pair(3)
    return total(p[0], p[1][0], p[1][1]), p[1], p[1][1]


def stateful() -> tuple[Any, ...]:
    one = inc(0)
    acc = Accumulator(start=one)
    acc.add(inc(one))
    acc.add(3)
    last = acc.add(one)
    other = Accumulator(start=100)
    other_last = other.add(last)
    return inc(last), other_last, total(last, other_last)


def instance_leaf() -> tuple[Any, ...]:
    acc = Accumulator(start=5)
    acc.add(1)
    return (acc,)


def scenario_graphs(_: str) -> object:
    """Every graph gives the local backend's results, with 1 and with 4 threads."""
    out: dict[str, Any] = {}
    for build in (chain, fan_in, nested_args, items, stateful):
        expected = Local(*build(), workflow_name=build.__name__).run()
        got = [Threads(*build(), workflow_name=build.__name__, max_workers=n).run() for n in (1, 4)]
        out[build.__name__] = [repr(expected), repr(got[0]), repr(got[1])]
    leaf = Threads(*instance_leaf(), workflow_name="instance").run()
    out["instance_leaf"] = [type(leaf).__name__, leaf.value]
    return out


# -- concurrency --------------------------------------------------------------------------

barrier: threading.Barrier | None = None


@workflow
def meet(tag: str) -> str:
    assert barrier is not None
    barrier.wait()  # returns only when the other node waits too: they run at once
    return tag


@workflow
def join(a: str, b: str) -> str:
    return a + b


def scenario_concurrency(_: str) -> object:
    global barrier
    barrier = threading.Barrier(2, timeout=10)
    concurrent = Threads(join(meet("a"), meet("b")), workflow_name="meet", max_workers=2).run()
    barrier = threading.Barrier(2, timeout=0.5)
    try:
        Threads(join(meet("a"), meet("b")), workflow_name="meet", max_workers=1).run()
        one_at_a_time = "completed"
    except NodeExecutionError as error:
        one_at_a_time = type(error.__cause__).__name__
    return {"two_threads": concurrent, "one_thread": one_at_a_time}


# -- storage and resume -------------------------------------------------------------------


def pipeline() -> tuple[Any, Any]:
    src = source(4).set_name("source")
    doubled = double(src).set_name("double")
    acc = Accumulator(start=100).set_name("acc")
    acc.add(src).set_name("add_1")
    second = acc.add(doubled).set_name("add_2")
    result = combine(doubled, src).set_name("combine")
    return result, second


def resume_steps(backend: Any, root: Path) -> list[Any]:
    """Run the pipeline through a sequence of storage states; counts and results."""
    storage = functionfuse.storage_factory({"kind": "file", "options": {"path": str(root)}})
    folder = root / "resume"
    steps: list[Any] = []

    def step(label: str, **options: Any) -> None:
        runs.clear()
        wf = backend(*pipeline(), workflow_name="resume", **options)
        wf.set_storage(storage)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = wf.run()
        steps.append([label, result, dict(sorted(runs.items())), len(caught)])

    step("fresh")
    step("stored")
    storage.remove_task("resume", "add_1")
    step("a call of the chain missing")

    def corrupt(name: str) -> None:
        # Past the header (its digest): a file without a result header is no stored
        # result at all, and would simply run again, with no warning.
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))

    corrupt("combine")
    step("a leaf corrupt")
    corrupt("source")
    corrupt("combine")
    step("a leaf and a parent corrupt")
    corrupt("add_2")
    step("the last call of the chain corrupt")
    storage.remove_task("resume", "double")
    step("a parent of stored nodes missing")
    return steps


def scenario_resume(folder: str) -> object:
    root = Path(folder)
    return {
        "threads": resume_steps(Threads, root / "threads"),
        "local": resume_steps(Local, root / "local"),
    }


# -- failures -----------------------------------------------------------------------------

broken = True


@workflow
def slow(x: int) -> int:
    runs["slow"] += 1
    time.sleep(0.3)
    return x


@workflow
def fragile(x: int) -> int:
    runs["fragile"] += 1
    if broken:
        raise ValueError(f"fragile got {x}")
    return x


def scenario_failure(folder: str) -> object:
    global broken
    out: dict[str, Any] = {}

    def graph() -> Any:
        return total(
            slow(1).set_name("slow"), inc(fragile(2).set_name("fragile")).set_name("after")
        )

    wf = Threads(graph(), workflow_name="failing", max_workers=2)
    wf.set_storage(folder)
    try:
        wf.run()
    except NodeExecutionError as error:
        out["error"] = {
            "message": str(error),
            "workflow": error.workflow_name,
            "node": error.node_name,
            "failed": sorted(error.failed),
            "cause": repr(error.__cause__),
        }
    out["stored_after_failure"] = sorted(wf.storage.list_tasks("failing"))
    broken = False
    runs.clear()
    wf = Threads(graph(), workflow_name="failing", max_workers=2)
    wf.set_storage(folder)
    out["second_run"] = [wf.run(), dict(sorted(runs.items()))]

    broken = True
    try:
        Threads(
            total(fragile(1).set_name("f1"), fragile(2).set_name("f2")), workflow_name="two"
        ).run()
    except NodeExecutionError as error:
        out["two_failures"] = [error.node_name, sorted(error.failed)]
    try:
        Threads(total(pair(1)[5]), workflow_name="bad_item").run()
    except NodeExecutionError as error:
        out["bad_item"] = [error.node_name, type(error.__cause__).__name__]
    try:
        Threads(inc(1), workflow_name="bad", max_workers=0)
    except functionfuse.ConfigurationError as error:
        out["bad_option"] = str(error)
    return out


# -- retries and keep_going: the local backend's behaviour, through the core's protocol ---

flaky_failures: Counter[str] = Counter()


@workflow
def flaky(x: int) -> int:
    runs["flaky"] += 1
    if flaky_failures[f"flaky {x}"] < 1:
        flaky_failures[f"flaky {x}"] += 1
        raise OSError(f"flaky {x} failed once")
    return x


class RetryRecorder:
    def __init__(self) -> None:
        self.retries: list[list[Any]] = []

    @hookimpl
    def functionfuse_node_retry(self, node_name: str, attempt: int, error: BaseException) -> None:
        self.retries.append([node_name, attempt, str(error)])


def scenario_retries(folder: str) -> object:
    """The same graphs on both backends: retries and keep_going give the same outcome."""
    global broken
    out: dict[str, Any] = {}
    recorder = RetryRecorder()
    functionfuse.get_plugin_manager().register(recorder)
    for label, backend in (("local", Local), ("threads", Threads)):
        runs.clear()
        flaky_failures.clear()
        recorder.retries.clear()
        wf = backend(inc(flaky(1).set_name("flaky")).set_name("after"), workflow_name="retry")
        wf.query("flaky").set_retries(2, OSError)
        out[f"{label} retries"] = [wf.run(), runs["flaky"], recorder.retries]

        broken = True
        runs.clear()
        wf = backend(
            total(slow(1).set_name("slow"), inc(fragile(2).set_name("fragile")).set_name("after")),
            workflow_name="keep",
        )
        wf.set_storage(f"{folder}/{label}")
        try:
            wf.run(keep_going=True)
        except NodeExecutionError as error:
            out[f"{label} keep_going"] = [
                error.node_name,
                sorted(error.failed),
                str(error).split(": ", 1)[0],
                sorted(wf.storage.list_tasks("keep")),
                dict(sorted(runs.items())),
            ]
    return out


# -- hooks, progress, node plugins, memory -------------------------------------------------


class ThreadRecorder:
    def __init__(self) -> None:
        self.threads: set[str] = set()
        self.events: list[str] = []

    @hookimpl
    def functionfuse_node_start(self, node_name: str) -> None:
        self.threads.add(threading.current_thread().name)
        self.events.append(f"start {node_name}")

    @hookimpl
    def functionfuse_node_finish(self, node_name: str, from_storage: bool) -> None:
        self.threads.add(threading.current_thread().name)
        self.events.append(f"{'stored' if from_storage else 'finish'} {node_name}")


prepared = threading.local()


def prepare() -> None:
    prepared.thread = threading.current_thread().name


@workflow
def where() -> list[str]:
    return [threading.current_thread().name, getattr(prepared, "thread", "none")]


@workflow
def draw(_: int) -> float:
    return random.random()


class Blob:
    pass


alive: list[weakref.ref[Blob]] = []


@workflow
def blob(_: Any) -> Blob:
    made = Blob()
    alive.append(weakref.ref(made))
    return made


@workflow
def count_alive(_: Any) -> int:
    return sum(1 for ref in alive if ref() is not None)


def scenario_observers(folder: str) -> object:
    out: dict[str, Any] = {}
    recorder = ThreadRecorder()
    functionfuse.get_plugin_manager().register(recorder)
    wf = Threads(*pipeline(), workflow_name="observed", max_workers=3)
    wf.set_storage(folder)
    from functionfuse_cli import ProgressReporter

    reports = []
    for _ in range(2):
        stream = io.StringIO()
        with ProgressReporter(stream=stream) as reporter:
            wf.run()
        assert reporter.summary is not None
        reports.append({name: report.status for name, report in reporter.summary.nodes.items()})
        out.setdefault("plain", []).append(stream.getvalue())
    functionfuse.get_plugin_manager().unregister(recorder)
    out["statuses"] = reports
    out["hook_threads"] = sorted(recorder.threads)
    out["main_thread"] = threading.current_thread().name
    out["events"] = recorder.events

    wf = Threads(where().set_name("where"), workflow_name="init", max_workers=2)
    wf.set_plugin("where", functionfuse.plugin("initializer", func=prepare))
    out["initializer"] = wf.run()

    def draws(backend: Any, **options: Any) -> list[float]:
        nodes = [draw(i).set_name(f"draw_{i}") for i in range(6)]
        wf = backend(total(*nodes), *nodes, workflow_name="seeded", **options)
        wf.set_plugin("draw_.*", functionfuse.plugin("random_state", seed=7))
        return list(wf.run()[1:])

    out["seeded"] = [draws(Local), draws(Threads, max_workers=1)]

    node = blob(0)
    peak = []
    for _ in range(6):
        peak.append(count_alive(node))
        node = blob(node)
    alive.clear()
    out["alive"] = Threads(*peak, workflow_name="memory", max_workers=1).run()
    return out


#: The storage of scenario_written_behind, for its nodes to look at.
storages: list[Any] = []


@workflow
def in_session(i: int) -> list[Any]:
    from functionfuse_fs._writer import active_session

    # A session belongs to the storage's remote files (what write_behind() opened it on).
    return [i, active_session(storages[0]._files) is not None]


def scenario_written_behind(target: str) -> object:
    """Saves made on the pool's threads belong to the run's write-behind session (S3)."""
    spec = json.loads(target)
    storage = functionfuse.storage_factory(spec["url"], **spec["options"])
    storages.append(storage)
    nodes = [in_session(i).set_name(f"node_{i}") for i in range(8)]
    wf = Threads(*nodes, workflow_name="behind", max_workers=3)
    wf.set_storage(storage)
    outputs = wf.run()
    again = functionfuse.storage_factory(spec["url"], **spec["options"], skip_instance_cache=True)
    stored = [again.read_task("behind", f"node_{i}") for i in range(8)]
    return {"outputs": outputs, "stored": stored}


SCENARIOS: dict[str, Callable[[str], object]] = {
    "written_behind": scenario_written_behind,
    "graphs": scenario_graphs,
    "concurrency": scenario_concurrency,
    "resume": scenario_resume,
    "failure": scenario_failure,
    "retries": scenario_retries,
    "observers": scenario_observers,
}

if __name__ == "__main__":
    name = sys.argv[1]
    argument = sys.argv[2] if len(sys.argv) > 2 else ""
    print(json.dumps(SCENARIOS[name](argument)))
