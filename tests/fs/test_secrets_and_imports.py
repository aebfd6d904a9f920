"""Secrets stay out of reprs and messages; importing the package stays cheap."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from functionfuse import ConfigurationError, FunctionFuseError
from functionfuse_fs import FileStorage, MemoryStorage, S3Storage

SECRET = "SENTINEL-secret-4f1d"
ACCESS = "AKIASENTINEL0000"
SIGNING = "SENTINEL-signing-key-77"


class Unpicklable:
    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("no pickling")


def test_no_secret_in_reprs_or_messages(s3_url: str, s3_options: dict[str, Any]) -> None:
    # moto takes any credentials: these are sentinels, not the test's "testing" ones.
    options = {**s3_options, "key": ACCESS, "secret": SECRET}
    storage = S3Storage.from_url(s3_url, {**options, "signing_key": SIGNING})
    texts = [repr(storage), str(storage), storage.url, repr(pickle.loads(pickle.dumps(storage)))]
    storage.save("wf", "t", 1)
    raw_result = storage._files.read(f"{storage._root}/wf/t")
    failures: list[BaseException] = []
    actions: list[Callable[[], object]] = [
        lambda: storage.read_task("wf", "missing"),
        lambda: storage.remove_task("wf", "missing"),
        lambda: storage.save("wf", "u", Unpicklable()),
        lambda: S3Storage(s3_url, options).read_task("wf", "t"),  # unsigned reader
        lambda: S3Storage.from_config({"path": s3_url, "s3fs": options, "bad": SECRET}),
    ]
    for action in actions:
        with pytest.raises((FunctionFuseError, FileNotFoundError)) as info:
            action()
        failures.append(info.value)
    texts += [str(e) for e in failures] + [repr(e) for e in failures]
    for text in texts:
        for secret in (SECRET, ACCESS, SIGNING):
            assert secret not in text, text
    for secret in (SECRET, ACCESS, SIGNING):
        assert secret.encode() not in raw_result


def test_credentials_in_urls_are_not_shown() -> None:
    storage = MemoryStorage("memory://user:SENTINEL@host/root?token=SENTINEL")
    assert "SENTINEL" not in repr(storage)
    with pytest.raises(ConfigurationError) as info:
        S3Storage("memory://user:SENTINEL@host/root")
    assert "SENTINEL" not in str(info.value)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_import_does_not_import_fsspec_s3fs_or_numpy(tmp_path: Any) -> None:
    done = run_python(
        f"""
        import sys
        import functionfuse_fs
        # Nor what only remote storages use: the uploader, the index (and their imports).
        unused = ("s3fs", "fsspec", "numpy", "botocore", "functionfuse_fs._remote",
                  "functionfuse_fs._writer", "functionfuse_fs._index", "concurrent.futures")
        heavy = [m for m in unused if m in sys.modules]
        assert not heavy, heavy
        storage = functionfuse_fs.FileStorage({str(tmp_path)!r})
        storage.save("wf", "t", 1)
        assert storage.read_task("wf", "t") == 1
        assert storage.list_tasks("wf") == ["t"]
        storage.remove_workflow("wf")
        heavy = [m for m in unused if m in sys.modules]
        assert not heavy, ("local storage imported", heavy)
        print("ok")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_missing_s3fs_says_what_to_install() -> None:
    done = run_python(
        """
        import sys
        sys.modules["s3fs"] = None  # as if it were not installed
        from functionfuse import ComponentLoadError
        from functionfuse_fs import S3Storage
        try:
            S3Storage("bucket/prefix")
        except ComponentLoadError as exc:
            assert isinstance(exc, ImportError)
            assert isinstance(exc.__cause__, ImportError)
            print(exc)
        """
    )
    assert done.returncode == 0, done.stderr
    assert 'pip install "functionfuse-fs[s3]"' in done.stdout
    assert "s3://bucket/prefix" in done.stdout


def test_local_storage_pickles_without_fsspec(tmp_path: Any) -> None:
    storage = FileStorage(tmp_path)
    assert pickle.loads(pickle.dumps(storage)).url == str(tmp_path)
