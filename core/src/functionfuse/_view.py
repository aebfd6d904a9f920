"""GraphView: what a backend may read of a workflow's graph, read-only.

Backends schedule; they never touch the private attributes of core objects. Everything
they need to know about the graph — the order, the names, who consumes what, the
per-node settings, a class node's method calls — is here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, final

from functionfuse._nodes import ClassNode, Instance, MethodNode, Node, NodeItem, node_of
from functionfuse._retries import RETRIES, Retries

if TYPE_CHECKING:
    from functionfuse._workflow import BaseWorkflow

__all__ = ["GraphView"]


@final
class GraphView:
    """A workflow's graph as a backend sees it, at the start of a run (``workflow.view()``).

    ``order`` lists every node, each after all of its parents; ``name(node)`` is its
    name (and its stored result's); ``settings(node)`` what ``query()`` set on it.
    """

    __slots__ = ("_counts", "_methods", "_workflow", "configured", "leaf_nodes", "leaves", "order")

    def __init__(
        self, workflow: BaseWorkflow, order: tuple[Node, ...], configured: frozenset[Node]
    ) -> None:
        self._workflow = workflow
        #: Every node, each after its parents, in a stable order (creation order).
        self.order = order
        #: The nodes (or items ``node[i]``, or instances) given to the workflow.
        self.leaves: tuple[Node | NodeItem | Instance, ...] = workflow.leaves
        #: The nodes whose results ``run()`` returns (kept alive for it).
        self.leaf_nodes = frozenset(node_of(leaf) for leaf in self.leaves)
        self._counts: dict[Node, int] | None = None
        self._methods: dict[ClassNode, tuple[MethodNode, ...]] = {}
        #: The nodes that have settings (their own ``backend_info``, or the workflow's).
        self.configured = configured

    @property
    def workflow_name(self) -> str:
        return self._workflow.workflow_name

    def __iter__(self) -> Iterator[Node]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)

    def name(self, node: Node) -> str:
        """The node's name in this workflow."""
        return self._workflow.name_of(node)

    @property
    def names(self) -> Mapping[Node, str]:
        """Every node's name (computed once, when first asked for)."""
        return self._workflow.node_names()

    def settings(self, node: Node) -> Mapping[str, Any] | None:
        """The node's settings (``remote_args``, ``plugin``, ``storage``, ``retries``...),
        or ``None`` when it has none."""
        return self._workflow.settings(node) if node in self.configured else None

    def retries(self, node: Node) -> Retries | None:
        settings = self.settings(node)
        return settings.get(RETRIES) if settings is not None else None

    def consumer_counts(self) -> dict[Node, int]:
        """How many nodes of this workflow take each node as a parent (nodes nobody
        consumes are left out); a fresh dict a backend may count down."""
        counts = self._counts
        if counts is None:
            counts = {}
            get = counts.get
            for node in self.order:
                for parent in node.parents:
                    counts[parent] = get(parent, 0) + 1
            self._counts = counts
        return dict(counts)

    def consumers(self, node: Node) -> list[Node]:
        """The nodes of this workflow that take ``node`` as a parent, in graph order."""
        members = self._members()
        return [child for child in node.children if child in members]

    def methods(self, node: ClassNode) -> tuple[MethodNode, ...]:
        """The instance's method calls that belong to this workflow, in call order
        (calls made on it after the workflow was built are not part of it)."""
        methods = self._methods.get(node)
        if methods is None:
            members = self._members()
            methods = self._methods[node] = tuple(m for m in node.methods if m in members)
        return methods

    def _members(self) -> frozenset[Node]:
        return self._workflow.node_set()

    def callable_of(self, node: Node, instance: Any = None) -> Callable[..., Any]:
        """What to call to run ``node``: the function, the class, or — for a method node —
        the method bound to ``instance``."""
        kind = type(node)
        if kind is MethodNode:
            return getattr(instance, node.method)  # type: ignore[attr-defined, no-any-return]
        if kind is ClassNode:
            return node.cls  # type: ignore[attr-defined, no-any-return]
        return node.func  # type: ignore[attr-defined, no-any-return]
