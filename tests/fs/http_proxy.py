"""A tiny TCP proxy on 127.0.0.1 that records the HTTP requests passing through it.

Put between an S3 client and moto's server, it shows what reaches the server: how many
requests, their methods, paths and headers (``Expect: 100-continue``...). With
``delay`` it also holds every chunk, in each direction, for that many seconds before
passing it on (a far endpoint: ``bench/bench_s3.py`` uses it with 20 ms), without
slowing the chunks behind it: each is sent at its own arrival time + ``delay``.
With ``refuse``, a request it accepts is answered ``403 AccessDenied`` by the proxy
itself, as S3 answers a write it does not allow (the first request of a connection:
moto's server closes each connection after one request).
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["HttpProxy", "Request"]


@dataclass(frozen=True)
class Request:
    """One HTTP request seen by the proxy."""

    method: str
    path: str
    headers: dict[str, str]


class _RequestParser:
    """Splits a client's byte stream into HTTP/1.1 requests (Content-Length or chunked
    bodies), calling ``record`` with each request's head as soon as it is complete."""

    def __init__(self, record: Callable[[Request], None]) -> None:
        self._record = record
        self._buffer = bytearray()
        self._body_left = 0  # bytes of a Content-Length body still to skip
        self._chunked = False

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while True:
            if self._body_left:
                skip = min(self._body_left, len(self._buffer))
                del self._buffer[:skip]
                self._body_left -= skip
                if self._body_left:
                    return
            if self._chunked:
                if not self._skip_chunks():
                    return
                continue
            end = self._buffer.find(b"\r\n\r\n")
            if end == -1:
                return
            head = bytes(self._buffer[:end]).decode("latin-1")
            del self._buffer[: end + 4]
            line, *fields = head.split("\r\n")
            method, path, _ = line.split(" ", 2)
            headers = {}
            for field in fields:
                name, _, value = field.partition(":")
                headers[name.strip().lower()] = value.strip()
            self._record(Request(method, path, headers))
            if headers.get("transfer-encoding", "").lower() == "chunked":
                self._chunked = True
            else:
                self._body_left = int(headers.get("content-length", "0"))

    def _skip_chunks(self) -> bool:
        """Skip whole chunks of a chunked body; True once its last chunk is skipped."""
        while True:
            end = self._buffer.find(b"\r\n")
            if end == -1:
                return False
            size = int(bytes(self._buffer[:end]).split(b";")[0], 16)
            if size == 0:
                trailer_end = self._buffer.find(b"\r\n\r\n", end)
                if trailer_end == -1:
                    return False
                del self._buffer[: trailer_end + 4]
                self._chunked = False
                return True
            if len(self._buffer) < end + 2 + size + 2:
                return False
            del self._buffer[: end + 2 + size + 2]


class HttpProxy:
    """Forwards connections on ``127.0.0.1:<port>`` to ``upstream``, recording requests.

    Use as a context manager; :attr:`endpoint` is the URL to give the client.
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        delay: float = 0.0,
        refuse: Callable[[Request], bool] | None = None,
    ) -> None:
        self.upstream = upstream
        self.delay = delay
        self.refuse = refuse
        self.requests: list[Request] = []
        #: Connections accepted so far.
        self.connections = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._closed = False
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def clear(self) -> list[Request]:
        """The requests recorded so far, forgotten."""
        with self._lock:
            seen, self.requests = self.requests, []
        return seen

    def __enter__(self) -> HttpProxy:
        self._threads.append(self._start(self._accept))
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() up
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _start(self, target: object, *args: object) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        return thread

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            with self._lock:
                self._sockets.append(client)
            if self.refuse is None:
                self._connect(client, b"")
            else:
                self._start(self._screen, client)

    def _connect(self, client: socket.socket, received: bytes) -> None:
        """Pass ``client`` (which sent ``received`` so far) on to the server."""
        server = socket.create_connection(self.upstream)
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._sockets.append(server)
        parser = _RequestParser(self._record)
        if received:
            parser.feed(received)
            server.sendall(received)
        ends = [2]  # the two directions; the sockets close when both have ended
        self._start(self._pump, client, server, parser, ends)
        self._start(self._pump, server, client, None, ends)

    def _ended(self, ends: list[int], *sockets: socket.socket) -> None:
        with self._lock:
            ends[0] -= 1
            if ends[0]:
                return
            for sock in sockets:
                with contextlib.suppress(ValueError):
                    self._sockets.remove(sock)
        for sock in sockets:
            sock.close()

    def _screen(self, client: socket.socket) -> None:
        """Read the first request's head; answer 403 if ``refuse`` says so, else
        pass the connection on."""
        assert self.refuse is not None
        received = b""
        try:
            while b"\r\n\r\n" not in received:
                data = client.recv(1 << 16)
                if not data:
                    client.close()
                    return
                received += data
            heads: list[Request] = []
            _RequestParser(heads.append).feed(received.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
            if not self.refuse(heads[0]):
                self._connect(client, received)
                return
            self._record(heads[0])
            body = len(received.split(b"\r\n\r\n", 1)[1])
            while body < int(heads[0].headers.get("content-length", "0")):
                data = client.recv(1 << 16)
                if not data:
                    break
                body += len(data)
            error = (
                b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
                b"<Message>Access Denied</Message></Error>"
            )
            client.sendall(
                b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\n"
                + f"Content-Length: {len(error)}\r\nConnection: close\r\n\r\n".encode()
                + error
            )
        except OSError:
            pass
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)
        client.close()

    def _pump(
        self,
        source: socket.socket,
        sink: socket.socket,
        parser: _RequestParser | None,
        ends: list[int],
    ) -> None:
        held: queue.Queue[tuple[float, bytes]] | None = None
        release: threading.Thread | None = None
        if self.delay:
            held = queue.Queue()
            release = self._start(self._release, held, sink)
        try:
            while True:
                data = source.recv(1 << 16)
                if not data:
                    break
                if parser is not None:
                    parser.feed(data)
                if held is not None:
                    held.put((time.monotonic() + self.delay, data))
                else:
                    sink.sendall(data)
        except OSError:
            pass
        if held is not None and release is not None:
            held.put((0.0, b""))
            release.join()
        else:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
        self._ended(ends, source, sink)

    @staticmethod
    def _release(held: queue.Queue[tuple[float, bytes]], sink: socket.socket) -> None:
        try:
            while True:
                due, data = held.get()
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                sink.sendall(data)
        except OSError:
            pass
