"""Graphs every backend must run alike, and a file-based execution counter.

Each builder makes a fresh graph and returns ``(leaves, expected)``: the nodes to hand
to a workflow and what ``run()`` returns for them. Tasks run in other processes, so
executions are counted in files (:class:`Counter`), not in memory.
"""

from __future__ import annotations

import collections
import os
from collections import namedtuple
from collections.abc import Callable
from pathlib import Path
from typing import Any

from functionfuse import workflow

Point = namedtuple("Point", "x y")


class Counter:
    """Counts executions by name across processes: one appended line per execution."""

    def __init__(self, folder: Path | str) -> None:
        self.path = os.path.join(os.fspath(folder), "executions.log")

    def hit(self, name: str) -> None:
        # One small O_APPEND write is atomic: concurrent workers do not interleave.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{name}\n".encode())
        finally:
            os.close(fd)

    def counts(self) -> collections.Counter[str]:
        if not os.path.exists(self.path):
            return collections.Counter()
        with open(self.path) as file:
            return collections.Counter(line.strip() for line in file if line.strip())

    def clear(self) -> None:
        if os.path.exists(self.path):
            os.remove(self.path)


@workflow
def minus(a: int, b: int) -> int:
    return a - b


@workflow
class IncrementalSum:
    def __init__(self, start: int) -> None:
        self.start = start

    def add(self, n: int) -> int:
        self.start += n
        return self.start


@workflow
def pair(x: int) -> tuple[int, list[int]]:
    return x, [x * 10, x * 100]


@workflow
def total(*items: Any, extra: Any = 0) -> int:
    def flat(value: Any) -> int:
        if isinstance(value, dict):
            return sum(flat(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return sum(flat(v) for v in value)
        return int(value)

    return flat(items) + flat(extra)


@workflow
def inc(x: int) -> int:
    return x + 1


@workflow
def add(*xs: int) -> int:
    return sum(xs)


def stateful() -> tuple[list[Any], Any]:
    """The DESIGN's stateful graph: a class node whose method calls are chained."""
    one = minus(4, 3)
    s = IncrementalSum(start=one)
    two = minus(3, one)
    s.add(two)
    s.add(two)
    six = s.add(one)
    return [minus(six, 2)], 4


def nested_arguments() -> tuple[list[Any], Any]:
    """Nodes inside lists, tuples, dicts, namedtuples and keywords; items as leaves."""
    p = pair(3)
    nested = total([p[0], (p[1][0], 1)], {"a": p[1][1]}, extra=Point(p[0], 2))
    return [nested, p[1], p[1][1], p], [3 + 30 + 1 + 300 + 3 + 2, [30, 300], 300, (3, [30, 300])]


def items() -> tuple[list[Any], Any]:
    """``node[i]`` and ``node[i][j]`` as arguments, positionally and by keyword."""
    p = pair(2)
    return [total(p[0], extra=p[1][0]), minus(p[1][1], b=p[0])], [22, 198]


def fan_in(width: int = 50) -> tuple[list[Any], Any]:
    """Many parents of one node, given one by one and as one list."""
    parts = [inc(i) for i in range(width)]
    expected = sum(range(1, width + 1))
    return [add(*parts), total(parts)], [expected, expected]


def diamond() -> tuple[list[Any], Any]:
    """One source, two branches, one join; the same parent twice in one call."""
    top = inc(1)
    left = minus(top, 1)
    right = add(top, top)
    return [minus(right, left)], 3


def chain(length: int = 30) -> tuple[list[Any], Any]:
    node = inc(0)
    for _ in range(length - 1):
        node = inc(node)
    return [node], length


GRAPHS: dict[str, Callable[[], tuple[list[Any], Any]]] = {
    "stateful": stateful,
    "nested_arguments": nested_arguments,
    "items": items,
    "fan_in": fan_in,
    "diamond": diamond,
    "chain": chain,
}
