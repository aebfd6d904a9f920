"""functionfuse-ray on real multi-process clusters, each in a subprocess of its own.

The test session's own Ray (tests/ray) is never touched: each test starts its cluster
with its own temporary folder, talks to it from a separate driver process, and stops
exactly the processes it started (never ``ray stop``, which stops every Ray on the
machine). Every address is 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).with_name("ray_cluster_script.py")


@pytest.fixture
def ray_env() -> dict[str, str]:
    """Environment for every process of a test cluster: loopback only, a fresh token."""
    env = dict(os.environ)
    env.update(
        RAY_ENABLE_UV_RUN_RUNTIME_ENV="0",
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",  # Ray on Linux then uses 127.0.0.1
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN=secrets.token_hex(32),  # nothing written to ~/.ray
    )
    env.pop("RAY_ADDRESS", None)
    return env


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    # Ray puts Unix sockets in its temporary folder: keep the path short.
    with tempfile.TemporaryDirectory(prefix="ffray") as folder:
        yield Path(folder)


def run_script(env: dict[str, str], *args: str, timeout: float = 240) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])  # type: ignore[no-any-return]
    raise AssertionError(
        f"the driver failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    )


@pytest.mark.slow
def test_nodes_run_where_their_remote_args_say(ray_env: dict[str, str], short_tmp: Path) -> None:
    outcome = run_script(ray_env, "two-nodes", str(short_tmp))
    alpha, beta = outcome["ids"]["alpha"], outcome["ids"]["beta"]
    assert alpha != beta
    for run in ("first", "second"):
        (tag_a, node_a), (tag_b, node_b), (built_on, called_on) = outcome[run]
        assert (tag_a, node_a) == ("a", alpha)
        assert (tag_b, node_b) == ("b", beta)
        assert built_on == called_on == beta  # the actor lives where its args say
    # On resume, every storage read and write ran on the node holding "disk" (beta).
    resumed = outcome["resumed"]
    assert ["save", "on_beta", beta] in resumed
    assert any(kind == "read" and name == "on_alpha" for kind, name, _ in resumed)
    assert {node for _, _, node in resumed} == {beta}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def ray_head(ray_env: dict[str, str], short_tmp: Path) -> Iterator[str]:
    """A one-CPU cluster started with ``ray start --head --block`` on 127.0.0.1."""
    port = free_port()
    log_path = short_tmp / "ray-start.log"
    ray_cli = Path(sys.executable).with_name("ray")
    with open(log_path, "w") as log:
        head = subprocess.Popen(
            [
                str(ray_cli),
                "start",
                "--head",
                f"--port={port}",
                "--node-ip-address=127.0.0.1",
                "--num-cpus=1",
                "--include-dashboard=false",
                f"--temp-dir={short_tmp / 'ray'}",
                "--block",
            ],
            env=ray_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one below
        )
    try:
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in log_path.read_text():
            if head.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"ray start failed:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        # SIGTERM lets `ray start --block` stop the processes it started; whatever is
        # left of its process group after that is killed. Nothing else is touched.
        head.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=10)


@pytest.mark.slow
def test_joins_a_cluster_started_with_ray_start(
    ray_env: dict[str, str], ray_head: str, short_tmp: Path
) -> None:
    outcome = run_script(ray_env, "join", ray_head, str(short_tmp))
    assert outcome["gcs"] == ray_head  # the driver joined that cluster, no other
    tag, _node = outcome["result"]
    assert tag == "b"
    assert outcome["stored"] == ["a", "where_0"]


@pytest.mark.slow
def test_own_ray_does_not_hand_workers_to_uv_run(ray_env: dict[str, str]) -> None:
    # Under `uv run pytest` this driver has a `uv run` ancestor: left to Ray's default,
    # its workers would be started with `uv run` in a copy of the project.
    del ray_env["RAY_ENABLE_UV_RUN_RUNTIME_ENV"]
    outcome = run_script(ray_env, "own-ray", timeout=180)
    assert outcome["result"][0] == "a"
    assert "py_executable" not in outcome["runtime_env"]
    assert "working_dir" not in outcome["runtime_env"]
    assert outcome["variable"] is None  # the user's environment is left as it was
