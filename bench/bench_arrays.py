"""Time large numpy arrays on local disk: np.save / np.load against FileStorage.

    uv run python bench/bench_arrays.py [--repeat 7] [--arrays 3] [--mb 50] [--dir PATH]

Saves: ``np.save`` to a path, ``FileStorage.save`` unsigned and with a signing key
(and, for comparison, with the deprecated ``NumpySerializer``). Reads: ``np.load``
against ``FileStorage.read_task`` likewise. The methods take turns array by array (the
order rotating every round), each into its own fresh folder, removed after the round;
the disk is synced after every save (untimed), so that the write-back of one save does
not slow the next; each figure is the best of ``--repeat`` rounds of the mean over ``--arrays``
arrays. Reads come from the page cache, as np.load's do. The targets are issue 19's:
save <= 1.3x np.save and read <= 1.5x np.load, signed <= 1.5x / 1.8x. Prints a table;
asserts nothing. Only the public API is used, so it also times older releases.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from functionfuse_fs import FileStorage, NumpySerializer

KEY = "k" * 32
#: method -> target ratio to the numpy baseline (None: shown for comparison only).
SAVE_TARGETS = {
    "np.save": None,
    "FileStorage.save": 1.3,
    "FileStorage.save, signing_key": 1.5,
    "FileStorage.save, NumpySerializer": None,
}
READ_TARGETS = {
    "np.load": None,
    "FileStorage.read_task": 1.5,
    "FileStorage.read_task, signing_key": 1.8,
    "FileStorage.read_task, NumpySerializer": None,
}


def storage(folder: str, method: str) -> FileStorage:
    made = FileStorage(folder, signing_key=KEY if "signing_key" in method else None)
    if "NumpySerializer" in method:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            made.register_persistent_serializers(NumpySerializer())
    made.new_workflow("wf")
    return made


def saver(folder: str, method: str) -> Callable[[str, Any], None]:
    """A function saving an array under a name into ``folder``, by ``method``."""
    if method == "np.save":
        return lambda name, array: np.save(os.path.join(folder, name + ".npy"), array)
    made = storage(folder, method)
    return lambda name, array: made.save("wf", name, array)


def reader(folder: str, method: str) -> Callable[[str], Any]:
    if method == "np.load":
        return lambda name: np.load(os.path.join(folder, name + ".npy"))
    made = storage(folder, method)
    return lambda name: made.read_task("wf", name)


def rotated(methods: list[str], round_: int) -> list[str]:
    shift = round_ % len(methods)
    return methods[shift:] + methods[:shift]


def time_saves(base: str, repeat: int, arrays: list[np.ndarray]) -> dict[str, float]:
    methods = list(SAVE_TARGETS)
    best = dict.fromkeys(methods, float("inf"))
    for round_ in range(repeat):
        folders = {m: tempfile.mkdtemp(dir=base) for m in methods}
        saves = {m: saver(folders[m], m) for m in methods}
        totals = dict.fromkeys(methods, 0.0)
        for i, array in enumerate(arrays):
            for method in rotated(methods, round_ + i):
                start = time.perf_counter()
                saves[method](f"a{i}", array)
                totals[method] += time.perf_counter() - start
                os.sync()  # each save starts with no write-back pending
        for method, total in totals.items():
            best[method] = min(best[method], total / len(arrays))
        for folder in folders.values():
            shutil.rmtree(folder)
        os.sync()
    return best


def time_reads(base: str, repeat: int, arrays: list[np.ndarray]) -> dict[str, float]:
    methods = list(READ_TARGETS)
    folders = {m: tempfile.mkdtemp(dir=base) for m in methods}
    for method in methods:
        save = saver(folders[method], {"np.load": "np.save"}.get(method, method))
        for i, array in enumerate(arrays):
            save(f"a{i}", array)
    os.sync()
    reads = {m: reader(folders[m], m) for m in methods}
    best = dict.fromkeys(methods, float("inf"))
    for round_ in range(repeat):
        totals = dict.fromkeys(methods, 0.0)
        for i in range(len(arrays)):
            for method in rotated(methods, round_ + i):
                start = time.perf_counter()
                back = reads[method](f"a{i}")
                totals[method] += time.perf_counter() - start
                del back
        for method, total in totals.items():
            best[method] = min(best[method], total / len(arrays))
    return best


def print_rows(figures: dict[str, float], targets: dict[str, float | None]) -> None:
    baseline = next(iter(figures.values()))
    for method, seconds in figures.items():
        ratio = seconds / baseline
        target = targets[method]
        verdict = "" if target is None else f"<= {target}x {'ok' if ratio <= target else 'MISSED'}"
        print(f"{method:<42} {seconds * 1e3:>9.2f} {ratio:>6.2f}x  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--arrays", type=int, default=3)
    parser.add_argument("--mb", type=float, default=50.0, help="size of each array, in MB")
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    arrays = [rng.random(int(args.mb * 1e6) // 8) for _ in range(args.arrays)]
    base = tempfile.mkdtemp(prefix="ff-bench-arrays-", dir=args.dir)
    try:
        saves = time_saves(base, args.repeat, arrays)
        reads = time_reads(base, args.repeat, arrays)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(
        f"{args.arrays} float64 arrays of {args.mb:g} MB, local disk ({base}), best of "
        f"{args.repeat} rounds, methods taking turns\n"
    )
    print(f"{'method':<42} {'ms/array':>9} {'ratio':>7}  target")
    print("-" * 76)
    print_rows(saves, SAVE_TARGETS)
    print()
    print_rows(reads, READ_TARGETS)


if __name__ == "__main__":
    main()
