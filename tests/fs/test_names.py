"""Hostile workflow and task names stay in their folder and come back exactly."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functionfuse import StorageError
from functionfuse_fs import FileStorage
from functionfuse_fs._names import MAX_FILENAME, decode_name, encode_name, is_hashed_name

HOSTILE = [
    "../x",
    "../../../../etc/passwd",
    "/abs",
    "/",
    "a/b",
    "a\\b",
    "C:\\windows",
    "with spaces ",
    " ",
    "nul\x00byte",
    "\x00",
    "naïve — ünïcødé ✓ 模型",
    "\udcff lone surrogate",
    "x" * 1000,
    "é" * 1000,
    ".",
    "..",
    "...",
    ".hidden",
    "~x",
    "~",
    "~%2F",
    "%2F",
    "trailing.",
    "CON",
    "nul.txt",
    "",
    "line\nbreak",
    "*?[glob]",
]


def test_hostile_task_names_round_trip(storage: FileStorage, place: Any) -> None:
    for i, name in enumerate(HOSTILE):
        storage.save("wf", name, i)
    for i, name in enumerate(HOSTILE):
        assert storage.read_task("wf", name) == i, name
        assert storage.file_exists("wf", name)
    assert storage.list_tasks("wf") == sorted(HOSTILE)
    # Every file is directly inside the workflow folder, one per name.
    files = place.all_files()
    assert len(files) == len(HOSTILE)
    assert all(f.startswith("wf/") and f.count("/") == 1 for f in files), files
    for name in HOSTILE[:5]:
        storage.remove_task("wf", name)
    assert storage.list_tasks("wf") == sorted(HOSTILE[5:])


def test_hostile_workflow_names_round_trip(storage: FileStorage, place: Any) -> None:
    for i, name in enumerate(HOSTILE):
        storage.new_workflow(name)
        storage.save(name, "t", i)
    for i, name in enumerate(HOSTILE):
        assert storage.read_task(name, "t") == i
        assert storage.list_tasks(name) == ["t"]
    files = place.all_files()
    assert len(files) == len(HOSTILE)
    assert all(f.count("/") == 1 and f.endswith("/t") for f in files), files
    storage.remove_workflow("..")
    assert storage.list_tasks("..") == []
    assert storage.read_task(".", "t") == HOSTILE.index(".")


def test_everything_stays_under_the_root_on_disk(tmp_path: Path) -> None:
    root = tmp_path / "root"
    storage = FileStorage(root)
    for name in HOSTILE:
        storage.save(name, name, name)
    real_root = os.path.realpath(root)
    found = []
    for folder, _dirs, files in os.walk(tmp_path):
        for file in files:
            found.append(os.path.realpath(os.path.join(folder, file)))
    assert len(found) == len(HOSTILE)
    for path in found:
        workflow_folder = os.path.dirname(path)
        assert os.path.dirname(workflow_folder) == real_root, path
    for name in HOSTILE:
        assert storage.list_tasks(name) == [name]


def test_safe_names_are_stored_under_themselves() -> None:
    for name in ["data", "split_1", "Model.fit-2", "a" * MAX_FILENAME]:
        assert encode_name(name) == name
        assert decode_name(name) == name


def test_other_names_are_marked_and_percent_encoded() -> None:
    assert encode_name("train model") == "~train%20model"
    assert encode_name("../x") == "~..%2Fx"
    assert encode_name("~x") == "~%7Ex"
    assert encode_name("données") == "~donn%C3%A9es"
    assert encode_name("CON") == "~CON"


def test_long_names_are_cut_and_hashed() -> None:
    a, b = "x" * 1000, "x" * 999 + "y"
    assert len(encode_name(a)) <= MAX_FILENAME
    assert encode_name(a) != encode_name(b)
    assert is_hashed_name(encode_name(a))
    assert decode_name(encode_name(a)) is None  # the full name is in the header
    for name in ["é" * 100, "a" + "é" * 100, "ab" + "é" * 100]:
        prefix, digest = encode_name(name).rsplit("~", 1)
        assert re.fullmatch(r"~(?:%[0-9A-F]{2}|[A-Za-z0-9._-])*", prefix)  # escapes whole
        assert re.fullmatch(r"[0-9a-f]{32}", digest)


def test_foreign_files_are_not_tasks(storage: FileStorage, place: Any) -> None:
    storage.save("wf", "real", 1)
    for foreign in [".DS_Store", "~%2f", "~a", "~%ZZ", "~x~notahash"]:
        place.write_raw(b"junk", "wf", foreign)
    assert storage.list_tasks("wf") == ["real"]


def test_names_too_long_for_the_header_are_refused(storage: FileStorage) -> None:
    with pytest.raises(StorageError, match="task names are limited to 65535"):
        storage.save("wf", "x" * 70_000, 1)
    assert storage.list_tasks("wf") == []


@given(st.text())
@settings(deadline=None)  # a stall of a loaded machine is no failure
def test_encoding_round_trips_and_stays_in_its_folder(name: str) -> None:
    filename = encode_name(name)
    assert filename not in {"", ".", ".."}
    assert not filename.startswith(".")
    assert not any(c in filename for c in "/\\\x00:")
    assert filename.isascii()
    assert len(filename) <= MAX_FILENAME
    if is_hashed_name(filename):
        assert decode_name(filename) is None
    else:
        assert decode_name(filename) == name


@given(st.text(max_size=40), st.text(max_size=40))
@settings(deadline=None)
def test_encoding_is_injective(a: str, b: str) -> None:
    if a != b:
        assert encode_name(a) != encode_name(b)
