"""The nodes of the graph: what calling a decorated function or class records.

Nothing runs here. A node records what to call, its arguments (literals and references
to other nodes, possibly nested in lists, tuples and dicts) and its parents. Nodes are
built by the thousands, so every class has ``__slots__``, empty things are ``None``
rather than empty containers, and argument scanning is one type check per argument
(``_node_arguments``). The decorator that makes the calls: ``_decorator``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from functionfuse._errors import ConfigurationError, GraphError

__all__ = [
    "ClassNode",
    "FunctionNode",
    "Instance",
    "MethodNode",
    "Node",
    "NodeItem",
    "node_of",
    "replace_references",
    "resolve_arguments",
]

# A process-wide creation counter. Only the relative order of nodes matters (it is a
# topological order, since a node's parents exist before it), so names derived from it
# do not depend on how many nodes the process built before.
_sequence = itertools.count()


class Node:
    """A call recorded in the graph. Subclasses say what is called.

    Public attributes, read by backends:

    - ``args`` (tuple) and ``kwargs`` (dict or ``None``): the arguments as given;
    - ``deps``: ``None``, or a flat tuple ``(key, ref, key, ref, ...)`` listing the
      arguments that hold node references — ``key`` is a position (int) or keyword
      (str), ``ref`` a :class:`Node`, a :class:`NodeItem` or a :class:`_Nested`;
    - ``parents``: the distinct nodes this one waits for, in argument order;
    - ``children``: the nodes that name this one as a parent, in creation order (a
      tuple made on each access; graph walks read ``_children``: ``None``, the only
      child, or a list — one list per node would be one more object per node for the
      garbage collector to walk, most nodes have a single child).
    """

    __slots__ = (
        "__weakref__",
        "_backend_info",
        "_children",
        "_deps",
        "_name",
        "args",
        "kwargs",
        "parents",
        "seq",
    )

    args: tuple[Any, ...]
    kwargs: dict[str, Any] | None
    _deps: tuple[Any, ...] | _Direct | None
    parents: tuple[Node, ...]
    _children: Node | list[Node] | None
    seq: int
    _name: str | None
    _backend_info: dict[str, Any] | None

    def _bind(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], first_parent: Node | None
    ) -> None:
        self.seq = next(_sequence)
        self._name = None
        self._backend_info = None
        self._children = None
        self.args = args
        self.kwargs = kwargs or None
        parents: list[Node] = [] if first_parent is None else [first_parent]
        # ``deps`` stays None while every argument is a node given directly (a chain, a
        # fan-in ``f(*nodes)``): such a node stores no dependency tuple (see ``deps``).
        deps: list[Any] | None = None
        try:
            for position, value in enumerate(args):
                kind = type(value)
                if kind is FunctionNode or kind is MethodNode:  # _scan's first case, inlined
                    parents.append(value)
                    if deps is not None:
                        deps += (position, value)
                    continue
                if deps is None:
                    deps = _interleave(args[:position]) if position else []
                if kind in _ATOMS:
                    continue
                ref = _scan(value, parents)
                if ref is not None:
                    deps += (position, ref)
            if kwargs:
                for key, value in kwargs.items():
                    ref = _scan(value, parents)
                    if ref is not None:
                        if deps is None:
                            deps = _interleave(args)
                        deps += (key, ref)
        except _Rejected as rejected:
            # Raised before the graph is touched: the call leaves no trace in it.
            raise GraphError(rejected.message(self.qualname, args, kwargs)) from None
        if deps is None:
            self._deps = _DIRECT if args else None
        else:
            self._deps = tuple(deps) if deps else None
        if len(parents) > 1:
            # dict keeps first-seen order and drops repeats (f(a, a), fan-ins).
            parents = list(dict.fromkeys(parents))
        if first_parent is None and deps is None and len(parents) == len(args):
            # The parents are the arguments themselves (no repeat was dropped): share
            # the tuple, one object less per node.
            self.parents = args
        else:
            self.parents = tuple(parents)
        for parent in parents:
            siblings = parent._children
            if siblings is None:
                parent._children = self
            elif isinstance(siblings, Node):
                parent._children = [siblings, self]
            else:
                siblings.append(self)

    @property
    def children(self) -> tuple[Node, ...]:
        """The nodes that take this one as a parent, in creation order."""
        children = self._children
        if children is None:
            return ()
        if type(children) is list:
            return tuple(children)
        return (children,)  # type: ignore[return-value]

    @property
    def deps(self) -> tuple[Any, ...] | None:
        """``None``, or the flat tuple ``(key, ref, key, ref, ...)`` described above."""
        deps = self._deps
        if type(deps) is _Direct:
            return tuple(_interleave(self.args))
        return deps

    @property
    def qualname(self) -> str:
        """The qualified name of what this node calls; default names start with it."""
        raise NotImplementedError

    def set_name(self, name: str) -> Any:
        """Name this node; its stored result is kept under this name. Returns the node."""
        if not isinstance(name, str) or not name:
            raise ConfigurationError(
                f"set_name() of node {self.qualname!r} needs a non-empty string, got {name!r}."
            )
        self._name = name
        return self

    def get_name(self) -> str:
        """The node's name: the one given to ``set_name`` or its default name.

        A default name is ``<qualname>_<n>``: ``n`` is the node's rank among the nodes of
        the same qualname in its connected graph, so rebuilding the same graph gives the
        same names. (A workflow over several disconnected graphs numbers them together.)
        """
        if self._name is not None:
            return self._name
        from functionfuse._graph import connected_nodes, default_names

        return default_names(connected_nodes([self]))[self]

    @property
    def name(self) -> str | None:
        """The name given to ``set_name``, or ``None``."""
        return self._name

    @property
    def backend_info(self) -> dict[str, Any]:
        """Per-node settings for backends (``remote_args``, ``plugin``, ...)."""
        info = self._backend_info
        if info is None:
            info = self._backend_info = {}
        return info

    def set_backend_info(self, key: str, value: Any) -> None:
        self.backend_info[key] = value

    def __getitem__(self, index: Any) -> NodeItem:
        return NodeItem(self, (index,))

    def __iter__(self) -> Any:
        # Without this, Python would iterate by calling __getitem__(0, 1, ...) forever.
        raise TypeError(
            f"node {self._name or self.qualname!r} cannot be unpacked or iterated while "
            "the graph is built; select items with node[0], node[1], ..."
        )

    def __repr__(self) -> str:
        name = f" {self._name!r}" if self._name is not None else ""
        return f"<{type(self).__name__} {self.qualname}{name}>"


class FunctionNode(Node):
    """A call of a decorated function."""

    __slots__ = ("func",)

    def __init__(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.func = func
        self._bind(args, kwargs, None)

    @property
    def qualname(self) -> str:
        return _qualname(self.func)

    def call(self, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> Any:
        return self.func(*args, **kwargs)


class ClassNode(Node):
    """The construction of a decorated class: a stateful node.

    Its method calls become :class:`MethodNode` s chained in call order; each depends on
    the previous call on the same instance. Users hold it through an :class:`Instance`.
    """

    __slots__ = ("cls", "last", "methods")

    def __init__(self, cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.cls = cls
        self.last: Node = self
        self.methods: list[MethodNode] = []
        self._bind(args, kwargs, None)

    @property
    def qualname(self) -> str:
        return _qualname(self.cls)

    def call(self, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> Any:
        return self.cls(*args, **kwargs)

    def __getitem__(self, index: Any) -> NodeItem:
        raise GraphError(
            f"class node {self._name or self.qualname!r} has no result to index; "
            "call one of its methods and index that."
        )


class MethodNode(Node):
    """A method call on a class node; runs on the instance its class node built."""

    __slots__ = ("instance", "method")

    def __init__(
        self, instance: ClassNode, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.instance = instance
        self.method = method
        self._bind(args, kwargs, instance.last)
        instance.last = self
        instance.methods.append(self)

    @property
    def func(self) -> Callable[..., Any]:
        """The (unbound) method, as defined on the class."""
        return getattr(self.instance.cls, self.method)  # type: ignore[no-any-return]

    @property
    def qualname(self) -> str:
        return f"{_qualname(self.instance.cls)}.{self.method}"

    def call_on(self, obj: Any, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> Any:
        return getattr(obj, self.method)(*args, **kwargs)


class NodeItem:
    """``node[i]`` (or ``node[i][j]``...): an item of a node's result, used as an argument."""

    __slots__ = ("indices", "node")

    def __init__(self, node: Node, indices: tuple[Any, ...]) -> None:
        self.node = node
        self.indices = indices

    def __getitem__(self, index: Any) -> NodeItem:
        return NodeItem(self.node, (*self.indices, index))

    def select(self, value: Any) -> Any:
        """Apply the indices to the parent's result."""
        for index in self.indices:
            value = value[index]
        return value

    def __iter__(self) -> Any:
        return Node.__iter__(self.node)

    def __repr__(self) -> str:
        return f"{self.node!r}{''.join(f'[{i!r}]' for i in self.indices)}"


class Instance:
    """What calling a decorated class returns: a handle whose method calls become nodes.

    ``Model(lr=0.1).set_name("model")`` names the class node; ``model.fit(x)`` records a
    call. Method names that clash with ``set_name``, ``get_name`` and ``node`` are
    reached with ``instance.call("name", ...)``.
    """

    __slots__ = ("node",)

    def __init__(self, node: ClassNode) -> None:
        self.node = node

    def set_name(self, name: str) -> Instance:
        self.node.set_name(name)
        return self

    def get_name(self) -> str:
        return self.node.get_name()

    @property
    def backend_info(self) -> dict[str, Any]:
        return self.node.backend_info

    def call(self, method: str, /, *args: Any, **kwargs: Any) -> MethodNode:
        """Record a call of ``method`` on this instance."""
        cls = self.node.cls
        if not callable(getattr(cls, method, None)):
            raise GraphError(
                f"class {_qualname(cls)!r} has no method {method!r} to call on node "
                f"{self.node._name or _qualname(cls)!r}."
            )
        return MethodNode(self.node, method, args, kwargs)

    def __getattr__(self, method: str) -> Callable[..., MethodNode]:
        if method.startswith("__"):
            raise AttributeError(method)
        cls = self.node.cls
        if not callable(getattr(cls, method, None)):
            raise AttributeError(
                f"class {_qualname(cls)!r} has no method {method!r}; calls on a workflow "
                "class node must name one of its methods."
            )
        node = self.node

        def record(*args: Any, **kwargs: Any) -> MethodNode:
            return MethodNode(node, method, args, kwargs)

        return record

    def __repr__(self) -> str:
        return f"<Instance of {self.node!r}>"


def node_of(value: Any) -> Node:
    """The node behind a node, a ``node[i]`` or an :class:`Instance`; else a GraphError."""
    if isinstance(value, Node):
        return value
    if isinstance(value, (NodeItem, Instance)):
        return value.node
    raise GraphError(
        f"{value!r} is not a workflow node; pass the result of calling a function or class "
        "decorated with @workflow."
    )


def _qualname(obj: Any) -> str:
    return getattr(obj, "__qualname__", None) or type(obj).__qualname__


# Last: the argument functions tell nodes apart by the classes above, which scan their
# arguments with them; each module imports the other at its end, so that either one can
# be imported first. Other modules import resolve_arguments and company from here.
from functionfuse._node_arguments import (  # noqa: E402
    _ATOMS,
    _DIRECT,
    _interleave,
    _Rejected,
    _scan,
    replace_references,
    resolve_arguments,
)
from functionfuse._node_arguments import _Direct as _Direct  # noqa: E402
from functionfuse._node_arguments import _Nested as _Nested  # noqa: E402
from functionfuse._node_arguments import _rebuild as _rebuild  # noqa: E402
