"""The research code the backend checks run: small nodes that count their executions.

Nodes may run in other processes (a pool, Ray or Dask workers), so executions are
counted in a file (:class:`Tally`), and everything here is importable by reference.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from typing import Any, NamedTuple

from functionfuse import workflow

__all__ = ["Tally"]


class Tally:
    """Counts executions by name across processes: one appended line per execution."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Tally, (self.path,))

    def hit(self, name: str) -> None:
        # One small O_APPEND write is atomic: concurrent workers do not interleave.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{name}\n".encode())
        finally:
            os.close(fd)

    def counts(self) -> Counter[str]:
        if not os.path.exists(self.path):
            return Counter()
        with open(self.path, encoding="utf-8") as file:
            return Counter(line.strip() for line in file if line.strip())

    def clear(self) -> None:
        if os.path.exists(self.path):
            os.remove(self.path)


class Point(NamedTuple):
    x: int
    y: int


@workflow
def numbers(tally: Tally, n: int) -> list[int]:
    tally.hit("numbers")
    return list(range(n))


@workflow
def scale(tally: Tally, xs: list[int], factor: int) -> list[int]:
    tally.hit("scale")
    return [x * factor for x in xs]


@workflow
def add(tally: Tally, a: int, b: int) -> int:
    tally.hit("add")
    return a + b


@workflow
def total(tally: Tally, *parts: Any, extra: int = 0) -> int:
    tally.hit("total")
    return sum(sum(p) if isinstance(p, list) else p for p in parts) + extra


@workflow
def halves(tally: Tally, xs: list[int]) -> tuple[list[int], tuple[int, int]]:
    tally.hit("halves")
    return xs[::2], (len(xs), sum(xs))


@workflow
def gather(tally: Tally, items: list[Any], mapping: dict[str, Any], point: Point) -> Any:
    tally.hit("gather")
    return [items, mapping, point]


@workflow
def fail(tally: Tally, x: Any) -> int:
    tally.hit("fail")
    raise ValueError(f"fail got {x!r}")


@workflow
def flaky(tally: Tally, times: int, error: str = "OSError") -> str:
    """Fails (with the builtin exception named ``error``) on its first ``times`` runs."""
    tally.hit("flaky")
    if tally.counts()["flaky"] <= times:
        raise _builtin(error)("flaky failure")
    return "done"


def _builtin(name: str) -> type[BaseException]:
    import builtins

    found = getattr(builtins, name)
    assert isinstance(found, type)
    assert issubclass(found, BaseException)
    return found


@workflow
def marker(tally: Tally) -> Any:
    """What node plugins' remote callables left in this process, and where it runs."""
    tally.hit("marker")
    return marks(), os.getpid()


def marks() -> list[str]:
    """The labels :class:`Mark` left in this process, oldest first."""
    return [label for label in os.environ.get(_MARKS, "").split("\n") if label]


@workflow
def draw(tally: Tally, _: int) -> float:
    tally.hit("draw")
    return random.random()


# Where Mark leaves its labels: the process environment, which a node shipped by value
# (cloudpickle copies module globals such as a list) still shares with its plugins.
_MARKS = "FUNCTIONFUSE_KIT_MARKS"


class Mark:
    """A picklable remote callable: leaves ``label`` in the process where it runs."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def __reduce__(self) -> tuple[Any, ...]:
        return (Mark, (self.label,))

    def __call__(self) -> None:
        os.environ[_MARKS] = os.environ.get(_MARKS, "") + self.label + "\n"


class MarkPlugin:
    """A node plugin whose worker side is a :class:`Mark`; its driver side is counted."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.driver_calls: list[str] = []

    def functionfuse_local_initialize(self, node_name: str) -> None:
        self.driver_calls.append(node_name)

    def functionfuse_remote_initialize(self) -> Mark:
        return Mark(self.label)


@workflow
class Accumulator:
    def __init__(self, tally: Tally, start: int) -> None:
        tally.hit("Accumulator")
        self.tally = tally
        self.value = start
        self.calls: list[int] = []

    def add(self, n: int) -> int:
        self.tally.hit("Accumulator.add")
        self.value += n
        self.calls.append(n)
        return self.value

    def history(self) -> list[int]:
        self.tally.hit("Accumulator.history")
        return list(self.calls)
