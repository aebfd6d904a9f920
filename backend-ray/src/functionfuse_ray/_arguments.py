"""How a node's arguments travel to its task without taking the graph along.

Pickling a node pickles the whole graph (nodes know their parents and children), so a
task never receives nodes. In the common case every node reference is a whole argument
(``f(a, b=c)``): the parents' ObjectRefs take their places as top-level arguments and
Ray resolves them, exactly as hand-written Ray code would. Otherwise (``f(a[0])``,
``f([a, b])``, ``f(cfg={"x": a})``) the task receives an :class:`ArgsTemplate` whose
node references are ``NodeItem(i, indices)`` — ``i`` an index into the parents' values,
which are passed as top-level arguments — and the worker rebuilds the arguments with
:func:`functionfuse.runtime.resolve_arguments`. Items are selected on the worker: a
parent's full result never goes to the driver.
"""

from __future__ import annotations

from typing import Any

from functionfuse.runtime import FunctionNode, MethodNode, Node, NodeItem
from functionfuse_ray._worker import ArgsTemplate

__all__ = ["is_direct", "referenced_nodes", "template_of"]

_WHOLE = (FunctionNode, MethodNode)


def is_direct(deps: tuple[Any, ...]) -> bool:
    """True when every node reference is a whole top-level argument."""
    return all(type(deps[i]) in _WHOLE for i in range(1, len(deps), 2))


def template_of(node: Node, index_of: dict[Node, int]) -> ArgsTemplate:
    """The node's arguments with node references turned into indices (see module doc)."""
    deps = node.deps
    assert deps is not None
    args = list(node.args)
    kwargs = dict(node.kwargs) if node.kwargs is not None else None
    new_deps: list[Any] = []
    for i in range(0, len(deps), 2):
        key = deps[i]
        # The argument's own slot is overwritten on the worker: ship no node in it.
        if type(key) is int:
            args[key] = None
        elif kwargs is not None:
            kwargs[key] = None
        new_deps.append(key)
        new_deps.append(_stand_in(deps[i + 1], index_of))
    return ArgsTemplate(tuple(args), kwargs, tuple(new_deps))


def _stand_in(ref: Any, index_of: dict[Node, int]) -> Any:
    kind = type(ref)
    if kind is FunctionNode or kind is MethodNode:
        return NodeItem(index_of[ref], ())  # type: ignore[arg-type]
    if kind is NodeItem:
        return NodeItem(index_of[ref.node], ref.indices)  # type: ignore[arg-type]
    # A list, tuple or dict with nodes inside (the core's private _Nested wrapper):
    # the same wrapper around a copy whose nodes are stand-ins.
    return kind(_convert(ref.value, index_of))


def _convert(value: Any, index_of: dict[Node, int]) -> Any:
    # Mirrors the container handling of functionfuse.runtime.resolve_arguments, which
    # rebuilds these containers on the worker.
    if isinstance(value, dict):
        return type(value)({k: _convert(v, index_of) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        items = [_convert(v, index_of) for v in value]
        if type(value) is list:
            return items
        if type(value) is tuple:
            return tuple(items)
        if hasattr(value, "_fields"):  # a namedtuple
            return type(value)(*items)
        return type(value)(items)
    kind = type(value)
    if kind is FunctionNode or kind is MethodNode:
        return NodeItem(index_of[value], ())  # type: ignore[arg-type]
    if kind is NodeItem:
        return NodeItem(index_of[value.node], value.indices)  # type: ignore[arg-type]
    return value


def referenced_nodes(deps: tuple[Any, ...]) -> set[Node]:
    """Every node the arguments refer to (whole, by item, or nested in containers)."""
    found: set[Node] = set()
    stack = [deps[i] for i in range(1, len(deps), 2)]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is FunctionNode or kind is MethodNode:
            found.add(value)
        elif kind is NodeItem:
            found.add(value.node)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        elif hasattr(value, "value"):  # the core's wrapper of a container with nodes
            stack.append(value.value)
    return found
