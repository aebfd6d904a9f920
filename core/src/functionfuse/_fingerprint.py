"""Fingerprints: what a node's result depends on, as a 16-byte digest, Merkle-style.

A node's fingerprint hashes the code it calls, its literal arguments, and the
fingerprints of its parents together with the items it takes from them (``node[0]``) —
never a parent's value, so nothing big is hashed twice and a whole graph costs one small
hash per node. The code fingerprint of a function covers its bytecode, constants,
defaults, closure values, the module-level constants it reads and, recursively, the
functions and classes of its own module that it refers to; file names, line numbers and
docstrings are left out, so moving code around or editing a docstring does not make
results stale (adding or removing one does: the bytecode changes with it).
``@workflow(version=...)`` replaces the code fingerprint with a version the user bumps
by hand.

What is not seen: code of installed packages and the standard library (a function of
``numpy`` counts by its name), functions of other modules of the project called by name,
mutable module-level data (a dict used as a cache is state, not code), and what is read
at run time (files, databases, environment variables). A value that cannot be
fingerprinted at all (a lock, a generator, an unpicklable object) makes its node
*unknown*: it runs on every run, as do its descendants.

Here: a graph's fingerprints (:class:`Lineage`) and the stamps saved with results. How
values and code are encoded: ``_fingerprint_values`` and ``_fingerprint_code``; which
code is the project's: ``_fingerprint_installed``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from hashlib import blake2b
from typing import Any, Final

from functionfuse._fingerprint_code import _ABSENT, _Encoder
from functionfuse._fingerprint_values import (
    _ATOMS,
    _END,
    _NO_PARENTS,
    _REF,
    _SIZE,
    Unfingerprintable,
    _digest,
    _dumps,
    _Memo,
    _qualified,
)
from functionfuse._node_arguments import _DIRECT
from functionfuse._nodes import FunctionNode, MethodNode, Node

__all__ = ["FORMAT", "Lineage", "Unfingerprintable", "describe_stamp"]

#: The first bytes of every fingerprint stamp we store; a different prefix (an older or
#: newer scheme) never matches, so changing the scheme makes results stale, not wrong.
FORMAT: Final = b"ff1:"
_STAMP_SIZE: Final = len(FORMAT) + 3 * _SIZE  # then the parents' (see Lineage.stamp)
#: A stamp names its node's parents by the first bytes of their fingerprints, for up to
#: this many parents (a wide fan-in's results would otherwise carry kilobytes).
_PARENTS_KEPT: Final = 32
_PARENT_PREFIX: Final = 4


class _Upstream(Exception):
    """A parent is unknown, so this node is too (internal)."""

    def __init__(self, parent: Node) -> None:
        self.parent = parent


class Lineage:
    """The fingerprints of every node of a graph, computed once for a run.

    ``fingerprints[node]`` is the node's 16-byte digest, or ``None`` when it is
    unknown: something it depends on cannot be fingerprinted; :meth:`unknown_reason`
    says what. :meth:`stamp` is what is saved with a node's result and :meth:`explain`
    compares a saved stamp with the node as it is now.
    """

    def __init__(self, order: Iterable[Node]) -> None:
        self._encoder = encoder = _Encoder()
        self.fingerprints: dict[Node, bytes | None] = {}
        # Why a node is unknown: its own problem, or the node upstream that has one.
        self._problems: dict[Node, str | Node] = {}
        fingerprints = self.fingerprints
        # By id(): a function's or class's code fingerprint, or why it has none.
        codes: dict[int, bytes | str] = {}
        # The arguments' digests of the nodes whose arguments are more than small
        # literals, taken now: a node may change its arguments as it runs.
        self._arguments_digests: dict[Node, bytes] = {}
        # The loop below runs once per node: its names are local, and the code of the
        # previous node's function is at hand (a chain or a fan-in repeats one function).
        atoms_only = _ATOMS.issuperset
        atoms = _ATOMS
        hash_ = blake2b
        dumps = _dumps
        direct = _DIRECT
        size = _SIZE
        ref = _REF
        function_node = FunctionNode
        method_node = MethodNode
        last: Any = _ABSENT
        code: bytes | str = b""
        code_d = code_a = code_g = b""
        for node in order:
            kind = type(node)
            what = node.func if kind is function_node else _class_of(node)  # type: ignore[attr-defined]
            if what is not last:
                last = what
                found = codes.get(id(what))
                if found is None:
                    found = codes[id(what)] = self._code(what)
                code = found
                if isinstance(code, bytes):
                    code_d, code_a, code_g = code + b"D", code + b"A", code + b"G"
            if kind is function_node and type(code) is bytes and node.kwargs is None:
                # The common cases inlined (see _arguments, which they must agree with):
                # a chain or fan-in of nodes, or small literals only.
                deps = node._deps
                args = node.args
                if deps is direct:
                    if len(args) == 1:
                        parent = fingerprints[args[0]]
                        if parent is not None:
                            fingerprints[node] = hash_(code_d + parent).digest()[:size]
                            continue
                elif deps is None:
                    if atoms_only(map(type, args)):
                        fingerprints[node] = hash_(code_a + dumps(args, 2)).digest()[:size]
                        continue
                else:  # nodes and small literals side by side: step(previous, 0.1)
                    parts = [code_g]
                    for value in args:
                        value_kind = type(value)
                        if value_kind in atoms:
                            parts.append(dumps(value, 2))
                        elif value_kind is function_node or value_kind is method_node:
                            parent = fingerprints[value]
                            if parent is None:
                                break
                            parts += (ref, parent)
                        else:
                            break
                    else:
                        fingerprints[node] = hash_(b"".join(parts)).digest()[:size]
                        continue
            try:
                if not isinstance(code, bytes):
                    raise Unfingerprintable(code)
                head = code  # (``code`` stays the function's, for the next node)
                if kind is MethodNode:
                    first = fingerprints[node.parents[0]]
                    if first is None:
                        raise _Upstream(node.parents[0])
                    head = code + node.method.encode() + _END + first  # type: ignore[attr-defined]
                # One encoding of the arguments, each parent standing as a blank; then
                # the parents' fingerprints, in the order the encoding refers to them.
                parents = _Collector(fingerprints)
                arguments = _arguments(node, encoder, parents)
                self._arguments_digests[node] = _digest(arguments)
                fingerprints[node] = _digest(head + arguments + b"".join(parents.found))
            except _Upstream as upstream:
                fingerprints[node] = None
                # The node whose own code or argument is the cause (a parent that is
                # unknown itself already points at it): one step, however long the chain.
                origin = self._problems[upstream.parent]
                self._problems[node] = origin if isinstance(origin, Node) else upstream.parent
            except Unfingerprintable as error:
                fingerprints[node] = None
                self._problems[node] = str(error)
            except RecursionError:
                fingerprints[node] = None
                self._problems[node] = "an argument is nested too deeply"
            except Exception as error:  # raised by a user's object: not fingerprintable
                fingerprints[node] = None
                self._problems[node] = f"{type(error).__name__}: {error}"
        self._codes = codes

    def _code(self, what: Any) -> bytes | str:
        """The code fingerprint of a function or class, or why it has none."""
        try:
            return self._encoder.code(what)
        except Unfingerprintable as error:
            return str(error)
        except RecursionError:
            return f"{_qualified(what)} is nested too deeply"
        except Exception as error:  # raised by a user's object
            return f"{_qualified(what)}: {type(error).__name__}: {error}"

    def unknown_reason(self, node: Node, name_of: Callable[[Node], str]) -> str:
        """Why ``node`` has no fingerprint (so runs on every run)."""
        problem = self._problems[node]
        if isinstance(problem, Node):
            return f"upstream node {name_of(problem)!r} cannot be fingerprinted"
        return f"cannot be fingerprinted: {problem}"

    def stamp(self, node: Node) -> bytes | None:
        """What to save with the node's result: :data:`FORMAT`, the node's fingerprint,
        its code's and its arguments' digests, then the count and the first bytes of its
        parents' fingerprints (all say what changed when it no longer matches; the
        parents' are left out, count 255, beyond a few dozen). ``None`` for an unknown
        node."""
        fingerprint = self.fingerprints[node]
        if fingerprint is None:
            return None
        parents = node.parents
        if len(parents) > _PARENTS_KEPT:
            kept = b"\xff"
        else:
            fingerprints = self.fingerprints
            kept = bytes([len(parents)]) + b"".join(
                fingerprints[parent][:_PARENT_PREFIX]  # type: ignore[index]
                for parent in parents
            )
        return FORMAT + fingerprint + self._code_of(node) + self._arguments_digest(node) + kept

    def matches(self, node: Node, stamp: bytes | None) -> bool:
        """True when a stored result with ``stamp`` is this node's result as it is now."""
        fingerprint = self.fingerprints[node]
        return (
            fingerprint is not None
            and _ours(stamp)
            and stamp[len(FORMAT) : len(FORMAT) + _SIZE] == fingerprint  # type: ignore[index]
        )

    def explain(self, node: Node, stamp: bytes | None) -> list[str]:
        """What differs between a stored result's stamp and the node now: ``"code
        changed"``, ``"argument changed"``; empty when neither (its upstream did)."""
        if not _ours(stamp):
            return ["stored without a fingerprint"]
        assert stamp is not None
        reasons = []
        start = len(FORMAT) + _SIZE
        if stamp[start : start + _SIZE] != self._code_of(node):
            reasons.append("code changed")
        if stamp[start + _SIZE : _STAMP_SIZE] != self._arguments_digest(node):
            reasons.append("argument changed")
        return reasons

    def changed_parents(self, node: Node, stamp: bytes | None) -> list[Node] | None:
        """The parents whose fingerprints differ from when the stored result was made
        (``None``: the stamp does not say)."""
        if not _ours(stamp):
            return None
        assert stamp is not None
        parents = node.parents
        kept = stamp[_STAMP_SIZE:]
        if kept[0] != len(parents):  # more than were kept, or another node's
            return None
        changed = []
        for i, parent in enumerate(parents):
            fingerprint = self.fingerprints[parent]
            start = 1 + i * _PARENT_PREFIX
            if (
                fingerprint is None
                or kept[start : start + _PARENT_PREFIX] != fingerprint[:_PARENT_PREFIX]
            ):
                changed.append(parent)
        return changed

    def _code_of(self, node: Node) -> bytes:
        code = self._codes[id(_code_owner(node))]
        assert isinstance(code, bytes), "only known nodes are stamped or explained"
        if isinstance(node, MethodNode):  # calling another method is a code change
            return _digest(code + node.method.encode())
        return code

    def _arguments_digest(self, node: Node) -> bytes:
        # The arguments with each reference to a parent standing for "a parent's value"
        # (its fingerprint left out): a change there is an upstream change. Taken when
        # the fingerprints were, unless they are small literals (immutable).
        found = self._arguments_digests.get(node)
        if found is None:
            found = _digest(_arguments(node, self._encoder, _NO_PARENTS))
        return found


class _Collector(dict):  # type: ignore[type-arg]
    """Fingerprints that read as blanks, noting the real ones in the order asked for
    (an unknown one raises :class:`_Upstream`)."""

    def __init__(self, fingerprints: dict[Node, bytes | None]) -> None:
        super().__init__()
        self.fingerprints = fingerprints
        self.found: list[bytes] = []

    def __getitem__(self, node: Node) -> bytes:
        fingerprint = self.fingerprints[node]
        if fingerprint is None:
            raise _Upstream(node)
        self.found.append(fingerprint)
        return b""


def _class_of(node: Node) -> type:
    if isinstance(node, MethodNode):
        return node.instance.cls
    return node.cls  # type: ignore[attr-defined, no-any-return]


def _code_owner(node: Node) -> Any:
    """What a node's code fingerprint is the fingerprint of: its function or class."""
    return node.func if isinstance(node, FunctionNode) else _class_of(node)


def _arguments(node: Node, encoder: _Encoder, fingerprints: Mapping[Node, bytes]) -> bytes:
    """The encoding of ``node``'s arguments, each parent standing as what
    ``fingerprints`` gives for it: a blank (:data:`_NO_PARENTS`, :class:`_Collector`)."""
    deps = node._deps
    args = node.args
    kwargs = node.kwargs
    if deps is None:
        if _ATOMS.issuperset(map(type, args)):
            body = b"A" + _dumps(args, 2)
        else:
            body = b"W" + encoder.literal(args)
    elif deps is _DIRECT:
        body = b"D" + b"".join([fingerprints[parent] for parent in args])
    else:
        # Nodes among literals, in containers, items, keywords: argument by argument.
        out: list[bytes] = [b"G"]
        walk = encoder._walk
        memo: _Memo = {}
        for value in args:
            kind = type(value)
            if kind in _ATOMS:
                out.append(_dumps(value, 2))
            elif kind is FunctionNode or kind is MethodNode:  # _walk's case, inlined
                out += (_REF, fingerprints[value])
            else:
                walk(value, out, fingerprints, memo)
        if kwargs:
            out.append(b"K")
            for key, value in kwargs.items():
                out.append(_dumps(key, 2))
                walk(value, out, fingerprints, memo)
        return b"".join(out)
    if kwargs:
        if _ATOMS.issuperset(map(type, kwargs.values())):
            return body + b"K" + _dumps(kwargs, 2)
        return body + b"k" + encoder.literal(kwargs)
    return body


def _ours(stamp: bytes | None) -> bool:
    """True for a whole stamp made by :meth:`Lineage.stamp` (of this format)."""
    if stamp is None or len(stamp) <= _STAMP_SIZE or not stamp.startswith(FORMAT):
        return False
    count = stamp[_STAMP_SIZE]
    expected = 0 if count == 0xFF else count * _PARENT_PREFIX
    return len(stamp) == _STAMP_SIZE + 1 + expected


def describe_stamp(stamp: bytes) -> str:
    """A stored stamp for people: the node's fingerprint, then what it was made of."""
    if not _ours(stamp):
        return stamp.hex()
    start = len(FORMAT)
    node, code, arguments = (
        stamp[start + i * _SIZE : start + (i + 1) * _SIZE].hex() for i in range(3)
    )
    return f"{node} (code {code}, arguments {arguments})"
