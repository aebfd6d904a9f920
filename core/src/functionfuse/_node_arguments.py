"""A node's arguments: scanned for node references when the node is built, and given
their values when it runs.

Scanning is one type check per argument; a list, tuple or dict is walked only when it
holds a node (``_Nested``), and a node where it cannot be replaced by its result (in a
set, a dict key; a class node) is refused before the graph is touched. Resolution
(:func:`resolve_arguments`) copies only the containers that hold references.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any, Final, final

__all__ = ["replace_references", "resolve_arguments"]


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


class _Nested:
    """A list, tuple or dict argument with node references somewhere inside."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


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


# Last: the node classes scan their arguments with the functions above, which tell them
# apart by class; each module imports the other at its end (see the end of _nodes).
from functionfuse._nodes import (  # noqa: E402
    ClassNode,
    FunctionNode,
    Instance,
    MethodNode,
    Node,
    NodeItem,
    node_of,
)

_NODE_KINDS = frozenset({FunctionNode, MethodNode, NodeItem, Instance, ClassNode})
