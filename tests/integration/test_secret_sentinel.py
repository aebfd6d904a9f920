"""S3 credentials never show: not in what a failing run prints, logs or raises, nor in
what it stores (issue 6, item 8).

Distinctive sentinel strings are the key and the secret (moto's S3 accepts any). A run
whose second node fails goes through ``fuse run`` with the credentials in a config file,
logging at INFO on every logger, and then through the Python API with the same storage;
everything printed, every traceback, warning and log record, and every stored object is
searched for the sentinels.

Not covered: botocore's own DEBUG logs print the access key id (not the secret) in the
Authorization header; keep third-party loggers above DEBUG in shared logs.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import traceback
import uuid
import warnings
from pathlib import Path
from typing import Any

import pytest

import functionfuse as ff
from functionfuse import NodeExecutionError, workflow
from functionfuse_local import LocalWorkflow

KEY = "SENTINELKEY" + uuid.uuid4().hex[:8].upper()
SECRET = "sentinel-secret-" + uuid.uuid4().hex

FLOW = """
from functionfuse import workflow


@workflow
def load():
    return list(range(5))


@workflow
def boom(numbers):
    raise ValueError("boom after " + str(len(numbers)))


data = load().set_name("data")
failed = boom(data).set_name("boom")
"""

RUN = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from functionfuse_cli import main
sys.exit(main(sys.argv[1:]))
"""


def assert_clean(text: str, where: str) -> None:
    assert KEY not in text, f"the S3 key shows in {where}"
    assert SECRET not in text, f"the S3 secret shows in {where}"


def stored_objects(s3_options: dict[str, Any], prefix: str) -> dict[str, bytes]:
    import boto3  # type: ignore[import-untyped]

    client = boto3.client(
        "s3",
        endpoint_url=s3_options["endpoint_url"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket, _, key_prefix = prefix.partition("/")
    listing = client.list_objects_v2(Bucket=bucket, Prefix=key_prefix).get("Contents", [])
    return {
        item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        for item in listing
    }


def test_a_failing_s3_run_shows_and_stores_no_credentials(
    tmp_path: Path, s3_path: str, s3_options: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "flow.py").write_text(FLOW)
    endpoint = s3_options["endpoint_url"]
    (tmp_path / "fuse.toml").write_text(
        f'workflow_name = "sentinel"\n'
        f"[storage]\n"
        f'url = "s3://{s3_path}"\n'
        f'options = {{key = "{KEY}", secret = "{SECRET}", endpoint_url = "{endpoint}"}}\n'
    )
    done = subprocess.run(
        [sys.executable, "-c", RUN, "run", "flow.py", "--config", "fuse.toml", "--traceback"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "boom after 5" in done.stderr  # it did fail, and said so
    assert_clean(done.stdout, "fuse run's stdout")
    assert_clean(done.stderr, "fuse run's stderr (logs at INFO, traceback)")

    # The same run through the Python API: the error, its traceback, warnings, logs.
    storage = ff.storage_factory(f"s3://{s3_path}", key=KEY, secret=SECRET, endpoint_url=endpoint)
    assert_clean(repr(storage), "the storage's repr")

    @workflow
    def boom(numbers: list[int]) -> int:
        raise ValueError(f"boom with {storage!r}")

    @workflow
    def load() -> list[int]:
        return list(range(5))

    wf = LocalWorkflow(boom(load().set_name("data")).set_name("boom"), workflow_name="api")
    wf.set_storage(storage)
    assert_clean(repr(wf), "the workflow's repr")
    with caplog.at_level(logging.INFO), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(NodeExecutionError) as error:
            wf.run()
    text = "".join(traceback.format_exception(error.value))
    assert_clean(text, "the error's traceback (causes included)")
    assert_clean(caplog.text, "the log records")
    assert_clean(" ".join(str(w.message) for w in caught), "the warnings")

    objects = stored_objects(s3_options, s3_path)
    assert any(name.endswith("/data") for name in objects), sorted(objects)  # it did store
    for name, data in objects.items():
        assert KEY.encode() not in data, name
        assert SECRET.encode() not in data, name
