"""How a run record is stored: ``functionfuse-run/1`` JSON, gzip-compressed, by columns
(and how a small result is shown in it: :func:`short_repr`; the recorder's helpers that
need no recorder: run ids, snapshot interval, causes, ``blocked_by``).

The record readers get (:func:`expand_record`, hence ``read_run`` and
``wf.last_run_record``) has a ``"nodes"`` list with one object per node, every key of
:data:`NODE_DEFAULTS` in each. A stored record is the same document with the nodes
given by column instead, which is two to three times faster to write for a big run::

    "time_origin": 1764775812.12,            # node times are µs from here (ints)
    "columns": {"name": [...], "kind": [...], "function": [...], "parents": [[...]],
                "status": [...], "start": [...], "end": [...], "worker": [...],
                "size": [...], "fingerprint": [hex or null], "result_repr": [...]},
    "sparse": {"instance": {name: value}, "reasons": {...}, "causes": {...},
               "blocked_by": {...}, "error": {...}, "traceback": {...},
               "retries": {...}, "fingerprint": {name: {part: value}}}

A node object in ``"fingerprint"`` of ``"sparse"`` replaces the column's bare digest.
:func:`expand_record` also reads records written with a ``"nodes"`` list (a node may
leave out any key whose value is null, ``[]`` or 0), and keeps keys it does not know.
"""

from __future__ import annotations

import gc
import gzip
import json
import os
import reprlib
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from functionfuse._errors import FunctionFuseWarning
from functionfuse._resume import RerunReason

__all__ = [
    "COLUMNS",
    "DEFAULT_INTERVAL",
    "FORMAT",
    "INTERVAL_ENV",
    "NODE_DEFAULTS",
    "SPARSE",
    "blocked_by_column",
    "cause_of",
    "dump_record",
    "expand_record",
    "load_record",
    "new_run_id",
    "paused_collector",
    "short_repr",
    "snapshot_interval",
]

#: The format key of every run record.
FORMAT: Final = "functionfuse-run/1"

#: Every key of a node of a record, in order, with its value when it has none.
NODE_DEFAULTS: Final[dict[str, Any]] = {
    "name": None,
    "kind": None,
    "function": None,
    "parents": (),
    "instance": None,
    "status": "pending",
    "reasons": (),
    "causes": (),
    "blocked_by": None,
    "error": None,
    "traceback": None,
    "start": None,
    "end": None,
    "worker": None,
    "retries": 0,
    "size": None,
    "fingerprint": None,
    "result_repr": None,
}
#: The keys stored as columns (a value per node), and those stored by node name.
COLUMNS: Final = (
    "name",
    "kind",
    "function",
    "parents",
    "status",
    "start",
    "end",
    "worker",
    "size",
    "fingerprint",
    "result_repr",
)
SPARSE: Final = (
    "instance",
    "reasons",
    "causes",
    "blocked_by",
    "error",
    "traceback",
    "retries",
    "fingerprint",
)
_LISTS: Final = ("parents", "reasons", "causes")
_TIMES: Final = ("start", "end")


#: The characters a result's short repr keeps.
REPR_LIMIT: Final = 200
#: A value of another type than the plain ones gets a repr only up to this size (bytes,
#: by ``sys.getsizeof``): a short repr is for small results.
_SMALL: Final = 4096
_PLAIN: Final = frozenset({type(None), bool, int, float, complex, str, bytes, bytearray})
_CONTAINERS: Final = frozenset({list, tuple, dict, set, frozenset})
_NUMBERS: Final = frozenset({type(None), bool, int, float})
_BIG_INT: Final = 10**150


class _ShortRepr(reprlib.Repr):
    """reprlib's repr, which never builds the whole repr of something big: bytes are
    cut before their repr (as reprlib cuts str), and an element of a type reprlib does
    not know gets a repr only when small (:data:`_SMALL`), as a result does."""

    def repr_bytes(self, x: bytes, level: int) -> str:
        return repr(x[: self.maxstring]) + ("..." if len(x) > self.maxstring else "")

    def repr_bytearray(self, x: bytearray, level: int) -> str:
        return repr(x[: self.maxstring]) + ("..." if len(x) > self.maxstring else "")

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            small = sys.getsizeof(x) <= _SMALL
        except Exception:
            small = False
        return super().repr_instance(x, level) if small else f"<{type(x).__name__} ...>"


_repr = _ShortRepr()
_repr.maxstring = REPR_LIMIT
_repr.maxother = REPR_LIMIT
_repr.maxlong = REPR_LIMIT


def short_repr(value: Any, here: bool) -> str | None:
    """A repr of at most :data:`REPR_LIMIT` characters of a small result; ``None`` for
    a big one, or one not ``here`` (held by a worker: a ref or future stands for it).
    Nothing big is repr'd whole, not even inside a list or a dict."""
    kind = type(value)
    if kind in _NUMBERS and (kind is not int or -_BIG_INT < value < _BIG_INT):
        return repr(value)  # short, and repr is ten times faster than reprlib
    if kind not in _PLAIN and kind not in _CONTAINERS:
        if not here:
            return None
        try:
            if sys.getsizeof(value) > _SMALL:
                return None
        except Exception:
            return None
    try:
        text = _repr.repr(value)
    except Exception:
        return None
    return text if len(text) <= REPR_LIMIT else text[: REPR_LIMIT - 3] + "..."


@contextmanager
def paused_collector() -> Iterator[None]:
    """Build or read a big record without the garbage collector, which would otherwise
    walk the whole heap (a run's graph included) several times meanwhile."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def dump_record(record: dict[str, Any]) -> bytes:
    """A record as stored: JSON, gzip-compressed (level 1: a few times faster than the
    default, and JSON still shrinks ~10x)."""
    text = json.dumps(record, separators=(",", ":"), check_circular=False)
    return gzip.compress(text.encode(), compresslevel=1)


def load_record(data: bytes, expand: bool = True) -> dict[str, Any]:
    """A stored record (gzip-compressed JSON, or plain JSON), as readers get it (with
    ``expand=False``: as stored, for a summary)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    with paused_collector():
        found = json.loads(data.decode("utf-8"))
    if not isinstance(found, dict):
        raise ValueError("a run record is a JSON object")
    return expand_record(found) if expand else found


def _time(origin: float) -> Callable[[Any], Any]:
    def at(offset: Any) -> Any:
        return origin + offset / 1e6 if isinstance(offset, (int, float)) else None

    return at


def expand_record(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` as readers get it: ``"nodes"``, each with every key of
    :data:`NODE_DEFAULTS` (see the module for the stored forms it reads)."""
    with paused_collector():
        columns = record.get("columns")
        if isinstance(columns, dict):
            nodes = _from_columns(record, columns)
        else:
            nodes = []
            for node in record.get("nodes") or ():
                full = {**NODE_DEFAULTS, **node}
                for key in _LISTS:
                    if type(full[key]) is tuple:
                        full[key] = []
                nodes.append(full)
    found = {k: v for k, v in record.items() if k not in ("columns", "sparse", "time_origin")}
    found["nodes"] = nodes
    return found


def _from_columns(record: dict[str, Any], columns: dict[str, Any]) -> list[dict[str, Any]]:
    names = columns.get("name") or []
    count = len(names)
    origin = record.get("time_origin")
    at = _time(float(origin)) if isinstance(origin, (int, float)) else None
    values: dict[str, list[Any]] = {}
    for key in COLUMNS:
        column = columns.get(key)
        if not isinstance(column, list) or len(column) != count:
            column = [NODE_DEFAULTS[key]] * count
        elif key in _TIMES:
            column = [at(v) for v in column] if at is not None else [None] * count
        elif key == "fingerprint":
            column = [{"fingerprint": v} if isinstance(v, str) else None for v in column]
        values[key] = column
    sparse = record.get("sparse")
    sparse = sparse if isinstance(sparse, dict) else {}
    nodes: list[dict[str, Any]] = []
    for i in range(count):
        node: dict[str, Any] = dict(NODE_DEFAULTS)
        for key, column in values.items():
            node[key] = column[i]
        nodes.append(node)
    by_name = {node["name"]: node for node in nodes}
    for key in SPARSE:
        entries = sparse.get(key)
        if isinstance(entries, dict):
            for name, value in entries.items():
                target = by_name.get(name)
                if target is not None:
                    target[key] = value
    for node in nodes:
        for key in _LISTS:
            if type(node[key]) is tuple:
                node[key] = []
            elif key == "parents":
                node[key] = list(node[key])
    return nodes


def new_run_id(started: float) -> str:
    """``20261203T153012Z-3f2a1b``: sortable by start time, unique by its random end."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started)) + "-" + os.urandom(3).hex()


def cause_of(reason: str) -> str:
    """The ``causes`` entry (a :class:`~functionfuse.RerunReason` value) of a reason."""
    if reason.startswith("resume is off"):
        return "resume off"
    if reason.startswith("stored result could not"):
        return RerunReason.DAMAGED.value
    if reason.startswith("its class node"):
        return RerunReason.UPSTREAM_CHANGED.value
    return RerunReason.of(reason).value


def blocked_by_column(
    names: list[str],
    statuses: list[str],
    parents: list[list[str]],
    known: dict[str, str | None],
) -> dict[str, str]:
    """Each blocked node's ``blocked_by``: as reported, else its first failed parent,
    else what its first blocked parent waits on (graph order: parents come first)."""
    found: dict[str, str] = {}
    if "blocked" not in statuses:
        return found
    status_of = dict(zip(names, statuses, strict=True))
    for name, state_of, its_parents in zip(names, statuses, parents, strict=True):
        if state_of != "blocked":
            continue
        by = known.get(name)
        if by is None:
            for parent in its_parents:
                if status_of.get(parent) == "failed":
                    by = parent
                    break
                if by is None and parent in found:
                    by = found[parent]
        if by is not None:
            found[name] = by
    return found


#: Seconds between snapshots of a running run, unless the workflow says otherwise.
DEFAULT_INTERVAL: Final = 5.0
#: The environment variable that sets that interval.
INTERVAL_ENV: Final = "FUNCTIONFUSE_RUN_RECORD_INTERVAL"


def snapshot_interval(configured: float | None) -> float:
    """Seconds between snapshots of a running run: ``configured``, else
    :data:`INTERVAL_ENV`, else :data:`DEFAULT_INTERVAL`."""
    if configured is not None:
        return float(configured)
    text = os.environ.get(INTERVAL_ENV)
    if text:
        try:
            return float(text)
        except ValueError:
            warnings.warn(
                f"{INTERVAL_ENV}={text!r} is not a number of seconds; using {DEFAULT_INTERVAL}.",
                FunctionFuseWarning,
                stacklevel=2,
            )
    return DEFAULT_INTERVAL
