"""Building storages from the original Function Fuse configs, URLs and paths."""

from __future__ import annotations

import os
import uuid
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

import functionfuse as ff
from functionfuse import ConfigurationError
from functionfuse_fs import FileStorage, FsspecStorage, MemoryStorage, S3Storage


def round_trip(storage: Any) -> None:
    storage.new_workflow("wf")
    storage.save("wf", "t", {"ok": True})
    assert storage.read_task("wf", "t") == {"ok": True}
    assert storage.list_tasks("wf") == ["t"]


def test_entry_points_name_the_storage_classes() -> None:
    found = {ep.name: ep.load() for ep in entry_points(group="functionfuse.storage")}
    assert found["file"] is FileStorage
    assert found["fsspec"] is FileStorage is FsspecStorage
    assert found["s3"] is S3Storage
    assert found["memory"] is MemoryStorage


def test_original_file_config(tmp_path: Path) -> None:
    storage = ff.storage_factory({"kind": "file", "options": {"path": str(tmp_path)}})
    assert type(storage) is FileStorage
    assert repr(storage) == f"FileStorage({str(tmp_path)!r})"
    round_trip(storage)
    assert (tmp_path / "wf" / "t").is_file()


def test_original_s3_config(s3_path: str, s3_options: dict[str, Any], s3fs_client: Any) -> None:
    config = {"kind": "S3", "options": {"path": s3_path, "s3fs": s3_options}}
    storage = ff.storage_factory(config)
    assert type(storage) is S3Storage
    assert repr(storage) == f"S3Storage('s3://{s3_path}')"
    round_trip(storage)
    assert s3fs_client.isfile(f"{s3_path}/wf/t")


def test_s3_config_with_url_and_storage_options(s3_url: str, s3_options: dict[str, Any]) -> None:
    storage = S3Storage.from_config(
        {"path": s3_url, "storage_options": s3_options, "always_read": True}
    )
    assert storage.always_read
    round_trip(storage)


def test_urls(tmp_path: Path, s3_url: str, s3_options: dict[str, Any]) -> None:
    s3 = ff.storage_factory(s3_url, **s3_options)
    assert type(s3) is S3Storage
    assert s3.url == s3_url
    round_trip(s3)
    memory = ff.storage_factory(f"memory://ff-{uuid.uuid4().hex}")
    assert type(memory) is MemoryStorage
    round_trip(memory)
    local = ff.storage_factory(str(tmp_path / "a"), always_read=True)
    assert type(local) is FileStorage
    assert local.always_read
    round_trip(local)
    file_url = FileStorage.from_url(f"file://{tmp_path / 'b'}")
    assert file_url.protocol == "file"
    assert file_url.url == str(tmp_path / "b")
    round_trip(file_url)


def test_s3_url_with_signing_key(s3_url: str, s3_options: dict[str, Any]) -> None:
    storage = S3Storage.from_url(s3_url, {**s3_options, "signing_key": "k"})
    round_trip(storage)
    assert storage.read_header("wf", "t").signed


def test_generic_kind_takes_any_url() -> None:
    url = f"memory://ff-{uuid.uuid4().hex}"
    storage = ff.storage_factory({"kind": "fsspec", "options": {"path": url}})
    assert type(storage) is FileStorage
    assert storage.protocol == "memory"
    round_trip(storage)


def test_bare_paths_take_the_kind_s_protocol(s3_path: str, s3_options: dict[str, Any]) -> None:
    name = f"ff-{uuid.uuid4().hex}"
    assert MemoryStorage(name).url == f"memory://{name}"
    assert S3Storage(s3_path, s3_options).url == f"s3://{s3_path}"
    assert FileStorage("relative").url == os.path.abspath("relative")
    assert FileStorage("~/results").url == os.path.expanduser("~/results")


def test_unknown_option_names_the_key_and_the_allowed_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        FileStorage.from_config({"path": str(tmp_path), "alwaysread": True})
    message = str(info.value)
    assert "'alwaysread'" in message
    for allowed in ["path", "storage_options", "s3fs", "signing_key", "always_read", "fsync"]:
        assert allowed in message


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({}, "need 'path'"),
        ({"path": 3}, "'path' must be str"),
        ({"path": "x", "always_read": "yes"}, "'always_read' must be bool"),
        ({"path": "x", "storage_options": {}, "s3fs": {}}, "same thing"),
        ({"path": "x", "s3fs": {"anon": True}}, "'s3fs' only applies to s3"),
        ({"path": "x", "storage_options": {"auto_mkdir": True}}, "only apply to fsspec"),
        ({"path": "x", "signing_key": ""}, "empty"),
    ],
)
def test_bad_configs(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        FileStorage.from_config(options)


def test_bad_urls_and_kinds() -> None:
    with pytest.raises(ConfigurationError, match="not to 'memory://x'"):
        S3Storage("memory://x")
    with pytest.raises(ConfigurationError, match="belongs in a config"):
        FileStorage.from_url("memory://x", {"path": "y"})
    with pytest.raises(ConfigurationError, match="no protocol 'nosuchproto'"):
        FileStorage("nosuchproto://x")
    with pytest.raises(ConfigurationError, match="mapping"):
        FileStorage.from_config("storage")  # type: ignore[arg-type]


def test_fsync_option(tmp_path: Path) -> None:
    storage = FileStorage.from_config({"path": str(tmp_path), "fsync": True})
    round_trip(storage)
