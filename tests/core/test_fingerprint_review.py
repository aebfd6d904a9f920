"""Regression tests for the review of fingerprints (functionfuse._fingerprint).

Each test pins one finding of the review: something a node's result depends on that
its fingerprint missed (S1-S10), a value that crashed the fingerprinting instead of
making its node unknown (C1, C2), fingerprints that changed when nothing did (P1-P4),
and work done more often than needed (F2). The end-to-end side of these findings is in
``tests/local/test_lineage_review.py``.

Code under test is compiled into fresh modules (``compile_module`` of
``test_fingerprint``), or into modules with a chosen name (``compile_named``) where the
module's name must be the same in both versions, as it is for one file edited between
two runs.
"""

from __future__ import annotations

import collections
import dataclasses
import importlib.util
import itertools
import json
import os
import random
import re
import runpy
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functionfuse import _fingerprint_installed as installed_module
from functionfuse import workflow
from functionfuse.runtime import node_of

from . import test_fingerprint as base
from .conftest import RunPython
from .test_fingerprint import compile_module, f, fingerprint, g, lineage_of

_serial = itertools.count()
_named: list[str] = []


@pytest.fixture(autouse=True)
def _forget_modules() -> Iterator[None]:
    """Drop the modules compiled by a test from ``sys.modules`` when it ends."""
    yield
    while base._compiled:
        sys.modules.pop(base._compiled.pop(), None)
    while _named:
        sys.modules.pop(_named.pop(), None)


def unique_name(stem: str) -> str:
    """A module name no other test uses."""
    return f"ff_review_{stem}_{os.getpid()}_{next(_serial)}"


def compile_named(name: str, source: str) -> types.ModuleType:
    """``source`` as the module ``name`` in ``sys.modules`` (replacing one compiled
    before under that name: the same file, edited and imported again)."""
    module = types.ModuleType(name)
    sys.modules[name] = module
    _named.append(name)
    exec(compile(textwrap.dedent(source), f"<{name}>", "exec"), module.__dict__)
    return module


def known(leaf: Any) -> bytes:
    """The fingerprint of ``leaf``, which must be known."""
    found = fingerprint(leaf)
    assert found is not None
    return found


# -- S1: names bound to code of other modules --------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("from math import floor as rnd", "from math import ceil as rnd"),
        ("from fractions import Fraction as rnd", "from decimal import Decimal as rnd"),
    ],
    ids=["function", "class"],
)
def test_a_name_bound_to_another_modules_code_counts_by_its_qualified_name(
    first: str, second: str
) -> None:
    """S1: ``from math import floor as rnd`` and ``from math import ceil as rnd`` are
    other code for a node calling ``rnd``: the name's target counts by its qualified
    name (it used to be left out altogether)."""
    source = """
    from functionfuse import workflow
    {imports}

    @workflow
    def r(x):
        return rnd(x)
    """
    one = known(compile_module(source.format(imports=first)).r(2.5))
    assert known(compile_module(source.format(imports=first)).r(2.5)) == one
    assert known(compile_module(source.format(imports=second)).r(2.5)) != one


# -- S2: immutable module-level constants -----------------------------------------------------

CONSTANTS = """
import collections, dataclasses, datetime, decimal, enum, fractions, pathlib, re, uuid
from functionfuse import workflow

Cfg = collections.namedtuple("Cfg", "lr depth")


class Mode(enum.Enum):
    FAST = 1
    SLOW = 2


@dataclasses.dataclass(frozen=True)
class Frozen:
    lr: float
    name: str


CFG = Cfg(0.1, 2)
PURE = pathlib.PurePosixPath("data/v1")
ROOT = pathlib.Path("/data/v1")
START = datetime.date(2020, 1, 1)
WHEN = datetime.datetime(2020, 1, 1, 12, 30)
STEP = datetime.timedelta(days=1)
RATE = decimal.Decimal("0.1")
RATIO = fractions.Fraction(1, 3)
RUN_ID = uuid.UUID("12345678-1234-5678-1234-567812345678")
MODE = Mode.FAST
PATTERN = re.compile(r"\\d+")
SPAN = range(3)
FROZEN = Frozen(0.1, "a")
PARAMS = {"lr": 0.1}
LAYERS = [64, 32]


@workflow
def f(x):
    return (
        CFG, PURE, ROOT, START, WHEN, STEP, RATE, RATIO, RUN_ID, MODE, PATTERN.findall(x),
        SPAN, FROZEN, PARAMS, LAYERS,
    )
"""


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("Cfg(0.1, 2)", "Cfg(0.2, 2)"),
        ('PurePosixPath("data/v1")', 'PurePosixPath("data/v2")'),
        ('Path("/data/v1")', 'Path("/data/v2")'),
        ("date(2020, 1, 1)", "date(2020, 1, 2)"),
        ("datetime(2020, 1, 1, 12, 30)", "datetime(2020, 1, 1, 12, 31)"),
        ("timedelta(days=1)", "timedelta(days=2)"),
        ('Decimal("0.1")', 'Decimal("0.2")'),
        ("Fraction(1, 3)", "Fraction(2, 3)"),
        ("567812345678", "567812345679"),
        ("MODE = Mode.FAST", "MODE = Mode.SLOW"),
        ('compile(r"\\d+")', 'compile(r"[a-z]+")'),
        ("range(3)", "range(4)"),
        ('Frozen(0.1, "a")', 'Frozen(0.1, "b")'),
    ],
    ids=[
        "namedtuple",
        "purepath",
        "path",
        "date",
        "datetime",
        "timedelta",
        "decimal",
        "fraction",
        "uuid",
        "enum-member",
        "regex",
        "range",
        "frozen-dataclass",
    ],
)
def test_immutable_module_constants_are_part_of_the_code(old: str, new: str) -> None:
    """S2: a node reading an immutable module-level constant (a namedtuple of atoms, a
    path, a date, a Decimal, a UUID, an enum member, a compiled pattern, a range, a
    frozen dataclass of atoms) gets another fingerprint when the constant is edited."""
    assert CONSTANTS.count(old) == 1
    before = known(compile_module(CONSTANTS).f("a1"))
    assert known(compile_module(CONSTANTS).f("a1")) == before  # the same source
    assert known(compile_module(CONSTANTS.replace(old, new)).f("a1")) != before


@pytest.mark.parametrize(
    ("old", "new"),
    [('PARAMS = {"lr": 0.1}', 'PARAMS = {"lr": 0.2}'), ("[64, 32]", "[128, 32]")],
    ids=["dict", "list"],
)
def test_mutable_module_data_stays_out_of_the_fingerprint(old: str, new: str) -> None:
    """S2, the other side: module-level dicts and lists are deliberately not part of a
    fingerprint (a cache or a counter is state, not code; a run may change it), so
    editing one in the source leaves the fingerprint as it was."""
    assert CONSTANTS.count(old) == 1
    before = known(compile_module(CONSTANTS).f("a1"))
    assert known(compile_module(CONSTANTS.replace(old, new)).f("a1")) == before


# -- S3: wrapped helpers of the same module --------------------------------------------------

WRAPPED = """
import functools
from functionfuse import workflow


@functools.lru_cache
def cached(x):
    return x + 11


@functools.cache
def memo(x):
    return x + 12


def plain(x, k):
    return x * 13 + k


partial_helper = functools.partial(plain, k=0)


@workflow
def use_lru(x):
    return cached(x)


@workflow
def use_cache(x):
    return memo(x)


@workflow
def use_partial(x):
    return partial_helper(x)


@workflow
class Model:
    @functools.cached_property
    def weight(self):
        return 14

    def predict(self, x):
        return x * self.weight


def predicted(x):
    return Model().predict(x)
"""


@pytest.mark.parametrize(
    ("node", "old", "new"),
    [
        ("use_lru", "x + 11", "x + 21"),
        ("use_cache", "x + 12", "x + 22"),
        ("use_partial", "x * 13", "x * 23"),
        ("predicted", "return 14", "return 24"),
    ],
    ids=["lru_cache", "cache", "partial", "cached_property"],
)
def test_wrapped_helpers_of_the_same_module_are_followed(node: str, old: str, new: str) -> None:
    """S3: helpers wrapped by ``functools.lru_cache``/``cache``, a module-level
    ``functools.partial`` of a helper, and a ``cached_property`` of a class node are
    code of the node: editing the wrapped body changes its fingerprint."""
    assert WRAPPED.count(old) == 1

    def of(source: str) -> bytes:
        return known(getattr(compile_module(source), node)(3))

    before = of(WRAPPED)
    assert of(WRAPPED) == before
    assert of(WRAPPED.replace(old, new)) != before


def test_an_lru_cached_function_given_as_an_argument_counts_by_its_code() -> None:
    """S3: a function of the project wrapped by ``lru_cache`` and passed as a value
    counts by its code, as a plain one does: the same module (name) with another body
    is another argument."""
    name = unique_name("lru_argument")
    source = """
    import functools

    @functools.lru_cache
    def loss(x):
        return x * 1
    """
    first = known(f(compile_named(name, source).loss, 3))
    assert known(f(compile_named(name, source).loss, 3)) == first
    assert known(f(compile_named(name, source.replace("x * 1", "x * 2")).loss, 3)) != first


# -- S4: bound methods of builtin types --------------------------------------------------------


def test_builtin_bound_methods_count_their_instance_as_arguments() -> None:
    """S4: ``{'k': 1}.get`` and ``{'k': 2}.get`` (a seeded ``Random``'s ``random``, a
    compiled pattern's ``findall``) are other arguments: the object a builtin method is
    bound to is part of it, not only the method's name."""
    assert known(f({"k": 1}.get, "k")) == known(f({"k": 1}.get, "k"))
    assert known(f({"k": 1}.get, "k")) != known(f({"k": 2}.get, "k"))
    assert known(f(random.Random(1).random)) != known(f(random.Random(2).random))
    assert known(f(re.compile("a+").findall, "aab")) != known(f(re.compile("b+").findall, "aab"))


def test_builtin_bound_methods_as_node_functions_count_their_instance() -> None:
    """S4: ``workflow({'k': 1}.get)`` and ``workflow({'k': 2}.get)`` are other code."""
    one = known(workflow({"k": 1}.get)("k"))
    assert known(workflow({"k": 1}.get)("k")) == one
    assert known(workflow({"k": 2}.get)("k")) != one
    assert known(workflow(random.Random(1).random)()) != known(workflow(random.Random(2).random)())


# -- S5: functions of modules not in sys.modules --------------------------------------------


def test_a_function_execd_into_a_namespace_counts_by_its_code() -> None:
    """S5: a function exec'd into a dict with its own ``__name__`` (a module that is
    not in ``sys.modules``) is code of the project, not an installed package's: two
    bodies under one name are two arguments."""
    name = unique_name("exec")

    def loss(body: str) -> Any:
        namespace: dict[str, Any] = {"__name__": name}
        exec(compile(f"def loss(x):\n    return {body}\n", "<experiment>", "exec"), namespace)
        return namespace["loss"]

    first = known(f(loss("x * 1"), 3))
    assert known(f(loss("x * 1"), 3)) == first
    assert known(f(loss("x * 5"), 3)) != first


def test_a_function_of_an_unregistered_module_counts_by_its_code(tmp_path: Path) -> None:
    """S5: a module loaded with ``importlib.util`` and never put in ``sys.modules``
    (a plugin loader's way): its function given as an argument counts by its code."""
    name = unique_name("unregistered")

    def loss(body: str, tag: str) -> Any:
        path = tmp_path / f"loss_{tag}.py"
        path.write_text(f"def loss(x):\n    return {body}\n")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert name not in sys.modules
        return module.loss

    first = known(f(loss("x * 1", "a"), 3))
    assert known(f(loss("x * 1", "b"), 3)) == first
    assert known(f(loss("x * 2", "c"), 3)) != first


# -- S6: version= and closures, defaults -------------------------------------------------------

VERSIONED = """
from functionfuse import workflow


def make(k):
    @workflow(version="1")
    def scale(x):
        return x * k

    return scale


@workflow(version="1")
def g(x, k=2):
    return k * x
"""


def test_version_pins_the_body_but_not_closure_values_or_defaults() -> None:
    """S6: ``@workflow(version="1")`` stands for the body only: closures over other
    values and other defaults get other fingerprints under one version; an edited body
    under the same version keeps its fingerprint; a new version changes it."""
    module = compile_module(VERSIONED)
    assert known(module.make(2)(1)) == known(module.make(2)(1))
    assert known(module.make(2)(1)) != known(module.make(3)(1))

    before = known(compile_module(VERSIONED).g(1))
    assert known(compile_module(VERSIONED.replace("k=2", "k=3")).g(1)) != before
    assert VERSIONED.count("return k * x") == 1
    edited = VERSIONED.replace("return k * x", "return k + x")
    assert known(compile_module(edited).g(1)) == before
    bumped = edited.replace('version="1")\ndef g', 'version="2")\ndef g')
    assert bumped != edited
    assert known(compile_module(bumped).g(1)) != before


# -- S7: the exception table -------------------------------------------------------------------

TRY_AROUND_ONE = """
from functionfuse import workflow


def g(x):
    raise ValueError(x)


@workflow
def f(x):
    a = g(x)
    try: b = a + 1
    except ValueError: b = 0
    return b
"""

TRY_AROUND_TWO = """
from functionfuse import workflow


def g(x):
    raise ValueError(x)


@workflow
def f(x):
    try: a = g(x); b = a + 1
    except ValueError: b = 0
    return b
"""


@pytest.mark.skipif(sys.version_info < (3, 11), reason="co_exceptiontable is 3.11+")
def test_moving_a_try_boundary_changes_the_fingerprint() -> None:
    """S7: moving a statement into a ``try`` leaves the bytecode as it was and changes
    the exception table (which instructions the ``try`` covers) — and the behaviour:
    the fingerprint must change."""
    one, two = compile_module(TRY_AROUND_ONE), compile_module(TRY_AROUND_TWO)
    code_one, code_two = one.f.__wrapped__.__code__, two.f.__wrapped__.__code__
    assert code_one.co_code == code_two.co_code  # the precondition of the test
    assert code_one.co_exceptiontable != code_two.co_exceptiontable
    assert known(one.f(1)) != known(two.f(1))


# -- S8: bound methods vs separate arguments --------------------------------------------------


class Scaler:
    def __init__(self, k: int) -> None:
        self.k = k

    def m(self, x: int) -> int:
        return x * self.k


def test_a_bound_method_is_not_its_function_and_instance_side_by_side() -> None:
    """S8: ``g(s, obj.m)`` (one argument) and ``g(s, Scaler.m, obj)`` (two) are other
    calls, with a node among the arguments (the argument-by-argument encoding) and
    without."""
    obj = Scaler(3)
    source = f(1)
    assert known(g(source, obj.m)) == known(g(source, Scaler(3).m))  # equal state
    assert known(g(source, obj.m)) != known(g(source, Scaler.m, obj))
    assert known(g(0, obj.m)) != known(g(0, Scaler.m, obj))


# -- S9: property accessors ---------------------------------------------------------------------


def test_a_property_getter_and_setter_of_one_function_differ() -> None:
    """S9: ``property(f)`` and ``property(None, f)`` are other classes."""
    source = """
    from functionfuse import workflow

    def _v(self, *args):
        return 1

    @workflow
    class M:
        value = property(_v)

        def run(self):
            return self.value
    """
    getter = compile_module(source)
    setter = compile_module(source.replace("property(_v)", "property(None, _v)"))
    deleter = compile_module(source.replace("property(_v)", "property(None, None, _v)"))
    fps = [known(module.M().run()) for module in (getter, setter, deleter)]
    assert known(compile_module(source).M().run()) == fps[0]
    assert len(set(fps)) == 3


# -- S10: installed roots ---------------------------------------------------------------------


def test_a_folder_whose_name_extends_an_installed_root_is_project_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S10: a module under ``<root>-projects/`` only shares a string prefix with the
    site directory ``<root>``: it is code of the project, while one under ``<root>/``
    is installed."""
    root = tmp_path / "lib" / "python3.11"
    inside, beside = root / "site", tmp_path / "lib" / "python3.11-projects" / "exp"
    monkeypatch.setattr(installed_module, "_site_roots", (str(root),))
    monkeypatch.setattr(installed_module, "_stdlib_roots", ())
    monkeypatch.setattr(installed_module, "_modules", {})
    found = {}
    for where in (inside, beside):
        where.mkdir(parents=True)
        name = unique_name("rooted")
        path = where / f"{name}.py"
        path.write_text("def loss(x):\n    return x\n")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        _named.append(name)
        spec.loader.exec_module(module)
        found[where] = installed_module._installed(name)
    assert found == {inside: True, beside: False}


# -- C1, C2: values that crashed the fingerprinting -------------------------------------------


@dataclasses.dataclass
class Scale:
    """A callable config object: ``eq=True`` makes it unhashable."""

    k: int

    def __call__(self, x: int) -> int:
        return x * self.k


class Meta(type):
    """A metaclass with ``__eq__`` and no ``__hash__``: its classes are unhashable."""

    def __eq__(cls, other: object) -> bool:
        return cls is other

    __hash__ = None  # type: ignore[assignment]


class Plugin(metaclass=Meta):
    pass


class Unready:
    """A value whose ``__functionfuse_fingerprint__`` raises."""

    def __functionfuse_fingerprint__(self) -> str:
        raise ValueError("no config loaded")


def test_unhashable_callables_and_classes_do_not_crash_the_lineage() -> None:
    """C1: an unhashable callable as a node's function (with and without ``version=``)
    and an unhashable class as an argument: the lineage is computed (the node known or
    unknown, but no TypeError)."""
    for leaf in (
        workflow(Scale(2))(1),
        workflow(version="1")(Scale(3))(1),
        f(Plugin),
    ):
        lineage, _ = lineage_of(leaf)
        assert node_of(leaf) in lineage.fingerprints


def test_a_raising_fingerprint_method_makes_the_node_unknown() -> None:
    """C2: ``__functionfuse_fingerprint__`` raising: the node is unknown, and the reason
    says what the method raised."""
    node = node_of(f(Unready()).set_name("unready"))
    lineage, _ = lineage_of(node)
    assert lineage.fingerprints[node] is None
    reason = lineage.unknown_reason(node, lambda n: n.get_name())
    assert reason.startswith("cannot be fingerprinted: ")
    assert "no config loaded" in reason


# -- P1: nodes inside container subclasses -----------------------------------------------------


@workflow
def source(x: Any) -> Any:
    return x


def test_a_node_inside_an_ordereddict_or_defaultdict_is_fingerprinted_as_a_node() -> None:
    """P1: a node inside an OrderedDict or a defaultdict stands for its fingerprint,
    as in a plain dict: the graph built twice has one fingerprint, and nodes built
    before or an unrelated sibling reading the same parent do not change it."""

    def build(container: type, before: int = 0, sibling: bool = False) -> Any:
        for _ in range(before):
            source(0)  # e.g. a notebook cell run earlier
        parent = source(1).set_name("s")
        if container is collections.defaultdict:
            holder: Any = collections.defaultdict(list, a=parent)
        else:
            holder = container(a=parent)
        leaf = f(holder).set_name("n")
        if sibling:
            g(parent).set_name("o")
        return leaf

    for container in (collections.OrderedDict, collections.defaultdict):
        first = known(build(container))
        assert known(build(container)) == first
        assert known(build(container, before=5)) == first
        assert known(build(container, sibling=True)) == first
        assert known(f(container(a=source(2).set_name("s")))) != known(
            f(container(a=source(1).set_name("s")))
        )


# -- P2: set subclasses and hash seeds -------------------------------------------------------

SEEDED = """
import collections, json

from functionfuse import workflow
from functionfuse._fingerprint import Lineage
from functionfuse._graph import connected_nodes

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota"]


class Tags(set):
    pass


class Frozen(frozenset):
    pass


@workflow
def f(*args):
    return 1


cases = {
    "set-subclass": f(Tags(WORDS)),
    "frozenset-subclass": f(Frozen(WORDS)),
    "counter-from-set": f(collections.Counter(set(WORDS))),
}
found = {}
for name, node in cases.items():
    fp = Lineage(connected_nodes([node])).fingerprints[node]
    found[name] = fp.hex() if fp is not None else None
print(json.dumps({"order": list(set(WORDS)), "fingerprints": found}))
"""


def test_set_subclasses_have_one_fingerprint_whatever_the_hash_seed(
    run_python: RunPython,
) -> None:
    """P2: a set subclass of strings and a Counter built from a set (its keys in the
    set's order) have the same fingerprint under other ``PYTHONHASHSEED`` values."""
    outputs = [
        json.loads(run_python(SEEDED, env={"PYTHONHASHSEED": seed}).stdout) for seed in ("1", "2")
    ]
    assert outputs[0]["order"] != outputs[1]["order"]  # the orders did differ
    assert None not in outputs[0]["fingerprints"].values()
    assert outputs[0]["fingerprints"] == outputs[1]["fingerprints"]


# -- P3: __main__ and the same file imported ------------------------------------------------

FLOW = """
from functionfuse import workflow


class Cfg:
    def __init__(self, lr):
        self.lr = lr

    def __functionfuse_fingerprint__(self):
        return repr(self.lr)


class Plain:
    def __init__(self, lr):
        self.lr = lr


@workflow
def fit(cfg):
    return cfg.lr


leaf_custom = fit(Cfg(0.1))
leaf_plain = fit(Plain(0.1))
"""


def test_a_script_run_as_main_and_imported_shares_fingerprints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """P3: a value with ``__functionfuse_fingerprint__`` whose class is defined in a
    script counts the same whether the script runs as ``__main__`` or is imported (as
    a plain object does already): its module's name is not part of it."""
    name = unique_name("flow")
    path = tmp_path / f"{name}.py"
    path.write_text(FLOW)
    monkeypatch.syspath_prepend(str(tmp_path))
    as_main = runpy.run_path(str(path), run_name="__main__")
    _named.append(name)
    as_module = importlib.import_module(name)
    assert as_main["Cfg"].__module__ == "__main__"
    assert known(as_main["leaf_plain"]) == known(as_module.leaf_plain)
    assert known(as_main["leaf_custom"]) == known(as_module.leaf_custom)


# -- P4: code reachable from itself through a container -------------------------------------

CYCLES = """
from functionfuse import workflow


def make():
    handlers = []

    def step(x):
        return handlers[0](x - 1) if x else 0

    handlers.append(step)
    return step


def table(x, table=None):
    return x + 1


table.__defaults__ = ({"self": table},)
"""


@pytest.mark.parametrize(
    ("build", "old", "new"),
    [
        (lambda module: workflow(module.make())(3), "if x else 0", "if x else 1"),
        (lambda module: workflow(module.table)(3), "x + 1", "x + 2"),
    ],
    ids=["closure", "default"],
)
def test_a_function_reachable_from_its_own_closure_or_defaults_is_fingerprinted(
    build: Any, old: str, new: str
) -> None:
    """P4: a closure holding a list that holds the function itself (a registry of
    handlers), or a default holding a dict that does: the node is fingerprinted — not
    "nested too deeply" — and another body gives another fingerprint."""
    assert CYCLES.count(old) == 1
    node = node_of(build(compile_module(CYCLES)))
    lineage, _ = lineage_of(node)
    problem = lineage._problems.get(node)
    assert lineage.fingerprints[node] is not None, problem
    before = lineage.fingerprints[node]
    assert known(build(compile_module(CYCLES))) == before
    assert known(build(compile_module(CYCLES.replace(old, new)))) != before


# -- F2: a big argument is pickled once per run -------------------------------------------------


class Counted:
    """A value compared by its pickle that counts how often it is pickled."""

    pickled = 0

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce__(self) -> tuple[Any, ...]:
        Counted.pickled += 1
        return (Counted, (self.data,))


def test_a_big_argument_is_pickled_once_for_lineage_stamp_and_explain() -> None:
    """F2: the lineage, the stamp saved with the result and the explanation of a stale
    stamp all need the argument's digest: a big value is pickled for it once, not once
    for each."""
    other = node_of(f(Counted(b"\x02")))
    stale = lineage_of(other)[0].stamp(other)
    node = node_of(f(Counted(b"\x01" * 5_000_000)))
    Counted.pickled = 0
    lineage, _ = lineage_of(node)
    stamp = lineage.stamp(node)
    assert stamp is not None
    assert lineage.explain(node, stale) == ["argument 'args[0]' changed"]
    lineage.explain(node, stamp)
    assert Counted.pickled == 1
