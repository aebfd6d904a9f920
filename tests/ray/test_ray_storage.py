"""The ``ray`` storage kind: the original Function Fuse's storage on one Ray machine.

The session's Ray has one node with the custom resource ``storage_disk``; the storage's
``remoteArgs`` ask for a sliver of it, as the original's examples ask for ``_disk``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import ray

import functionfuse as ff
from functionfuse import workflow
from functionfuse.testing import StorageTests
from functionfuse_fs import FileStorage
from functionfuse_ray import RayFileStorage, RayWorkflow
from functionfuse_ray._storage import _runs_here

from .graphs import Counter

PINNED = {"resources": {"storage_disk": 0.001}}


def config(path: Path | str, **options: Any) -> dict[str, Any]:
    return {"kind": "ray", "options": {"path": str(path), "remoteArgs": PINNED, **options}}


# -- configuration ------------------------------------------------------------------------


def test_the_kind_is_found_case_insensitively(tmp_path: Path) -> None:
    for kind in ("ray", "Ray", "RAY"):
        storage = ff.storage_factory({**config(tmp_path), "kind": kind})
        assert isinstance(storage, RayFileStorage)
        assert storage.remote_args == PINNED
        assert storage.url == str(tmp_path)
    rows = [(c.kind, c.name, c.distribution) for c in ff.components()]
    assert ("storage kind", "ray", "functionfuse-ray") in rows


@pytest.mark.parametrize(
    ("option", "spelling"),
    [
        ("remote_args", "'remoteArgs'"),
        ("remoteArg", "'remoteArgs'"),
        ("remoteargs", "'remoteArgs'"),
        ("ray_init_args", "'rayInitArgs'"),
        ("rayInit", "'rayInitArgs'"),
        ("storage_options", None),
    ],
)
def test_an_unknown_option_is_named_with_the_original_spelling(
    tmp_path: Path, option: str, spelling: str | None
) -> None:
    options = {"path": str(tmp_path), "remoteArgs": {}, option: {}}
    with pytest.raises(ff.ConfigurationError) as caught:
        ff.storage_factory({"kind": "ray", "options": options})
    message = str(caught.value)
    assert f"unknown ray storage option {option!r}" in message
    if spelling is not None:
        assert f"the original Function Fuse spells it {spelling}" in message
    assert "Options: path, remoteArgs, rayInitArgs" in message


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"remoteArgs": {}}, "need 'path'"),
        ({"path": "x"}, "need 'remoteArgs'.*_disk"),
        ({"path": "x", "remoteArgs": [1]}, "remoteArgs must be a dict"),
        ({"path": "x", "remoteArgs": {"num_cpu": 1}}, "Ray refused.*num_cpu"),
        ({"path": "x", "remoteArgs": {"num_returns": 2}}, "num_returns"),
        ({"path": "x", "remoteArgs": {}, "rayInitArgs": "auto"}, "rayInitArgs must be a dict"),
        ({"path": "memory://x", "remoteArgs": {}}, "folder path"),
    ],
)
def test_bad_options_are_refused_at_once(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ff.ConfigurationError, match=match):
        ff.storage_factory({"kind": "ray", "options": options})


def test_a_ray_client_address_is_not_a_storage_url() -> None:
    with pytest.raises(ff.ConfigurationError, match="Ray Client"):
        ff.storage_factory("ray://head:10001")


def test_the_file_storage_options_pass_through(tmp_path: Path) -> None:
    storage = ff.storage_factory(config(tmp_path, signing_key="k" * 32, always_read=True))
    assert storage.always_read is True
    storage.save("wf", "x", 1)
    unsigned = FileStorage(tmp_path)
    with pytest.raises(ff.StorageIntegrityError):  # signed there, with the key
        unsigned.read_task("wf", "x")


def test_a_resource_no_machine_has_is_refused_rather_than_waited_for(tmp_path: Path) -> None:
    storage = RayFileStorage(tmp_path, {"resources": {"no_such_disk": 0.001}})
    with pytest.raises(ff.ConfigurationError, match=r"no_such_disk.*wait forever"):
        storage.list_tasks("wf")


# -- the storage contract, from the driver -------------------------------------------------


def test_the_contract_from_the_driver(tmp_path: Path) -> None:
    storage = ff.storage_factory(config(tmp_path))
    storage.new_workflow("wf")
    storage.save("wf", "a, first", {"x": 1})
    storage.save("wf", "b second", [2])
    assert storage.list_tasks("wf") == ["a, first", "b second"]
    assert storage.list_tasks(workflow_name="wf", pattern="a*") == ["a, first"]
    assert storage.read_task(workflow_name="wf", task_name="a, first") == {"x": 1}
    assert storage.file_exists("wf", "b second")
    with pytest.raises(FileNotFoundError, match="'nothing'"):
        storage.read_task("wf", "nothing")
    storage.remove_task("wf", pattern="a*")
    assert storage.list_tasks("wf") == ["b second"]
    storage.remove_workflow("wf")
    assert storage.list_tasks("wf") == []
    assert os.listdir(tmp_path) == []


def test_storage_calls_from_the_driver_run_on_the_storage_machine(tmp_path: Path) -> None:
    placed = RayFileStorage(Recorder(tmp_path), PINNED)
    placed.save("wf", "x", 1)
    assert placed.read_task("wf", "x") == 1
    assert {line.split()[0] for line in Recorder.lines(tmp_path)} == {"storage_disk"}


def test_only_tasks_placed_where_the_remote_args_say_run_calls_in_place() -> None:
    @ray.remote
    def here(remote_args: dict[str, Any]) -> bool:
        return _runs_here(remote_args)

    assert not _runs_here(PINNED)  # the driver always sends a task
    assert ray.get(here.options(**PINNED).remote(PINNED))
    assert not ray.get(here.remote(PINNED))
    assert ray.get(here.remote({}))
    assert ray.get(here.options(resources={"gadget": 1}).remote({"num_cpus": 1}))


# -- in a workflow ---------------------------------------------------------------------------


class Recorder(FileStorage):
    """A file storage noting, for each save and read, the custom resources its process
    holds and the Ray task it runs in (``record.log`` beside the results)."""

    __slots__ = ()

    def _note(self, what: str) -> None:
        context = ray.get_runtime_context()
        held = sorted(k for k in context.get_assigned_resources() if k not in ("CPU", "GPU"))
        with open(os.path.join(self.url, "record.log"), "a") as log:
            log.write(f"{','.join(held) or '-'} {context.get_task_name()} {what}\n")

    def save(self, workflow_name: str, task_name: str, obj: object, **options: Any) -> None:  # type: ignore[override]
        self._note(f"save:{task_name}")
        super().save(workflow_name, task_name, obj, **options)

    def read_task(self, workflow_name: str, task_name: str, **options: Any) -> Any:  # type: ignore[override]
        self._note(f"read:{task_name}")
        return super().read_task(workflow_name, task_name, **options)

    @staticmethod
    def lines(folder: Path) -> list[str]:
        return (folder / "record.log").read_text().splitlines()


@workflow
def numbers(counter: Counter, n: int) -> list[int]:
    counter.hit("numbers")
    return list(range(n))


@workflow
def total(counter: Counter, values: list[int]) -> int:
    counter.hit("total")
    return sum(values)


def test_a_workflow_saves_where_the_storage_lives_and_resumes(tmp_path: Path) -> None:
    counter = Counter(tmp_path)
    store = tmp_path / "store"
    store.mkdir()

    def run() -> Any:
        first = numbers(counter, 4).set_name("numbers, first")
        wf = RayWorkflow(total(counter, first).set_name("total"), workflow_name="placed")
        wf.set_storage(RayFileStorage(Recorder(store), PINNED))
        return wf.run()

    assert run() == 6
    saves = [line for line in Recorder.lines(store) if " save:" in line]
    assert len(saves) == 2
    # Saved by the workflow's own pinned save tasks, in place: no task within a task.
    assert all(line.startswith("storage_disk save_pinned ") for line in saves), saves
    assert counter.counts() == {"numbers": 1, "total": 1}

    counter.clear()
    assert run() == 6  # the result, read on the storage machine
    assert counter.counts() == {}
    reads = [line for line in Recorder.lines(store) if " read:" in line]
    assert reads
    assert all(line.startswith("storage_disk ") for line in reads), reads
    assert not [line for line in reads if " _run_method " in line], reads  # in place


def test_a_ray_storage_and_storage_resource_together_are_refused(tmp_path: Path) -> None:
    counter = Counter(tmp_path)
    wf = RayWorkflow(numbers(counter, 1), workflow_name="twice", storage_resource="storage_disk")
    wf.set_storage(config(tmp_path / "store"))
    with pytest.raises(ff.ConfigurationError, match="keep one"):
        wf.run()
    assert counter.counts() == {}


# -- reading results back from a plain Python session ----------------------------------------

NOTEBOOK = """
import json, sys
import ray
from functionfuse import storage_factory

assert not ray.is_initialized()
storage = storage_factory({
    "kind": "ray",
    "options": {
        "rayInitArgs": {"address": sys.argv[1], "logging_level": "ERROR"},
        "remoteArgs": {"resources": {"storage_disk": 0.001}},
        "path": sys.argv[2],
    },
})
names = storage.list_tasks(workflow_name="placed", pattern="*")
value = storage.read_task(workflow_name="placed", task_name="numbers, first")
print("RESULT " + json.dumps([names, value, ray.is_initialized()]))
"""


def run_session(code: str, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=dict(os.environ),  # the session's Ray token and settings
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise AssertionError(f"exit {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")


def test_a_plain_session_reads_results_back_with_ray_init_args(tmp_path: Path) -> None:
    counter = Counter(tmp_path)
    wf = RayWorkflow(numbers(counter, 3).set_name("numbers, first"), workflow_name="placed")
    wf.set_storage(config(tmp_path / "store"))
    wf.run()
    address = ray.get_runtime_context().gcs_address
    names, value, connected = run_session(NOTEBOOK, address, str(tmp_path / "store"))
    assert names == ["numbers, first"]
    assert value == [0, 1, 2]
    assert connected


# -- the storage conformance kit --------------------------------------------------------------


class TestRayFileStorage(StorageTests):
    """Every promise of a storage, kept through Ray calls to the storage machine; other
    processes reach it by joining the session's Ray with ``ray_init_args``."""

    machine_examples = 5
    large_size = 4 * 2**20

    def make_storage(self, tmp_path: Path) -> RayFileStorage:
        return RayFileStorage(tmp_path / "store", PINNED, ray_init_args=self.join())

    def make_signed_storage(self, tmp_path: Path, key: bytes) -> RayFileStorage:
        return RayFileStorage(
            tmp_path / "store", PINNED, ray_init_args=self.join(), signing_key=key
        )

    @staticmethod
    def join() -> dict[str, Any]:
        return {"address": ray.get_runtime_context().gcs_address, "logging_level": "ERROR"}
