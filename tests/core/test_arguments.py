"""Nodes anywhere in the arguments, resolved by runtime.resolve_arguments; containers
that hold themselves or are shared, and nodes where they cannot be replaced (sets, keys)."""

from __future__ import annotations

import pickle
from collections import OrderedDict, defaultdict, namedtuple
from typing import Any, NamedTuple

import pytest

from functionfuse import GraphError, workflow
from functionfuse._fingerprint import Lineage
from functionfuse._graph import connected_nodes
from functionfuse.runtime import (
    Node,
    inputs_of,
    referenced_nodes,
    resolve_arguments,
    template_of,
)


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


# -- containers that hold themselves, shared containers, sets and dict keys (issue 20) -------


def doubled(leaf: Any, times: int) -> list[Any]:
    """``[s, s]`` nested ``times`` deep: 2**times paths to ``leaf``, ``times`` lists."""
    shared: list[Any] = [leaf]
    for _ in range(times):
        shared = [shared, shared]
    return shared


def test_a_list_that_holds_itself_is_built_and_resolved(deadline: Any) -> None:
    a = source(1)
    loop: list[Any] = [a, 2]
    loop.append(loop)
    with deadline(5):
        n = use(loop)
        args, _ = resolve(n, {a: "A"})
    assert n.parents == (a,)
    copy = args[0]
    assert copy[:2] == ["A", 2]
    assert copy[2] is copy  # the copy holds itself, as the original does
    assert loop[0] is a  # the graph's own list is not changed


def test_a_dict_that_holds_itself_is_built_and_resolved(deadline: Any) -> None:
    a = source(1)
    config: dict[str, Any] = {"x": a}
    config["self"] = config
    ordered: OrderedDict[str, Any] = OrderedDict(x=a)
    ordered["self"] = ordered
    with deadline(5):
        n = use(ordered, cfg=config)
        args, kwargs = resolve(n, {a: "A"})
    assert kwargs["cfg"]["x"] == "A"
    assert kwargs["cfg"]["self"] is kwargs["cfg"]
    assert type(args[0]) is OrderedDict
    assert args[0]["x"] == "A"
    assert args[0]["self"] is args[0]


def test_a_tuple_that_holds_itself_through_a_list_is_resolved(deadline: Any) -> None:
    a = source(1)
    inner: list[Any] = [a]
    outer = (inner, Point(inner, 0))
    inner.append(outer)
    tagged = Tagged([a])
    tagged.append(tagged)
    with deadline(5):
        n = use(outer, tagged)
        args, _ = resolve(n, {a: "A"})
    copy, tagged_copy = args
    assert type(copy) is tuple
    assert copy[0] == ["A", copy]
    assert copy[0][1] is copy
    assert type(copy[1]) is Point
    assert copy[1].x is copy[0]
    assert type(tagged_copy) is Tagged
    assert tagged_copy[0] == "A"
    assert tagged_copy[1] is tagged_copy


def test_a_literal_that_holds_itself_is_passed_as_given(deadline: Any) -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with deadline(5):
        n = use(loop)
    assert n.parents == ()
    args, _ = resolve(n, {})
    assert args[0] is loop


def test_shared_containers_cost_once_and_stay_shared(deadline: Any) -> None:
    a = source(1)
    shared = doubled(a, 40)
    literal = doubled(1, 40)
    with deadline(5):
        n = use(shared, literal, key=(shared, literal))
        args, kwargs = resolve(n, {a: "A"})
    assert n.parents == (a,)
    copy = args[0]
    assert copy[0] is copy[1]  # 40 lists copied once each, not 2**40 times
    for _ in range(40):
        copy = copy[0]
    assert copy == ["A"]
    assert kwargs["key"][0] is args[0]


@pytest.mark.parametrize(
    ("call", "where"),
    [
        (lambda a: use({a}), "positional argument 0"),
        (lambda a: use(1, frozenset([a[0]])), "positional argument 1"),
        (lambda a: use([1, {"k": {a}}]), "positional argument 0"),
        (lambda a: use(cfg={a: 1}), "keyword argument 'cfg'"),
        (lambda a: use(cfg={(1, a): 1}), "keyword argument 'cfg'"),
        (lambda a: use(x=[{frozenset({a[0]}): 1}]), "keyword argument 'x'"),
    ],
    ids=["set", "frozenset", "nested-set", "dict-key", "tuple-key", "frozenset-key"],
)
def test_a_node_in_a_set_or_as_a_dict_key_is_a_graph_error(call: Any, where: str) -> None:
    a = source(1).set_name("data")
    with pytest.raises(GraphError) as info:
        call(a)
    message = str(info.value)
    assert "'data'" in message
    assert f"{where} of 'use'" in message
    assert "lists, tuples and dict values" in message
    assert a.children == ()  # nothing was added to the graph


def test_literal_sets_and_dict_keys_are_fine() -> None:
    a = source(1)
    key = (1, "k")
    n = use({1, 2}, frozenset({key}), {key: a}, cfg={key: [a]})
    args, kwargs = resolve(n, {a: "A"})
    assert args == [{1, 2}, frozenset({key}), {key: "A"}]
    assert kwargs == {"cfg": {key: ["A"]}}


def test_a_class_node_as_an_argument_names_the_call() -> None:
    model = Accumulator(0).set_name("acc")
    with pytest.raises(GraphError, match="'acc' was passed as an argument") as info:
        use(1, cfg={"model": model})
    assert "keyword argument 'cfg' of 'use'" in str(info.value)


def test_a_template_of_shared_and_self_holding_arguments_travels_and_resolves(
    deadline: Any,
) -> None:
    """What a backend ships where the node runs (runtime.template_of), pickled there."""
    a, b = source(1), source(["B"])
    loop: list[Any] = [a, b[0]]
    loop.append(loop)
    shared = doubled(a, 40)
    n = use(loop, shared, key=shared)
    with deadline(5):
        template = pickle.loads(pickle.dumps(template_of(n, inputs_of(n))))
        args, kwargs = template.resolve(["A", ["B"]])
    copy, shared_copy = args
    assert copy[:2] == ["A", "B"]
    assert copy[2] is copy
    assert shared_copy[0] is shared_copy[1]
    assert kwargs["key"] is shared_copy


def test_the_nodes_referenced_by_self_holding_arguments(deadline: Any) -> None:
    a, b = source(1), source(2)
    loop: list[Any] = [a]
    loop.append(loop)
    with deadline(2):
        assert referenced_nodes(use(loop, doubled(b[0], 40))) == {a, b}


@workflow
class Accumulator:
    def __init__(self, start: int) -> None:
        self.total = start


# -- fingerprints of such arguments ---------------------------------------------------------


def fingerprints(*leaves: Node) -> list[bytes | None]:
    order = connected_nodes(list(leaves))
    lineage = Lineage(order)
    return [lineage.fingerprints[leaf] for leaf in leaves]


def cyclic_arguments(tail: int) -> list[Node]:
    """Nodes whose arguments hold themselves: with a node inside, and literal only."""
    a = source(1)
    loop: list[Any] = [a, tail]
    loop.append(loop)
    literal: dict[str, Any] = {"tail": tail}
    literal["self"] = literal
    return [use(loop), use(literal), use(a, cfg=literal)]


def test_arguments_that_hold_themselves_are_fingerprinted(deadline: Any) -> None:
    with deadline(5):
        first = fingerprints(*cyclic_arguments(2))
        again = fingerprints(*cyclic_arguments(2))
        other = fingerprints(*cyclic_arguments(3))
    assert None not in first
    assert first == again
    assert all(x != y for x, y in zip(first, other, strict=True))


def test_shared_arguments_are_fingerprinted_in_linear_time(deadline: Any) -> None:
    a = source(1)
    with deadline(5):
        nodes = [use(doubled(a, 40)), use(doubled(1, 40)), use(a, key=doubled(2, 40))]
        first = fingerprints(*nodes)
        again = fingerprints(use(doubled(a, 40)), use(doubled(1, 40)), use(a, key=doubled(2, 40)))
    assert None not in first
    assert first == again
    assert len(set(first)) == 3


def test_sharing_is_told_apart_from_copies() -> None:
    """A reference to a container met before is not confused with anything else."""
    inner = [1, 2]
    shared = fingerprints(use([inner, inner]))[0]
    copied = fingerprints(use([inner, list(inner)]))[0]
    nested = fingerprints(use([inner, [inner]]))[0]
    assert None not in (shared, copied, nested)
    assert len({shared, copied, nested}) == 3
    assert fingerprints(use([inner, inner]))[0] == shared
