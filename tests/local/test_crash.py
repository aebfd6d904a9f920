"""A run SIGKILLed while it writes a result (issue 6, item 1): no partial result is
visible, and the next run re-runs only the unfinished nodes, to a clean run's outputs.

Each kill runs ``crash_child.py`` in a child process (a kill of this process would end
the tests), on local disk and on the moto S3 server, at several points of one write.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from functionfuse_fs import KEY_ENV, FileStorage
from functionfuse_local import LocalWorkflow

HERE = Path(__file__).parent
CHILD = HERE / "crash_child.py"
#: Larger than functionfuse_fs._files.PARALLEL_TRAILER_MIN (256 KiB): written in pieces.
SIZE = 300 * 1024


def _load_child() -> Any:
    spec = importlib.util.spec_from_file_location("functionfuse_crash_child", CHILD)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


child = _load_child()
NODES: tuple[str, ...] = child.NODES
WF: str = child.WORKFLOW_NAME


@pytest.fixture(autouse=True)
def _no_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], FileStorage]:
    """The outputs of a run that is never killed, and the storage it filled (the same
    workflow, run in this process)."""
    storage = FileStorage(str(tmp_path_factory.mktemp("clean")))
    wf = LocalWorkflow(*child.build(SIZE), workflow_name=WF)
    wf.set_storage(storage)
    # JSON round trip: the children report their outputs as JSON.
    outputs = json.loads(json.dumps(wf.run()))
    assert sorted(storage.list_tasks(WF)) == sorted(NODES)
    return outputs, storage


def run_child(config: dict[str, Any], counter: Path) -> tuple[int, list[Any] | None, Counter[str]]:
    """Run the workflow in a child process: its return code, outputs (None when killed)
    and the nodes it ran."""
    env = dict(os.environ)
    env.pop(KEY_ENV, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    counter.unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, str(CHILD), json.dumps({**config, "counter": str(counter)})],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    ran = Counter(counter.read_text().split()) if counter.exists() else Counter()
    if proc.returncode == 0:
        return proc.returncode, json.loads(proc.stdout), ran
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout, proc.stderr)
    return proc.returncode, None, ran


# (storage, kill point, node whose write is killed)
CASES = [
    ("file", "tmp_created", "big"),
    ("file", "tmp_created", "digest"),  # a small result: one write of the whole file
    ("file", "mid_data", "big"),
    ("file", "before_replace", "big"),
    ("file", "after_replace", "big"),
    ("s3", "before_put", "big"),
    ("s3", "mid_multipart", "big"),
    ("s3", "after_put", "big"),
    # Saves written behind: killed while the target's upload runs in the background.
    ("s3-behind", "before_put", "big"),
]
#: Kill points after which the result is complete (the node finished, the next did not).
COMMITTED = {"after_replace", "after_put"}


def settled_listing(storage: FileStorage) -> set[str]:
    """The workflow's results, once two listings half a second apart agree."""
    listed = set(storage.list_tasks(WF))
    for _ in range(20):
        time.sleep(0.5)
        again = set(storage.list_tasks(WF))
        if again == listed:
            break
        listed = again
    return listed


@pytest.mark.parametrize(("kind", "kill", "target"), CASES, ids=["-".join(c) for c in CASES])
def test_killed_write_leaves_no_partial_result_and_resumes(
    kind: str,
    kill: str,
    target: str,
    tmp_path: Path,
    clean: tuple[list[Any], FileStorage],
    request: pytest.FixtureRequest,
) -> None:
    clean_outputs, clean_storage = clean
    if kind == "file":
        url, options = str(tmp_path / "store"), {}
    else:
        url, options = request.getfixturevalue("s3_url"), request.getfixturevalue("s3_options")
        if kind == "s3":
            # Each kill point is inside the save call: no writing behind.
            options = {**options, "write_behind_bytes": 0}
    config = {"url": url, "options": options, "size": SIZE}
    counter = tmp_path / "runs.txt"

    code, outputs, first = run_child({**config, "kill": kill, "target": target}, counter)
    assert code == -signal.SIGKILL
    assert outputs is None
    assert first[target] == 1, first  # killed while saving the target, not before
    assert all(n == 1 for n in first.values()), first
    # Killed before the end (written behind: maybe once every node ran, at the flush).
    assert set(first) < set(NODES) or kind == "s3-behind"

    # Only complete results are listed, and every one of them reads as in a clean run.
    storage = FileStorage.from_url(url, options)
    finished = set(first) if kill in COMMITTED else set(first) - {target}
    if kind == "s3-behind":
        # Results still waiting for upload are lost with the process: those nodes
        # run again. What is there is whole. (An upload sent whole just before the kill
        # may still be landing in moto, in this process: wait for the listing to settle.)
        finished = settled_listing(storage)
        assert finished <= set(first) - {target}
    assert sorted(storage.list_tasks(WF)) == sorted(finished)
    for name in finished:
        assert storage.read_task(WF, name) == clean_storage.read_task(WF, name), name
    if kill not in COMMITTED:
        assert not storage.file_exists(WF, target)
        with pytest.raises(FileNotFoundError):
            storage.read_task(WF, target)
    leftovers = [p.name for p in (tmp_path / "store" / WF).glob(".tmp-*")] if kind == "file" else []
    if kind == "file" and kill in ("tmp_created", "mid_data", "before_replace"):
        # The kill hit a write in progress: its temporary file is there, unlisted.
        assert len(leftovers) == 1, leftovers
        size = (tmp_path / "store" / WF / leftovers[0]).stat().st_size
        if kill == "tmp_created":
            assert size == 0
        elif kill == "mid_data":
            assert 0 < size < SIZE
    else:
        assert leftovers == []

    # The next run runs each unfinished node once, and nothing else.
    code, outputs, second = run_child(config, counter)
    assert code == 0
    assert outputs == clean_outputs
    assert second == Counter(set(NODES) - finished), (first, second)
    assert sorted(storage.list_tasks(WF)) == sorted(NODES)
    for name in NODES:
        assert storage.read_task(WF, name) == clean_storage.read_task(WF, name), name
    assert storage.collect_garbage(WF) == len(leftovers)

    # And the run after that (here, in this process) runs nothing.
    wf = LocalWorkflow(*child.build(SIZE), workflow_name=WF)
    wf.set_storage(storage)
    counter.unlink()
    child.counter = str(counter)
    try:
        assert json.loads(json.dumps(wf.run())) == clean_outputs
    finally:
        child.counter = None
    assert not counter.exists()
