"""S3 credentials never show in ``--traceback``, whatever fails: a node, or the storage
itself (a missing bucket, an endpoint that does not answer), with the credentials in a
config file, set on the command line, in the environment or (refused) in the URL; for
``fuse run`` and for the storage commands.

The key and the secret are distinctive sentinel strings (moto's S3 accepts any); every
byte ``fuse`` prints is searched for them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

KEY = "SENTINELKEY" + uuid.uuid4().hex[:8].upper()
SECRET = "sentinel-secret-" + uuid.uuid4().hex
NO_BUCKET = "functionfuse-no-such-bucket"

FLOW = """
from functionfuse import workflow


@workflow
def load():
    return list(range(5))


@workflow
def boom(numbers):
    raise ValueError("boom after " + str(len(numbers)))


failed = boom(load().set_name("data")).set_name("boom")
"""


def fuse(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    script = shutil.which("fuse", path=os.path.dirname(sys.executable))
    assert script is not None, "the fuse script is not installed beside this Python"
    environment = {k: v for k, v in os.environ.items() if k != "FUNCTIONFUSE_STORAGE_KEY"}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # only the sentinels
        environment.pop(name, None)
    environment.update(env or {})
    return subprocess.run(
        [script, *args],
        cwd=cwd,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_clean(done: subprocess.CompletedProcess[str]) -> None:
    text = done.stdout + done.stderr
    assert KEY not in text, f"the S3 key shows in:\n{text}"
    assert SECRET not in text, f"the S3 secret shows in:\n{text}"


def storage_config(url: str, endpoint: str) -> str:
    return (
        f'[storage]\nurl = "{url}"\n'
        f'options = {{key = "{KEY}", secret = "{SECRET}", endpoint_url = "{endpoint}"}}\n'
    )


@pytest.mark.parametrize("failure", ["node", "no bucket", "no endpoint"])
def test_fuse_run_traceback_shows_no_credentials(
    tmp_path: Path, s3_path: str, s3_options: dict[str, Any], failure: str
) -> None:
    (tmp_path / "flow.py").write_text(FLOW)
    endpoint = s3_options["endpoint_url"]
    url = f"s3://{s3_path}"
    if failure == "no bucket":
        url = f"s3://{NO_BUCKET}/x"
    elif failure == "no endpoint":
        endpoint = "http://127.0.0.1:9"  # discard: nothing answers
    (tmp_path / "fuse.toml").write_text(storage_config(url, endpoint))
    done = fuse("run", "flow.py", "--config", "fuse.toml", "-q", "--traceback", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" in done.stderr  # it did show one
    if failure == "node":
        assert "boom after 5" in done.stderr
    assert_clean(done)


def test_fuse_run_traceback_with_credentials_set_on_the_command_line(
    tmp_path: Path, s3_options: dict[str, Any]
) -> None:
    (tmp_path / "flow.py").write_text(FLOW)
    endpoint = s3_options["endpoint_url"]
    storage = (
        f'storage = {{url = "s3://{NO_BUCKET}/x", options = {{key = "{KEY}", '
        f'secret = "{SECRET}", endpoint_url = "{endpoint}"}}}}'
    )
    done = fuse("run", "flow.py", "-q", "--traceback", "--set", storage, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" in done.stderr
    assert_clean(done)


def test_fuse_run_with_credentials_in_the_url(tmp_path: Path, s3_path: str) -> None:
    """s3fs never reads them (it took them for the bucket name, and botocore's error
    then showed them in the traceback): refused, saying where they go."""
    (tmp_path / "flow.py").write_text(FLOW)
    url = f"s3://{KEY}:{SECRET}@{s3_path}"
    done = fuse("run", "flow.py", "-q", "--traceback", "--storage", url, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "storage options" in done.stderr
    assert_clean(done)


@pytest.mark.parametrize(
    ("command", "where"),
    [("tasks", "url"), ("show", "url"), ("rm", "url"), ("tasks", "environment")],
)
def test_storage_commands_traceback_shows_no_credentials(
    tmp_path: Path, s3_options: dict[str, Any], command: str, where: str
) -> None:
    # The moto server is found through $AWS_ENDPOINT_URL (tests/conftest.py).
    arguments = {"tasks": [], "show": ["task"], "rm": ["--yes"]}[command]
    if where == "url":
        url, env = f"s3://{KEY}:{SECRET}@{NO_BUCKET}/x", {}
    else:  # an endpoint that does not answer: the error comes from deep in botocore
        url = f"s3://{NO_BUCKET}/x"
        env = {
            "AWS_ACCESS_KEY_ID": KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        }
    done = fuse(command, url, "wf", *arguments, "--traceback", cwd=tmp_path, env=env)
    assert done.returncode in (1, 2), done.stderr
    if where == "environment":
        assert "Traceback" in done.stderr
    assert_clean(done)
