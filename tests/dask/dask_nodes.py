"""Nodes of the Dask tests, in a module the workers import by name (the conftest puts
this folder on ``sys.path`` before the cluster's worker processes are spawned)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from functionfuse import workflow

#: Options of the tests' LocalClusters: no dashboard, on 127.0.0.1. (Without a dashboard
#: the scheduler still serves HTTP, on port 8787 unless told otherwise: a free port.)
CLUSTER_OPTIONS: dict[str, Any] = {
    "threads_per_worker": 1,
    "processes": True,
    "dashboard_address": None,
    "host": "127.0.0.1",
    "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},
}


@workflow
def where(*_: Any) -> tuple[int, str]:
    """The worker process that ran it: its pid and address."""
    from distributed import get_worker

    return os.getpid(), get_worker().address


@workflow
def task_options(*_: Any) -> dict[str, Any]:
    """What Dask's worker knows of the task running it: resources and priority."""
    from distributed import get_worker
    from distributed.worker import thread_state

    state = get_worker().state.tasks[thread_state.key]
    return {"resources": state.resource_restrictions, "priority": state.priority}


@workflow
def kill_worker() -> None:
    """Ends the worker process that runs it, at once."""
    os._exit(1)


@workflow
def scheduler_address() -> tuple[int, str]:
    from distributed import get_worker

    return os.getpid(), get_worker().scheduler.address


def _append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def lines(path: str) -> list[str]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as file:
        return [line.strip() for line in file if line.strip()]


@workflow
def fails_then_works(path: str, times: int) -> str:
    """Raises on its first ``times`` runs (counted in the file ``path``)."""
    _append(path, "run")
    if len(lines(path)) <= times:
        raise OSError("not yet")
    return "worked"


@workflow
def logged(path: str, name: str, value: Any) -> Any:
    _append(path, name)
    return value


class Counted:
    """A value whose every pickling and unpickling is logged (``pickle <pid>``,
    ``unpickle <pid>``) in the file ``path``: how often it travelled, and where."""

    def __init__(self, path: str, array: np.ndarray[Any, Any]) -> None:
        self.path = path
        self.array = array

    def __reduce__(self) -> tuple[Any, ...]:
        _append(self.path, f"pickle {os.getpid()}")
        return (_unpickled, (self.path, self.array))

    def __sizeof__(self) -> int:  # what Dask's memory accounting sees
        return int(self.array.nbytes) + 64


def _unpickled(path: str, array: np.ndarray[Any, Any]) -> Counted:
    _append(path, f"unpickle {os.getpid()}")
    return Counted(path, array)


@workflow
def big(path: str, megabytes: int) -> Counted:
    return Counted(path, np.ones(megabytes * 1024 * 1024, dtype=np.uint8))


@workflow
def consume(value: Counted, i: int) -> tuple[int, int]:
    """A consumer of the big value: a small result, and the process it ran in."""
    return int(value.array[i]) + i, os.getpid()


@workflow
class Probe:
    """A class node whose calls say where they ran and what they saw."""

    def __init__(self, start: int) -> None:
        self.pid = os.getpid()
        self.calls: list[Any] = []
        self.value = start

    def add(self, x: Any) -> tuple[int, int, list[Any]]:
        self.calls.append(x)
        self.value += x if isinstance(x, int) else 0
        return os.getpid(), self.value, list(self.calls)

    def history(self) -> tuple[int, int, list[Any]]:
        return self.pid, os.getpid(), list(self.calls)


class Unpicklable(Exception):
    """An exception whose instances do not unpickle (its __init__ takes two arguments)."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a}-{b}")


@workflow
def raises_unpicklable() -> None:
    raise Unpicklable(1, 2)
