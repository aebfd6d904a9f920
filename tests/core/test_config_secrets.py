"""Secrets in a config never show in an exception message of load_config / from_config.

A value under ``storage`` (a URL may hold credentials) or under a key that looks
secret (key, token, password...) is described by its type, and text that a storage,
backend or plugin puts in its own error is cleaned of such values.
"""

from __future__ import annotations

from typing import Any

import pytest

import functionfuse
from functionfuse import ConfigurationError, FunctionFuseError
from functionfuse.config import redact_url, scrub, secret_strings, sensitive_key

SECRET = "SeNtInEl-5ecret-9f3b"


@pytest.mark.parametrize(
    "config",
    [
        {"storage": {"url": "memory://x", "options": SECRET * 4}},  # a long string
        {"storage": {"url": "memory://x", "options": SECRET}},
        {"storage": {"url": "memory://x", "options": {"secret": SECRET, "fsync": 2}}},
        {"storage": {"url": "memory://x", "options": {"fsync": SECRET}}},
        {"storage": {"kind": SECRET}},
        {"storage": {"kind": "file", "options": {"path": 1, "key": SECRET}}},
        {"storage": {"url": f"s3://user:{SECRET}@bucket", "options": 1}},
        {"storage": {"url": f"nosuchscheme://user:{SECRET}@bucket/x"}},
        {"storage": {"url": f"file:///tmp/x?token={SECRET}", "options": {"x": 1}}},
        {"backend": {"name": "local", "options": {"password": SECRET}}},
        {"rules": [{"pattern": "x", "storage": True, "remote_args": {"api_key": SECRET}}, 3]},
        {"rules": [{"pattern": "x", "plugin": {"name": "random_state", "options": {
            "auth_token": SECRET}}}]},
        {"rules": [{"pattern": "x", "plugin": {"name": "nope", "options": {"Token": SECRET}}}]},
        {"workflow_name": {"PASSWD": SECRET}},
    ],
)  # fmt: skip
def test_config_errors_never_show_a_secret(config: dict[str, Any]) -> None:
    with pytest.raises(FunctionFuseError) as caught:
        functionfuse.load_config(config)
    assert SECRET not in str(caught.value)
    assert "5ecret" not in str(caught.value)


def test_a_secret_string_under_storage_is_described_by_its_type() -> None:
    with pytest.raises(ConfigurationError) as caught:
        functionfuse.load_config({"storage": {"url": "memory://x", "options": "hunter2"}})
    assert "hunter2" not in str(caught.value)
    assert "not a string" in str(caught.value)


def test_the_public_helpers_hide_what_the_messages_hide() -> None:
    url = f"s3://user:{SECRET}@bucket/prefix?token={SECRET}"
    assert redact_url(url) == "s3://***@bucket/prefix?***"
    secrets = secret_strings({"storage": url, "backend": {"options": {"api_key": SECRET}}})
    assert SECRET not in scrub(f"could not open {url} with key {SECRET}", secrets)
    assert sensitive_key("storage.options.endpoint_url")
    assert sensitive_key("backend.options.api_key")
    assert not sensitive_key("backend.options.num_cpus")
