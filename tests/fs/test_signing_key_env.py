"""A blank signing key never turns signing off without a word (issue 20, defect 5).

``signing_key=""`` was refused, but ``FUNCTIONFUSE_STORAGE_KEY`` set to the empty
string — an unset CI secret expanded into it — read and wrote unsigned results.
"""

from __future__ import annotations

import pickle
import uuid
from pathlib import Path
from typing import Any

import pytest

from functionfuse import ConfigurationError, StorageIntegrityError
from functionfuse_fs import KEY_ENV, FileStorage

KEY = "correct horse battery staple"
BLANKS = ["", " ", "\t\n", "  \r\n "]


@pytest.mark.parametrize("blank", BLANKS, ids=repr)
@pytest.mark.parametrize(
    "build",
    [
        lambda root: FileStorage(root),
        lambda root: FileStorage.from_config({"path": root}),
        lambda root: FileStorage.from_url(root),
        lambda root: FileStorage(f"memory://ff-{uuid.uuid4().hex}"),
    ],
    ids=["path", "config", "url", "memory"],
)
def test_a_blank_key_in_the_environment_is_refused(
    build: Any, blank: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, blank)
    with pytest.raises(ConfigurationError) as info:
        build(str(tmp_path / "store"))
    message = str(info.value)
    assert KEY_ENV in message
    assert f"unset {KEY_ENV}" in message  # what to do: unset it ...
    assert "long random key" in message  # ... or set a real key
    assert not (tmp_path / "store").exists()  # nothing stored unsigned


@pytest.mark.parametrize("blank", ["", " ", "\t\n", b"", b" \n"], ids=repr)
def test_a_blank_signing_key_option_is_refused(blank: str | bytes, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="signing_key is empty"):
        FileStorage(tmp_path, signing_key=blank)
    with pytest.raises(ConfigurationError, match="signing_key is empty"):
        FileStorage.from_config({"path": str(tmp_path), "signing_key": blank})


def test_a_given_key_wins_over_a_blank_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "")
    storage = FileStorage(tmp_path, signing_key=KEY)
    storage.save("wf", "t", 1)
    assert storage.read_header("wf", "t").signed


def test_a_real_key_in_the_environment_is_used_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, f" {KEY}\n")  # not blank: not stripped either
    FileStorage(tmp_path).save("wf", "t", 1)
    assert FileStorage(tmp_path, signing_key=f" {KEY}\n").read_task("wf", "t") == 1
    with pytest.raises(StorageIntegrityError):
        FileStorage(tmp_path, signing_key=KEY).read_task("wf", "t")


@pytest.mark.parametrize("key", [KEY, None])
def test_a_shipped_storage_ignores_the_workers_environment(
    key: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What Ray ships to its workers: the driver's decision, whatever the worker's
    environment holds (a blank key there is no error, and no key either)."""
    shipped = pickle.dumps(FileStorage(tmp_path, signing_key=key))
    monkeypatch.setenv(KEY_ENV, "")
    worker = pickle.loads(shipped)
    worker.save("wf", "t", 1)
    assert worker.read_header("wf", "t").signed is (key is not None)
