"""A node's arguments as fingerprints see them: one encoding of them all (each parent
standing as a blank), each argument's own digest for the stamp's details, and the
parameter each position binds, to name an argument that changed.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from functionfuse._fingerprint_code import _Encoder
from functionfuse._fingerprint_parts import PART_SIZE
from functionfuse._fingerprint_values import _ATOMS, _REF, _digest, _dumps, _Memo
from functionfuse._node_arguments import _DIRECT
from functionfuse._nodes import FunctionNode, MethodNode, Node

__all__: list[str] = []

#: An argument's key in a stamp: its position, or its keyword.
_Key = int | str


def _parameters(target: Any, bound: bool) -> tuple[list[str], str | None]:
    """The names positional arguments bind (``self`` left out for a method or class),
    and the name of ``*args``."""
    try:
        parameters = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return [], None
    if bound and parameters:
        parameters = parameters[1:]
    named = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    rest = next((p.name for p in parameters if p.kind is p.VAR_POSITIONAL), None)
    return named, rest


def _immutable(node: Node) -> bool:
    """True when a node's arguments are small literals and parents only (its argument
    parts may be computed later: they cannot change)."""
    deps = node._deps
    simple = _ATOMS.issuperset(map(type, node.args)) if deps is None else deps is _DIRECT
    kwargs = node.kwargs
    return simple and (not kwargs or _ATOMS.issuperset(map(type, kwargs.values())))


def _arguments(
    node: Node,
    encoder: _Encoder,
    fingerprints: Mapping[Node, bytes],
    parts: list[tuple[_Key, bytes]] | None = None,
) -> bytes:
    """The encoding of ``node``'s arguments, each parent standing as what
    ``fingerprints`` gives for it: a blank (:data:`_NO_PARENTS`, :class:`_Collector`).
    With ``parts``, each argument's digest is appended there (a parent's is not: a
    change there is an upstream change)."""
    deps = node._deps
    args = node.args
    kwargs = node.kwargs
    memo: _Memo | None = None
    walk = encoder._walk
    if deps is None and _ATOMS.issuperset(map(type, args)):
        out = [b"A", _dumps(args, 2)]
        if parts is not None:
            parts += [(i, _part(_dumps(value, 2))) for i, value in enumerate(args)]
    elif deps is _DIRECT:
        out = [b"D", *[fingerprints[parent] for parent in args]]
    else:
        # Nodes among literals, in containers, items: argument by argument.
        out = [b"G"]
        memo = {}
        for i, value in enumerate(args):
            kind = type(value)
            if kind in _ATOMS:
                piece = _dumps(value, 2)
                out.append(piece)
                if parts is not None:
                    parts.append((i, _part(piece)))
            elif kind is FunctionNode or kind is MethodNode:  # _walk's case, inlined
                out += (_REF, fingerprints[value])
            else:
                start = len(out)
                walk(value, out, fingerprints, memo)
                if parts is not None:
                    parts.append((i, _part(b"".join(out[start:]))))
    if kwargs:
        if _ATOMS.issuperset(map(type, kwargs.values())):
            out += (b"K", _dumps(kwargs, 2))
            if parts is not None:
                parts += [(key, _part(_dumps(value, 2))) for key, value in kwargs.items()]
        else:
            out.append(b"k")
            memo = {} if memo is None else memo
            for key, value in kwargs.items():
                out.append(_dumps(key, 2))
                start = len(out)
                walk(value, out, fingerprints, memo)
                kind = type(value)
                if parts is not None and kind is not FunctionNode and kind is not MethodNode:
                    parts.append((key, _part(b"".join(out[start:]))))
    return b"".join(out)


def _part(encoding: bytes) -> bytes:
    return _digest(encoding)[:PART_SIZE]
