"""What only S3 needs: PUTs in one round trip, and headers read with their ETags.

- botocore adds ``Expect: 100-continue`` to every request whose body can ``read``
  (``botocore.handlers.add_expect_header``, on ``before-call.s3``): the client sends
  the headers, waits a round trip for ``100 Continue``, then sends the body — for a
  result of 90 bytes as for 90 MB. :func:`quiet_puts` drops the header from PutObject
  requests (a ``before-send`` handler on the storage's client), so a save is one round
  trip. (The header only helps when a large body would be refused, which a result
  upload with valid credentials is not.)
- :func:`read_heads_with_etags`: the first bytes of many objects, each with the ETag of
  the version read (one ranged GET each, sent concurrently) — what the result index
  learns entries from (see :mod:`functionfuse_fs._index`).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Final

__all__ = ["quiet_puts", "read_heads_with_etags"]

_QUIET_CLIENTS: Final[weakref.WeakSet[Any]] = weakref.WeakSet()
_QUIET_LOCK: Final = threading.Lock()


def _drop_expect(request: Any, **kwargs: Any) -> None:
    """botocore ``before-send`` handler: send a PutObject's body with its headers."""
    request.headers.pop("Expect", None)


def quiet_puts(fs: Any) -> None:
    """Make ``fs``'s S3 client send PutObject without ``Expect: 100-continue`` (once per
    client: s3fs makes a new one after a fork or a credentials refresh)."""
    client = fs.s3  # connects if needed
    if client in _QUIET_CLIENTS:
        return
    with _QUIET_LOCK:
        if client not in _QUIET_CLIENTS:
            client.meta.events.register("before-send.s3.PutObject", _drop_expect)
            _QUIET_CLIENTS.add(client)


def read_heads_with_etags(
    fs: Any, paths: list[str], size: int
) -> list[tuple[bytes, str | None] | BaseException]:
    """``(first size bytes, ETag)`` of each object, or the error reading it (an empty
    object refuses a range: its error too)."""
    from fsspec.asyn import _run_coros_in_chunks, sync  # type: ignore[import-untyped]

    async def head(path: str) -> tuple[bytes, str | None]:
        bucket, key, _ = fs.split_path(path)
        response = await fs._call_s3(
            "get_object", Bucket=bucket, Key=key, Range=f"bytes=0-{size - 1}"
        )
        try:
            data = await response["Body"].read()
        finally:
            response["Body"].close()
        return bytes(data), response.get("ETag")

    found: list[tuple[bytes, str | None] | BaseException] = sync(
        fs.loop,
        _run_coros_in_chunks,
        [head(path) for path in paths],
        return_exceptions=True,
        nofiles=True,
    )
    return found
