"""Fixtures shared by every test folder: a moto S3 server on 127.0.0.1.

One server per session. Every test gets a fresh prefix in one bucket (``s3_url``,
``s3_path``), so tests never see each other's objects. The environment points every
AWS client at the server, with fake credentials and no metadata service, so nothing
ever talks to real AWS or to any address but 127.0.0.1.
"""

from __future__ import annotations

import logging
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

S3_BUCKET = "functionfuse-tests"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server listening on 127.0.0.1 (a free port)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1", host
    endpoint = f"http://127.0.0.1:{port}"
    no_proxy = ",".join(filter(None, ["127.0.0.1", "localhost", os.environ.get("NO_PROXY")]))
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_ENDPOINT_URL", endpoint)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        mp.setenv("NO_PROXY", no_proxy)
        mp.setenv("no_proxy", no_proxy)
        try:
            yield endpoint
        finally:
            server.stop()


@pytest.fixture(scope="session")
def s3_options(s3_endpoint: str) -> dict[str, Any]:
    """s3fs storage options for the moto server; the test bucket exists."""
    import boto3  # type: ignore[import-untyped]

    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=S3_BUCKET)
    return {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}


@pytest.fixture
def s3_path(s3_options: dict[str, Any]) -> str:
    """A fresh ``bucket/prefix`` for this test (the original Function Fuse's form)."""
    return f"{S3_BUCKET}/{uuid.uuid4().hex}"


@pytest.fixture
def s3_url(s3_path: str) -> str:
    """A fresh ``s3://bucket/prefix`` for this test."""
    return f"s3://{s3_path}"


@pytest.fixture(scope="session")
def s3fs_client(s3_options: dict[str, Any]) -> Any:
    """An s3fs filesystem on the moto server for looking at what tests stored: its own
    instance (not the one storages share), which never caches a listing."""
    import s3fs  # type: ignore[import-untyped]

    return s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False, **s3_options)


class _Expired(BaseException):
    """Not an Exception: code that turns errors into results (the lineage) lets it by."""


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    def expired(signum: int, frame: Any) -> None:
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _Expired:
        pytest.fail(f"still running after {seconds} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def deadline() -> Callable[[float], AbstractContextManager[None]]:
    """``with deadline(seconds):`` fails the test instead of hanging (SIGALRM)."""
    return _deadline


def _require_program(name: str, package: str) -> str:
    """The path of the program ``name``. Missing, it skips the test on a developer's
    machine but fails it under CI (``CI`` set), where ``.ci/run`` installs ``package``:
    a test that CI skips would hide a missing install step."""
    import shutil

    path = shutil.which(name)
    if path is None:
        message = f"{name!r} is not on PATH (Debian: apt-get install -y {package})"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{message}; .ci/run installs it, so CI must have it")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def require_program() -> Callable[[str, str], str]:
    """``require_program(name, debian_package)``: the program's path (see _require_program)."""
    return _require_program
