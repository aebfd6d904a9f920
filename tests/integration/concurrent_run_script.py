"""One of the processes of tests/integration/test_concurrent_runs.py.

Usage: concurrent_run_script.py SPEC_JSON. The spec gives the storage (``target``,
``storage_options``), the ``mode`` (``deterministic`` or ``random``), the ``ready`` file
to create once everything is imported and built, the ``go`` file to wait for, and the
``out`` file where the run's outputs and the nodes it ran are pickled; in random mode,
the ``meet`` folder where the ``processes`` wait for each other before their first array.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import functionfuse as ff
from functionfuse import workflow
from functionfuse_fs import FileStorage, NumpySerializer
from functionfuse_local import LocalWorkflow

#: Random arrays of this many float64 (32 KiB): each a side file, and out of band.
ARRAY_SIZE = 4096
NOISE_NODES = 12

ran: list[str] = []


@workflow
def source(n: int) -> list[int]:
    ran.append("source")
    return list(range(n))


@workflow
def double(xs: list[int]) -> list[int]:
    ran.append("double")
    return [2 * x for x in xs]


@workflow
def combine(a: list[int], b: list[int]) -> int:
    ran.append("combine")
    return sum(a) + sum(b)


@workflow
class Accumulator:
    def __init__(self, start: int) -> None:
        ran.append("acc")
        self.value = start

    def add(self, xs: list[int]) -> int:
        ran.append("add")
        self.value += sum(xs)
        return self.value


#: Where the processes meet before their first array (random mode), and how many meet.
meeting: dict[str, Any] = {}


def meet() -> None:
    """Wait until every process reaches its first array: each has listed the storage
    by then, so each computes arrays (however the machine schedules them)."""
    folder, count = Path(meeting.pop("folder")), meeting.pop("count")
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + 30
    while len(list(folder.iterdir())) < count:
        if time.monotonic() > deadline:
            sys.exit("the other processes did not reach their first array within 30 s")
        time.sleep(0.001)


@workflow
def noise(i: int) -> np.ndarray:
    if meeting:
        meet()
    ran.append(f"noise_{i}")
    return np.random.default_rng().random(ARRAY_SIZE)


@workflow
def scale(x: np.ndarray) -> dict[str, Any]:
    return {"scaled": 2 * x, "sum": float(x.sum())}


@workflow
def total(*parts: dict[str, Any]) -> float:
    return float(sum(part["sum"] for part in parts))


def build(mode: str) -> LocalWorkflow:
    if mode == "deterministic":
        src = source(50).set_name("source")
        doubled = double(src).set_name("double")
        acc = Accumulator(start=100).set_name("acc")
        acc.add(src).set_name("add_1")
        second = acc.add(doubled).set_name("add_2")
        combined = combine(doubled, src).set_name("combine")
        return LocalWorkflow(combined, second, doubled, workflow_name="concurrent")
    noises = [noise(i).set_name(f"noise_{i}") for i in range(NOISE_NODES)]
    scaled = [scale(x).set_name(f"scale_{i}") for i, x in enumerate(noises)]
    summed = total(*scaled).set_name("total")
    return LocalWorkflow(summed, *noises, *scaled, workflow_name="concurrent")


def main() -> None:
    spec = json.loads(sys.argv[1])
    storage = ff.storage_factory(spec["target"], **spec["storage_options"])
    assert isinstance(storage, FileStorage)
    if spec["mode"] == "random":
        storage.register_persistent_serializers(NumpySerializer(min_bytes=1024))
        meeting.update(folder=spec["meet"], count=spec["processes"])
    wf = build(spec["mode"])
    wf.set_storage(storage)
    Path(spec["ready"]).touch()
    go = Path(spec["go"])
    deadline = time.monotonic() + 30
    while not go.exists():
        if time.monotonic() > deadline:
            sys.exit("no go file within 30 s")
        time.sleep(0.001)
    outputs = wf.run()
    out = Path(spec["out"])
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps({"outputs": outputs, "ran": ran, "pid": os.getpid()}))
    tmp.replace(out)


if __name__ == "__main__":
    main()
