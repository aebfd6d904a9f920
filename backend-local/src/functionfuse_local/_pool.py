"""The worker processes of the ``processes`` backend: each keeps the results it made.

A worker serves one connection to the driver. Its main thread answers messages at once
(a value another worker needs, values to keep or drop) while one task thread runs the
node tasks in the order they came, so a busy worker still hands over finished results.
Messages are pickled with the core's reference pickler: decorated functions and classes
travel by name, as they do in a spawned process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import queue
import threading
from multiprocessing.connection import Connection
from typing import Any, Final

from functionfuse.runtime import ATTEMPTS_ATTRIBUTE, NodeTask, dumps, portable_error

__all__ = ["Worker", "serve"]

#: How a node's callable is named in a "run" message: the callable itself, or (for a
#: method call) ``(METHOD, key of the instance, method name)``.
METHOD: Final = "method"


def serve(conn: Connection) -> None:
    """A worker's life: answer the driver until it says stop (or goes away)."""
    store: dict[int, Any] = {}
    lock = threading.Lock()
    runs: queue.Queue[tuple[Any, ...] | None] = queue.Queue()

    def send(message: tuple[Any, ...]) -> None:
        data = dumps(message)
        with lock:
            conn.send_bytes(data)

    def work() -> None:
        while (message := runs.get()) is not None:
            key, name, task, call, args, kwargs, inputs, send_back = message
            try:
                if type(call) is tuple and call[0] == METHOD:
                    call = getattr(store[call[1]], call[2])
                if inputs is not None:  # the parents' values a template indexes
                    args = [store[i] for i in inputs]
                value, attempts, ran = task.execute_reported(call, args, kwargs, dumps)
            except BaseException as error:
                failure = portable_error(error, name, dumps)
                send(("failed", key, failure, getattr(failure, ATTEMPTS_ATTRIBUTE, None) or []))
                continue
            store[key] = value
            try:
                send(("done", key, value if send_back else None, ran, attempts))
            except Exception as error:  # the result cannot travel back
                send(("failed", key, portable_error(error, name, dumps), attempts))

    thread = threading.Thread(target=work, name="functionfuse-task", daemon=True)
    thread.start()
    try:
        while True:
            message = pickle.loads(conn.recv_bytes())
            kind = message[0]
            if kind == "run":
                runs.put(message[1:])
            elif kind == "put":
                store[message[1]] = message[2]
            elif kind == "get":
                send(("value", message[1], store[message[1]]))
            elif kind == "drop":
                for key in message[1]:
                    store.pop(key, None)
            elif kind == "stop":
                break
    except (EOFError, OSError):
        pass  # the driver is gone
    finally:
        runs.put(None)
        thread.join()


class Worker:
    """The driver's side of one worker process."""

    __slots__ = ("busy", "conn", "keys", "process")

    def __init__(self, context: Any) -> None:
        self.conn, theirs = context.Pipe(duplex=True)
        self.process = context.Process(target=serve, args=(theirs,), daemon=True)
        self.process.start()
        theirs.close()
        self.busy = False
        #: The results this worker holds.
        self.keys: set[int] = set()

    def send(self, *message: Any) -> None:
        self.conn.send_bytes(dumps(message))

    def receive(self) -> tuple[Any, ...]:
        return pickle.loads(self.conn.recv_bytes())  # type: ignore[no-any-return]

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.send("stop")
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
        self.conn.close()


def start_workers(count: int, method: str | None = None) -> list[Worker]:
    """``count`` worker processes. ``method``: ``"spawn"`` (as on macOS and Windows) or
    ``"forkserver"``; by default forkserver where there is one (its server, started once,
    forks each run's fresh workers in milliseconds), else spawn. Never ``fork``: a copy
    of the driver's threads and locks is not safe."""
    if method is None:
        method = (
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        )
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        # Imported once by the server, so each forked worker starts with it loaded.
        context.set_forkserver_preload([__name__])
    return [Worker(context) for _ in range(count)]


def run_message(
    key: int,
    name: str,
    task: NodeTask,
    call: Any,
    args: Any,
    kwargs: Any,
    inputs: list[int] | None,
    send_back: bool,
) -> tuple[Any, ...]:
    return ("run", key, name, task, call, args, kwargs, inputs, send_back)
