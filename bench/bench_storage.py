"""Time FileStorage.save on local disk against plain pickle + open/write/os.replace.

    uv run python bench/bench_storage.py [--repeat 5] [--dir PATH]

Both sides pickle the same objects (pickle protocol 5) and write each result to its own
file through a temporary file and ``os.replace``; FileStorage also builds the header,
computes the SHA-256 (or HMAC) digest and encodes the name. The methods take turns
result by result, each into its own fresh folder, so that a disk whose speed swings
(as a VM's does) slows them alike; each figure is the best of ``--repeat`` rounds.
``--dir /dev/shm`` shows the storage's own cost without a disk. Prints a table;
asserts nothing.
"""

from __future__ import annotations

import argparse
import functools
import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

from functionfuse_fs import FileStorage

Save = Callable[[str, Any], None]
#: Makes, for a fresh folder, the function that saves one result there under a name.
Saver = Callable[[str], Save]


def plain_saver(folder: str) -> Save:
    def save(name: str, obj: Any) -> None:
        data = pickle.dumps(obj, protocol=5)
        path = os.path.join(folder, name)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    return save


def storage_saver(**kwargs: Any) -> Saver:
    def make(folder: str) -> Save:
        storage = FileStorage(folder, **kwargs)
        storage.new_workflow("wf")
        return functools.partial(storage.save, "wf")

    return make


def time_saves(
    repeat: int, base: str, savers: dict[str, Saver], objs: list[Any]
) -> dict[str, float]:
    """Seconds per result, best of ``repeat`` rounds. The methods take turns result by
    result, each into its own fresh folder, so that the disk's swings (2-10x on a VM,
    within seconds) slow them alike."""
    names = [f"node_{i}" for i in range(len(objs))]
    best = dict.fromkeys(savers, float("inf"))
    for _ in range(repeat):
        folders = {label: tempfile.mkdtemp(dir=base) for label in savers}
        saves = {label: make(folders[label]) for label, make in savers.items()}
        totals = dict.fromkeys(savers, 0.0)
        for name, obj in zip(names, objs, strict=True):
            for label, save in saves.items():
                start = time.perf_counter()
                save(name, obj)
                totals[label] += time.perf_counter() - start
        for label, total in totals.items():
            best[label] = min(best[label], total / len(objs))
        for folder in folders.values():
            shutil.rmtree(folder)
    return best


def time_reads(repeat: int, base: str, objs: list[Any]) -> tuple[float, float]:
    """Seconds per result for plain reads and ``read_task``, taking turns result by result."""
    names = [f"node_{i}" for i in range(len(objs))]
    plain_folder, ours_folder = tempfile.mkdtemp(dir=base), tempfile.mkdtemp(dir=base)
    plain_save, our_save = plain_saver(plain_folder), storage_saver()(ours_folder)
    for name, obj in zip(names, objs, strict=True):
        plain_save(name, obj)
        our_save(name, obj)
    storage = FileStorage(ours_folder)
    plain = ours = float("inf")
    for _ in range(repeat):
        plain_total = ours_total = 0.0
        for name in names:
            start = time.perf_counter()
            with open(os.path.join(plain_folder, name), "rb") as f:
                pickle.loads(f.read())
            middle = time.perf_counter()
            storage.read_task("wf", name)
            ours_total += time.perf_counter() - middle
            plain_total += middle - start
        plain = min(plain, plain_total / len(objs))
        ours = min(ours, ours_total / len(objs))
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
        methods: dict[str, Saver] = {
            "plain pickle + open/write/os.replace": plain_saver,
            "FileStorage.save": storage_saver(),
            "FileStorage.save, signing_key": storage_saver(signing_key="k" * 32),
        }
        saves = time_saves(args.repeat, base, methods, objs)
        # fsync is slow: fewer results, fewer rounds.
        saves.update(
            time_saves(
                2, base, {"FileStorage.save, fsync=True": storage_saver(fsync=True)}, objs[:100]
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
