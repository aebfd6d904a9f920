"""Fingerprints of nodes (functionfuse._fingerprint): what they see and what they ignore.

A node's fingerprint hashes the code it calls, its literal arguments, and its parents'
fingerprints with the items taken from them. Code under test is compiled into fresh
modules (``compile_module``) so that two versions of "the same" source can be compared;
such modules are registered in ``sys.modules`` as an import would, and dropped after.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import sys
import textwrap
import threading
import types
from collections.abc import Iterator
from typing import Any

import pytest

from functionfuse import workflow
from functionfuse._fingerprint import FORMAT, Lineage, describe_stamp
from functionfuse._graph import connected_nodes, default_names
from functionfuse.runtime import Node, node_of

from .conftest import RunPython

_serial = itertools.count()
_compiled: list[str] = []


@pytest.fixture(autouse=True)
def _forget_compiled_modules() -> Iterator[None]:
    yield
    while _compiled:
        sys.modules.pop(_compiled.pop(), None)


def compile_module(source: str) -> types.ModuleType:
    """``source`` as a new module (a unique name, in ``sys.modules`` for the test)."""
    name = f"ff_fingerprint_{os.getpid()}_{next(_serial)}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    _compiled.append(name)
    code = compile(textwrap.dedent(source), f"<{name}>", "exec")
    exec(code, module.__dict__)
    return module


def lineage_of(*leaves: Any) -> tuple[Lineage, list[Node]]:
    """The lineage of the graph holding ``leaves``, and its nodes in graph order."""
    order = connected_nodes([node_of(leaf) for leaf in leaves])
    return Lineage(order), order


def fingerprint(leaf: Any) -> bytes | None:
    """The fingerprint of ``leaf`` in its graph (None: unknown)."""
    node = node_of(leaf)
    lineage, _ = lineage_of(node)
    return lineage.fingerprints[node]


def code_fingerprint(source: str, name: str = "f", *args: Any) -> bytes:
    """The fingerprint of ``<name>(*args)`` (default: ``f(1)``) in a module of ``source``:
    the arguments being the same, it differs exactly when the code's does."""
    module = compile_module(source)
    fp = fingerprint(getattr(module, name)(*(args or (1,))))
    assert fp is not None
    return fp


def all_distinct(values: list[Any]) -> bool:
    return len(set(values)) == len(values)


# -- nodes built here ----------------------------------------------------------------------


@workflow
def f(*args: Any, **kwargs: Any) -> Any:
    return args, kwargs


@workflow
def g(*args: Any, **kwargs: Any) -> Any:
    return args, kwargs


@workflow
class Model:
    def __init__(self, lr: float) -> None:
        self.lr = lr

    def fit(self, xs: Any) -> float:
        return self.lr

    def predict(self, x: Any) -> Any:
        return self.lr * x


def make_scaler(k: Any) -> Any:
    @workflow
    def scale(x: int) -> Any:
        return k * x

    return scale


def build_graph() -> list[Any]:
    """A graph with every kind of argument: literals, nodes, items, nesting, keywords,
    a class node and its method calls."""
    data = f(3, "a", None, [1, 2.5], {"k": (1, 2)}, {"s", "t"})
    pair = g(data)
    left = f(pair[0], scale=2)
    right = f([pair[1], {"x": data}], flag=True)
    model = Model(lr=0.1)
    fitted = model.fit(left)
    predicted = model.predict(right[0][1])
    return [g(left, right, fitted, predicted), make_scaler(2)(4)]


# -- graphs and arguments ----------------------------------------------------------------------


def test_the_same_graph_built_twice_has_the_same_fingerprints() -> None:
    """Fingerprints depend on what the graph says, not on the objects built: a second
    build gives every node the same fingerprint, and all nodes differ from each other."""
    first, first_order = lineage_of(*build_graph())
    second, second_order = lineage_of(*build_graph())
    assert len(first_order) == len(second_order) == 9
    fps = [first.fingerprints[node] for node in first_order]
    assert fps == [second.fingerprints[node] for node in second_order]
    assert None not in fps
    assert all(len(fp) == 16 for fp in fps if fp is not None)
    assert all_distinct(fps)


def test_literal_arguments_of_different_types_or_shapes_differ() -> None:
    """Equal-comparing values of other types are other arguments (``1 == 1.0 == True``;
    a list is not a tuple), at the top level (the fast path) and nested (the walk)."""
    values: list[Any] = [
        1,
        1.0,
        True,
        0,
        0.0,
        -0.0,
        False,
        None,
        "1",
        b"1",
        1j,
        [1],
        (1,),
        [1.0],
        [True],
        [[1]],
        [(1,)],
        {1},
        frozenset({1}),
        {1: 1},
        {True: 1},
        {"1": 1},
        [1, 2],
        [[1, 2]],
        [[1], 2],
        [],
        (),
        {},
        set(),
        ...,
    ]
    fps = [fingerprint(f(value)) for value in values]
    assert None not in fps
    assert all_distinct(fps)
    nested = [fingerprint(f({"v": [value]})) for value in values]
    assert all_distinct(nested)
    assert not set(fps) & set(nested)


def test_arguments_by_position_and_keyword_differ() -> None:
    """No argument, one by position, one by keyword, an extra keyword, another keyword
    name: each is another call."""
    fps = [
        fingerprint(f()),
        fingerprint(f(1)),
        fingerprint(f(x=1)),
        fingerprint(f(y=1)),
        fingerprint(f(1, x=2)),
        fingerprint(f(1, x=2.0)),
        fingerprint(f(1, 2)),
        fingerprint(f(x=[1])),
    ]
    assert all_distinct(fps)
    assert fingerprint(f(1, x=[2])) == fingerprint(f(1, x=[2]))


def test_items_positions_and_parents_are_told_apart() -> None:
    """``node[0]`` and ``node[1]`` (and the node itself) are other arguments, as are the
    order of parents, a parent next to a literal, and a parent's own arguments."""
    a, b = f(1), f(2)
    fps = [
        fingerprint(g(a)),
        fingerprint(g(a[0])),
        fingerprint(g(a[1])),
        fingerprint(g(a[0][0])),
        fingerprint(g(a["0"])),
        fingerprint(g(a, b)),
        fingerprint(g(b, a)),
        fingerprint(g(a, 1)),
        fingerprint(g(1, a)),
        fingerprint(g([a, b])),
        fingerprint(g((a, b))),
        fingerprint(g(x=a)),
        fingerprint(g(f(3))),
        fingerprint(f(a)),
    ]
    assert None not in fps
    assert all_distinct(fps)


def test_method_calls_differ_by_method_and_by_place_in_the_chain() -> None:
    """On one instance, ``fit(1)`` and ``predict(1)`` differ, and so do the first and
    the second ``fit(1)`` (the instance's state differs); the constructor's arguments
    reach every call."""

    def calls(lr: float, *methods: str) -> list[bytes | None]:
        model: Any = Model(lr)  # mypy keeps the class type of a decorated class
        nodes = [model.call(method, 1) for method in methods]
        lineage, _ = lineage_of(*nodes)
        return [lineage.fingerprints[node] for node in nodes]

    (fit,) = calls(0.1, "fit")
    (predict,) = calls(0.1, "predict")
    first, second = calls(0.1, "fit", "fit")
    (other,) = calls(0.2, "fit")
    assert all_distinct([fit, predict, second, other])
    assert first == fit


def test_an_upstream_change_reaches_every_descendant() -> None:
    """Merkle: a grandchild's fingerprint changes with its grandparent's argument, through
    direct parents, items and nesting alike."""

    def chain(n: int) -> list[Any]:
        root = f(n)
        child = g(root)
        return [g(child), g(child[0]), g([{"x": child}]), g(x=child, y=1)]

    before = [fingerprint(leaf) for leaf in chain(1)]
    after = [fingerprint(leaf) for leaf in chain(2)]
    assert all(old != new for old, new in zip(before, after, strict=True))
    assert before == [fingerprint(leaf) for leaf in chain(1)]


def test_a_set_is_fingerprinted_whatever_its_iteration_order() -> None:
    """Two equal sets that iterate in other orders (built in other orders: 1, 9 and 17
    share a slot) have one fingerprint; so do dict arguments holding them."""
    ordered, reordered = set([1, 9, 17]), set([17, 9, 1])
    assert list(ordered) != list(reordered)  # the precondition that makes this a test
    assert fingerprint(f(ordered)) == fingerprint(f(reordered))
    assert fingerprint(f({"s": frozenset(ordered)})) == fingerprint(f({"s": frozenset(reordered)}))
    assert fingerprint(f({1, 9})) != fingerprint(f({1, 9, 17}))
    # Inside an object compared by its pickle, too.
    assert fingerprint(f(Holder(ordered))) == fingerprint(f(Holder(reordered)))
    assert fingerprint(f(Holder(ordered))) != fingerprint(f(Holder({1, 9})))


class Holder:
    """A plain object: fingerprinted by its pickle."""

    def __init__(self, items: Any) -> None:
        self.items = items


class Named:
    """A value with its own fingerprint; pickle refuses it (it holds a lock)."""

    def __init__(self, key: Any) -> None:
        self.key = key
        self.lock = threading.Lock()

    def __functionfuse_fingerprint__(self) -> Any:
        return self.key


def test_fingerprint_method_stands_for_the_value() -> None:
    """``__functionfuse_fingerprint__`` (str or bytes) is used instead of pickle; a str
    and the same bytes are one value; anything else makes the node unknown."""
    assert fingerprint(f(Named("a"))) == fingerprint(f(Named("a")))
    assert fingerprint(f(Named("a"))) == fingerprint(f(Named(b"a")))
    assert fingerprint(f(Named("a"))) != fingerprint(f(Named("b")))
    assert fingerprint(f(Named("a"))) != fingerprint(f("a"))
    node = f([Named(3)]).set_name("bad")
    lineage, _ = lineage_of(node)
    assert lineage.fingerprints[node] is None
    reason = lineage.unknown_reason(node, lambda n: n.get_name())
    assert reason.startswith("cannot be fingerprinted: ")
    assert "__functionfuse_fingerprint__ returned int, not bytes or str" in reason


@pytest.mark.parametrize(
    "value",
    [threading.Lock(), (i for i in range(3)), [1, threading.Lock()], {"k": (i for i in [1])}],
    ids=["lock", "generator", "lock-in-list", "iterator-in-dict"],
)
def test_an_unfingerprintable_argument_makes_its_node_and_descendants_unknown(
    value: Any,
) -> None:
    """Unknown nodes have no fingerprint and no stamp and match nothing; the reason of a
    descendant names the node at the origin, through several generations."""
    odd = f(value).set_name("odd")
    child = g(odd).set_name("child")
    grandchild = g(x=[child[0]]).set_name("grandchild")
    beside = f(1).set_name("beside")
    lineage, order = lineage_of(grandchild, beside)
    names = default_names(order)
    for node in (odd, child, grandchild):
        assert lineage.fingerprints[node] is None
        assert lineage.stamp(node) is None
        assert not lineage.matches(node, lineage.stamp(beside))
    assert lineage.unknown_reason(odd, names.__getitem__).startswith("cannot be fingerprinted: ")
    assert "cannot pickle" in lineage.unknown_reason(odd, names.__getitem__)
    for node in (child, grandchild):
        assert lineage.unknown_reason(node, names.__getitem__) == (
            "upstream node 'odd' cannot be fingerprinted"
        )
    assert lineage.fingerprints[beside] is not None


def test_functions_as_arguments_count_by_code_or_installed_name() -> None:
    """A function of this project passed as a value counts by its code (two closures
    with other values differ); one of the standard library or an installed package by
    its qualified name."""
    assert fingerprint(f(make_scaler(2).func)) == fingerprint(f(make_scaler(2).func))
    assert fingerprint(f(make_scaler(2).func)) != fingerprint(f(make_scaler(3).func))
    assert fingerprint(f(math.sqrt)) == fingerprint(f(math.sqrt))
    assert fingerprint(f(json.dumps)) == fingerprint(f(json.dumps))
    assert all_distinct(
        [fingerprint(f(x)) for x in (math.sqrt, math.floor, json.dumps, json.loads, math)]
    )


def test_numpy_arrays_differ_by_dtype_and_shape_with_the_same_bytes() -> None:
    """Arrays count by their pickle: the same bytes with another dtype or shape are
    another argument, equal arrays (built apart) the same, small or large (a large
    array's data reaches the hash as a pickle buffer), C or Fortran ordered."""
    np = pytest.importorskip("numpy")
    zeros = [
        np.zeros(4, dtype=np.int32),
        np.zeros(4, dtype=np.float32),
        np.zeros(4, dtype=np.uint32),
        np.zeros((2, 2), dtype=np.int32),
        np.zeros((4, 1), dtype=np.int32),
    ]
    assert len({z.tobytes() for z in zeros}) == 1
    fps = [fingerprint(f(z)) for z in zeros]
    assert None not in fps
    assert all_distinct(fps)
    for size in (10, 100_000):
        data = np.arange(size, dtype=np.float64)
        assert fingerprint(f(data)) is not None
        assert fingerprint(f(data)) == fingerprint(f(np.arange(size, dtype=np.float64)))
        changed = data.copy()
        changed[-1] += 1
        assert fingerprint(f(changed)) != fingerprint(f(data))
    grid = np.arange(200_000, dtype=np.float64).reshape(400, 500)
    fortran = np.asfortranarray(grid)
    assert fingerprint(f(fortran)) is not None
    assert fingerprint(f(fortran)) == fingerprint(f(np.asfortranarray(grid.copy())))
    assert fingerprint(f(fortran)) != fingerprint(f(grid))  # another memory layout


# -- code ------------------------------------------------------------------------------------------

FUNCTION = '''
from functionfuse import workflow

SCALE = 2
NAMES = ("a", "b")
CACHE = {"hits": 0}


def helper(x):
    """A plain function of the module."""
    return inner(x) + SCALE


def inner(x):
    return x * 3


@workflow
def f(x, y=1, *, z=2):
    """Docstring."""
    CACHE["hits"] += 1
    return [helper(x) + y + z for _ in NAMES]
'''


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("return [helper(x) + y + z", "return [helper(x) - y + z"),
        ("def f(x, y=1, *, z=2)", "def f(x, y=5, *, z=2)"),
        ("def f(x, y=1, *, z=2)", "def f(x, y=1, *, z=3)"),
        ("def f(x, y=1, *, z=2)", "def f(x, y=1.0, *, z=2)"),
        ("def f(x, y=1, *, z=2)", "def f(x, w=1, *, z=2)"),
        ("return inner(x) + SCALE", "return inner(x) - SCALE"),
        ("return x * 3", "return x * 4"),
        ("SCALE = 2", "SCALE = 3"),
        ('NAMES = ("a", "b")', 'NAMES = ("a", "c")'),
        ("for _ in NAMES", "for _ in NAMES[:1]"),
    ],
    ids=[
        "body",
        "default",
        "keyword-default",
        "default-type",
        "parameter-name",
        "helper",
        "helper-of-helper",
        "module-constant",
        "module-tuple",
        "comprehension",
    ],
)
def test_code_changes_change_the_fingerprint(old: str, new: str) -> None:
    """The body, defaults, parameter names, module constants it reads and the plain
    functions of its module it calls — recursively — are the node's code."""
    assert FUNCTION.count(old) == 1
    before = code_fingerprint(FUNCTION)
    assert code_fingerprint(FUNCTION) == before  # another module, the same source
    assert code_fingerprint(FUNCTION.replace(old, new)) != before


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("\nfrom functionfuse", "\n# A comment.\n\n\n\nfrom functionfuse"),
        ('"""Docstring."""', '"""A longer docstring, with more to say."""'),
        ('"""A plain function of the module."""', '"""Another docstring."""'),
        ('CACHE = {"hits": 0}', 'CACHE = {"hits": 0, "misses": 7}'),
        ("    return x * 3", "    # Three times.\n    return x * 3"),
    ],
    ids=[
        "moved",
        "docstring",
        "helper-docstring",
        "mutable-module-data",
        "comment",
    ],
)
def test_changes_that_leave_the_fingerprint_alone(old: str, new: str) -> None:
    """Line numbers, comments and docstrings are not code, and module-level mutable
    data (a cache, a counter) is state, deliberately left out. (Limit: *adding* a
    docstring to a function that had none shifts its constants, so it counts as a code
    change on the Python versions that keep docstrings among the constants.)"""
    assert FUNCTION.count(old) == 1
    assert code_fingerprint(FUNCTION.replace(old, new)) == code_fingerprint(FUNCTION)


def test_the_code_fingerprint_ignores_bytecode_specialization() -> None:
    """Calling a function many times specializes its bytecode in place (Python 3.11+);
    a fresh lineage afterwards gives the same fingerprint."""
    module = compile_module(FUNCTION)
    before = fingerprint(module.f(1))
    for i in range(2000):
        module.f.func(i)
    assert fingerprint(module.f(1)) == before


def test_an_edit_in_another_module_of_the_project_is_seen() -> None:
    """A function of another module of the project that a node calls counts by its
    code, as one of its own module does: editing it changes the node's fingerprint
    (an installed package's would count by its distribution and version)."""
    nodes = """
    from functionfuse import workflow

    @workflow
    def f(x):
        return offset(x)
    """

    def with_offset(body: str) -> bytes:
        other = compile_module(f"def offset(x):\n    return {body}\n")
        module = compile_module(nodes)
        module.__dict__["offset"] = other.offset  # as `from <other> import offset` does
        fp = fingerprint(module.f(1))
        assert fp is not None
        return fp

    assert with_offset("x + 1") == with_offset("x + 1")
    assert with_offset("x + 1") != with_offset("x + 2")


def test_version_replaces_the_code_fingerprint() -> None:
    """``@workflow(version=...)``: edits are ignored while the version stays; another
    version is another fingerprint."""
    source = """
    from functionfuse import workflow

    @workflow(version="1")
    def f(x):
        return x + 1
    """
    edited = source.replace("x + 1", "x + 2")
    bumped = edited.replace('version="1"', 'version="2"')
    assert code_fingerprint(edited) == code_fingerprint(source)
    assert code_fingerprint(bumped) != code_fingerprint(source)
    unpinned = source.replace('(version="1")', "")
    assert code_fingerprint(unpinned) != code_fingerprint(source)


def test_recursive_and_mutually_recursive_helpers_are_fingerprinted() -> None:
    """Helpers that call each other (and the node itself) are each encoded once; an
    edit in any of them is seen."""
    source = """
    from functionfuse import workflow

    def even(n):
        return True if n == 0 else odd(n - 1)

    def odd(n):
        return False if n == 0 else even(n - 1)

    @workflow
    def f(n):
        return even(n) if n < 10 else f.__wrapped__(n - 1)
    """
    before = code_fingerprint(source)
    assert code_fingerprint(source.replace("False if", "None if")) != before


def test_closures_with_other_values_have_other_fingerprints() -> None:
    """One source, one qualname, other closure values: other code. Equal values (even
    in distinct objects) are the same code."""
    two, three, other_two = make_scaler(2), make_scaler(3), make_scaler(2)
    assert two.__qualname__ == three.__qualname__
    lineage, _ = lineage_of(f(two(5), three(5), other_two(5), make_scaler([2])(5)))
    scaled = [node_of(n) for n in (two(5), three(5), other_two(5))]
    fps = [fingerprint(n) for n in scaled]
    assert fps[0] == fps[2]
    assert fps[0] != fps[1]
    assert fingerprint(make_scaler([2])(5)) == fingerprint(make_scaler([2])(5))
    assert fingerprint(make_scaler([2])(5)) != fingerprint(make_scaler((2,))(5))
    values = [n for n in lineage.fingerprints.values() if n is not None]
    assert len(values) == 5
    assert len(set(values)) == 4


def test_class_code_covers_its_methods_and_class_constants() -> None:
    """A method node's fingerprint covers its class's code: every method, class-level
    constants, same-module base classes; not docstrings. Its constructor's arguments
    reach it through the class node."""
    source = '''
    from functionfuse import workflow

    class Base:
        def norm(self, x):
            return abs(x)

    @workflow
    class Model(Base):
        """A model."""

        RATE = 0.5

        def __init__(self, lr):
            self.lr = lr

        def fit(self, x):
            """Fit."""
            return self.norm(x) * self.RATE

        def predict(self, x):
            return x * self.lr
    '''

    def fit_fingerprint(text: str, lr: float = 0.1) -> bytes | None:
        module = compile_module(text)
        model = module.Model(lr)
        fitted = model.fit(1)
        model.predict(2)
        return fingerprint(fitted)

    before = fit_fingerprint(source)
    assert before is not None
    assert fit_fingerprint(source) == before
    assert fit_fingerprint(source, lr=0.2) != before
    for old, new in [
        ("return x * self.lr", "return x / self.lr"),  # another method
        ("RATE = 0.5", "RATE = 0.25"),
        ("return abs(x)", "return -x"),  # the base class
    ]:
        assert fit_fingerprint(source.replace(old, new)) != before, old
    for old, new in [('"""A model."""', '"""A better model."""'), ('"""Fit."""', '"""Fit!"""')]:
        assert fit_fingerprint(source.replace(old, new)) == before, old


def test_unfingerprintable_code_makes_its_nodes_unknown() -> None:
    """A closure over a lock, or a callable object holding one, decorated in place of a
    function: the node is unknown, and the reason says which. A callable object counts
    by its state and its class's code."""
    lock = threading.Lock()

    @workflow
    def locked(x: int) -> int:
        with lock:
            return x

    class Callable:
        def __init__(self, state: Any) -> None:
            self.state = state

        def __call__(self, x: int) -> int:
            return x

    node = locked(1).set_name("locked")
    lineage, _ = lineage_of(node)
    assert lineage.fingerprints[node] is None
    reason = lineage.unknown_reason(node, lambda n: n.get_name())
    assert "closure variable 'lock'" in reason
    node = workflow(Callable(lock))(1).set_name("callable")
    lineage, _ = lineage_of(node)
    assert lineage.fingerprints[node] is None
    assert "lock" in lineage.unknown_reason(node, lambda n: n.get_name())
    by_state = [fingerprint(workflow(Callable(state))(1)) for state in (1, 2, 1)]
    assert by_state[0] is not None
    assert by_state[0] == by_state[2] != by_state[1]


# -- stamps --------------------------------------------------------------------------------------


def test_stamp_matches_and_describe() -> None:
    """A stamp is FORMAT + the node's, code's and arguments' digests + its parents' (a
    count, none here) + details naming its parts; it matches its own node only, and
    nothing truncated or of another format matches (0.1's ``ff1:`` included)."""
    node, other = f(1), f(2)
    lineage, _ = lineage_of(node, other)
    stamp = lineage.stamp(node)
    assert stamp is not None
    assert stamp.startswith(FORMAT)
    head = len(FORMAT) + 3 * 16 + 1
    assert stamp[head - 1] == 0  # no parents
    assert json.loads(stamp[head:]) == {
        "v": 1,
        "c": [["f", stamp_part(lineage, node)]],
        "a": [[0, json.loads(stamp[head:])["a"][0][1]]],
        "d": [],
    }
    assert stamp[len(FORMAT) : len(FORMAT) + 16] == lineage.fingerprints[node]
    assert lineage.matches(node, stamp)
    again = node_of(f(1))
    assert lineage.matches(node, lineage_of(again)[0].stamp(again))
    assert not lineage.matches(other, stamp)
    assert not lineage.matches(node, None)
    assert not lineage.matches(node, stamp[: head - 1])
    assert not lineage.matches(node, b"ff1:" + stamp[len(FORMAT) : head])
    assert not lineage.matches(node, b"ff0:" + stamp[len(FORMAT) :])

    fp, code, arguments = (stamp[4 + 16 * i : 4 + 16 * (i + 1)].hex() for i in range(3))
    assert describe_stamp(stamp) == f"{fp} (code {code}, arguments {arguments}); code: f"
    assert describe_stamp(b"\x00\xffold") == "00ff6f6c64"
    old = b"ff1:" + stamp[len(FORMAT) : head]  # 0.1's stamp: the same three digests
    assert describe_stamp(old) == f"{fp} (code {code}, arguments {arguments}; stored by 0.1)"


def stamp_part(lineage: Lineage, node: Node) -> str:
    """The digest of the first code part of ``node`` (its own function), as stored."""
    return lineage._info(node).parts[0][1].hex()


def test_explain_says_what_changed() -> None:
    """``explain`` compares a stored stamp with the node now: its code (naming the
    function that changed), its literal arguments (naming the parameter), both, or
    neither (then only its upstream changed)."""

    def stamp_of(leaf: Any) -> bytes:
        node = node_of(leaf)
        stamp = lineage_of(node)[0].stamp(node)
        assert stamp is not None
        return stamp

    two, three = make_scaler(2), make_scaler(3)
    stored = stamp_of(two(5))
    now = two(5)
    lineage, _ = lineage_of(now)
    assert lineage.explain(node_of(now), stored) == []
    code = "code changed (make_scaler.<locals>.scale)"
    for leaf, reasons in [
        (three(5), [code]),
        (two(6), ["argument 'x' changed"]),
        (three(6), [code, "argument 'x' changed"]),
        (two(x=5), ["argument 'x' changed"]),
    ]:
        lineage, _ = lineage_of(leaf)
        assert not lineage.matches(node_of(leaf), stored)
        assert lineage.explain(node_of(leaf), stored) == reasons

    # Only the parent changed: the child's code and arguments (parents left out) match.
    stored_child = stamp_of(g(f(1), 7))
    child = g(f(2), 7)
    lineage, _ = lineage_of(child)
    assert not lineage.matches(node_of(child), stored_child)
    assert lineage.explain(node_of(child), stored_child) == []
    assert lineage.explain(node_of(child), None) == ["stored without a fingerprint"]
    old = b"ff1:" + stored_child[4:69]  # what 0.1 stored
    assert lineage.explain(node_of(child), old) == ["stored by an older release"]
    for broken in (b"", stored_child[:40], b"ff0:" + stored_child[4:]):
        reasons = lineage.explain(node_of(child), broken)
        assert reasons == ["stored with another fingerprint format"]
    # Details that do not parse (a result from elsewhere): reasons without names.
    garbled = stored[:53] + b"{not json"
    lineage, _ = lineage_of(three(6))
    assert lineage.explain(node_of(three(6)), garbled) == ["code changed", "argument changed"]


# -- across processes ------------------------------------------------------------------------------

ACROSS_PROCESSES = """
import dataclasses, json, sys

from functionfuse import workflow
from functionfuse._fingerprint import Lineage
from functionfuse._graph import connected_nodes

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota"]
KNOWN = frozenset(WORDS)


@dataclasses.dataclass
class Config:
    tags: set
    name: str


@workflow
def f(*args, **kwargs):
    return [word for word in args if word in KNOWN and word not in {"x", "y", "z"}]


cases = {
    "set": f(set(WORDS)),
    "frozenset-in-dict": f({"tags": frozenset(WORDS), "n": 1}),
    "dict": f(dict.fromkeys(WORDS, 1.5)),
    "object-holding-a-set": f(Config(set(WORDS), "c")),
    "chain": f(f(set(WORDS))[0], k={"s": set(WORDS)}),
}
fingerprints = {}
for name, node in cases.items():
    fp = Lineage(connected_nodes([node])).fingerprints[node]
    fingerprints[name] = fp.hex() if fp is not None else None
print(json.dumps({"order": list(set(WORDS)), "fingerprints": fingerprints}))
"""


def test_fingerprints_are_the_same_in_processes_with_other_hash_seeds(
    run_python: RunPython,
) -> None:
    """Sets of strings iterate in an order that depends on ``PYTHONHASHSEED``; their
    fingerprints — as an argument, in a dict, in a frozenset constant of the code, in
    an object compared by pickle — do not."""
    outputs = [
        json.loads(run_python(ACROSS_PROCESSES, env={"PYTHONHASHSEED": seed}).stdout)
        for seed in ("1", "2", "3")
    ]
    assert len({tuple(out["order"]) for out in outputs}) > 1  # the orders did differ
    first = outputs[0]["fingerprints"]
    assert None not in first.values()
    for out in outputs[1:]:
        assert out["fingerprints"] == first


CONFIG_SOURCE = """
from functionfuse import workflow

class Settings:
    def __init__(self, depth):
        self.depth = depth

    def layers(self):
        return [64] * self.depth

@workflow
def train(settings):
    return settings.layers()
"""


def test_an_argument_compared_by_pickle_counts_its_class_by_code() -> None:
    """Pickle names a class; an instance of a class of this project counts by the class's
    code, so editing a method of the argument's class makes the result stale."""

    def fingerprint_with(source: str, depth: int) -> bytes | None:
        module = compile_module(source)
        return fingerprint(module.train(module.Settings(depth)))

    before = fingerprint_with(CONFIG_SOURCE, 2)
    assert before is not None
    assert fingerprint_with(CONFIG_SOURCE, 2) == before
    assert fingerprint_with(CONFIG_SOURCE, 3) != before  # its state
    assert fingerprint_with(CONFIG_SOURCE.replace("[64]", "[32]"), 2) != before  # its code


def test_a_container_subclass_counts_what_it_holds_besides_its_items() -> None:
    """A defaultdict's factory is part of its value; a namedtuple's type is too."""
    import collections

    Point = collections.namedtuple("Point", "x y")
    Pair = collections.namedtuple("Pair", "x y")
    values = [
        collections.defaultdict(list, a=[1]),
        collections.defaultdict(set, a=[1]),
        {"a": [1]},
        Point(1, 2),
        Pair(1, 2),
        (1, 2),
    ]
    assert all_distinct([fingerprint(f(value)) for value in values])


class _CountingDict(dict):  # type: ignore[type-arg]
    lookups = 0

    def __getitem__(self, key: Any) -> Any:
        _CountingDict.lookups += 1
        return super().__getitem__(key)


def test_the_reason_of_a_long_unknown_chain_is_found_in_one_step() -> None:
    """Every node below an unknown one is unknown: finding the origin of each must not
    walk up the chain (that made 100,000 unknown nodes cost 5e9 steps)."""
    first = f(threading.Lock())
    node = first
    for _ in range(1000):
        node = f(node)
    lineage, order = lineage_of(node)
    lineage._problems = _CountingDict(lineage._problems)
    _CountingDict.lookups = 0
    reasons = [
        lineage.unknown_reason(n, lambda n: "origin" if n is first else "other") for n in order
    ]
    assert reasons[0].startswith("cannot be fingerprinted: ")
    assert set(reasons[1:]) == {"upstream node 'origin' cannot be fingerprinted"}
    assert _CountingDict.lookups <= 2 * len(order)


def test_a_stamp_names_which_parents_changed_up_to_a_few_dozen() -> None:
    """The stamp keeps the first bytes of each parent's fingerprint, so a re-run can
    name the parent that changed; a wide fan-in keeps none (the stamp stays small)."""
    stored = node_of(g(f(1), f(2)))
    stamp = lineage_of(stored)[0].stamp(stored)
    now = node_of(g(f(1), f(3)))
    lineage, _ = lineage_of(now)
    assert lineage.changed_parents(now, stamp) == [now.parents[1]]
    assert lineage.changed_parents(now, None) is None

    wide = node_of(g(*[f(i) for i in range(40)]))
    lineage, _ = lineage_of(wide)
    stamp = lineage.stamp(wide)
    assert stamp is not None
    assert stamp[len(FORMAT) + 3 * 16] == 0xFF  # no parents kept
    assert stamp[len(FORMAT) + 3 * 16 + 1 :].startswith(b"{")
    assert lineage.matches(wide, stamp)
    assert lineage.changed_parents(wide, stamp) is None
