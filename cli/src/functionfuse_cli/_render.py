"""Text renderings for the command line: the graph as Mermaid or DOT, results as reprs.

In both graph formats a node is labelled with its name in the workflow; a class node
(a stateful instance) has its own shape, and the edge from one method call to the next
call on the same instance — the order of the calls, not data — is dashed.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable, Iterator
from typing import Final

from functionfuse._graph import connected_nodes, default_names
from functionfuse._nodes import ClassNode, MethodNode, Node, _collect

__all__ = [
    "FORMATS",
    "GRAPHVIZ_FORMATS",
    "Edge",
    "graph_edges",
    "short_repr",
    "to_dot",
    "to_mermaid",
]

#: Formats of ``fuse graph``; the Graphviz ones need its ``dot`` program.
FORMATS: Final = ("mermaid", "dot", "svg", "png")
GRAPHVIZ_FORMATS: Final = ("svg", "png")

#: ``(parent, child, is_call_order)``.
Edge = tuple[Node, Node, bool]


def graph_edges(order: list[Node]) -> Iterator[Edge]:
    """Every parent → child edge; ``True`` marks an edge that only orders method calls."""
    for node in order:
        data: list[Node] = []
        _collect((node.args, node.kwargs or {}), data)  # the parents passed as arguments
        passed = set(data)
        for parent in node.parents:
            call_order = isinstance(node, MethodNode) and parent is node.parents[0]
            yield parent, node, call_order and parent not in passed


def _graph(leaves: Iterable[Node]) -> tuple[list[Node], dict[Node, str]]:
    order = connected_nodes(leaves)
    return order, default_names(order)


def to_mermaid(leaves: Iterable[Node]) -> str:
    """A Mermaid flowchart (paste it into Markdown on GitHub, GitLab, mermaid.live...)."""
    order, names = _graph(leaves)
    ids = {node: f"n{index}" for index, node in enumerate(order)}
    lines = ["flowchart TD"]
    for node in order:
        label = _mermaid_text(names[node])
        shape = f'[["{label}"]]' if isinstance(node, ClassNode) else f'["{label}"]'
        lines.append(f"    {ids[node]}{shape}")
    for parent, child, call_order in graph_edges(order):
        arrow = "-.->" if call_order else "-->"
        lines.append(f"    {ids[parent]} {arrow} {ids[child]}")
    return "\n".join(lines) + "\n"


def to_dot(leaves: Iterable[Node], graph_name: str = "workflow") -> str:
    """A Graphviz DOT digraph (render it with ``dot -Tsvg``)."""
    order, names = _graph(leaves)
    ids = {node: f"n{index}" for index, node in enumerate(order)}
    lines = [
        f"digraph {_dot_string(graph_name)} {{",
        "    rankdir=TB;",
        '    node [shape=box, style=rounded, fontname="Helvetica"];',
    ]
    for node in order:
        extra = ", shape=box3d, style=solid" if isinstance(node, ClassNode) else ""
        lines.append(f"    {ids[node]} [label={_dot_string(names[node])}{extra}];")
    for parent, child, call_order in graph_edges(order):
        style = " [style=dashed]" if call_order else ""
        lines.append(f"    {ids[parent]} -> {ids[child]}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    # Mermaid reads entity codes inside quoted labels; these would end or break them.
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return " ".join(text.splitlines())


def _dot_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class _ShortRepr(reprlib.Repr):
    """reprlib's limits, but an object's own repr may be long at the top level only."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.maxlevel = 4
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = self.maxdeque = 12
        self.maxdict = 12
        self.maxstring = 200
        self.maxlong = 100
        self.maxother = 160  # an array or object inside a container
        self.limit = limit

    def repr_instance(self, x: object, level: int) -> str:
        if level == self.maxlevel:  # the value itself, not something inside it
            return repr(x)
        return super().repr_instance(x, level)


def short_repr(value: object, limit: int = 2000) -> str:
    """``repr(value)``, shortened: long containers and strings elided, ``limit`` chars."""
    try:
        text = _ShortRepr(limit).repr(value)
    except Exception as error:  # a broken __repr__ must not hide the rest
        return f"<{type(value).__qualname__}: repr() failed with {type(error).__name__}>"
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text)} characters in all)"
    return text
