"""Damaged and forged results met by a resumed LocalWorkflow (issue 6, items 2 and 3).

Each case: a clean run fills the storage; one node's result is replaced on disk or in
S3 by damaged or forged bytes; ``read_task`` refuses it with StorageIntegrityError;
the resumed run warns naming the node, runs it again (and only what must run with it)
and returns the clean run's outputs. A file whose header is gone (empty, garbage, a
bare pickle, another format version), names another task or, with a key, says it is
unsigned is no stored result at all (issue 20, defect 3): it is not listed, and the
node runs again without a warning, its save replacing the file. Forged results carry a
payload that creates a canary file if it is ever unpickled: the canary never appears.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import pickle
import random
import struct
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fsspec  # type: ignore[import-untyped]
import pytest

import functionfuse as ff
from functionfuse import FunctionFuseWarning, StorageIntegrityError, workflow
from functionfuse_fs import KEY_ENV, FileStorage
from functionfuse_local import LocalWorkflow

WF = "guarded"
KEY = "the key of the pipeline"
MAGIC = b"\x89FFR\r\n\x1a\n"

runs: Counter[str] = Counter()


@workflow
def source(n: int) -> list[int]:
    runs["source"] += 1
    return list(range(n))


@workflow
def double(xs: list[int]) -> list[int]:
    runs["double"] += 1
    return [2 * x for x in xs]


@workflow
def combine(a: list[int], b: list[int]) -> dict[str, int]:
    runs["combine"] += 1
    return {"a": sum(a), "b": sum(b)}


@workflow
class Accumulator:
    def __init__(self, start: int) -> None:
        runs["Accumulator"] += 1
        self.value = start

    def add(self, xs: list[int]) -> int:
        runs["add"] += 1
        self.value += sum(xs)
        return self.value


def pipeline() -> tuple[Any, Any]:
    src = source(50).set_name("source")
    doubled = double(src).set_name("double")
    acc: Any = Accumulator(start=100)
    acc.set_name("acc")
    acc.add(src).set_name("add_1")
    second = acc.add(doubled).set_name("add_2")
    return combine(doubled, src).set_name("combine"), second


ALL_NODES = Counter(source=1, double=1, combine=1, Accumulator=1, add=2)
#: The node whose result is damaged -> the tasks removed besides (so that a node
#: reading it runs) and the runs the resumed workflow makes.
TARGETS: dict[str, tuple[tuple[str, ...], Counter[str]]] = {
    # a result of the workflow: read at the end
    "combine": ((), Counter(combine=1)),
    # an intermediate result: read when a node that uses it runs
    "double": (("combine",), Counter(double=1, combine=1)),
    # a method call: its instance is rebuilt and its calls replayed
    "add_2": ((), Counter(Accumulator=1, add=2)),
}


@pytest.fixture(autouse=True)
def _clean_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    runs.clear()


class Place:
    """A storage location with raw access to the files behind the storage."""

    def __init__(self, url: str, options: dict[str, Any], fs: Any = None) -> None:
        self.url = url
        self.options = options
        own_fs, root = fsspec.core.url_to_fs(url, **options)
        self.fs = fs or own_fs
        self.root = str(root).rstrip("/")

    def storage(self, **kwargs: Any) -> FileStorage:
        """The storage the workflow uses (made through the factory, like a user's)."""
        storage = ff.storage_factory(self.url, **self.options, **kwargs)
        assert isinstance(storage, FileStorage)
        return storage

    def path(self, task: str, workflow_name: str = WF) -> str:
        return f"{self.root}/{workflow_name}/{task}"  # plain names are stored as themselves

    def read_raw(self, task: str) -> bytes:
        data = self.fs.cat_file(self.path(task))
        assert isinstance(data, bytes)
        return data

    def write_raw(self, task: str, data: bytes) -> None:
        self.fs.pipe_file(self.path(task), data)


@pytest.fixture(params=["file", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    if request.param == "file":
        (tmp_path / "store").mkdir()
        return Place(str(tmp_path / "store"), {})
    return Place(
        request.getfixturevalue("s3_url"),
        dict(request.getfixturevalue("s3_options")),
        request.getfixturevalue("s3fs_client"),
    )


def run(storage: FileStorage) -> Any:
    wf = LocalWorkflow(*pipeline(), workflow_name=WF)
    wf.set_storage(storage)
    return wf.run()


@pytest.fixture(scope="module")
def clean_outputs() -> Any:
    """What a run without storage returns."""
    outputs = LocalWorkflow(*pipeline(), workflow_name=WF).run()
    runs.clear()
    return outputs


def fill(storage: FileStorage, clean_outputs: Any) -> None:
    """A clean run into an empty storage."""
    assert run(storage) == clean_outputs
    assert runs == ALL_NODES
    runs.clear()


def resume_refusing(
    storage: FileStorage, target: str, clean_outputs: Any, *, listed: bool = True
) -> None:
    """The run after ``target``'s result was damaged: one warning naming it (none if
    the file is not ``listed`` as a result), the node re-run, the clean outputs; then
    its new result reads, and nothing runs again."""
    assert (target in storage.list_tasks(WF)) == listed
    removed, expected_runs = TARGETS[target]
    for name in removed:
        storage.remove_task(WF, name)
    runs.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outputs = run(storage)
    messages = [str(w.message) for w in caught]
    if not listed:
        assert messages == []
    else:
        assert [w.category for w in caught] == [FunctionFuseWarning], messages
        assert f"node {target!r} in workflow {WF!r}" in messages[0]
        assert "running the node again" in messages[0]
    assert outputs == clean_outputs
    assert runs == expected_runs
    storage.read_task(WF, target)  # replaced by a good result
    runs.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run(storage) == clean_outputs
    assert runs == Counter()


# -- item 2: damaged results -------------------------------------------------------------------


def _wrong_version(good: bytes) -> bytes:
    assert good[:8] == MAGIC
    assert good[8] == 2  # byte 8: the format version
    return good[:8] + bytes([3]) + good[9:]


#: Damage -> what makes it, the refusal's reason. All but "truncated" (cut inside the
#: payload) destroy the header.
DAMAGE: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "truncated": (lambda good: good[: len(good) - 40], "it is truncated"),
    "zero-length": (lambda good: b"", "the file is empty"),
    "garbage": (
        lambda good: random.Random(6).randbytes(len(good)),
        "it is not a functionfuse result",
    ),
    "plain pickle": (lambda good: pickle.dumps([1, 2, 3]), "it is not a functionfuse result"),
    "wrong version": (_wrong_version, "it has format version 3"),
}


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_result_is_refused_and_recomputed(
    place: Place, damage: str, target: str, clean_outputs: Any
) -> None:
    storage = place.storage()
    fill(storage, clean_outputs)
    spoil, reason = DAMAGE[damage]
    place.write_raw(target, spoil(place.read_raw(target)))

    with pytest.raises(StorageIntegrityError) as info:
        storage.read_task(WF, target)
    message = str(info.value)
    assert f"task {target!r} of workflow {WF!r}" in message
    assert reason in message
    assert f"remove_task({WF!r}, {target!r})" in message

    resume_refusing(storage, target, clean_outputs, listed=damage == "truncated")


# -- item 3: signed results ------------------------------------------------------------------


class Canary:
    """Unpickling it creates the file ``path``: proof that a payload was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = pathlib.Path(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (self.path,))


def forge(
    task: str,
    payload_object: Any,
    *,
    kind: int,
    fingerprint: bytes = b"",
    digest: bytes | None = None,
) -> bytes:
    """A result in format version 1 written by hand: digest kind 1 (SHA-256, correct
    unless ``digest`` is given) or 2 (HMAC, which the forger cannot compute)."""
    name = task.encode()
    stream = pickle.dumps(payload_object, protocol=5)
    payload = struct.pack(">IQ", 0, len(stream)) + stream
    header = struct.pack(
        ">8sBBBBHHQ", MAGIC, 1, 1, kind, 0, len(name), len(fingerprint), len(payload)
    )
    header += name + fingerprint
    if digest is None:
        digest = hashlib.sha256(header + payload).digest()
    return header + payload + digest


def _flip_payload_byte(data: bytes) -> bytes:
    out = bytearray(data)
    out[len(out) - 32 - 5] ^= 0x01  # inside the pickle stream, before the digest
    return bytes(out)


def plant(case: str, place: Place, target: str, canary: Path) -> str:
    """Store the planted result of ``case`` under ``target``; the refusal's reason.

    The planted header carries the good result's fingerprint (fingerprints are no
    secret), so that resuming takes it for up to date and the signature must refuse it.
    """
    evil = Canary(canary)
    stamp = place.storage().read_fingerprint(WF, target)
    assert stamp is not None
    if case == "unsigned":
        place.storage().save(WF, target, evil, fingerprint=stamp)
        return "it is not signed"
    if case == "another key":
        place.storage(signing_key="the attacker's key").save(WF, target, evil, fingerprint=stamp)
        return "its signature does not match"
    if case == "tampered":
        place.write_raw(target, _flip_payload_byte(place.read_raw(target)))
        return "its signature does not match"
    if case == "copied":
        other = "source" if target != "source" else "double"
        place.write_raw(target, place.read_raw(other))
        return "its signature does not match"
    if case == "forged unsigned":
        place.write_raw(target, forge(target, evil, kind=1, fingerprint=stamp))
        return "it is not signed"
    if case == "forged signed":
        place.write_raw(
            target, forge(target, evil, kind=2, fingerprint=stamp, digest=os.urandom(32))
        )
        return "its signature does not match"
    raise AssertionError(case)


PLANTS = ["unsigned", "another key", "tampered", "copied", "forged unsigned", "forged signed"]
#: Plants whose header says unsigned or names another task: not results of a signed storage.
NOT_RESULTS = {"unsigned", "forged unsigned", "copied"}


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "canary"
    pickle.loads(pickle.dumps(Canary(path)))  # the canary works...
    assert path.exists()
    path.unlink()  # ...and is reset
    return path


@pytest.mark.parametrize("target", ["combine", "double"])
@pytest.mark.parametrize("case", PLANTS)
def test_signed_storage_refuses_planted_results_before_unpickling(
    place: Place, case: str, target: str, canary: Path, clean_outputs: Any
) -> None:
    storage = place.storage(signing_key=KEY)
    fill(storage, clean_outputs)
    assert storage.read_header(WF, target).signed

    reason = plant(case, place, target, canary)
    with pytest.raises(StorageIntegrityError) as info:
        storage.read_task(WF, target)
    assert f"task {target!r} of workflow {WF!r}" in str(info.value)
    assert reason in str(info.value)
    resume_refusing(storage, target, clean_outputs, listed=case not in NOT_RESULTS)
    assert not canary.exists()


def test_key_from_environment_refuses_every_planted_result(
    tmp_path: Path, canary: Path, clean_outputs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    place = Place(str(tmp_path / "store"), {})
    storage = place.storage()
    fill(storage, clean_outputs)
    assert storage.read_header(WF, "combine").signed
    for case in PLANTS:
        # The planting storages must not pick the key up.
        with monkeypatch.context() as mp:
            mp.delenv(KEY_ENV)
            reason = plant(case, place, "combine", canary)
        with pytest.raises(StorageIntegrityError, match=reason):
            storage.read_task(WF, "combine")
        resume_refusing(storage, "combine", clean_outputs, listed=case not in NOT_RESULTS)
    assert not canary.exists()
    # The key really is what is checked: the same files read with the key given as an
    # option, and not without one.
    assert place.storage(signing_key=KEY).read_task(WF, "combine") == clean_outputs[0]
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(StorageIntegrityError, match="signed with a key"):
        place.storage().read_task(WF, "combine")
