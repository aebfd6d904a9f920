"""Ctrl-C (SIGINT) in the middle of a save leaves only whole results.

A child process saves large results in a loop, replacing earlier ones, and gets
SIGINT at a random moment: every result still listed reads back whole (one of the
values saved under its name), and no temporary file is left. Then ``fuse run`` is
interrupted mid-run: it exits 130, and the next run resumes and ends with a clean
run's outputs.
"""

from __future__ import annotations

import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from functionfuse_fs import FileStorage

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child")

SIZE = 8 * 1024 * 1024
TRIALS = 8

SAVES = """
import sys, traceback

from functionfuse_fs import FileStorage

root, size = sys.argv[1], int(sys.argv[2])
storage = FileStorage(root)
print("ready", flush=True)
i = 0
try:
    while True:
        i += 1
        value = bytes([i % 256]) * size if i % 2 else bytearray([i % 256]) * size
        storage.save("wf", f"t{i % 3}", value)
except KeyboardInterrupt as interrupt:
    frames = [frame.name for frame in traceback.extract_tb(interrupt.__traceback__)]
    print("interrupted in", " ".join(frames), flush=True)
    sys.exit(130)
"""


def interruptible() -> None:
    """In the child before it starts: SIGINT back to its default. A suite started in the
    background by a shell (``cmd &``, nohup) ignores SIGINT, and children inherit that,
    so Python would install no KeyboardInterrupt and the child would never stop."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_sigint_mid_save_leaves_only_whole_results(tmp_path: Path) -> None:
    rng = random.Random(20)
    places = []
    for trial in range(TRIALS):
        root = tmp_path / f"store{trial}"
        child = subprocess.Popen(
            [sys.executable, "-c", SAVES, str(root), str(SIZE)],
            preexec_fn=interruptible,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.05, 0.4))
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
        assert child.returncode == 130, err
        places.append(out)

        storage = FileStorage(root)
        names = storage.list_tasks("wf")
        assert names, "nothing was saved before the interrupt"
        for name in names:
            value = storage.read_task("wf", name)  # whole, or this raises
            assert len(value) == SIZE
            assert value == bytes([value[0]]) * SIZE  # one save's value, not a mix
        assert not [f for f in files_under(root) if ".tmp-" in f], files_under(root)
    # Most interrupts land in a save, and some in the middle of writing the file.
    assert any("write_atomic" in out for out in places), places


FLOW = """
from functionfuse import workflow


@workflow
def make(i):
    return bytes([i]) * (8 * 1024 * 1024)


@workflow
def total(*parts):
    return sum(part[0] for part in parts)


end = total(*[make(i).set_name(f"make_{i}") for i in range(12)]).set_name("total")
"""


def test_fuse_run_interrupted_mid_save_resumes(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(FLOW)
    fuse = shutil.which("fuse", path=os.path.dirname(sys.executable))
    assert fuse is not None, "the fuse script is not installed beside this Python"
    command = [fuse, "run", "flow.py", "--storage", "./store", "--name", "wf", "-q"]
    env = {k: v for k, v in os.environ.items() if k != "FUNCTIONFUSE_STORAGE_KEY"}
    storage = FileStorage(tmp_path / "store")
    child = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        preexec_fn=interruptible,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Interrupt once a few results are stored, while the next ones are being saved.
    deadline = time.monotonic() + 60
    while len(storage.list_tasks("wf")) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, f"{shlex.join(command)}: {err}"
    assert err.endswith("error: interrupted.\n"), err
    assert "Traceback" not in err
    for name in storage.list_tasks("wf"):
        value = storage.read_task("wf", name)
        assert value == bytes([value[0]]) * len(value)
    assert not [f for f in files_under(tmp_path / "store") if ".tmp-" in f]

    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().endswith(f"= {sum(range(12))}")
