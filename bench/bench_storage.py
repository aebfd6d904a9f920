"""Time FileStorage.save on local disk against plain pickle + open/write/os.replace.

    uv run python bench/bench_storage.py [--repeat 5] [--dir PATH]

Both sides pickle the same objects (pickle protocol 5) and write each result to its own
file through a temporary file and ``os.replace``; FileStorage also builds the header,
computes the SHA-256 (or HMAC) digest and encodes the name. Each figure is the best of
``--repeat`` runs, each into a fresh folder. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

from functionfuse_fs import FileStorage


def plain_save(folder: str, names: list[str], objs: list[Any]) -> None:
    for name, obj in zip(names, objs, strict=True):
        data = pickle.dumps(obj, protocol=5)
        path = os.path.join(folder, name)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)


def storage_save(**kwargs: Any) -> Callable[[str, list[str], list[Any]], None]:
    def run(folder: str, names: list[str], objs: list[Any]) -> None:
        storage = FileStorage(folder, **kwargs)
        storage.new_workflow("wf")
        for name, obj in zip(names, objs, strict=True):
            storage.save("wf", name, obj)

    return run


def plain_read(folder: str, names: list[str]) -> None:
    for name in names:
        with open(os.path.join(folder, name), "rb") as f:
            pickle.loads(f.read())


def storage_read(folder: str, names: list[str]) -> None:
    storage = FileStorage(folder)
    for name in names:
        storage.read_task("wf", name)


Method = Callable[[str, list[str], list[Any]], None]


def time_saves(
    repeat: int, base: str, methods: dict[str, Method], objs: list[Any]
) -> dict[str, float]:
    """Seconds per result, best of ``repeat`` rounds; the methods take turns in each
    round, so that a busy machine slows them alike."""
    names = [f"node_{i}" for i in range(len(objs))]
    best = dict.fromkeys(methods, float("inf"))
    for _ in range(repeat):
        for label, method in methods.items():
            folder = tempfile.mkdtemp(dir=base)
            os.makedirs(os.path.join(folder, "wf"))
            start = time.perf_counter()
            method(folder, names, objs)
            best[label] = min(best[label], (time.perf_counter() - start) / len(objs))
            shutil.rmtree(folder)
    return best


def time_reads(repeat: int, base: str, objs: list[Any]) -> tuple[float, float]:
    names = [f"node_{i}" for i in range(len(objs))]
    plain_folder, ours_folder = tempfile.mkdtemp(dir=base), tempfile.mkdtemp(dir=base)
    plain_save(plain_folder, names, objs)
    storage_save()(ours_folder, names, objs)
    plain = ours = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        plain_read(plain_folder, names)
        plain = min(plain, (time.perf_counter() - start) / len(objs))
        start = time.perf_counter()
        storage_read(ours_folder, names)
        ours = min(ours, (time.perf_counter() - start) / len(objs))
    return plain, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="ff-bench-", dir=args.dir)
    big: list[Any]
    try:
        import numpy as np

        rng = np.random.default_rng(0)
        big = [rng.random(131_072) for _ in range(200)]  # 1 MiB each
    except ImportError:
        big = [os.urandom(1 << 20) for _ in range(200)]
    workloads: dict[str, list[Any]] = {
        "2,000 small results": [
            {"step": i, "loss": 1.0 / (i + 1), "tags": ["a", "b"]} for i in range(2000)
        ],
        "200 x 1 MiB arrays": big,
        # bytes are pickled in-band: the digest is computed over a copy, the worst case.
        "200 x 1 MiB bytes": [os.urandom(1 << 20) for _ in range(200)],
    }
    print(f"local disk, folder {base}, best of {args.repeat}\n")
    print(f"{'workload':<22} {'method':<40} {'us/result':>10} {'ratio':>7}")
    print("-" * 82)
    for label, objs in workloads.items():
        methods: dict[str, Method] = {
            "plain pickle + open/write/os.replace": plain_save,
            "FileStorage.save": storage_save(),
            "FileStorage.save, signing_key": storage_save(signing_key="k" * 32),
        }
        saves = time_saves(args.repeat, base, methods, objs)
        # fsync is slow: fewer results, fewer rounds.
        saves.update(
            time_saves(
                2, base, {"FileStorage.save, fsync=True": storage_save(fsync=True)}, objs[:100]
            )
        )
        baseline = saves["plain pickle + open/write/os.replace"]
        for method, per in saves.items():
            print(f"{label:<22} {method:<40} {per * 1e6:>10.1f} {per / baseline:>6.2f}x")
        plain, ours = time_reads(args.repeat, base, objs)
        for method, per in [
            ("plain open/read + pickle.loads", plain),
            ("FileStorage.read_task", ours),
        ]:
            print(f"{label:<22} {method:<40} {per * 1e6:>10.1f} {per / plain:>6.2f}x")
        print()
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
