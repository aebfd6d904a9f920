"""The frontend: decorated functions and classes whose calls build a DAG of nodes.

Nothing runs here. A node records what to call, its arguments (literals and references
to other nodes, possibly nested in lists, tuples and dicts) and its parents. Nodes are
built by the thousands, so every class has ``__slots__``, empty things are ``None``
rather than empty containers, and argument scanning is one type check per argument.
"""

from __future__ import annotations

import copy
import functools
import itertools
import weakref
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar, final, overload

from functionfuse._errors import ConfigurationError, GraphError

__all__ = [
    "ClassNode",
    "FunctionNode",
    "Instance",
    "MethodNode",
    "Node",
    "NodeItem",
    "node_of",
    "resolve_arguments",
    "task",
    "version_of",
    "workflow",
]

T = TypeVar("T")

# A process-wide creation counter. Only the relative order of nodes matters (it is a
# topological order, since a node's parents exist before it), so names derived from it
# do not depend on how many nodes the process built before.
_sequence = itertools.count()


@final
class _Direct:
    """``Node._deps`` of a node whose positional arguments are all nodes (and no keyword
    argument holds one): its dependency tuple is computed from ``args`` when asked for,
    rather than stored with every node of a chain."""

    __slots__ = ()


_DIRECT: Final = _Direct()


def _interleave(args: tuple[Any, ...]) -> list[Any]:
    """``[0, args[0], 1, args[1], ...]``."""
    return list(itertools.chain.from_iterable(enumerate(args)))


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


class _Nested:
    """A list, tuple or dict argument with node references somewhere inside."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


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


_CONTAINERS = (list, tuple, dict)
# Containers whose items are hashed: a node there could not be replaced by its result.
_HASHED = (set, frozenset)
_WALKED = (list, tuple, dict, set, frozenset)
# Argument types that cannot hold a node: skipped without a call to _scan.
_ATOMS = frozenset({int, float, complex, bool, str, bytes, type(None)})


def _scan(value: Any, parents: list[Node]) -> Any:
    """Return the reference to record for an argument (``None`` for a plain literal)."""
    kind = type(value)
    if kind is FunctionNode or kind is MethodNode:
        parents.append(value)
        return value
    if kind is NodeItem:
        parents.append(value.node)
        return value
    if kind in _CONTAINERS or isinstance(value, _CONTAINERS):
        return _Nested(value) if _collect(value, parents) else None
    if kind is Instance or kind is ClassNode:
        raise _Rejected(value, None)
    if isinstance(value, _HASHED):
        _reject_hashed(value, "in a set")
    return None


def _collect(value: Any, parents: list[Node]) -> bool:
    """Append the nodes nested in a list/tuple/dict to ``parents``; True if any.

    Each container is walked once (remembered by ``id``; all are alive, held by
    ``value``): one that holds itself ends the walk, a shared one costs once. Raises
    :class:`_Rejected` for a class node, and for a node in a set or a dict key.
    """
    found = False
    seen = {id(value)}
    # An explicit stack: a 100,000-element list of nodes must not recurse.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if not _ATOMS.issuperset(map(type, item)):
                for key in item:
                    _reject_hashed(key, "in a dict key")
            items: Any = item.values()
        elif isinstance(item, _HASHED):
            _reject_hashed(item, "in a set")
            continue
        else:
            items = item
        for element in items:
            kind = type(element)
            if kind is FunctionNode or kind is MethodNode:
                parents.append(element)
                found = True
            elif kind is NodeItem:
                parents.append(element.node)
                found = True
            elif isinstance(element, _WALKED):
                if id(element) not in seen:
                    seen.add(id(element))
                    stack.append(element)
            elif kind is Instance or kind is ClassNode:
                raise _Rejected(element, None)
    return found


def _reject_hashed(value: Any, place: str) -> None:
    """Raise :class:`_Rejected` if a node is ``value`` or inside it (tuples and
    frozensets: what is hashable), ``value`` being a set or a dict key."""
    seen: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind in _NODE_KINDS:
            raise _Rejected(item, place)
        if isinstance(item, (tuple, set, frozenset)) and id(item) not in seen:
            seen.add(id(item))
            stack.extend(item)


class _Rejected(Exception):
    """An argument holds a node where it cannot be one (internal: ``Node._bind`` makes
    a :class:`GraphError` of it, naming the call and the argument)."""

    def __init__(self, value: Any, place: str | None) -> None:
        self.value = value
        self.place = place  # None: a class node (its instance cannot be passed)

    def message(self, called: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        where = _where_rejected(args, kwargs)
        node = node_of(self.value)
        name = node._name or node.qualname
        if self.place is None:
            return (
                f"class node {name!r} was passed as an argument ({where} of {called!r}); an "
                "instance lives where its class node runs and cannot be passed around. "
                "Pass the result of one of its method calls instead."
            )
        return (
            f"node {name!r} is {self.place} ({where} of {called!r}); a node is replaced by "
            "its result only in lists, tuples and dict values (a set or a dict key would "
            "get the node itself, and the node would not wait for it). Pass the nodes in a "
            "list, or as dict values, and build the set or the keys inside the function."
        )


def _where_rejected(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """Which argument :class:`_Rejected` came from, found again (errors only)."""
    for position, value in enumerate(args):
        try:
            _scan(value, [])
        except _Rejected:
            return f"positional argument {position}"
    for key, value in (kwargs or {}).items():
        try:
            _scan(value, [])
        except _Rejected:
            return f"keyword argument {key!r}"
    return "an argument"  # unreachable: the scan that raised would raise again


_NODE_KINDS = frozenset({FunctionNode, MethodNode, NodeItem, Instance, ClassNode})


def resolve_arguments(
    node: Node, value_of: Callable[[Node], Any]
) -> tuple[tuple[Any, ...] | list[Any], dict[str, Any]]:
    """The arguments to call ``node`` with, each node reference replaced by its value.

    ``value_of(parent)`` gives a parent's result. Used by every backend (on the driver
    or, for Ray, on the worker); returns the original containers when nothing is
    substituted.
    """
    deps = node._deps
    kwargs = node.kwargs
    if deps is None:
        return node.args, kwargs if kwargs is not None else {}
    if type(deps) is _Direct:
        return [value_of(arg) for arg in node.args], kwargs if kwargs is not None else {}
    # One memo for all the arguments: a container passed twice is copied once.
    memo: dict[int, Any] = {}
    return replace_references(node, deps, lambda ref: _substitute(ref, value_of, memo))


def replace_references(
    node: Node, deps: tuple[Any, ...], replace: Callable[[Any], Any]
) -> tuple[tuple[Any, ...] | list[Any], dict[str, Any]]:
    """``node``'s arguments with each reference of ``deps`` (as :attr:`Node.deps` lists
    them) replaced by ``replace(ref)``: a value, or (Ray) the parent's ObjectRef.

    Copies ``args`` and ``kwargs`` only where something is replaced.
    """
    args: tuple[Any, ...] | list[Any] = node.args
    kwargs = node.kwargs
    args_copy: list[Any] | None = None
    kwargs_copy: dict[str, Any] | None = None
    for i in range(0, len(deps), 2):
        key = deps[i]
        value = replace(deps[i + 1])
        if type(key) is int:
            if args_copy is None:
                args_copy = list(args)
            args_copy[key] = value
        else:
            if kwargs_copy is None:
                kwargs_copy = dict(kwargs) if kwargs is not None else {}
            kwargs_copy[key] = value
    if args_copy is not None:
        args = args_copy
    if kwargs_copy is None:
        kwargs_copy = kwargs if kwargs is not None else {}
    return args, kwargs_copy


def _substitute(ref: Any, value_of: Callable[[Node], Any], memo: dict[int, Any]) -> Any:
    kind = type(ref)
    if kind is NodeItem:
        return ref.select(value_of(ref.node))
    if kind is _Nested:
        return _rebuild(ref.value, lambda leaf: _substitute(leaf, value_of, memo), memo)
    if kind is FunctionNode or kind is MethodNode:
        return value_of(ref)
    return ref


_UNSEEN: Final = object()


def _rebuild(value: Any, replace: Callable[[Any], Any], memo: dict[int, Any]) -> Any:
    """A copy of ``value`` — a list, tuple or dict argument holding node references, as
    a :class:`_Nested` keeps it — with each reference (a node or a ``node[i]``)
    replaced by ``replace(ref)``.

    The lists, tuples and dicts inside are copied, keeping their types and order; one
    met again (shared, or holding itself) is copied once — ``memo`` holds the copies
    made, by the original's id (the originals are alive, held by the node) — so the
    copy has the shape of the original and costs its size, not the number of paths
    through it.
    """
    kind = type(value)
    if kind is FunctionNode or kind is MethodNode or kind is NodeItem:
        return replace(value)
    if not isinstance(value, _CONTAINERS):
        return value
    copied = memo.get(id(value), _UNSEEN)
    if copied is not _UNSEEN:
        return copied
    if kind is list:
        items: list[Any] = []
        memo[id(value)] = items  # noted before its items: one that holds it gets it
        items.extend([_rebuild(v, replace, memo) for v in value])
        return items
    if isinstance(value, dict):
        # A dict subclass may not take a dict in its constructor (defaultdict): copy it,
        # keeping its type and state, and replace the values (same keys, same order).
        rebuilt = {} if kind is dict else copy.copy(value)
        memo[id(value)] = rebuilt
        for k, v in value.items():
            rebuilt[k] = _rebuild(v, replace, memo)
        return rebuilt
    if isinstance(value, list):  # a list subclass: copied as a dict subclass is
        rebuilt_list = copy.copy(value)
        memo[id(value)] = rebuilt_list
        rebuilt_list[:] = [_rebuild(v, replace, memo) for v in value]
        return rebuilt_list
    # A tuple is made from its items, so it is noted after them. It can hold itself
    # only through a list or dict, copied (and noted) first: the inner encounter
    # makes the copy, and this one returns it.
    items = [_rebuild(v, replace, memo) for v in value]
    copied = memo.get(id(value), _UNSEEN)
    if copied is not _UNSEEN:
        return copied
    if kind is tuple:
        copied = tuple(items)
    elif hasattr(value, "_fields"):  # a namedtuple
        copied = kind(*items)
    else:
        copied = kind(items)
    memo[id(value)] = copied
    return copied


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


class _FunctionFactory(Generic[T]):
    """A decorated function: calling it records a :class:`FunctionNode`."""

    def __init__(self, func: Callable[..., T]) -> None:
        self.func = func
        functools.update_wrapper(self, func)  # __name__, __doc__, __wrapped__, ...

    def __call__(self, *args: Any, **kwargs: Any) -> FunctionNode:
        return FunctionNode(self.func, args, kwargs)

    def __repr__(self) -> str:
        return f"<workflow function {_qualname(self.func)}>"

    def __reduce__(self) -> str:
        # By reference, like an undecorated function: the module attribute of this name.
        return _qualname(self.func)


class _ClassFactory:
    """A decorated class: calling it records a :class:`ClassNode` and returns its handle."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        functools.update_wrapper(self, cls, updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Instance:
        return Instance(ClassNode(self.cls, args, kwargs))

    def __repr__(self) -> str:
        return f"<workflow class {_qualname(self.cls)}>"

    def __reduce__(self) -> str:
        return _qualname(self.cls)


# ``@workflow(version=...)``: the version that stands for a function's or class's code
# in fingerprints. Kept here rather than on the object (or on every node).
_versions: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
# For callables that take no weak reference or are unhashable: by id(), held.
_strong_versions: dict[int, tuple[Any, str]] = {}


def version_of(obj: Any) -> str | None:
    """The ``version=`` given to ``@workflow`` for ``obj``, or ``None``."""
    try:
        return _versions.get(obj)
    except TypeError:
        found = _strong_versions.get(id(obj))
        return found[1] if found is not None else None


def _set_version(obj: Any, version: object) -> None:
    if isinstance(version, bool) or not isinstance(version, (str, int)):
        raise ConfigurationError(
            f"version= of @workflow for {_qualname(obj)!r} must be a string or an int, "
            f"got {version!r}; bump it when the code changes in a way fingerprints do "
            "not see."
        )
    try:
        _versions[obj] = str(version)
    except TypeError:
        _strong_versions[id(obj)] = (obj, str(version))


@overload
def workflow(func: type, /) -> _ClassFactory: ...  # type: ignore[overload-overlap]
@overload
def workflow(func: Callable[..., T], /) -> _FunctionFactory[T]: ...
@overload
def workflow(*, version: str | int) -> Callable[[Any], Any]: ...
def workflow(func: Any = None, /, *, version: str | int | None = None) -> Any:
    """Decorate a function or class so that calling it builds a node of the graph.

    ::

        @workflow
        def load(n): ...

        data = load(1000).set_name("data")   # a node; nothing runs yet

    ``@workflow(version="2")`` pins the code fingerprint: stored results stay valid
    whatever the code says until the version changes (bump it for changes that
    fingerprints cannot see, e.g. in an installed package the function relies on).
    The original function or class stays reachable as ``__wrapped__``.
    """
    if func is None:
        if version is None:
            raise ConfigurationError(
                "@workflow() needs a function or class, or version=: write @workflow "
                'or @workflow(version="1").'
            )
        return functools.partial(workflow, version=version)
    if isinstance(func, type):
        factory: Any = _ClassFactory(func)
    elif not callable(func):
        raise ConfigurationError(
            f"@workflow decorates functions and classes, not {type(func).__name__} {func!r}."
        )
    else:
        factory = _FunctionFactory(func)
    if version is not None:
        _set_version(func, version)
    return factory


task = workflow
