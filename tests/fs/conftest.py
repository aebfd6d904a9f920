"""Fixtures of the storage tests: the same storage on local disk, memory:// and S3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import fsspec  # type: ignore[import-untyped]
import pytest

from functionfuse_fs import FORMAT_VERSION, KEY_ENV, FileStorage
from functionfuse_fs._format import pack_result
from functionfuse_fs._names import encode_name
from functionfuse_fs._pickling import dumps


@pytest.fixture(autouse=True)
def _no_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key in the developer's environment must not sign the tests' results."""
    monkeypatch.delenv(KEY_ENV, raising=False)


@dataclass
class Place:
    """Where a test stores results, with raw access to the files behind the storage."""

    kind: str
    target: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    def storage(self, **kwargs: Any) -> FileStorage:
        return FileStorage(self.target, self.storage_options or None, **kwargs)

    raw_fs: Any = None

    @cached_property
    def fs(self) -> Any:
        return self.raw_fs or self._fs_and_root[0]

    @cached_property
    def root(self) -> str:
        return self._fs_and_root[1].rstrip("/")

    @cached_property
    def _fs_and_root(self) -> tuple[Any, str]:
        fs, root = fsspec.core.url_to_fs(self.target, **self.storage_options)
        return fs, str(root)

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def write_raw(self, data: bytes, *parts: str) -> None:
        path = self.path(*parts)
        if self.kind == "file":
            self.fs.makedirs(self.fs._parent(path), exist_ok=True)
        self.fs.pipe_file(path, data)

    def read_raw(self, *parts: str) -> bytes:
        data = self.fs.cat_file(self.path(*parts))
        assert isinstance(data, bytes)
        return data

    def all_files(self) -> list[str]:
        """Every file under the root, as paths relative to it (dot-files included)."""
        fs, root = self.fs, self.root
        if not fs.exists(root):
            return []
        found = fs.find(root)
        return sorted(p[len(root.rstrip("/")) + 1 :] for p in found)


@pytest.fixture(params=["file", "memory", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    """A fresh, empty place on local disk, in memory:// or on moto S3."""
    if request.param == "file":
        yield Place("file", str(tmp_path / "store"))
    elif request.param == "memory":
        target = f"memory://ff-tests-{uuid.uuid4().hex}"
        yield Place("memory", target)
        fs = fsspec.filesystem("memory")
        if fs.exists(target):
            fs.rm(target, recursive=True)
    else:
        s3_url = request.getfixturevalue("s3_url")
        options = dict(request.getfixturevalue("s3_options"))
        yield Place("s3", s3_url, options, raw_fs=request.getfixturevalue("s3fs_client"))


@pytest.fixture
def storage(place: Place) -> FileStorage:
    """An unsigned storage on ``place`` with workflow ``wf`` created."""
    storage = place.storage()
    storage.new_workflow("wf")
    return storage


def save_in_version(
    storage: FileStorage,
    version: int,
    workflow_name: str,
    task_name: str,
    obj: object,
    fingerprint: bytes = b"",
) -> None:
    """``storage.save`` in format ``version``: 1 writes what functionfuse-fs 0.1.0
    wrote (SHA-256 or HMAC-SHA256), through the format's kept version-1 writer."""
    if version == FORMAT_VERSION:
        storage.save(workflow_name, task_name, obj, fingerprint=fingerprint)
        return
    signer = storage._signer
    stream, buffers, _ = dumps(obj, {})
    pieces = pack_result(
        signer, workflow_name, task_name, fingerprint, stream, buffers, version=version
    )
    data = b"".join([*pieces, signer.digest(pieces, workflow_name, task_name, version)])
    folder = storage._folder(workflow_name)
    storage._files.write_atomic(folder, storage._files.join(folder, encode_name(task_name)), [data])


@pytest.fixture(params=[1, FORMAT_VERSION], ids=lambda v: f"v{v}")
def version(request: pytest.FixtureRequest) -> int:
    """Each format version read: results saved by 0.1.0 (1), and as saved today."""
    return int(request.param)
