"""What the storage checks share: values, hostile names, damage, races.

Kept apart from the checks (:mod:`functionfuse.testing._storage` and the modules it
takes its checks from) so that they read as the promises they are; nothing here is public.
"""

from __future__ import annotations

import dataclasses
import functools
import multiprocessing
import os
import pickle
import queue
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

__all__ = [
    "ASSORTED_VALUES",
    "Canary",
    "Unpicklable",
    "check",
    "corrupt_files",
    "escaped_files",
    "expect_raises",
    "hostile_names",
    "hostile_workflow_names",
    "in_other_processes",
    "local_root",
    "race_in_threads",
    "show",
]

_Check = TypeVar("_Check", bound=Callable[..., None])

#: Marks the names meant to escape a naive storage's folder, to find what escaped.
ESCAPE_MARK = "kit-escape"


# -- reporting --------------------------------------------------------------------------


def check(method: _Check) -> _Check:
    """Make every failure of ``method`` start with its promise (its docstring's first
    line), the way scikit-learn's checks name what broke; an unexpected exception from
    the storage becomes such a failure too, with the exception chained."""
    promise = (method.__doc__ or method.__name__).strip().splitlines()[0]

    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            method(*args, **kwargs)
        except AssertionError as exc:
            exc.args = (f"broken promise: {promise}\n{exc}",)
            raise
        except Exception as exc:
            raise AssertionError(f"broken promise: {promise}\n{type(exc).__name__}: {exc}") from exc

    return cast(_Check, run)


def show(value: object, limit: int = 120) -> str:
    """A short description of ``value`` for a failure message."""
    if isinstance(value, (bytes, bytearray)) and len(value) > 32:
        return f"{type(value).__name__} of {len(value)} bytes starting {bytes(value[:16])!r}"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def expect_raises(
    expected: type[BaseException], call: Callable[..., Any], *args: Any, **kwargs: Any
) -> BaseException:
    """Call ``call(*args, **kwargs)``; return the ``expected`` exception it raises, or
    fail saying what it did instead."""
    shown = [show(a, 60) for a in args] + [f"{k}={show(v, 60)}" for k, v in kwargs.items()]
    what = f"{getattr(call, '__name__', 'call')}({', '.join(shown)})"
    try:
        result = call(*args, **kwargs)
    except expected as exc:
        return exc
    except Exception as exc:
        raise AssertionError(
            f"{what} raised {type(exc).__name__} ({exc}), not {expected.__name__}"
        ) from exc
    raise AssertionError(f"{what} returned {show(result)} instead of raising {expected.__name__}")


# -- values -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Point:
    """A user's class, pickled by reference."""

    x: int
    y: int


_shared = [1, 2]

ASSORTED_VALUES: dict[str, object] = {
    "none": None,
    "true": True,
    "zero": 0,
    "negative": -7,
    "huge_int": 2**200,
    "float": 1.5,
    "infinity": float("inf"),
    "complex": 1 + 2j,
    "text": "héllo wörld 🙂",
    "empty_text": "",
    "bytes": bytes(range(256)),
    "empty_bytes": b"",
    "bytearray": bytearray(b"\x00abc\xff"),
    "list": [1, [2, [3, None]]],
    "tuple": (1, "a", None),
    "empty_tuple": (),
    "dict": {"a": 1, 2: "b", (3,): [4], None: {}},
    "set": {1, 2, 3},
    "frozenset": frozenset({"a"}),
    "dataclass": Point(1, 2),
    "range": range(3, 9, 2),
    "aliasing": [_shared, _shared],
}

_UNPICKLED: set[str] = set()


def _revive_canary(token: str) -> Canary:
    _UNPICKLED.add(token)
    return Canary(token)


class Canary:
    """A value that notes when it is unpickled in this process."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token or uuid.uuid4().hex

    def __reduce__(self) -> tuple[Any, ...]:
        return (_revive_canary, (self.token,))

    def unpickled(self) -> bool:
        return self.token in _UNPICKLED


class Unpicklable:
    """A value no pickler can store (pickle, cloudpickle, dill alike)."""

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("the conformance kit's Unpicklable cannot be pickled")


# -- names ------------------------------------------------------------------------------


def hostile_names(tmp_path: Path) -> list[str]:
    """Task names a careless storage mistakes for paths, patterns or one another."""
    return [
        *(".", "..", "...", "/", "//", "a/b", "a/../b", f"../../{ESCAPE_MARK}-1"),
        *("a\\b", f"..\\..\\{ESCAPE_MARK}-2", f"C:\\{ESCAPE_MARK}-3", f"C:{ESCAPE_MARK}-4"),
        str(tmp_path / f"{ESCAPE_MARK}-absolute"),
        f"memory://{ESCAPE_MARK}",
        *("nul\x00byte", "\x00", "tab\tand\nnewline", "\r", " ", " padded ", "trailing."),
        *("trailing ", ".hidden", "-dash", "~", "~7E", "~kit", "%", "%2F", "%252F"),
        *("a+b", "a b", "a%20b", "Case", "case", "CASE", "ß", "SS", "ss"),
        *("caf\u00e9", "cafe\u0301", "日本語", "🙂", "\u202eevil", "*", "?", "[a]", "{a,b}"),
        *("CON", "nul", "aux.txt", "COM1", "n" * 1000, "ü" * 1000, "/".join(["d"] * 300)),
    ]


def hostile_workflow_names(tmp_path: Path) -> list[str]:
    """Workflow names that a careless storage lets overlap or escape; ``a`` is removed
    by the check, so nothing else here may live under it."""
    return [
        *("a", "a/b", "a/../b", "b", "A", "a ", "..", ".", "/", "nul\x00", "x" * 1000),
        str(tmp_path / f"{ESCAPE_MARK}-workflow"),
    ]


# -- the files behind a storage ---------------------------------------------------------


def local_root(storage: object) -> Path | None:
    """The local folder the storage keeps its results in (its ``url``), if it has one."""
    url = getattr(storage, "url", None)
    if not isinstance(url, str):
        return None
    if url.startswith("file://"):
        url = url[len("file://") :]
    if "://" in url or not os.path.isdir(url):
        return None
    return Path(os.path.realpath(url))


def escaped_files(tmp_path: Path, root: Path | None) -> list[str]:
    """Files under ``tmp_path`` outside ``root`` (or, with no local root, named to
    escape), and anything named to escape beside ``tmp_path``."""
    base = Path(os.path.realpath(tmp_path))
    found = [
        str(path)
        for path in base.rglob("*")
        if not path.is_dir()
        and (ESCAPE_MARK in path.name if root is None else not path.is_relative_to(root))
    ]
    found += [str(path) for path in base.parent.glob(f"{ESCAPE_MARK}*")]
    return found


def _belongs(parts: tuple[str, ...], workflow_name: str, task_name: str) -> bool:
    if workflow_name not in parts[:-1]:
        return False
    after = parts[parts.index(workflow_name) + 1 :]
    return any(part.startswith(task_name) for part in after)


def _flip(data: bytes) -> bytes | None:
    if not data:
        return None
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0x55
    return bytes(damaged)


def corrupt_files(storage: object, workflow_name: str, task_name: str) -> bool:
    """Flip one byte in the middle of each file of one result, where the storage keeps
    it in a local folder or ``memory://`` URL given by its ``url``: files under the
    folder of the workflow whose path names the task. Whether any was found."""
    root = local_root(storage)
    damaged = False
    if root is not None:
        for path in sorted(root.rglob("*")):
            if path.is_file() and _belongs(path.relative_to(root).parts, workflow_name, task_name):
                data = _flip(path.read_bytes())
                if data is not None:
                    path.write_bytes(data)
                    damaged = True
        return damaged
    url = getattr(storage, "url", None)
    if not (isinstance(url, str) and url.startswith("memory://")):
        return False
    try:
        import fsspec  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - depends on the environment
        return False
    fs, base = fsspec.core.url_to_fs(url)
    base = str(base).rstrip("/")
    for path in fs.find(base):
        parts = tuple(str(path)[len(base) :].strip("/").split("/"))
        if _belongs(parts, workflow_name, task_name):
            data = _flip(fs.cat_file(path))
            if data is not None:
                fs.pipe_file(path, data)
                damaged = True
    return damaged


# -- races ------------------------------------------------------------------------------


def _race_values(storage: Any, workflow_name: str, writers: int, size: int) -> list[bytes]:
    """Save the race's first value; return it and each writer's value."""
    values = [bytes([i]) * size for i in range(writers + 1)]
    storage.save(workflow_name, "race", values[0])
    return values


def _check_read(got: object, values: list[bytes], when: str) -> None:
    if not (type(got) is bytes and got in values):
        raise AssertionError(f"read_task {when} returned {show(got)}, none of the values saved")


def _check_outcome(storage: Any, workflow_name: str, values: list[bytes]) -> None:
    got = storage.read_task(workflow_name, "race")
    _check_read(got, values[1:], "after the racing saves")
    listed = storage.list_tasks(workflow_name)
    assert listed == ["race"], f"after the racing saves, list_tasks gave {show(listed)}"


def race_in_threads(
    storage: Any, workflow_name: str, *, writers: int, rounds: int, size: int
) -> None:
    """Threads save their own value as one task, ``rounds`` times each, while this one
    reads it; every read and the final result must be one whole value."""
    values = _race_values(storage, workflow_name, writers, size)
    start = threading.Barrier(writers + 1)
    errors: list[BaseException] = []

    def write(value: bytes) -> None:
        try:
            start.wait(timeout=60)
            for _ in range(rounds):
                storage.save(workflow_name, "race", value)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(value,)) for value in values[1:]]
    for thread in threads:
        thread.start()
    try:
        start.wait(timeout=60)
        while any(thread.is_alive() for thread in threads):
            _check_read(storage.read_task(workflow_name, "race"), values, "while saves raced")
    finally:
        for thread in threads:
            thread.join()
    if errors:
        raise AssertionError(
            f"a save racing in a thread raised {type(errors[0]).__name__}: {errors[0]}"
        ) from errors[0]
    _check_outcome(storage, workflow_name, values)


def _save_in_process(
    storage: Any,
    workflow_name: str,
    values: list[bytes],
    mine: int,
    rounds: int,
    go: Any,
    outcomes: Any,
) -> None:
    """A spawned writer: read what the parent saved, wait for ``go``, then save."""
    try:
        got = storage.read_task(workflow_name, "race")
        if got != values[0]:
            raise AssertionError(f"read {show(got)} where the parent process saved another")
        outcomes.put(("ready", mine, ""))
        go.wait(60)
        for _ in range(rounds):
            storage.save(workflow_name, "race", values[mine])
        outcomes.put(("done", mine, ""))
    except BaseException as exc:
        outcomes.put(("error", mine, f"{type(exc).__name__}: {exc}"))


def in_other_processes(
    storage: Any, workflow_name: str, *, writers: int, rounds: int, size: int
) -> None:
    """As :func:`race_in_threads`, with writers in spawned processes (each gets the
    storage pickled, as a process pool or a cluster's worker does) that first read
    the result this process saved."""
    try:
        pickle.dumps(storage)
    except Exception as exc:
        raise AssertionError(
            f"{storage!r} cannot be pickled ({type(exc).__name__}: {exc}), so no other "
            "process can use it; if it lives in one process, declare lacks={'processes'}"
        ) from exc
    values = _race_values(storage, workflow_name, writers, size)
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    outcomes = context.Queue()
    processes = [
        context.Process(
            target=_save_in_process,
            args=(storage, workflow_name, values, mine, rounds, go, outcomes),
            daemon=True,
        )
        for mine in range(1, writers + 1)
    ]
    for process in processes:
        process.start()
    reports: list[tuple[str, int, str]] = []
    try:
        _wait_for(reports, outcomes, processes, "ready", writers)
        go.set()
        while any(process.is_alive() for process in processes):
            started = time.monotonic()
            _check_read(storage.read_task(workflow_name, "race"), values, "while saves raced")
            # Read at most half of the time: the storage's server may share this process.
            time.sleep(time.monotonic() - started)
        _wait_for(reports, outcomes, processes, "done", writers)
    finally:
        go.set()
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():  # pragma: no cover - a hung writer
                process.kill()
    _check_outcome(storage, workflow_name, values)


def _wait_for(
    reports: list[tuple[str, int, str]],
    outcomes: Any,
    processes: list[Any],
    stage: str,
    count: int,
) -> None:
    """Collect reports until ``count`` writers reached ``stage``; fail on an error or a
    writer that died (the storage could not be unpickled there, say)."""
    deadline = time.monotonic() + 120
    while sum(1 for kind, _, _ in reports if kind == stage) < count:
        try:
            reports.append(outcomes.get(timeout=0.5))
        except queue.Empty:
            dead = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                raise AssertionError(
                    f"a writer process exited with code {dead} before it was {stage} "
                    "(its traceback is above): the storage could not be used there. Is "
                    "its class importable by name in a fresh process?"
                ) from None
            continue
        errors = [text for kind, _, text in reports if kind == "error"]
        if errors:
            raise AssertionError(f"in a writer process: {errors[0]}")
