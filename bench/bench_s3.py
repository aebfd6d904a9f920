"""Resume and first runs on S3 (moto on 127.0.0.1), with and without 20 ms per trip.

    uv run python bench/bench_s3.py [--nodes 2000] [--first 1000] [--delay 0.02]

A child process plays the endpoint: moto's ThreadedMotoServer on 127.0.0.1 and two
small TCP proxies in front of it (tests/fs/http_proxy.py) — one that only counts the
HTTP requests reaching moto, one that also holds every chunk, each way, for
``--delay`` seconds (a far endpoint). The server runs in its own process so that its
work does not compete with the client's for this process's GIL, as a real endpoint's
would not. Each run uses a fresh storage object (a new s3fs client, as a new process
would have). Prints tables side by side; asserts nothing.

1. ``--nodes`` independent stored nodes, ``run(return_results=False)``: resume by
   name, by fingerprint, and by fingerprint with the index gone (results stored by
   0.1.0, or by Ray/Dask workers, before a run has learned them: every header read).
2. A first run of ``--first`` small nodes through the delaying proxy: saves written
   behind (the default), saved in turn (``write_behind_bytes=0``), and saved in turn
   with botocore's ``Expect: 100-continue`` left on, as before (fewer nodes for the
   slow ones: the figure is per node).
3. ``run()`` returning ``--results`` stored results through the delaying proxy: read
   in one concurrent batch, and one by one (a storage without ``read_tasks``).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from functionfuse import workflow

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "fs"))

BUCKET = "bench-bucket"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def serve(conn: Connection, delay: float) -> None:
    """The endpoint: moto and two proxies; answers "count" with the requests seen
    since the last count (by method), until "stop"."""
    os.environ.update(CREDENTIALS)
    from http_proxy import HttpProxy  # type: ignore[import-not-found]
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    import boto3  # type: ignore[import-untyped]

    boto3.client("s3", endpoint_url=f"http://{host}:{port}").create_bucket(Bucket=BUCKET)
    with HttpProxy((host, port)) as near, HttpProxy((host, port), delay=delay) as far:
        conn.send((near.endpoint, far.endpoint))
        while conn.recv() != "stop":
            seen = near.clear() + far.clear()
            conn.send(Counter(r.method for r in seen))
    server.stop()


class Endpoint:
    def __init__(self, delay: float) -> None:
        self._conn, child = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=serve, args=(child, delay), daemon=True
        )
        self._process.start()
        self.near, self.far = self._conn.recv()

    def requests(self) -> Counter[str]:
        self._conn.send("count")
        counted: Counter[str] = self._conn.recv()
        return counted

    def close(self) -> None:
        self._conn.send("stop")
        self._process.join(timeout=30)


@workflow
def square(i: int) -> int:
    return i * i


def nodes(n: int) -> list[Any]:
    return [square(i).set_name(f"node_{i}") for i in range(n)]


def storage(endpoint: str, prefix: str, one_by_one: bool = False, **kwargs: Any) -> Any:
    from functionfuse_fs import FileStorage

    class OneByOne(FileStorage):
        """Without ``read_tasks``: a run reads each stored result in turn, as before."""

        __slots__ = ()
        read_tasks = None  # type: ignore[assignment]

    options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
    options["skip_instance_cache"] = True  # a new client, as in a new process
    kind = OneByOne if one_by_one else FileStorage
    return kind(f"s3://{BUCKET}/{prefix}", options, **kwargs)


def timed_run(
    endpoint: Endpoint, url: str, prefix: str, graph: list[Any], **run: Any
) -> tuple[float, int]:
    """Seconds of one run and the requests it made."""
    from functionfuse_local import LocalWorkflow

    wf = LocalWorkflow(*graph, workflow_name="bench")
    wf.set_storage(storage(url, prefix, **run.pop("storage", {})))
    endpoint.requests()
    start = time.perf_counter()
    run.setdefault("return_results", False)
    wf.run(**run)
    elapsed = time.perf_counter() - start
    return elapsed, sum(endpoint.requests().values())


def drop_index(endpoint: Endpoint, prefix: str) -> None:
    import s3fs  # type: ignore[import-untyped]

    fs = s3fs.S3FileSystem(endpoint_url=endpoint.near, key="testing", secret="testing")
    fs.rm_file(f"{BUCKET}/{prefix}/bench/.index")


def resume_table(endpoint: Endpoint, url: str, label: str, n: int, repeat: int) -> None:
    prefix = f"resume-{label}-{n}"
    graph = nodes(n)
    seconds, requests = timed_run(endpoint, url, prefix, graph)
    print(f"\n{label}: {n} independent stored nodes, run(return_results=False)")
    print(f"  (first run: {seconds:.2f} s, {requests} requests)")
    print(f"  {'resume':<44}{'requests':>10}{'seconds':>10}{'x by name':>11}")
    rows: dict[str, tuple[int, float]] = {}
    for mode, without_index in (("name", False), ("fingerprint", False), ("fingerprint", True)):
        best = float("inf")
        for _ in range(repeat):
            if without_index:
                # The run learns the headers and writes an index: drop it each time.
                drop_index(endpoint, prefix)
            seconds, requests = timed_run(endpoint, url, prefix, graph, resume=mode)
            best = min(best, seconds)
        title = f"by {mode}" + (" (no index: 0.1.0 results)" if without_index else "")
        rows[title] = (requests, best)
        ratio = best / rows["by name"][1]
        print(f"  {title:<44}{requests:>10}{best:>10.3f}{ratio:>10.2f}x")


def first_run_table(endpoint: Endpoint, n: int, delay: float) -> None:
    print(f"\nfirst run of small nodes, {delay * 1000:.0f} ms added to every trip each way")
    print(f"  {'saves':<44}{'nodes':>10}{'requests':>10}{'ms/node':>10}")
    from functionfuse_fs import _s3

    cases: list[tuple[str, int, dict[str, Any]]] = [
        ("written behind (default)", n, {}),
        ("in turn (write_behind_bytes=0)", n // 5, {"write_behind_bytes": 0}),
        ("in turn, with Expect: 100-continue (before)", n // 10, {"write_behind_bytes": 0}),
    ]
    drop_expect = _s3._drop_expect
    for label, count, options in cases:
        if "Expect" in label:  # as before: the header botocore adds is left on
            _s3._drop_expect = lambda request, **kwargs: None  # type: ignore[assignment]
        try:
            seconds, requests = timed_run(
                endpoint, endpoint.far, f"first-{len(label)}", nodes(count), storage=options
            )
        finally:
            _s3._drop_expect = drop_expect  # type: ignore[assignment]
        print(f"  {label:<44}{count:>10}{requests:>10}{seconds / count * 1000:>10.1f}")


def results_table(endpoint: Endpoint, n: int, delay: float) -> None:
    print(f"\nrun() returning {n} stored results, {delay * 1000:.0f} ms added each way")
    print(f"  {'reads':<44}{'nodes':>10}{'requests':>10}{'ms/node':>10}")
    graph = nodes(n)
    prefix = f"results-{n}"
    timed_run(endpoint, endpoint.far, prefix, graph)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("in one batch (read_tasks)", {}),
        ("one by one (before)", {"one_by_one": True}),
    ]
    for label, options in cases:
        seconds, requests = timed_run(
            endpoint, endpoint.far, prefix, graph, storage=options, return_results=True
        )
        print(f"  {label:<44}{n:>10}{requests:>10}{seconds / n * 1000:>10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--far-nodes", type=int, default=1000)
    parser.add_argument("--first", type=int, default=1000)
    parser.add_argument("--results", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(CREDENTIALS)
    endpoint = Endpoint(args.delay)
    try:
        resume_table(endpoint, endpoint.near, "moto on 127.0.0.1", args.nodes, args.repeat)
        resume_table(
            endpoint, endpoint.far, f"+{args.delay * 1000:.0f} ms", args.far_nodes, args.repeat
        )
        first_run_table(endpoint, args.first, args.delay)
        results_table(endpoint, args.results, args.delay)
    finally:
        endpoint.close()


if __name__ == "__main__":
    main()
