"""Text renderings for the command line: the graph as Mermaid or DOT, results as reprs.

In both graph formats a node is labelled with its name in the workflow; a class node
(a stateful instance) has its own shape, and the edge from one method call to the next
call on the same instance — the order of the calls, not data — is dashed.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable, Iterator
from typing import Any, Final

from functionfuse import BaseWorkflow
from functionfuse.runtime import ClassNode, Instance, Node, NodeItem

__all__ = [
    "FORMATS",
    "GRAPHVIZ_FORMATS",
    "Drawable",
    "Edge",
    "drawing",
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

#: What can be drawn: a workflow, or nodes (with the whole graph they belong to).
Drawable = BaseWorkflow | Iterable[Node | NodeItem | Instance]


class _Drawing(BaseWorkflow):
    """The graph of some nodes with the names a workflow gives them; never run."""

    backend_name = "graph"

    def run(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a drawing of a graph does not run")


def drawing(leaves: Iterable[Node | NodeItem | Instance], name: str) -> BaseWorkflow:
    """The whole graph ``leaves`` belong to, as a workflow ``name`` that only draws it.

    Raises :class:`functionfuse.GraphError` when two nodes share a name, as a workflow
    of any backend would.
    """
    return _Drawing(*leaves, workflow_name=name)


def graph_edges(order: list[Node]) -> Iterator[Edge]:
    """Every parent → child edge; ``True`` marks an edge that only orders method calls
    (from the previous call on the same instance, which it does not take as an argument)."""
    previous_call: dict[Node, Node] = {}
    for node in order:
        if isinstance(node, ClassNode):
            before: Node = node
            for method in node.methods:
                previous_call[method] = before
                before = method
    for node in order:
        call_order = previous_call.get(node)
        passed = _argument_nodes(node) if call_order is not None else ()
        for parent in node.parents:
            yield parent, node, parent is call_order and parent not in passed


def _argument_nodes(node: Node) -> set[Node]:
    """The nodes ``node`` takes as arguments, also inside lists, tuples and dicts."""
    found: set[Node] = set()
    stack: list[object] = [node.args, node.kwargs or {}]
    while stack:
        value = stack.pop()
        if isinstance(value, Node):
            found.add(value)
        elif isinstance(value, NodeItem):
            found.add(value.node)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return found


def _graph(graph: Drawable, name: str) -> tuple[list[Node], dict[Node, str]]:
    """Every node in graph order, and its name in the workflow (GraphError: a name clash)."""
    workflow = graph if isinstance(graph, BaseWorkflow) else drawing(graph, name)
    names = {node: node_name for node_name, node in workflow.graph_traversal()}
    return list(names), names


def to_mermaid(graph: Drawable) -> str:
    """A Mermaid flowchart (paste it into Markdown on GitHub, GitLab, mermaid.live...) of a
    workflow, or of the whole graph that some nodes belong to."""
    order, names = _graph(graph, "graph")
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


def to_dot(graph: Drawable, graph_name: str | None = None) -> str:
    """A Graphviz DOT digraph (render it with ``dot -Tsvg``) of a workflow, or of the
    whole graph that some nodes belong to; named ``graph_name`` (default: the
    workflow's name, else ``workflow``)."""
    if graph_name is None:
        graph_name = graph.workflow_name if isinstance(graph, BaseWorkflow) else "workflow"
    order, names = _graph(graph, graph_name)
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
