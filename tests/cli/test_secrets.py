"""Secrets in a config never show in `fuse` output, nor in `--set`'s errors.

A value under ``storage`` (a URL may hold credentials) or under a key that looks
secret (key, token, password...) is described by its type, and text that a storage,
backend or plugin puts in its own error is cleaned of such values (the library side:
tests/core/test_config_secrets.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from functionfuse import ConfigurationError
from functionfuse_cli._overrides import apply_override

from .conftest import Fuse, write
from .test_storage import NO_AWS_CREDENTIALS

SECRET = "SeNtInEl-5ecret-9f3b"


def test_apply_override_does_not_echo_a_secret_value() -> None:
    data: dict[str, Any] = {"storage": {"options": {"secret": SECRET}}}
    with pytest.raises(ConfigurationError) as caught:
        apply_override(data, "storage.options.secret.x=1")
    assert SECRET not in str(caught.value)
    assert "storage.options.secret is a value (a string), not a table" in str(caught.value)
    # Other values are still shown: they help.
    with pytest.raises(ConfigurationError, match=r"workflow_name is a value \('w'\)"):
        apply_override({"workflow_name": "w"}, "workflow_name.x=1")


@pytest.mark.parametrize(
    "arguments",
    [
        ("--set", f"storage.options.secret={SECRET}", "--set", "storage.options.secret.x=1"),
        ("--set", f"backend.options.api_key={SECRET}", "--set", "backend.options.api_key.a=1"),
        (
            "--set",
            f'storage = {{url = "memory://x", options = {{secret = "{SECRET}", fsync = 2}}}}',
        ),
        ("--set", f'storage = {{kind = "file", options = {{token = "{SECRET}"}}}}'),
        ("--set", f'storage.url = "{SECRET}"', "--set", "storage.url.x=1"),
        ("--set", f"storage=s3://user:{SECRET}@bucket/x", "--set", "storage.url=1"),
        ("--storage", f"s3://user:{SECRET}@functionfuse-no-bucket/x"),
        ("--storage", f"s3://functionfuse-no-bucket/x?secret={SECRET}"),
        ("--storage", SECRET, "--set", "storage.x=1"),
        ("--config", "secret.toml"),
        ("--config", "secret.toml", "--set", "backend.name=local"),
        ("--set", f"=--{SECRET}"),
    ],
)
def test_fuse_never_prints_a_secret(fuse: Fuse, flow: Path, tmp_path: Path, arguments: Any) -> None:
    write(
        tmp_path / "secret.toml",
        f"""
        [backend]
        name = "local"
        options = {{token = "{SECRET}"}}
        """,
    )
    done = fuse("run", "flow.py", *arguments, env=NO_AWS_CREDENTIALS)
    assert done.returncode in (1, 2), done.stderr
    assert "Traceback" not in done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert "5ecret" not in done.stdout + done.stderr


@pytest.mark.parametrize("command", ["tasks", "show", "rm"])
def test_storage_commands_never_print_a_secret(fuse: Fuse, command: str) -> None:
    pytest.importorskip("s3fs")
    url = f"s3://user:{SECRET}@functionfuse-no-bucket/x"
    arguments = {"tasks": [], "show": ["task"], "rm": ["--yes"]}[command]
    done = fuse(command, url, "wf", *arguments, env=NO_AWS_CREDENTIALS)
    assert done.returncode in (1, 2), done.stderr
    assert "Traceback" not in done.stderr
    assert SECRET not in done.stdout + done.stderr
