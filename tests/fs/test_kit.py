"""The storage conformance kit against every first-party storage: FileStorage on a local
folder (unsigned and signed), MemoryStorage and S3Storage (moto)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec  # type: ignore[import-untyped]
import pytest

from functionfuse.testing import StorageTests
from functionfuse.testing._storage import PROCESSES
from functionfuse_fs import FileStorage, MemoryStorage, S3Storage

S3_BUCKET = "functionfuse-tests"


def place_name(tmp_path: Path) -> str:
    """A name for the place ``tmp_path`` gives, the same on every call for it."""
    return "kit-" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:20]


class TestLocalFileStorage(StorageTests):
    @staticmethod
    def make_storage(tmp_path: Path) -> FileStorage:
        return FileStorage(tmp_path / "store")

    @staticmethod
    def make_signed_storage(tmp_path: Path, key: bytes) -> FileStorage:
        return FileStorage(tmp_path / "store", signing_key=key)


class TestSignedLocalFileStorage(StorageTests):
    """Every check with a key: the storage a careful deployment configures."""

    @staticmethod
    def make_storage(tmp_path: Path) -> FileStorage:
        return FileStorage(tmp_path / "store", signing_key=b"the suite's key")

    @staticmethod
    def make_signed_storage(tmp_path: Path, key: bytes) -> FileStorage:
        return FileStorage(tmp_path / "store", signing_key=key)


class TestMemoryStorage(StorageTests):
    lacks = frozenset({PROCESSES})

    @pytest.fixture(autouse=True)
    def _forget_places(self) -> Iterator[None]:
        self.places: set[str] = set()
        yield
        fs = fsspec.filesystem("memory")
        for name in self.places:
            if fs.exists(f"/{name}"):
                fs.rm(f"/{name}", recursive=True)

    def make_storage(self, tmp_path: Path) -> MemoryStorage:
        self.places.add(place_name(tmp_path))
        return MemoryStorage(place_name(tmp_path))

    def make_signed_storage(self, tmp_path: Path, key: bytes) -> MemoryStorage:
        self.places.add(place_name(tmp_path))
        return MemoryStorage(place_name(tmp_path), signing_key=key)


class TestS3Storage(StorageTests):
    machine_examples = 10

    @pytest.fixture(autouse=True)
    def _moto(self, s3_options: dict[str, Any], s3fs_client: Any) -> None:
        self.options = s3_options
        self.raw = s3fs_client

    def make_storage(self, tmp_path: Path) -> S3Storage:
        return S3Storage(f"{S3_BUCKET}/{place_name(tmp_path)}", self.options)

    def make_signed_storage(self, tmp_path: Path, key: bytes) -> S3Storage:
        return S3Storage(f"{S3_BUCKET}/{place_name(tmp_path)}", self.options, signing_key=key)

    def corrupt(self, storage: Any, workflow_name: str, task_name: str) -> None:
        path = f"{storage.url.removeprefix('s3://')}/{workflow_name}/{task_name}"
        data = bytearray(self.raw.cat_file(path))
        data[len(data) // 2] ^= 0x55
        self.raw.pipe_file(path, bytes(data))
