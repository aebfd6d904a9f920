"""Two processes run the same workflow on the same storage at the same time.

Each test starts two subprocesses (``concurrent_run_script.py``, with this Python)
that import everything, build the workflow and storage, say they are ready, then wait
for a "go" file and run together. Both must finish with correct outputs; afterwards
every stored result reads back, only the workflow's tasks are listed and no temporary
file is left. On local disk and on S3 (the moto server of tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import functionfuse as ff
from functionfuse_fs import FileStorage, NumpySerializer

#: NumpySerializer is deprecated, and still the serializer that ships: it stands here
#: for any persistent serializer (side files).
pytestmark = pytest.mark.filterwarnings("ignore:NumpySerializer is deprecated:DeprecationWarning")

SCRIPT = Path(__file__).with_name("concurrent_run_script.py")
PROCESSES = 2
NOISE_NODES = 12  # as in the script
DETERMINISTIC_TASKS = {"source", "double", "add_1", "add_2", "combine"}
RANDOM_TASKS = {f"{kind}_{i}" for kind in ("noise", "scale") for i in range(NOISE_NODES)} | {
    "total"
}


@pytest.fixture(params=["file", "s3"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """Where both processes store: a local folder or a fresh S3 prefix."""
    if request.param == "file":
        return str(tmp_path / "store"), {}
    return request.getfixturevalue("s3_url"), dict(request.getfixturevalue("s3_options"))


def run_together(
    tmp_path: Path, target: tuple[str, dict[str, Any]], mode: str
) -> list[dict[str, Any]]:
    """Start the processes, release them at once, return what each one reports."""
    url, options = target
    go = tmp_path / "go"
    meet = tmp_path / "meet"
    meet.mkdir()
    specs = [
        {
            "target": url,
            "storage_options": options,
            "mode": mode,
            "ready": str(tmp_path / f"ready-{i}"),
            "go": str(go),
            "out": str(tmp_path / f"out-{i}.pickle"),
            "meet": str(meet),
            "processes": PROCESSES,
        }
        for i in range(PROCESSES)
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCTIONFUSE_")}
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), json.dumps(spec)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for spec in specs
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(Path(spec["ready"]).exists() for spec in specs):
            dead = [p for p in procs if p.poll() is not None]
            assert not dead, dead[0].communicate()[1]
            assert time.monotonic() < deadline, "the processes did not get ready"
            time.sleep(0.005)
        go.touch()
        for proc in procs:
            _, stderr = proc.communicate(timeout=60)
            assert proc.returncode == 0, stderr
            assert "StorageIntegrityError" not in stderr, stderr
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return [pickle.loads(Path(spec["out"]).read_bytes()) for spec in specs]


def storage_of(target: tuple[str, dict[str, Any]]) -> FileStorage:
    storage = ff.storage_factory(target[0], **target[1])
    assert isinstance(storage, FileStorage)
    return storage


def assert_nothing_left_over(target: tuple[str, dict[str, Any]], tasks: set[str]) -> None:
    """Only the workflow's results are listed, and no temporary file is anywhere."""
    import fsspec  # type: ignore[import-untyped]

    assert set(storage_of(target).list_tasks("concurrent")) == tasks
    fs, root = fsspec.core.url_to_fs(target[0], **target[1])
    fs.invalidate_cache()
    files = fs.find(root)
    assert files
    assert not [f for f in files if "/.tmp-" in f]


def test_deterministic_nodes(tmp_path: Path, target: tuple[str, dict[str, Any]]) -> None:
    reports = run_together(tmp_path, target, "deterministic")
    xs = list(range(50))
    expected = [3 * sum(xs), 100 + 3 * sum(xs), [2 * x for x in xs]]
    for report in reports:
        assert report["outputs"] == expected
    storage = storage_of(target)
    for name, value in {
        "source": xs,
        "double": expected[2],
        "add_1": 100 + sum(xs),
        "add_2": expected[1],
        "combine": expected[0],
    }.items():
        assert storage.read_task("concurrent", name) == value
    assert_nothing_left_over(target, DETERMINISTIC_TASKS)


def test_random_arrays_with_side_files(tmp_path: Path, target: tuple[str, dict[str, Any]]) -> None:
    reports = run_together(tmp_path, target, "random")
    runs = []
    for report in reports:
        summed, rest = report["outputs"][0], report["outputs"][1:]
        noises, scaled = rest[:NOISE_NODES], rest[NOISE_NODES:]
        # Each process's outputs agree with the arrays it computed or read.
        for x, s in zip(noises, scaled, strict=True):
            assert x.shape == (4096,)
            np.testing.assert_array_equal(s["scaled"], 2 * x)
            assert s["sum"] == float(x.sum())
        assert summed == sum(s["sum"] for s in scaled)
        runs.append((summed, noises, scaled))
    # Both really computed arrays (else this tested nothing concurrent).
    assert all(any(r.startswith("noise_") for r in report["ran"]) for report in reports)

    storage = storage_of(target)
    storage.register_persistent_serializers(NumpySerializer(min_bytes=1024))
    # Every stored result reads back (side files included) as one of the processes had it.
    assert storage.read_task("concurrent", "total") in {summed for summed, _, _ in runs}
    for i in range(NOISE_NODES):
        stored = storage.read_task("concurrent", f"noise_{i}")
        assert any(np.array_equal(stored, noises[i]) for _, noises, _ in runs)
        stored = storage.read_task("concurrent", f"scale_{i}")
        assert any(np.array_equal(stored["scaled"], scaled[i]["scaled"]) for _, _, scaled in runs)
    assert_nothing_left_over(target, RANDOM_TASKS)
