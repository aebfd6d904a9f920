"""Nodes of tests/local/test_processes.py, in a module the worker processes can import
(test modules themselves are imported under names only pytest knows)."""

from __future__ import annotations

import os
from typing import Any

from functionfuse import workflow


@workflow
def pid(_: Any = None) -> int:
    return os.getpid()


@workflow
def spin(seconds: float) -> int:
    import time

    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    return os.getpid()


class Counted:
    """A value that counts, in a file, how many times it is unpickled (sent somewhere)."""

    def __init__(self, path: str, payload: bytes) -> None:
        self.path = path
        self.payload = payload

    def __reduce__(self) -> tuple[Any, ...]:
        return (_arrive, (self.path, self.payload))


def _arrive(path: str, payload: bytes) -> Counted:
    with open(path, "a", encoding="utf-8") as file:
        file.write(f"{os.getpid()}\n")
    return Counted(path, payload)


@workflow
def make(path: str) -> Counted:
    return Counted(path, b"x" * 1_000_000)


@workflow
def size(value: Counted) -> int:
    return len(value.payload)


@workflow
def total(*parts: int) -> int:
    return sum(parts)


@workflow
class Holder:
    def __init__(self) -> None:
        self.pids = [os.getpid()]

    def visit(self, _: Any = None) -> list[int]:
        self.pids.append(os.getpid())
        return list(self.pids)
