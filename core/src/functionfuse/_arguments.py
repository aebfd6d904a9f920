"""A node's arguments, rebuilt from its parents' values — where the node runs.

Pickling a node pickles the whole graph (nodes know their parents and children), so a
node task never carries nodes. Its arguments travel as an :class:`ArgumentsTemplate`:
the literal arguments, with each node reference replaced by ``NodeItem(i, indices)`` —
``i`` an index into a list of parents' values sent beside it. Items (``node[0]``) are
selected where the node runs: a parent's full result never goes through the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, final

from functionfuse._nodes import (
    ClassNode,
    FunctionNode,
    MethodNode,
    Node,
    NodeItem,
    _Direct,
    _Nested,
    _rebuild,
    replace_references,
    resolve_arguments,
)

__all__ = [
    "ArgumentsTemplate",
    "call_with",
    "inputs_of",
    "is_direct",
    "referenced_nodes",
    "replace_whole",
    "template_of",
]

_WHOLE = (FunctionNode, MethodNode)


@final
class ArgumentsTemplate:
    """A node's arguments with node references as indices into a list of values.

    Made on the driver by :func:`template_of`; :meth:`resolve` rebuilds the arguments
    where the node runs. Holds nothing that leads back to the graph.
    """

    __slots__ = ("_deps", "args", "kwargs")

    def __init__(
        self, args: tuple[Any, ...], kwargs: dict[str, Any] | None, deps: tuple[Any, ...]
    ) -> None:
        self.args = args
        self.kwargs = kwargs
        self._deps = deps  # the attribute resolve_arguments reads from a node

    def resolve(self, values: list[Any] | tuple[Any, ...]) -> tuple[Any, dict[str, Any]]:
        """The arguments, each stand-in replaced by its value in ``values``."""
        return resolve_arguments(self, values.__getitem__)  # type: ignore[arg-type]

    def __reduce__(self) -> tuple[type[ArgumentsTemplate], tuple[Any, ...]]:
        return (ArgumentsTemplate, (self.args, self.kwargs, self._deps))

    def __repr__(self) -> str:
        return f"ArgumentsTemplate({self.args!r}, {self.kwargs!r})"


def is_direct(node: Node) -> bool:
    """True when every node reference in ``node``'s arguments is a whole argument
    (``f(a, b=c)``, not ``f(a[0])`` or ``f([a, b])``): a backend can put the parents'
    values (or its own references to them) in their places with :func:`replace_references`.
    """
    deps = node._deps
    if deps is None or type(deps) is _Direct:
        return True
    return all(type(deps[i]) in _WHOLE for i in range(1, len(deps), 2))


def inputs_of(node: Node) -> list[Node]:
    """The parents whose values a node's arguments take, in order (a method call's
    previous call on its instance is a parent for ordering only, unless an argument
    also takes its value)."""
    parents = [p for p in node.parents if type(p) is not ClassNode]
    if type(node) is MethodNode and parents and parents[0] is node.parents[0]:
        first = parents[0]
        if type(first) is MethodNode and first not in referenced_nodes(node):
            parents.pop(0)
    return parents


def template_of(node: Node, inputs: list[Node]) -> ArgumentsTemplate:
    """``node``'s arguments with each node reference turned into an index into
    ``inputs`` (see the module doc)."""
    index_of = {parent: i for i, parent in enumerate(inputs)}
    deps = node.deps or ()
    args = list(node.args)
    kwargs = dict(node.kwargs) if node.kwargs is not None else None
    new_deps: list[Any] = []
    memo: dict[int, Any] = {}  # one for all the arguments, as resolve_arguments has
    for i in range(0, len(deps), 2):
        key = deps[i]
        # The argument's own slot is overwritten where the node runs: ship no node in it.
        if type(key) is int:
            args[key] = None
        elif kwargs is not None:
            kwargs[key] = None
        new_deps.append(key)
        new_deps.append(_stand_in(deps[i + 1], index_of, memo))
    return ArgumentsTemplate(tuple(args), kwargs, tuple(new_deps))


def _stand_in(ref: Any, index_of: dict[Node, int], memo: dict[int, Any]) -> Any:
    kind = type(ref)
    if kind is FunctionNode or kind is MethodNode:
        return NodeItem(index_of[ref], ())  # type: ignore[arg-type]
    if kind is NodeItem:
        return NodeItem(index_of[ref.node], ref.indices)  # type: ignore[arg-type]
    # A copy of the containers with stand-ins, shaped as the original (shared ones
    # once, one that holds itself holding its copy): resolve_arguments rebuilds it so.
    return _Nested(_rebuild(ref.value, lambda leaf: _stand_in(leaf, index_of, memo), memo))


def referenced_nodes(node: Node) -> set[Node]:
    """Every node ``node``'s arguments refer to (whole, by item, or inside containers)."""
    found: set[Node] = set()
    deps = node.deps or ()
    stack = [deps[i] for i in range(1, len(deps), 2)]
    seen: set[int] = set()  # containers walked, by id: shared or self-holding ones once
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is FunctionNode or kind is MethodNode:
            found.add(value)
        elif kind is NodeItem:
            found.add(value.node)
        elif kind is _Nested:
            stack.append(value.value)
        elif isinstance(value, (list, tuple, dict)) and id(value) not in seen:
            seen.add(id(value))
            stack.extend(value.values() if isinstance(value, dict) else value)
    return found


def call_with(node: Node, values: Mapping[Node, Any]) -> Any:
    """Call a function or class node with its parents' values from ``values`` (a method
    node also needs its instance there): the whole node protocol of a run without
    storage, hooks, plugins or retries, at the cost of a plain call and a lookup per
    argument."""
    deps = node._deps
    kwargs = node.kwargs
    if deps is None:
        args: Any = node.args
    elif type(deps) is _Direct:
        args = [values[parent] for parent in node.args]
    else:
        args, kwargs = resolve_arguments(node, values.__getitem__)
    kind = type(node)
    if kind is FunctionNode:
        call: Callable[..., Any] = node.func  # type: ignore[attr-defined]
    elif kind is MethodNode:
        call = getattr(values[node.instance], node.method)  # type: ignore[attr-defined]
    else:
        call = node.cls  # type: ignore[attr-defined]
    return call(*args, **kwargs) if kwargs else call(*args)


def replace_whole(node: Node, replace: Callable[[Node], Any]) -> tuple[Any, dict[str, Any]]:
    """A direct node's arguments (see :func:`is_direct`) with each parent replaced by
    ``replace(parent)`` — its value, or a backend's reference to it (a Ray ObjectRef)."""
    deps = node._deps
    if deps is None:
        return node.args, node.kwargs if node.kwargs is not None else {}
    if type(deps) is _Direct:
        return [replace(arg) for arg in node.args], node.kwargs if node.kwargs is not None else {}
    return replace_references(node, deps, replace)
