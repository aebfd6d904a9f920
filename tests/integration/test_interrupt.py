"""Ctrl-C (SIGINT) in the middle of a save leaves only whole results.

A child process saves large results in a loop, replacing earlier ones, and gets
SIGINT at random moments, and once while a file is being written: every result still
listed reads back whole (one of the values saved under its name), and no temporary file
is left. Then ``fuse run`` is interrupted mid-run: it exits 130, and the next run
resumes and ends with a clean run's outputs.
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
import os, signal, sys, traceback

from functionfuse_fs import FileStorage

root, size = sys.argv[1], int(sys.argv[2])
i = 0
interrupt_at = int(sys.argv[3]) if len(sys.argv) > 3 else 0
storage = FileStorage(root)
if interrupt_at:
    # A real SIGINT, sent by this process to itself just after the first piece of
    # save number ``interrupt_at`` reached the temporary file: mid-write, every time.
    def interrupt_mid_write(frame, event, arg):
        if (
            i == interrupt_at
            and event == "c_return"
            and arg is os.write
            and frame.f_code.co_name == "_write_all"
        ):
            sys.setprofile(None)
            os.kill(os.getpid(), signal.SIGINT)

    sys.setprofile(interrupt_mid_write)
try:
    while True:
        i += 1
        value = bytes([i % 256]) * size if i % 2 else bytearray([i % 256]) * size
        storage.save("wf", f"t{i % 3}", value)
        if i == 1:
            print("ready", flush=True)  # something is stored, however slow the disk
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


def interrupted_saves(root: Path, *args: str) -> subprocess.Popen[str]:
    """Start the child that saves in ``root`` until a SIGINT stops it."""
    return subprocess.Popen(
        [sys.executable, "-c", SAVES, str(root), str(SIZE), *args],
        preexec_fn=interruptible,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(child: subprocess.Popen[str]) -> str:
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    return out


def assert_only_whole_results(root: Path) -> None:
    storage = FileStorage(root)
    names = storage.list_tasks("wf")
    assert names, "nothing was saved before the interrupt"
    for name in names:
        value = storage.read_task("wf", name)  # whole, or this raises
        assert len(value) == SIZE
        assert value == bytes([value[0]]) * SIZE  # one save's value, not a mix
    assert not [f for f in files_under(root) if ".tmp-" in f], files_under(root)


def test_sigint_at_random_moments_leaves_only_whole_results(tmp_path: Path) -> None:
    rng = random.Random(20)
    for trial in range(TRIALS):
        root = tmp_path / f"store{trial}"
        child = interrupted_saves(root)
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.05, 0.4))
        child.send_signal(signal.SIGINT)
        finish(child)
        assert_only_whole_results(root)


def test_sigint_while_the_file_is_written_leaves_only_whole_results(tmp_path: Path) -> None:
    # Where a random moment lands depends on the machine (on a fast disk, rarely in the
    # write): here the signal arrives mid-write on purpose, replacing an earlier result.
    out = finish(interrupted_saves(tmp_path, "4"))
    assert "write_atomic _write_all" in out, out
    assert_only_whole_results(tmp_path)


FLOW = """
import os
import time

from functionfuse import workflow


@workflow
def make(i):
    if i == 11:
        # The last one waits for the test's go-ahead: the run cannot end before the
        # SIGINT, however fast the machine (the sleep is where a SIGINT may land).
        deadline = time.monotonic() + 60
        while not os.path.exists("go") and time.monotonic() < deadline:
            time.sleep(0.01)
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

    (tmp_path / "go").touch()
    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().endswith(f"= {sum(range(12))}")
