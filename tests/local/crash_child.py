"""A workflow run that SIGKILLs its own process at a chosen point of writing a result.

Run by ``test_crash.py`` as ``python crash_child.py '<json>'``, the JSON holding:

- ``url``, ``options``: the storage (a local folder or ``s3://...`` and s3fs options);
- ``counter``: a file that gets one line per node run (``O_APPEND``: lines survive
  the kill and never interleave);
- ``kill``: where to die (see ``KILL_POINTS``), or null for a run to the end;
- ``target``: the node whose result write is killed;
- ``size``: bytes of the ``big`` node's result.

A run that ends prints the workflow's results as JSON. The test imports this file too,
to run the same workflow in its own process (``build``).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
from typing import Any

from functionfuse import workflow

WORKFLOW_NAME = "crash"
#: Every node of the workflow, by name.
NODES = ("seed", "side", "big", "digest", "length", "total")

#: The counter file of this process (None: count nothing).
counter: str | None = None


def count(name: str) -> None:
    if counter is None:
        return
    fd = os.open(counter, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{name}\n".encode())
    finally:
        os.close(fd)


@workflow
def seed(n: int) -> list[int]:
    count("seed")
    return list(range(n))


@workflow
def side(xs: list[int]) -> int:
    count("side")
    return sum(x * x for x in xs)


@workflow
def big(xs: list[int], size: int) -> bytes:
    count("big")
    block = hashlib.sha256(bytes(xs)).digest()
    return (block * (size // len(block) + 1))[:size]


@workflow
def digest(data: bytes) -> str:
    count("digest")
    return hashlib.sha256(data).hexdigest()


@workflow
def length(data: bytes) -> int:
    count("length")
    return len(data)


@workflow
def total(hexdigest: str, squares: int) -> str:
    count("total")
    return f"{hexdigest}:{squares}"


def build(size: int) -> tuple[Any, Any]:
    """The workflow's result nodes: ``total`` and ``length``."""
    xs = seed(16).set_name("seed")
    blob = big(xs, size).set_name("big")
    result = total(digest(blob).set_name("digest"), side(xs).set_name("side"))
    return result.set_name("total"), length(blob).set_name("length")


# -- dying -----------------------------------------------------------------------------------

#: The task whose result is being saved (set around FileStorage.save).
saving: list[str | None] = [None]


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def arm(kill: str, target: str) -> None:
    """Patch the storage's write path to die at ``kill`` while it saves ``target``."""
    from functionfuse_fs import FileStorage, _files

    def armed() -> bool:
        return saving[0] == target

    real_save = FileStorage.save

    def save(self: Any, workflow_name: str, task_name: str, *args: Any, **kwargs: Any) -> None:
        saving[0] = task_name
        try:
            real_save(self, workflow_name, task_name, *args, **kwargs)
        finally:
            saving[0] = None

    FileStorage.save = save  # type: ignore[method-assign]

    real_write_all = _files._write_all
    real_replace = os.replace

    if kill == "tmp_created":
        # The temporary file exists (os.open returned); not one byte is written.
        def write_all(fd: int, data: Any) -> None:
            if armed():
                die()
            real_write_all(fd, data)

        _files._write_all = write_all
    elif kill == "mid_data":
        # Header and buffer table are written; the large piece only half.
        def write_all(fd: int, data: Any) -> None:
            if armed() and len(data) >= 64 * 1024:
                with memoryview(data) as view:
                    real_write_all(fd, view[: len(view) // 2])
                die()
            real_write_all(fd, data)

        _files._write_all = write_all
    elif kill in ("before_replace", "after_replace"):

        def replace(src: Any, dst: Any, **kwargs: Any) -> None:
            if armed() and kill == "before_replace":
                die()
            real_replace(src, dst, **kwargs)
            if armed() and kill == "after_replace":
                die()

        os.replace = replace
    elif kill in ("before_put", "after_put", "mid_multipart"):
        import s3fs  # type: ignore[import-untyped]

        real_pipe = s3fs.S3FileSystem._pipe_file
        real_call = s3fs.S3FileSystem._call_s3

        # By the key: an upload written behind runs after its save() returned.
        def target_key(path: str) -> bool:
            return path.rsplit("/", 1)[-1] == target

        async def pipe_file(self: Any, path: str, data: Any, *args: Any, **kwargs: Any) -> Any:
            if target_key(path) and kill == "before_put":
                die()
            if target_key(path) and kill == "mid_multipart":
                # Parts far below S3's 5 MiB minimum: the upload never completes anyway.
                kwargs["chunksize"] = 64 * 1024
            out = await real_pipe(self, path, data, *args, **kwargs)
            if target_key(path) and kill == "after_put":
                die()
            return out

        async def call_s3(self: Any, method: str, *args: Any, **kwargs: Any) -> Any:
            out = await real_call(self, method, *args, **kwargs)
            if (
                target_key(kwargs.get("Key", ""))
                and kill == "mid_multipart"
                and method == "upload_part"
            ):
                die()  # one part uploaded, the upload neither completed nor aborted
            return out

        s3fs.S3FileSystem._pipe_file = pipe_file
        s3fs.S3FileSystem._call_s3 = call_s3
    else:
        raise SystemExit(f"unknown kill point {kill!r}")


def main() -> None:
    global counter
    config = json.loads(sys.argv[1])
    counter = config["counter"]
    if config.get("kill"):
        arm(config["kill"], config["target"])

    import functionfuse as ff
    from functionfuse_local import LocalWorkflow

    storage = ff.storage_factory(config["url"], **config.get("options", {}))
    wf = LocalWorkflow(*build(config["size"]), workflow_name=WORKFLOW_NAME)
    wf.set_storage(storage)
    results = wf.run()
    if config.get("kill"):
        raise SystemExit(f"kill point {config['kill']!r} was never reached")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
