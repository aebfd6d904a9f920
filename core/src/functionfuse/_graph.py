"""Graph walks that never mutate nodes: the node set of a workflow and default names."""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter

from functionfuse._nodes import Node

__all__ = ["connected_nodes", "default_names"]

_by_creation = attrgetter("seq")


def connected_nodes(starts: Iterable[Node]) -> list[Node]:
    """Every node connected to ``starts`` through parents or children, in graph order.

    As in the original Function Fuse, a workflow runs the whole graph its nodes belong
    to: handing it the first node of a pipeline runs the pipeline. Graph order is
    creation order, which is topological (a node's parents exist before it) and
    depends only on how the graph was built.
    """
    seen: set[Node] = set()
    stack = [node for node in starts if node not in seen]
    seen.update(stack)
    add = seen.add
    while stack:
        node = stack.pop()
        for parent in node.parents:
            if parent not in seen:
                add(parent)
                stack.append(parent)
        children = node._children
        if children is None:
            continue
        if type(children) is not list:
            if children not in seen:
                add(children)  # type: ignore[arg-type]
                stack.append(children)  # type: ignore[arg-type]
            continue
        for child in children:
            if child not in seen:
                add(child)
                stack.append(child)
    return sorted(seen, key=_by_creation)


def default_names(order: list[Node]) -> dict[Node, str]:
    """Names for the nodes of ``order``: the ``set_name`` one, else ``<qualname>_<n>``.

    ``n`` counts the nodes of the same qualname in ``order``, so two functions made by
    one factory (same qualname) still get distinct names.
    """
    counters: dict[str, int] = {}
    names: dict[Node, str] = {}
    for node in order:
        name = node._name
        if name is None:
            qualname = node.qualname
            rank = counters.get(qualname, 0)
            counters[qualname] = rank + 1
            name = f"{qualname}_{rank}"
        names[node] = name
    return names
