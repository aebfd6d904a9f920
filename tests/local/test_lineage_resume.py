"""Resume by lineage on the local backend, end to end, with FileStorage in ``tmp_path``.

A stored result is used only when the node's fingerprint — its code, literal arguments
and upstream — still matches; everything else runs again, and the ``functionfuse_node_rerun``
hook says why. Pipelines whose code the tests edit are written to a temp folder and
imported again under a fresh module name; every node counts its executions in its
module's ``calls`` Counter (module-level mutable data is not part of a fingerprint).

Editing a module and importing it again within the same second would run a stale
``.pyc`` (the bytecode cache is keyed by the source's size and mtime in seconds, and the
edits below keep the size): the ``modules`` fixture turns bytecode writing off, and each
edit test also checks that the new code really ran (its result changed).
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from functionfuse import ConfigurationError, FunctionFuseWarning, RerunReason, workflow
from functionfuse_local import LocalWorkflow

from .conftest import Reports

WORKFLOW = "lineage"

# -- running; the hook recorder (Reports) and the storage are in conftest.py ----------


def run(leaves: Any, storage: Any, reports: Reports | None = None, **options: Any) -> Any:
    """Run a fresh LocalWorkflow over ``leaves`` on ``storage`` (reports cleared first)."""
    if reports is not None:
        reports.clear()
    wf = LocalWorkflow(*leaves, workflow_name=WORKFLOW)
    wf.set_storage(storage)
    return wf.run(**options)


# -- modules written to a temp folder ----------------------------------------------------

_serial = itertools.count()


class Modules:
    """Writes modules into a folder on ``sys.path`` and imports them, fresh every time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.names: list[str] = []

    def write(self, stem: str, source: str) -> Path:
        path = self.root / f"{stem}.py"
        path.write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        return path

    def load(self, stem: str) -> ModuleType:
        """Import ``<stem>.py`` as a new module (a unique name: nothing cached is reused)."""
        name = f"ff_lineage_{stem}_{os.getpid()}_{next(_serial)}"
        spec = importlib.util.spec_from_file_location(name, self.root / f"{stem}.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # as an import does: fingerprints look modules up
        self.names.append(name)
        spec.loader.exec_module(module)
        return module

    def forget(self, name: str) -> None:
        """Drop a module imported by its own name, so the next import reads it again."""
        sys.modules.pop(name, None)
        self.names.append(name)


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Modules]:
    root = tmp_path / "src"
    root.mkdir()
    # No .pyc: a module rewritten within the same second with the same size would
    # otherwise be loaded from a cache holding the old code.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(root))
    written = Modules(root)
    yield written
    for name in written.names:
        sys.modules.pop(name, None)


def edit(source: str, old: str, new: str) -> str:
    """``source`` with its single ``old`` replaced (an edit that misses fails the test)."""
    assert source.count(old) == 1, f"{old!r} must occur once"
    return source.replace(old, new)


PIPELINE = '''\
"""A pipeline the tests write to a temp folder, edit and import again."""
import collections

from functionfuse import workflow

calls = collections.Counter()
KINDS = frozenset({"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"})
TAGS = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "omega"}
WEIGHTS = {"alpha": 1.5, "beta": 2, "gamma": [1, 2]}


def step(x):
    """A plain helper that a node calls."""
    return x + 1


@workflow
def load(n):
    """Load n numbers."""
    calls["load"] += 1
    return list(range(n))


@workflow
def double(xs):
    """Double every number."""
    calls["double"] += 1
    return [2 * x for x in xs]


@workflow
def shift(xs):
    calls["shift"] += 1
    return [step(x) for x in xs]


@workflow
def total(a, b):
    calls["total"] += 1
    return sum(a) + sum(b)


@workflow
def label(t, tags, weights):
    calls["label"] += 1
    known = [tag for tag in tags if tag in KINDS and tag not in {"x", "y", "z"}]
    return f"{t}:{len(known)}:{weights['alpha'] + weights['beta']}"


@workflow
class Model:
    """A stateful node."""

    def __init__(self, lr):
        calls["Model"] += 1
        self.lr = lr
        self.w = 0

    def fit(self, xs):
        """Fit the weight."""
        calls["fit"] += 1
        self.w = self.lr * sum(xs)
        return self.w

    def predict(self, x):
        calls["predict"] += 1
        return self.w * x


@workflow
def side(k):
    calls["side"] += 1
    return k * 10


def build(n=4, lr=2, k=7, tags=None, weights=None):
    data = load(n).set_name("load")
    doubled = double(data).set_name("double")
    shifted = shift(data).set_name("shift")
    summed = total(doubled, shifted).set_name("total")
    tags = TAGS if tags is None else tags
    weights = WEIGHTS if weights is None else weights
    labelled = label(summed, tags, weights).set_name("label")
    model = Model(lr=lr).set_name("model")
    model.fit(doubled).set_name("fit")
    predicted = model.predict(3).set_name("predict")
    return [labelled, predicted, side(k).set_name("side")]
'''

#: What ``build()`` of PIPELINE gives, and the nodes that run.
FIRST = ["22:8:3.5", 72, 70]
ALL_NODES = Counter(
    dict.fromkeys(
        ["load", "double", "shift", "total", "label", "Model", "fit", "predict", "side"], 1
    )
)


def first_run(modules: Modules, storage: Any, source: str = PIPELINE) -> None:
    """Write and run the pipeline once: everything runs and is stored."""
    modules.write("pipeline", source)
    module = modules.load("pipeline")
    assert run(module.build(), storage) == FIRST
    assert module.calls == ALL_NODES


# -- edited code ---------------------------------------------------------------------------


def test_edited_function_body_reruns_that_node_and_its_descendants_only(
    modules: Modules, storage: Any, reports: Reports
) -> None:
    """``double``'s body changes (same source size, same second): it and everything
    downstream of it run again — including the class node's chain that takes its
    result — and the rest is read from storage; the hook says why for each."""
    first_run(modules, storage)
    modules.write("pipeline", edit(PIPELINE, "[2 * x for x in xs]", "[3 * x for x in xs]"))
    module = modules.load("pipeline")
    # The new code ran (a stale .pyc would give the old results).
    assert run(module.build(), storage, reports) == ["28:8:3.5", 108, 70]
    assert module.calls == Counter(double=1, total=1, label=1, Model=1, fit=1, predict=1)
    assert reports.reruns == {
        "double": ["code changed (double)"],
        "total": ["upstream changed ('double')"],
        "label": ["upstream changed ('total')"],
        "fit": ["upstream changed ('double')"],
        "predict": ["upstream changed ('fit')"],
    }
    # And the new results are stored with the new fingerprints.
    module = modules.load("pipeline")
    assert run(module.build(), storage, reports) == ["28:8:3.5", 108, 70]
    assert module.calls == Counter()
    assert reports.reruns == {}


def test_edited_helper_in_the_same_module_reruns_its_caller(
    modules: Modules, storage: Any, reports: Reports
) -> None:
    """``shift`` calls the plain function ``step`` of its module: editing ``step``
    changes ``shift``'s code fingerprint, and the reason names ``step``."""
    first_run(modules, storage)
    modules.write("pipeline", edit(PIPELINE, "return x + 1", "return x + 2"))
    module = modules.load("pipeline")
    assert run(module.build(), storage, reports) == ["26:8:3.5", 72, 70]
    assert module.calls == Counter(shift=1, total=1, label=1)
    assert reports.reruns == {
        "shift": ["code changed (step)"],
        "total": ["upstream changed ('shift')"],
        "label": ["upstream changed ('total')"],
    }


def test_moved_code_and_edited_docstrings_rerun_nothing(
    modules: Modules, storage: Any, reports: Reports
) -> None:
    """Line numbers and docstrings are not part of a fingerprint: lines added above
    every function and edited docstrings (of a module, node, helper, class and method)
    leave every stored result in use."""
    first_run(modules, storage)
    source = "# A comment.\n\n\n# Another one.\n" + PIPELINE
    for old, new in [
        ("tests write to a temp folder", "tests write, edit and import again"),
        ("Double every number.", "Multiply every number by two, as the name says."),
        ("A plain helper that a node calls.", "A helper."),
        ("A stateful node.", "A node with state: a constructor and method calls."),
        ("Fit the weight.", "Fit the weight to the sum."),
    ]:
        source = edit(source, old, new)
    modules.write("pipeline", source)
    module = modules.load("pipeline")
    # The edited module is the one that runs.
    assert module.double.__doc__ == "Multiply every number by two, as the name says."
    assert module.double.__wrapped__.__code__.co_firstlineno > 20
    assert run(module.build(), storage, reports) == FIRST
    assert module.calls == Counter()
    assert reports.reruns == {}


def test_edited_method_reruns_the_method_calls_of_its_class(
    modules: Modules, storage: Any, reports: Reports
) -> None:
    """A class's code fingerprint covers all its methods: editing ``predict`` re-runs
    the constructor and every method call of that instance, and nothing else."""
    first_run(modules, storage)
    modules.write("pipeline", edit(PIPELINE, "return self.w * x", "return self.w + x"))
    module = modules.load("pipeline")
    assert run(module.build(), storage, reports) == ["22:8:3.5", 27, 70]
    assert module.calls == Counter(Model=1, fit=1, predict=1)
    assert reports.reruns == {
        "fit": ["code changed (Model.predict)"],
        "predict": ["code changed (Model.predict)", "upstream changed ('fit')"],
    }
    # The same for programs (issue 13): a RerunReason per reason.
    assert reports.causes == {
        "fit": [RerunReason.CODE_CHANGED],
        "predict": [RerunReason.CODE_CHANGED, RerunReason.UPSTREAM_CHANGED],
    }


def test_changed_constructor_argument_reruns_the_method_calls(
    modules: Modules, storage: Any, reports: Reports
) -> None:
    """``Model(lr=3)`` instead of ``Model(lr=2)``: the instance is built again and its
    method calls run again, reported as an upstream change of the class node."""
    first_run(modules, storage)
    module = modules.load("pipeline")
    assert run(module.build(lr=3), storage, reports) == ["22:8:3.5", 108, 70]
    assert module.calls == Counter(Model=1, fit=1, predict=1)
    assert reports.reruns == {
        "fit": ["upstream changed ('model')"],
        "predict": ["upstream changed ('fit')"],
    }


def test_changed_method_argument_replays_the_instance_chain(
    modules: Modules, storage: Any, reports: Reports
) -> None:
    """``predict(4)`` instead of ``predict(3)``: only ``predict`` is out of date (and
    reported), but its instance is built again and ``fit`` replayed on it so that
    ``predict`` sees the state ``fit`` leaves."""
    first_run(modules, storage)
    modules.write("pipeline", edit(PIPELINE, "model.predict(3)", "model.predict(4)"))
    module = modules.load("pipeline")
    assert run(module.build(), storage, reports) == ["22:8:3.5", 96, 70]
    assert module.calls == Counter(Model=1, fit=1, predict=1)
    assert reports.reruns == {"predict": ["argument 'x' changed"]}


# -- changed arguments ----------------------------------------------------------------------


def test_changed_literal_argument_reruns_that_node_and_its_descendants_only(
    modules: Modules, storage: Any, reports: Reports
) -> None:
    """A new literal argument at a leaf, at the root, and inside a dict argument: each
    time exactly the node that takes it and its descendants run."""
    first_run(modules, storage)

    module = modules.load("pipeline")
    assert run(module.build(k=8), storage, reports) == [*FIRST[:2], 80]
    assert module.calls == Counter(side=1)
    assert reports.reruns == {"side": ["argument 'k' changed"]}

    weights = {"alpha": 1.5, "beta": 3, "gamma": [1, 2]}
    module = modules.load("pipeline")
    assert run(module.build(k=8, weights=weights), storage, reports) == ["22:8:4.5", 72, 80]
    assert module.calls == Counter(label=1)
    assert reports.reruns == {"label": ["argument 'weights' changed"]}

    module = modules.load("pipeline")
    assert run(module.build(n=5, k=8, weights=weights), storage, reports) == [
        "35:8:4.5",
        120,
        80,
    ]
    assert module.calls == Counter(
        load=1, double=1, shift=1, total=1, label=1, Model=1, fit=1, predict=1
    )
    assert reports.reruns == {
        "load": ["argument 'n' changed"],
        "double": ["upstream changed ('load')"],
        "shift": ["upstream changed ('load')"],
        "total": ["upstream changed ('double', 'shift')"],
        "label": ["upstream changed ('total')"],
        "fit": ["upstream changed ('double')"],
        "predict": ["upstream changed ('fit')"],
    }


def test_a_node_kept_out_of_storage_passes_its_change_downstream(
    modules: Modules, storage: Any, reports: Reports
) -> None:
    """``load`` is not stored, so it runs every time; its children resume while its
    fingerprint stays, and run again — naming it — when its argument changes."""

    def run_without_load(module: ModuleType, **arguments: Any) -> Any:
        reports.clear()
        wf = LocalWorkflow(*module.build(**arguments), workflow_name=WORKFLOW)
        wf.set_storage(storage)
        wf.query("load").set_storage(False)
        return wf.run()

    modules.write("pipeline", PIPELINE)
    module = modules.load("pipeline")
    assert run_without_load(module) == FIRST
    assert module.calls == ALL_NODES
    assert "load" not in storage.list_tasks(WORKFLOW)

    module = modules.load("pipeline")
    assert run_without_load(module) == FIRST
    assert module.calls == Counter(load=1)
    assert reports.reruns == {}

    module = modules.load("pipeline")
    assert run_without_load(module, n=5) == ["35:8:3.5", 120, 70]
    assert module.calls == Counter(
        load=1, double=1, shift=1, total=1, label=1, Model=1, fit=1, predict=1
    )
    assert reports.reruns == {
        "double": ["upstream changed ('load')"],
        "shift": ["upstream changed ('load')"],
        "total": ["upstream changed ('double', 'shift')"],
        "label": ["upstream changed ('total')"],
        "fit": ["upstream changed ('double')"],
        "predict": ["upstream changed ('fit')"],
    }


# -- nothing changed ------------------------------------------------------------------------

CHILD = """\
import importlib.util, json, sys

import functionfuse as ff
from functionfuse_local import LocalWorkflow

source, storage_path, workflow_name = sys.argv[1:]
spec = importlib.util.spec_from_file_location("pipeline_in_child", source)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)

reruns = {}

class Reruns:
    @ff.hookimpl
    def functionfuse_node_rerun(self, node_name, reasons):
        reruns[node_name] = list(reasons)

ff.get_plugin_manager().register(Reruns())
wf = LocalWorkflow(*module.build(), workflow_name=workflow_name)
wf.set_storage(ff.storage_factory({"kind": "file", "options": {"path": storage_path}}))
result = wf.run()
print(json.dumps({
    "result": result,
    "runs": dict(module.calls),
    "reruns": reruns,
    "tags": list(module.TAGS),
}))
"""


def run_in_new_process(source: Path, storage_path: Path, hash_seed: str) -> dict[str, Any]:
    """Run the pipeline in ``source`` in a fresh interpreter with ``PYTHONHASHSEED``."""
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    done = subprocess.run(
        [sys.executable, "-B", "-c", CHILD, str(source), str(storage_path), WORKFLOW],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_nothing_changed_runs_nothing_in_a_rebuild_and_in_new_processes(
    modules: Modules, tmp_path: Path, storage: Any, reports: Reports
) -> None:
    """The same code and arguments, rebuilt: nothing runs — in this process (a new
    import, a new graph) and in new interpreters with other hash seeds, so that sets
    of strings (an argument, a frozenset in a function's code, a module constant)
    iterate in other orders there."""
    first_run(modules, storage)
    module = modules.load("pipeline")
    assert run(module.build(), storage, reports) == FIRST
    assert module.calls == Counter()
    assert reports.started == Counter()
    assert reports.reruns == {}

    source = modules.root / "pipeline.py"
    children = [run_in_new_process(source, tmp_path / "storage", seed) for seed in ("1", "2")]
    for child in children:
        assert child["result"] == FIRST
        assert child["runs"] == {}
        assert child["reruns"] == {}
    # The set argument really was seen in another order (by one process at least).
    orders = {tuple(child["tags"]) for child in children} | {tuple(module.TAGS)}
    assert len(orders) > 1


# -- resume modes ------------------------------------------------------------------------------


def test_resume_by_name_uses_the_stale_result_and_false_runs_everything(
    modules: Modules, storage: Any, reports: Reports
) -> None:
    """``resume="name"`` (argument or attribute) serves what is stored under the name,
    changed or not; ``resume=False`` runs every node; the default (also ``True``) then
    finds everything up to date."""
    first_run(modules, storage)

    module = modules.load("pipeline")
    assert run(module.build(n=5), storage, reports, resume="name") == FIRST  # stale
    assert module.calls == Counter()
    assert reports.reruns == {}

    module = modules.load("pipeline")
    wf = LocalWorkflow(*module.build(n=5), workflow_name=WORKFLOW)
    wf.set_storage(storage)
    wf.resume = "name"
    assert wf.run() == FIRST
    assert module.calls == Counter()

    module = modules.load("pipeline")
    assert run(module.build(n=5), storage, reports, resume=False) == ["35:8:3.5", 120, 70]
    assert module.calls == ALL_NODES
    assert reports.reruns == {}

    module = modules.load("pipeline")
    wf = LocalWorkflow(*module.build(n=5), workflow_name=WORKFLOW)
    wf.set_storage(storage)
    wf.resume = False
    assert wf.run(resume=True) == ["35:8:3.5", 120, 70]  # the argument wins
    assert module.calls == Counter()


def test_name_mode_results_are_checked_by_fingerprint_afterwards(
    modules: Modules, storage: Any, reports: Reports
) -> None:
    """A result served by name is not made up to date by it: the next run by
    fingerprint still sees the change, and runs the node."""
    first_run(modules, storage)
    module = modules.load("pipeline")
    run(module.build(k=8), storage, reports, resume="name")
    assert module.calls == Counter()
    module = modules.load("pipeline")
    assert run(module.build(k=8), storage, reports) == [*FIRST[:2], 80]
    assert module.calls == Counter(side=1)
    assert reports.reruns == {"side": ["argument 'k' changed"]}


@pytest.mark.parametrize("value", ["fingerprints", "always", None, 1, "False"])
def test_bad_resume_value_is_a_configuration_error_naming_the_workflow(
    storage: Any, value: Any
) -> None:
    """A misspelt mode, as an argument or as the attribute, stops the run before any
    node runs; the message names the workflow and the value."""
    runs.clear()
    nodes = [count("a", 1)]
    if value is not None:
        with pytest.raises(ConfigurationError, match=rf"'{WORKFLOW}'.*{value!r}"):
            run(nodes, storage, resume=value)
    wf = LocalWorkflow(*nodes, workflow_name=WORKFLOW)
    wf.set_storage(storage)
    wf.resume = value
    with pytest.raises(ConfigurationError, match=rf"'{WORKFLOW}'.*{value!r}"):
        wf.run()
    assert runs == Counter()


def test_bad_resume_value_fails_without_a_storage_too() -> None:
    """Without a storage nothing is resumed, but a misspelt mode is still a mistake to
    report, not a setting silently ignored until the day a storage is set."""
    runs.clear()
    wf = LocalWorkflow(count("a", 1), workflow_name=WORKFLOW)
    with pytest.raises(ConfigurationError, match=rf"'{WORKFLOW}'.*'fingerprints'"):
        wf.run(resume="fingerprints")
    assert runs == Counter()
    assert wf.run(resume="name") == 1


# -- edited code in another module; version= ----------------------------------------------------

HELPERS = """\
def offset(x):
    return x + 100
"""

NODES = """\
import collections

from functionfuse import workflow
from {helpers} import offset

calls = collections.Counter()


@workflow
def shifted(x):
    calls["shifted"] += 1
    return offset(x) * 1


@workflow(version="{version}")
def pinned(x):
    calls["pinned"] += 1
    return offset(x) - 0


def build():
    return [shifted(1).set_name("shifted"), pinned(1).set_name("pinned")]
"""


def load_nodes(modules: Modules, helpers: str, version: str, body: str = "- 0") -> ModuleType:
    """Write NODES (with ``pinned`` returning ``offset(x) <body>``) and import it, and
    its helpers module again."""
    source = NODES.format(helpers=helpers, version=version)
    modules.write("nodes", edit(source, "offset(x) - 0", f"offset(x) {body}"))
    modules.forget(helpers)
    return modules.load("nodes")


def test_edited_function_in_another_module_reruns_its_caller(
    modules: Modules, storage: Any, reports: Reports
) -> None:
    """``offset`` lives in another module of the project: editing it re-runs the node
    that calls it, and the reason names it; the node pinned with ``version=`` keeps its
    result (the version stands for its code, helpers included)."""
    helpers = f"ff_lineage_helpers_{os.getpid()}_{next(_serial)}"
    modules.write(helpers, HELPERS)
    module = load_nodes(modules, helpers, "1")
    assert run(module.build(), storage) == [101, 101]

    modules.write(helpers, edit(HELPERS, "x + 100", "x + 200"))
    module = load_nodes(modules, helpers, "1")
    assert run(module.build(), storage, reports) == [201, 101]
    assert module.calls == Counter(shifted=1)
    assert reports.reruns == {"shifted": [f"code changed ({helpers}.offset)"]}


def test_version_pins_the_code_until_it_is_bumped(
    modules: Modules, storage: Any, reports: Reports
) -> None:
    """``@workflow(version="1")``: an edit of the node's body (and of a helper in
    another module) is ignored while the version stays; bumping it runs the node again
    with "code changed" — and the unpinned node beside it is unaffected by the bump."""
    helpers = f"ff_lineage_helpers_{os.getpid()}_{next(_serial)}"
    modules.write(helpers, HELPERS)
    module = load_nodes(modules, helpers, "1")
    assert run(module.build(), storage) == [101, 101]

    modules.write(helpers, edit(HELPERS, "x + 100", "x + 200"))
    module = load_nodes(modules, helpers, "1", body="- 1")
    assert run(module.build(), storage, reports) == [201, 101]  # pinned: kept
    assert module.calls == Counter(shifted=1)
    assert list(reports.reruns) == ["shifted"]

    module = load_nodes(modules, helpers, "2", body="- 1")
    assert run(module.build(), storage, reports) == [201, 200]
    assert module.calls == Counter(pinned=1)
    assert reports.reruns == {"pinned": ["code changed (pinned)"]}

    module = load_nodes(modules, helpers, "2", body="- 1")
    assert run(module.build(), storage, reports) == [201, 200]
    assert module.calls == Counter()


# -- nodes defined here: closures, unfingerprintable arguments, old results ----------------------

runs: Counter[str] = Counter()


@workflow
def count(key: str, x: Any) -> Any:
    runs[key] += 1
    return x


@workflow
def uses(key: str, thing: Any, x: Any) -> Any:
    """Takes a value it does not return (it may not pickle)."""
    runs[key] += 1
    return getattr(thing, "key", x)


@workflow
def after(x: Any) -> Any:
    runs["after"] += 1
    return x


def make_scaler(k: int) -> Any:
    """Decorated functions with one source and one qualname, differing by ``k``."""

    @workflow
    def scale(x: int) -> int:
        runs["scale"] += 1
        return k * x

    return scale


@pytest.fixture(autouse=True)
def _reset_runs() -> None:
    runs.clear()


def test_closures_with_different_values_never_share_a_result(
    storage: Any, reports: Reports
) -> None:
    """``make_scaler(3)``'s node, stored under the name ``make_scaler(2)``'s node had,
    runs again ("code changed (make_scaler.<locals>.scale)": closure values are code)
    and gives its own result; in
    one workflow, two such nodes get their own results."""
    assert run([make_scaler(2)(5).set_name("scale")], storage) == 10
    assert run([make_scaler(2)(5).set_name("scale")], storage, reports) == 10
    assert runs == Counter(scale=1)
    assert run([make_scaler(3)(5).set_name("scale")], storage, reports) == 15
    assert runs == Counter(scale=2)
    assert reports.reruns == {"scale": ["code changed (make_scaler.<locals>.scale)"]}

    runs.clear()
    both = [make_scaler(2)(5), make_scaler(3)(5), make_scaler(2)(5)]
    assert run([after(both)], storage) == [10, 15, 10]
    assert runs == Counter(scale=3, after=1)
    runs.clear()
    assert run([after([make_scaler(2)(5), make_scaler(3)(5), make_scaler(2)(5)])], storage) == [
        10,
        15,
        10,
    ]
    assert runs == Counter()


def _generator() -> Any:
    return (i for i in range(3))


@pytest.mark.parametrize(
    ("make", "why"),
    [(threading.Lock, "cannot pickle"), (_generator, "cannot pickle")],
    ids=["lock", "generator"],
)
def test_unfingerprintable_argument_runs_its_node_and_descendants_every_time(
    storage: Any, reports: Reports, make: Callable[[], Any], why: str
) -> None:
    """A lock or a generator as a literal argument: that node and its descendant run
    on every run, with exactly one FunctionFuseWarning naming the node per run and the
    reasons on the hook; a node beside them resumes."""

    def build() -> list[Any]:
        odd = uses("odd", [make(), 1], 1).set_name("odd")
        return [after(odd).set_name("after"), count("plain", 2).set_name("plain")]

    for attempt in range(2):
        reports.clear()
        runs.clear()
        wf = LocalWorkflow(*build(), workflow_name=WORKFLOW)
        wf.set_storage(storage)
        with pytest.warns(FunctionFuseWarning) as caught:
            result = wf.run()
        assert result == [1, 2]
        messages = [str(w.message) for w in caught if issubclass(w.category, FunctionFuseWarning)]
        assert len(messages) == 1, messages
        assert "1 node(s)" in messages[0]
        assert "'odd'" in messages[0]
        assert why in messages[0]
        assert runs == (Counter(odd=1, after=1) if attempt else Counter(odd=1, after=1, plain=1))
        assert set(reports.reruns) == {"odd", "after"}
        (reason,) = reports.reruns["odd"]
        assert reason.startswith("cannot be fingerprinted: ")
        assert why in reason
        assert reports.reruns["after"] == ["upstream node 'odd' cannot be fingerprinted"]


class Handle:
    """A value pickle refuses (it holds a lock) that says what identifies it."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.lock = threading.Lock()

    def __functionfuse_fingerprint__(self) -> str:
        return self.key


def test_value_with_a_fingerprint_method_is_fingerprinted_by_it(
    storage: Any, reports: Reports
) -> None:
    """``__functionfuse_fingerprint__`` stands for the value: another object with the
    same key resumes (and no warning is raised: pytest turns one into an error), a new
    key runs the node again with "argument 'thing' changed"."""
    assert run([uses("handle", Handle("a"), 0)], storage) == "a"
    assert run([uses("handle", Handle("a"), 0)], storage, reports) == "a"
    assert runs == Counter(handle=1)
    assert reports.reruns == {}
    assert run([uses("handle", Handle("b"), 0)], storage, reports) == "b"
    assert runs == Counter(handle=2)
    assert reports.reruns == {"uses_0": ["argument 'thing' changed"]}


def test_result_stored_without_a_fingerprint_runs_once_then_resumes(
    storage: Any, reports: Reports
) -> None:
    """A result saved with ``storage.save`` alone (by hand, or by an older version) is
    not trusted: its node runs and replaces it. Its descendant's stored result still
    matches (the parent's fingerprint did not change), so it does not run; next time
    nothing runs."""

    def build() -> list[Any]:
        return [after(count("source", 3).set_name("source")).set_name("after")]

    assert run(build(), storage) == 3
    storage.save(WORKFLOW, "source", 42)
    runs.clear()
    assert run(build(), storage, reports) == 3
    assert runs == Counter(source=1)
    assert reports.reruns == {"source": ["stored without a fingerprint"]}
    assert storage.read_task(WORKFLOW, "source") == 3
    runs.clear()
    assert run(build(), storage, reports) == 3
    assert runs == Counter()
    assert reports.reruns == {}


def test_every_node_stored_without_fingerprints_reruns_with_reasons(
    storage: Any, reports: Reports
) -> None:
    """Results of a run by name only, kept by a storage upgraded since: every node
    says it was stored without a fingerprint, descendants also that upstream changed."""
    storage.save(WORKFLOW, "source", 42)
    storage.save(WORKFLOW, "after", 42)
    assert (
        run([after(count("source", 3).set_name("source")).set_name("after")], storage, reports) == 3
    )
    assert runs == Counter(source=1, after=1)
    assert reports.reruns == {
        "source": ["stored without a fingerprint"],
        "after": ["stored without a fingerprint", "upstream changed ('source')"],
    }
