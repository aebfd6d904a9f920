"""A disk that fills up mid-save: the save fails with a StorageError naming the task,
no partial result is left, and the earlier results stay readable.

A full disk is played by a file-size limit (``RLIMIT_FSIZE``, what ``ulimit -f`` sets)
in a child process: past it, ``write`` fails with ``EFBIG`` (Python ignores
``SIGXFSZ``), as it fails with ``ENOSPC`` on a full disk — through the same code. Once
through the storage API, once through ``fuse run`` under ``ulimit -f``, which then
resumes without the limit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from functionfuse_fs import FileStorage, NumpySerializer

pytestmark = [
    pytest.mark.skipif(
        not hasattr(os, "fork") or sys.platform == "darwin", reason="RLIMIT_FSIZE on Linux"
    ),
    # NumpySerializer is deprecated, and still the serializer that ships: it stands here
    # for any persistent serializer (side files).
    pytest.mark.filterwarnings("ignore:NumpySerializer is deprecated:DeprecationWarning"),
]

LIMIT = 200 * 1024  # bytes a child may write to one file

SAVES = """
import json, resource, sys

import numpy as np

from functionfuse import StorageError
from functionfuse_fs import FileStorage, NumpySerializer

root, limit, fsync = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
storage = FileStorage(root, fsync=fsync)
storage.register_persistent_serializers(NumpySerializer(min_bytes=1000))
storage.save("wf", "small", "before")
storage.save("wf", "kept", "old")
storage.save("wf", "array", np.arange(10))
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
errors = {}
for task, value in [
    ("big", b"x" * (limit + 1)),  # one buffer, one write
    ("huge", bytearray(8 * limit)),  # written in pieces, digest in a thread
    ("kept", b"y" * (2 * limit)),  # replacing a result
    ("array", np.ones(limit, dtype=np.uint8)),  # a side file too big
    ("new_array", np.ones(limit, dtype=np.uint8)),
]:
    try:
        storage.save("wf", task, value)
    except StorageError as error:
        errors[task] = str(error)
print(json.dumps(errors))
"""


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("fsync", [False, True], ids=["plain", "fsync"])
def test_saves_past_the_limit_fail_whole(tmp_path: Path, fsync: bool) -> None:
    root = tmp_path / "store"
    done = subprocess.run(
        [sys.executable, "-c", SAVES, str(root), str(LIMIT), "1" if fsync else "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    errors = json.loads(done.stdout)
    assert sorted(errors) == ["array", "big", "huge", "kept", "new_array"]
    for task, message in errors.items():
        assert f"task {task!r} of workflow 'wf'" in message
        assert "File too large" in message  # the cause, as the system says it

    storage = FileStorage(root)
    storage.register_persistent_serializers(NumpySerializer(min_bytes=1000))
    assert storage.list_tasks("wf") == ["array", "kept", "small"]
    assert storage.read_task("wf", "small") == "before"
    assert storage.read_task("wf", "kept") == "old"  # the earlier result, whole
    assert np.array_equal(storage.read_task("wf", "array"), np.arange(10))
    assert not [f for f in files_under(root) if ".tmp-" in f]  # no partial file left
    storage.save("wf", "big", b"x" * (LIMIT + 1))  # without the limit: fine
    assert storage.read_task("wf", "big") == b"x" * (LIMIT + 1)


FLOW = """
import os

from functionfuse import workflow


def log(name):
    with open(os.environ["FLOW_LOG"], "a") as file:
        file.write(name + "\\n")


@workflow
def small():
    log("small")
    return 41


@workflow
def big(x):
    log("big")
    return bytes(1024 * 1024) + bytes([x])


@workflow
def last(data):
    log("last")
    return len(data)


end = last(big(small().set_name("small")).set_name("big")).set_name("last")
"""


def test_fuse_run_on_a_full_disk_names_the_node_and_resumes(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(FLOW)
    fuse = shutil.which("fuse", path=os.path.dirname(sys.executable))
    assert fuse is not None, "the fuse script is not installed beside this Python"
    log = tmp_path / "ran.log"
    env = {**os.environ, "FLOW_LOG": str(log)}
    env.pop("FUNCTIONFUSE_STORAGE_KEY", None)
    command = f"{fuse} run flow.py --storage ./store --name wf -q"
    limited = subprocess.run(
        ["bash", "-c", f"ulimit -f {LIMIT // 1024}; exec {command}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert limited.returncode == 1, limited.stderr
    assert "Traceback" not in limited.stderr
    assert "node 'big'" in limited.stderr
    assert "File too large" in limited.stderr
    assert log.read_text().split() == ["small", "big"]
    storage = FileStorage(tmp_path / "store")
    assert storage.list_tasks("wf") == ["small"]
    assert not [f for f in files_under(tmp_path / "store") if ".tmp-" in f]

    log.unlink()
    again = subprocess.run(
        ["bash", "-c", f"exec {command}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert "= 1048577" in again.stdout
    assert log.read_text().split() == ["big", "last"]  # small was not run again
    assert storage.list_tasks("wf") == ["big", "last", "small"]
