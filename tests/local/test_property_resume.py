"""Property test (issue 6, item 9): random DAGs, random failures, resume from file storage.

Hypothesis builds a graph of 1-12 function nodes, each taking 0-3 earlier nodes as
arguments, and optionally one class node whose 1-3 chained method calls take earlier
nodes as arguments (function nodes made later may use the methods' results). Every
value is a hash of the node's name and its inputs, so any mix-up shows in the outputs.

Failure points: nodes that raise the first time they run (``FAIL_ONCE``), and stored
results truncated between the runs. Run 1 (fresh storage) stops with a
``NodeExecutionError`` naming a failing node; run 2, with the failures cleared, must:

- return what a clean run without storage returns;
- not run a function node whose result run 1 stored (and that was not damaged);
- run every function node at most once;
- for a damaged result: warn (``FunctionFuseWarning``) and run the node again exactly
  when its value is needed (it is a workflow result, or a node that ran uses it);
  resume is lazy, so a damaged result nobody needs is never read — unless the damage
  reaches into its header: the file is then no stored result at all (not listed, issue
  20 defect 3), and the node runs once, needed or not, without a warning.

Class nodes resume as a chain, by design: when any method result of the instance is
missing after run 1, the instance is built again and all its calls run again; a stored
method result that is damaged and needed replays the chain from the constructor (once
per such read). Those re-runs are not violations; what is checked for the chain is that
an incomplete one runs again, and a complete, undamaged one does not run at all.

A third run then runs nothing and returns the same outputs.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import functionfuse as ff
from functionfuse import FunctionFuseWarning, NodeExecutionError, workflow
from functionfuse_local import LocalWorkflow

WORKFLOW = "prop"
CLASS = "C"

runs: Counter[str] = Counter()
#: Names of the nodes that raise the next time they run (then run normally).
STATE: dict[str, set[str]] = {"fail_once": set()}


def _digest(name: str, inputs: tuple[Any, ...]) -> int:
    return int.from_bytes(hashlib.sha256(repr((name, inputs)).encode()).digest()[:8], "big")


def _enter(name: str) -> None:
    runs[name] += 1
    if name in STATE["fail_once"]:
        STATE["fail_once"].discard(name)
        raise RuntimeError(f"planned failure of {name}")


@workflow
def compute(name: str, *inputs: int) -> int:
    _enter(name)
    return _digest(name, inputs)


@workflow
class Machine:
    def __init__(self, name: str, *inputs: int) -> None:
        _enter(name)
        self.state = _digest(name, inputs)

    def step(self, name: str, *inputs: int) -> int:
        _enter(name)
        self.state = _digest(name, (self.state, *inputs))
        return self.state


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str  # "function", "class" or "method"
    parents: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    specs: tuple[Spec, ...]  # in creation order
    outputs: tuple[str, ...]  # the nodes given to the workflow
    fail_once: frozenset[str]
    damage: dict[str, int]  # result name -> where to cut the file (modulo its size)

    @property
    def results(self) -> list[str]:
        """Nodes whose results are stored: functions and methods."""
        return [s.name for s in self.specs if s.kind != "class"]

    @property
    def methods(self) -> list[str]:
        return [s.name for s in self.specs if s.kind == "method"]

    def consumers(self, name: str) -> list[str]:
        """Nodes that take ``name``'s value as an argument."""
        return [s.name for s in self.specs if name in s.parents]

    def descendants(self, name: str) -> set[str]:
        """Everything that cannot run before ``name`` has: arguments and the call chain."""
        methods = self.methods
        found: set[str] = set()
        todo = [name]
        while todo:
            current = todo.pop()
            after = self.consumers(current)
            if current == CLASS and methods:
                after.append(methods[0])
            elif current in methods and current != methods[-1]:
                after.append(methods[methods.index(current) + 1])
            for child in after:
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    n = draw(st.integers(1, 12))
    n_methods = draw(st.integers(0, 3))  # 0: no class node
    class_at = draw(st.integers(0, n))
    method_at = sorted(
        draw(st.lists(st.integers(class_at, n), min_size=n_methods, max_size=n_methods))
    )
    specs: list[Spec] = []
    available: list[str] = []

    def parents() -> tuple[str, ...]:
        if not available:
            return ()
        return tuple(draw(st.lists(st.sampled_from(available), max_size=3, unique=True)))

    for i in range(n + 1):
        if n_methods and i == class_at:
            specs.append(Spec(CLASS, "class", parents()))
        for j, at in enumerate(method_at):
            if at == i:
                specs.append(Spec(f"m{j}", "method", parents()))
                available.append(f"m{j}")
        if i < n:
            specs.append(Spec(f"f{i}", "function", parents()))
            available.append(f"f{i}")
    used = {p for s in specs for p in s.parents}
    results = [s.name for s in specs if s.kind != "class"]
    sinks = [name for name in results if name not in used]
    extra = draw(st.sets(st.sampled_from(results), max_size=3))
    outputs = tuple(sinks + sorted(extra - set(sinks)))
    every = [s.name for s in specs]
    fail_once = draw(st.frozensets(st.sampled_from(every), max_size=3))
    damage = draw(st.dictionaries(st.sampled_from(results), st.integers(0, 2**16), max_size=3))
    return Plan(tuple(specs), outputs, fail_once, damage)


def build(plan: Plan) -> list[Any]:
    """A fresh graph for the plan; the nodes given to the workflow."""
    nodes: dict[str, Any] = {}
    for spec in plan.specs:
        args = [nodes[p] for p in spec.parents]
        if spec.kind == "function":
            node = compute(spec.name, *args)
        elif spec.kind == "class":
            node = Machine(spec.name, *args)
        else:
            node = nodes[CLASS].step(spec.name, *args)
        nodes[spec.name] = node.set_name(spec.name)
    return [nodes[name] for name in plan.outputs]


def run(plan: Plan, storage: Any = None) -> Any:
    wf = LocalWorkflow(*build(plan), workflow_name=WORKFLOW)
    if storage is not None:
        wf.set_storage(storage)
    return wf.run()


def check_run_1(plan: Plan, storage: Any, clean: Any) -> set[str]:
    """Run 1 fails at a planned failure (if any); returns the names stored after it."""
    runs.clear()
    STATE["fail_once"] = set(plan.fail_once)
    caught: NodeExecutionError | None = None
    try:
        assert run(plan, storage) == clean
    except NodeExecutionError as error:
        caught = error
    failed = caught.node_name if caught is not None else None
    if caught is not None:
        assert caught.workflow_name == WORKFLOW
        assert f"node {failed!r}" in str(caught)
        assert isinstance(caught.__cause__, RuntimeError)
        assert f"planned failure of {failed}" in str(caught.__cause__)
    stored = set(storage.list_tasks(WORKFLOW))
    # Fresh storage: nothing is read, every node runs once, in graph order.
    assert all(count == 1 for count in runs.values()), runs
    if not plan.fail_once:
        assert failed is None
    if failed is None:
        assert runs == Counter({s.name: 1 for s in plan.specs})
        assert stored == set(plan.results)
    else:
        assert failed in plan.fail_once
        assert failed not in STATE["fail_once"]  # it did raise
        assert not plan.descendants(failed) & set(runs), (failed, runs)
        # The nodes that ran before it are exactly those that fail later in graph order.
        assert set(plan.fail_once) - set(runs) == STATE["fail_once"]
        assert stored == {name for name in plan.results if runs[name] and name != failed}
    return stored


def damage(plan: Plan, storage: Any, root: str, stored: set[str]) -> dict[str, bool]:
    """Truncate the planned stored results; the names damaged, each with whether its
    header was cut."""
    damaged = {}
    for name, cut in plan.damage.items():
        if name not in stored:
            continue
        header_size = storage.read_header(WORKFLOW, name).header_size
        path = os.path.join(root, WORKFLOW, name)
        with open(path, "rb") as file:
            data = file.read()
        with open(path, "wb") as file:
            file.write(data[: cut % len(data)])
        damaged[name] = cut % len(data) < header_size
    return damaged


def check_run_2(
    plan: Plan, storage: Any, clean: Any, stored: set[str], damage: dict[str, bool]
) -> None:
    damaged = set(damage)
    # Header cut: not a stored result (not listed), so run once, needed or not.
    eager = {name for name, header_cut in damage.items() if header_cut}
    runs.clear()
    STATE["fail_once"] = set()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FunctionFuseWarning)
        assert run(plan, storage) == clean
    messages = [str(w.message) for w in caught if issubclass(w.category, FunctionFuseWarning)]
    warned = {name for name in plan.results if any(f"{name!r}" in m for m in messages)}
    assert warned <= damaged, (warned, damaged, messages)

    def needed(name: str) -> bool:
        return name in plan.outputs or any(runs[c] for c in plan.consumers(name))

    for spec in plan.specs:
        name = spec.name
        if spec.kind != "function":
            continue
        if name not in stored:
            assert runs[name] == 1, (name, runs)
        elif name in eager:
            assert runs[name] == 1, (name, runs)
            assert name not in warned, (name, warned)
        elif name not in damaged:
            assert runs[name] == 0, (name, runs)  # finished in run 1: not run again
        else:
            assert runs[name] == needed(name), (name, runs)
            assert (name in warned) == needed(name), (name, warned)

    methods = plan.methods
    if methods:
        if not set(methods) <= stored - eager:
            # An incomplete chain runs again from the constructor.
            assert runs[CLASS] >= 1, runs
            assert all(runs[m] >= 1 for m in methods), runs
        else:
            for m in methods:
                if m in damaged and needed(m):
                    assert m in warned, (m, warned)
                    assert runs[m] >= 1, (m, runs)
                    assert runs[CLASS] >= 1, (m, runs)
            if not set(methods) & damaged:
                assert all(runs[name] == 0 for name in (CLASS, *methods)), runs
    assert set(storage.list_tasks(WORKFLOW)) == set(plan.results)


#: Found by this test: f0 and f1 damaged, f2 not stored. Run 2 recomputed f0 for f2, then
#: again for f1 (read last, as a result of the workflow): the recomputed, re-saved f0 had
#: been forgotten as stored. Fixed: a result saved during a run is read back when needed.
SHARED_DAMAGED_PARENT = Plan(
    specs=(
        Spec("f0", "function", ()),
        Spec("f1", "function", ("f0",)),
        Spec("f2", "function", ("f0",)),
    ),
    outputs=("f1", "f2"),
    fail_once=frozenset({"f2"}),
    damage={"f0": 0, "f1": 0},
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=plans())
@example(plan=SHARED_DAMAGED_PARENT)
def test_resume_after_random_failures_matches_a_clean_run(plan: Plan) -> None:
    runs.clear()
    STATE["fail_once"] = set()
    clean = run(plan)
    assert runs == Counter({s.name: 1 for s in plan.specs})
    with tempfile.TemporaryDirectory() as root:
        storage = ff.storage_factory(root)
        stored = check_run_1(plan, storage, clean)
        damaged = damage(plan, storage, root, stored)
        check_run_2(plan, storage, clean, stored, damaged)
        # Run 3: everything needed is stored and readable.
        runs.clear()
        assert run(plan, storage) == clean
        assert runs == Counter()


def test_a_damaged_result_needed_by_a_running_node_is_recomputed() -> None:
    """One fixed example through the same checks: f0 -> f1 -> f2, f1 fails, f0 damaged."""
    plan = Plan(
        specs=(
            Spec("f0", "function", ()),
            Spec("f1", "function", ("f0",)),
            Spec("f2", "function", ("f1",)),
        ),
        outputs=("f2",),
        fail_once=frozenset({"f1"}),
        damage={"f0": 3},
    )
    clean = run(plan)
    with tempfile.TemporaryDirectory() as root:
        storage = ff.storage_factory(root)
        stored = check_run_1(plan, storage, clean)
        assert runs == Counter(f0=1, f1=1)
        assert stored == {"f0"}
        damaged = damage(plan, storage, root, stored)
        check_run_2(plan, storage, clean, stored, damaged)
        assert runs == Counter(f0=1, f1=1, f2=1)
