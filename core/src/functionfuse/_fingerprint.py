"""Fingerprints: what a node's result depends on, as a 16-byte digest, Merkle-style.

A node's fingerprint hashes the code it calls, its literal arguments, the versions of
the installed distributions these refer to, and the fingerprints of its parents
together with the items it takes from them (``node[0]``) — never a parent's value, so
nothing big is hashed twice and a whole graph costs one small hash per node. The code of
a function covers its bytecode, constants, defaults, closure values and, transitively,
the functions, classes and immutable constants of *every* module of the project that it
refers to (``helpers.scale`` → ``helpers._inner`` → ``settings.SCALE``); file names,
line numbers and docstrings are left out. Installed code (a distribution's, or the
standard library) is never walked: it counts by its distribution's name and version.
``@workflow(version=...)`` replaces the code fingerprint with a version the user bumps
by hand.

What is not seen: mutable module-level data (a dict used as a cache is state, not code),
and what is read at run time (files, databases, environment variables). A value that
cannot be fingerprinted at all (a lock, a generator, an unpicklable object) makes its
node *unknown*: it runs on every run, as do its descendants.

Here: a graph's fingerprints (:class:`Lineage`), the stamps saved with results and what
a stale stamp says changed. How values, arguments and code are encoded:
``_fingerprint_values``, ``_fingerprint_arguments``, ``_fingerprint_code`` (with
``_fingerprint_parts`` and ``_fingerprint_modules``); which code is the project's:
``_fingerprint_installed``; the stamps' layout: ``_fingerprint_stamps``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from hashlib import blake2b
from typing import Any

from functionfuse import _fingerprint_stamps as stamps
from functionfuse._fingerprint_arguments import _arguments, _immutable, _Key, _parameters
from functionfuse._fingerprint_code import _ABSENT, _Encoder
from functionfuse._fingerprint_installed import track_versions
from functionfuse._fingerprint_parts import CodeInfo, with_versions
from functionfuse._fingerprint_stamps import FORMAT, describe_stamp
from functionfuse._fingerprint_values import (
    _ATOMS,
    _END,
    _NO_PARENTS,
    _REF,
    _SIZE,
    Unfingerprintable,
    _digest,
    _dumps,
    _qualified,
)
from functionfuse._node_arguments import _DIRECT
from functionfuse._nodes import FunctionNode, MethodNode, Node

__all__ = ["FORMAT", "Lineage", "Unfingerprintable", "describe_stamp"]


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
        # By id(): a function's or class's code fingerprint, or why it has none; and
        # what the loop hashes first: the fingerprint, alone and with each shape's tag.
        codes: dict[int, CodeInfo | str] = {}
        heads: dict[int, tuple[bytes | str, bytes, bytes, bytes]] = {}
        # Of the nodes whose arguments are more than small literals, taken now (a node
        # may change its arguments as it runs): the arguments' digest, each argument's,
        # and the installed distributions they name.
        self._arguments_digests: dict[Node, bytes] = {}
        self._argument_parts: dict[Node, list[tuple[_Key, bytes]]] = {}
        self._argument_dists: dict[Node, frozenset[tuple[str, str]]] = {}
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
        code_info = CodeInfo
        last: Any = _ABSENT
        code: bytes | str = b""
        code_d = code_a = code_g = b""
        for node in order:
            kind = type(node)
            what = node.func if kind is function_node else _class_of(node)  # type: ignore[attr-defined]
            if what is not last:
                last = what
                found = heads.get(id(what))
                if found is None:
                    info = codes[id(what)] = self._code(what)
                    if isinstance(info, code_info):
                        code = info.fingerprint
                        found = (code, code + b"D", code + b"A", code + b"G")
                    else:
                        found = (info, b"", b"", b"")
                    heads[id(what)] = found
                code, code_d, code_a, code_g = found
            deps = node._deps
            args = node.args
            if kind is function_node and type(code) is bytes and node.kwargs is None:
                # The common cases inlined (see _arguments, which they must agree with):
                # a chain or fan-in of nodes, or small literals only.
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
                argument_parts: list[tuple[_Key, bytes]] | None = None if _immutable(node) else []
                met: set[tuple[str, str]] = set()
                encoder._met = met
                try:
                    arguments = _arguments(node, encoder, parents, argument_parts)
                finally:
                    encoder._met = None
                self._arguments_digests[node] = _digest(arguments)
                if argument_parts is not None:
                    self._argument_parts[node] = argument_parts
                fingerprint = _digest(head + arguments + b"".join(parents.found))
                if met:  # installed code among the arguments: its versions count
                    self._argument_dists[node] = frozenset(met)
                    fingerprint = with_versions(fingerprint, met)
                fingerprints[node] = fingerprint
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
        self._code_json: dict[int, bytes] = {}
        self._labels: dict[int, tuple[list[str], str | None]] = {}

    def _code(self, what: Any) -> CodeInfo | str:
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

    # -- stamps --------------------------------------------------------------------------

    def stamp(self, node: Node) -> bytes | None:
        """What to save with the node's result (see ``_fingerprint_stamps``): the
        node's fingerprint, its code's and its arguments' digests, its parents', and the
        details that name what changed when it no longer matches. ``None`` for an
        unknown node."""
        fingerprint = self.fingerprints[node]
        if fingerprint is None:
            return None
        parents = node.parents
        if len(parents) > stamps.PARENTS_KEPT:
            kept = b"\xff"
        else:
            fingerprints = self.fingerprints
            kept = bytes([len(parents)]) + b"".join(
                fingerprints[parent][: stamps.PARENT_PREFIX]  # type: ignore[index]
                for parent in parents
            )
        owner = id(_code_owner(node))
        code_json = self._code_json.get(owner)
        if code_json is None:
            code_json = self._code_json[owner] = stamps.code_parts_json(self._info(node).parts)
        details = stamps.details(
            code_json, self._arguments_parts(node), self._dists(node), track_versions()
        )
        return (
            FORMAT
            + fingerprint
            + self._code_of(node)
            + self._arguments_digest(node)
            + kept
            + details
        )

    def matches(self, node: Node, stamp: bytes | None) -> bool:
        """True when a stored result with ``stamp`` is this node's result as it is now."""
        fingerprint = self.fingerprints[node]
        return (
            fingerprint is not None
            and stamps.ours(stamp)
            and stamp[len(FORMAT) : len(FORMAT) + _SIZE] == fingerprint  # type: ignore[index]
        )

    def explain(self, node: Node, stamp: bytes | None) -> list[str]:
        """What differs between a stored result's stamp and the node now, naming the
        culprits: ``"code changed (helpers.scale)"``, ``"argument 'k' changed"``,
        ``"scikit-learn 1.5.2 → 1.6.0"``; empty when none of these did (its upstream
        did)."""
        if not stamps.ours(stamp):
            return [stamps.unusable(stamp)]
        assert stamp is not None
        reasons = []
        details = stamps.read_details(stamp)
        start = len(FORMAT) + _SIZE
        if stamp[start : start + _SIZE] != self._code_of(node):
            reasons.append(stamps.code_reason(details.get("c"), self._info(node).parts))
        if stamp[start + _SIZE : stamps.STAMP_SIZE] != self._arguments_digest(node):
            label = self._argument_label(node)
            parts = self._arguments_parts(node)
            reasons.append(stamps.argument_reason(details.get("a"), parts, label))
        reasons += stamps.version_reasons(details, self._dists(node), track_versions())
        return reasons

    def changed_parents(self, node: Node, stamp: bytes | None) -> list[Node] | None:
        """The parents whose fingerprints differ from when the stored result was made
        (``None``: the stamp does not say)."""
        if not stamps.ours(stamp):
            return None
        assert stamp is not None
        parents = node.parents
        kept = stamp[stamps.STAMP_SIZE :]
        if kept[0] != len(parents):  # more than were kept, or another node's
            return None
        prefix = stamps.PARENT_PREFIX
        changed = []
        for i, parent in enumerate(parents):
            fingerprint = self.fingerprints[parent]
            start = 1 + i * prefix
            if fingerprint is None or kept[start : start + prefix] != fingerprint[:prefix]:
                changed.append(parent)
        return changed

    def _info(self, node: Node) -> CodeInfo:
        info = self._codes[id(_code_owner(node))]
        assert isinstance(info, CodeInfo), "only known nodes are stamped or explained"
        return info

    def _code_of(self, node: Node) -> bytes:
        code = self._info(node).digest
        if isinstance(node, MethodNode):  # calling another method is a code change
            return _digest(code + node.method.encode())
        return code

    def _dists(self, node: Node) -> list[tuple[str, str]]:
        """The installed distributions the node's code and arguments name."""
        dists = self._info(node).dists
        more = self._argument_dists.get(node)
        return sorted(more.union(dists)) if more else list(dists)

    def _arguments_digest(self, node: Node) -> bytes:
        # The arguments with each reference to a parent standing for "a parent's value"
        # (its fingerprint left out): a change there is an upstream change. Taken when
        # the fingerprints were, unless they are small literals (immutable).
        found = self._arguments_digests.get(node)
        if found is None:
            found = _digest(_arguments(node, self._encoder, _NO_PARENTS))
        return found

    def _arguments_parts(self, node: Node) -> list[tuple[_Key, bytes]]:
        found = self._argument_parts.get(node)
        if found is None:  # small literals and parents only: the same as then
            found = []
            _arguments(node, self._encoder, _NO_PARENTS, found)
        return found

    def _argument_label(self, node: Node) -> Callable[[Any], str]:
        """Names for a node's argument keys: the parameter a position binds."""
        target = _callable_of(node)
        labels = self._labels.get(id(target))
        if labels is None:
            labels = self._labels[id(target)] = _parameters(target, type(node) is not FunctionNode)
        named, rest = labels

        def label(key: Any) -> str:
            if not isinstance(key, int):
                return str(key)
            if key < len(named):
                return named[key]
            return f"{rest}[{key - len(named)}]" if rest else f"#{key}"

        return label


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


def _callable_of(node: Node) -> Any:
    """What a node calls: its function, its class's ``__init__``, or its method."""
    if isinstance(node, FunctionNode):
        return node.func
    cls = _class_of(node)
    if isinstance(node, MethodNode):
        return getattr(cls, node.method, None)
    return getattr(cls, "__init__", None)
