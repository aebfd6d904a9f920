"""Nodes anywhere in the arguments, resolved by runtime.resolve_arguments."""

from __future__ import annotations

from collections import OrderedDict, defaultdict, namedtuple
from typing import Any, NamedTuple

from functionfuse import workflow
from functionfuse.runtime import Node, resolve_arguments


@workflow
def source(value: Any) -> Any:
    return value


@workflow
def use(*args: Any, **kwargs: Any) -> Any:
    return args, kwargs


class Point(NamedTuple):
    x: Any
    y: Any


Pair = namedtuple("Pair", "left right")


class Tagged(list):  # type: ignore[type-arg]
    """A list subclass: its type must survive substitution."""


def resolve(node: Node, values: dict[Node, Any]) -> tuple[list[Any], dict[str, Any]]:
    args, kwargs = resolve_arguments(node, values.__getitem__)
    return list(args), kwargs


def test_positional_and_keyword_nodes() -> None:
    a, b = source(1), source(2)
    n = use(a, 10, key=b, other="x")
    assert resolve(n, {a: "A", b: "B"}) == (["A", 10], {"key": "B", "other": "x"})


def test_only_nodes_as_arguments() -> None:
    a, b = source(1), source(2)
    assert resolve(use(a, b, a), {a: 1, b: 2}) == ([1, 2, 1], {})
    assert resolve(use(a, b, scale=3), {a: 1, b: 2}) == ([1, 2], {"scale": 3})
    assert resolve(use(key=b), {b: 2}) == ([], {"key": 2})


def test_nodes_nested_in_lists_tuples_and_dicts() -> None:
    a, b, c = source(1), source(2), source(3)
    n = use([a, (b, [c, 4])], cfg={"x": a, "deep": {"list": [b], "t": (c,)}})
    args, kwargs = resolve(n, {a: "A", b: "B", c: "C"})
    assert args == [["A", ("B", ["C", 4])]]
    assert kwargs == {"cfg": {"x": "A", "deep": {"list": ["B"], "t": ("C",)}}}
    assert type(args[0][1]) is tuple
    assert type(kwargs["cfg"]["deep"]["t"]) is tuple


def test_namedtuples_keep_their_type() -> None:
    a, b = source(1), source(2)
    n = use(Point(a, 1), pair=Pair(left=[b], right=Point(0, a)))
    args, kwargs = resolve(n, {a: "A", b: "B"})
    assert args == [Point("A", 1)]
    assert type(args[0]) is Point
    assert kwargs["pair"] == Pair(["B"], Point(0, "A"))
    assert type(kwargs["pair"]) is Pair
    assert type(kwargs["pair"].right) is Point


def test_container_subclasses_keep_their_type_and_contents() -> None:
    a = source(1)
    ordered = OrderedDict([("z", a), ("a", 2)])
    counts: defaultdict[str, Any] = defaultdict(list, {"k": a})
    n = use(ordered, Tagged([a, 1]), counts=counts)
    args, kwargs = resolve(n, {a: "A"})
    assert type(args[0]) is OrderedDict
    assert list(args[0].items()) == [("z", "A"), ("a", 2)]
    assert type(args[1]) is Tagged
    assert args[1] == ["A", 1]
    resolved = kwargs["counts"]
    assert type(resolved) is defaultdict
    assert resolved == {"k": "A"}
    assert resolved.default_factory is list
    assert counts == {"k": a}  # the graph's own container is not changed


def test_node_items_in_arguments() -> None:
    parts = source(((1, 2), (3, 4)))
    n = use(parts[0], [parts[1][0]], key={"x": parts[1]})
    args, kwargs = resolve(n, {parts: ((1, 2), (3, 4))})
    assert args == [(1, 2), [3]]
    assert kwargs == {"key": {"x": (3, 4)}}


def test_each_parent_is_looked_up_by_its_node() -> None:
    a, b = source(1), source(2)
    n = use([a, b, a], a)
    asked: list[Node] = []

    def value_of(node: Node) -> Any:
        asked.append(node)
        return {a: 1, b: 2}[node]

    args, _ = resolve_arguments(n, value_of)
    assert list(args) == [[1, 2, 1], 1]
    assert set(asked) == {a, b}


def test_literals_are_passed_as_given() -> None:
    literal = [1, {"x": 2}]
    options = {"k": [3]}
    n = use(literal, 5, opt=options)
    args, kwargs = resolve_arguments(n, lambda node: None)
    assert args is n.args
    assert args[0] is literal
    assert kwargs["opt"] is options
    bare = use()
    args, kwargs = resolve_arguments(bare, lambda node: None)
    assert tuple(args) == ()
    assert kwargs == {}


def test_literals_next_to_nodes_are_not_copied() -> None:
    a = source(1)
    literal = [1, 2]
    options = {"k": 1}
    n = use(a, literal, node=a, opt=options)
    args, kwargs = resolve_arguments(n, lambda node: "A")
    assert list(args) == ["A", literal]
    assert args[1] is literal
    assert kwargs == {"node": "A", "opt": options}
    assert kwargs["opt"] is options
    assert n.args == (a, literal)
    assert n.kwargs == {"node": a, "opt": options}


def test_resolution_does_not_change_the_graph_and_can_repeat() -> None:
    a = source(1)
    n = use([a], key={"x": a})
    before = (n.args, n.kwargs, n.deps, n.parents)
    first = resolve(n, {a: 1})
    second = resolve(n, {a: 2})
    assert first == ([[1]], {"key": {"x": 1}})
    assert second == ([[2]], {"key": {"x": 2}})
    assert (n.args, n.kwargs, n.deps, n.parents) == before
