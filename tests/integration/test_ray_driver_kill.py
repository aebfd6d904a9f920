"""A Ray driver killed mid-run (SIGKILL), then run again with the same storage, resumes.

The driver (``ray_driver_kill_script.py``) runs in a session of its own
(``start_new_session=True``) and starts a Ray of its own, with its temporary folder
under this test's: the test session's Ray (tests/ray) and any other is never touched.
Killing the driver's process group takes Ray's head processes with it; Ray's workers,
each in a process group of its own, are still in the driver's session, and every
process of that session is killed by its id (never ``ray stop``, which stops every Ray
on the machine) before the test ends.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import functionfuse as ff

SCRIPT = Path(__file__).with_name("ray_driver_kill_script.py")
WORKFLOW = "driver_kill"  # as in the script
NODES = {*(f"fan_{i}" for i in range(4)), *(f"chain_{i}" for i in range(4)), "total"}
#: Kill the driver once this many results are stored.
STORED_BEFORE_KILL = 3


@pytest.fixture
def ray_env() -> dict[str, str]:
    """Environment of the driver: loopback only, a fresh token, no cluster to join."""
    env = dict(os.environ)
    env.update(
        RAY_ENABLE_UV_RUN_RUNTIME_ENV="0",
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=secrets.token_hex(32),  # nothing written to ~/.ray
    )
    env.pop("RAY_ADDRESS", None)
    return env


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    # Ray puts Unix sockets in its temporary folder: keep the path short.
    with tempfile.TemporaryDirectory(prefix="ffkill") as folder:
        yield Path(folder)


def session_members(session: int) -> list[int]:
    """The processes of session ``session`` (read from /proc)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[3]) == session:  # after ")": state, ppid, pgrp, session
            members.append(int(entry))
    return members


def end_session(driver: subprocess.Popen[str]) -> None:
    """Kill the driver's process group, then every process left in its session, by id,
    and wait until none is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)
    deadline = time.monotonic() + 30
    while members := session_members(driver.pid):
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise AssertionError(f"processes of the killed driver still alive: {members}")
        time.sleep(0.1)


def start_driver(env: dict[str, str], tmp: Path, log_name: str) -> subprocess.Popen[str]:
    log = open(tmp / log_name, "w")  # noqa: SIM115 - closed with the process
    try:
        return subprocess.Popen(
            [sys.executable, str(SCRIPT), "ray", str(tmp)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # a session of its own: killed as one below
        )
    finally:
        log.close()  # the child has its own copy


def outcome(tmp: Path, log_name: str) -> Any:
    text = (tmp / log_name).read_text()
    for line in text.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise AssertionError(f"the driver did not finish:\n{text[-6000:]}")


def executions(tmp: Path) -> collections.Counter[str]:
    path = tmp / "executions.log"
    if not path.exists():
        return collections.Counter()
    return collections.Counter(line for line in path.read_text().split() if line)


def stored(storage: Any) -> set[str]:
    try:
        return set(storage.list_tasks(WORKFLOW))
    except FileNotFoundError:  # the workflow's folder is not made yet
        return set()


@pytest.mark.slow
def test_a_killed_driver_resumes_from_storage(ray_env: dict[str, str], short_tmp: Path) -> None:
    clean_dir = short_tmp / "clean"
    killed_dir = short_tmp / "killed"
    clean_dir.mkdir()
    killed_dir.mkdir()

    # The clean run, on the local backend: the outputs and every node's stored result.
    local = subprocess.run(
        [sys.executable, str(SCRIPT), "local", str(clean_dir)],
        env=ray_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert local.returncode == 0, local.stderr[-4000:]
    clean_outputs = json.loads(local.stdout.split("RESULT ", 1)[1])
    clean_storage = ff.storage_factory(str(clean_dir / "store"))
    clean_results = {name: clean_storage.read_task(WORKFLOW, name) for name in NODES}

    # The run that is killed once a few results are stored.
    storage = ff.storage_factory(str(killed_dir / "store"))
    driver = start_driver(ray_env, killed_dir, "first.log")
    try:
        deadline = time.monotonic() + 180  # Ray's start included, on a loaded machine
        while len(stored(storage)) < STORED_BEFORE_KILL:
            if driver.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"no results to kill the driver on:\n{(killed_dir / 'first.log').read_text()}"
                )
            time.sleep(0.05)
    finally:
        end_session(driver)
    before_kill = stored(storage)  # everything stored up to the kill
    assert STORED_BEFORE_KILL <= len(before_kill) < len(NODES), before_kill
    assert "RESULT" not in (killed_dir / "first.log").read_text()  # killed mid-run
    for name in before_kill:  # whole results, as the clean run's
        assert storage.read_task(WORKFLOW, name) == clean_results[name], name
    ran_before = executions(killed_dir)

    # Run again with the same storage: it finishes, and what was stored does not run.
    driver = start_driver(ray_env, killed_dir, "second.log")
    try:
        driver.wait(timeout=120)
    finally:
        end_session(driver)
    assert outcome(killed_dir, "second.log") == clean_outputs
    ran_again = executions(killed_dir) - ran_before
    assert not set(ran_again) & before_kill, ran_again
    assert ran_again == collections.Counter(NODES - before_kill)  # the rest, once each
    assert stored(storage) == NODES
    for name in NODES:
        assert storage.read_task(WORKFLOW, name) == clean_results[name], name
