"""Credentials in an s3:// URL (``s3://key:secret@bucket``) are refused up front.

s3fs never reads them: it takes ``key:secret@bucket`` for the bucket name, so the
storage could never work, and botocore's error ("Invalid bucket name
'key:secret@bucket'") carried the secret into exception messages and ``--traceback``.
"""

from __future__ import annotations

import traceback
from typing import Any

import pytest

import functionfuse as ff
from functionfuse import ConfigurationError
from functionfuse_fs import FileStorage, S3Storage

KEY = "AKIASENTINEL0000"
SECRET = "SENTINEL-secret-4f1d"


@pytest.mark.parametrize(
    "build",
    [
        lambda: S3Storage(f"s3://{KEY}:{SECRET}@bucket/prefix"),
        lambda: S3Storage(f"{KEY}:{SECRET}@bucket/prefix"),  # a bare path of the s3 kind
        lambda: S3Storage.from_config({"path": f"{KEY}:{SECRET}@bucket/prefix"}),
        lambda: FileStorage(f"S3://{KEY}:{SECRET}@bucket"),
        lambda: FileStorage(f"s3a://{SECRET}@bucket/x"),
        lambda: FileStorage(f"simplecache::s3://{KEY}:{SECRET}@bucket/x"),
        lambda: FileStorage.from_url(f"s3://{KEY}:{SECRET}@bucket/x", {"anon": False}),
        lambda: ff.storage_factory(f"s3://{KEY}:{SECRET}@bucket/x"),
        lambda: ff.storage_factory({"kind": "s3", "options": {"path": f"{KEY}:{SECRET}@b/x"}}),
    ],
    ids=["url", "bare", "config", "upper", "user-only", "chained", "from_url", "factory", "kind"],
)
def test_credentials_in_an_s3_url_are_refused(build: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        build()
    shown = "".join(traceback.format_exception(info.value))
    assert KEY not in shown
    assert SECRET not in shown
    message = str(info.value)
    assert "storage options" in message  # where they go instead
    assert "AWS_SECRET_ACCESS_KEY" in message  # ... or there


def test_an_at_sign_after_the_bucket_is_a_key_like_any_other(
    s3_url: str, s3_options: dict[str, Any]
) -> None:
    storage = S3Storage(f"{s3_url}/me@example.org", s3_options)
    storage.save("wf", "t", 1)
    assert storage.read_task("wf", "t") == 1
