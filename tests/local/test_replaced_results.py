"""A stored result replaced by another run during this one is never used (issue 20, 1).

Two processes with different versions of ``source`` share a storage. Process A (v1)
plans "``source`` is up to date"; before A reads it, process B (v2) runs and overwrites
``source``. A must not compute ``derive`` from B's value and stamp it as v1's: every
read checks that the stored fingerprint is still the one the plan decided on.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import functionfuse as ff
from functionfuse_fs import FileStorage
from functionfuse_local import LocalWorkflow

PIPELINE = """
from functionfuse import workflow

@workflow
def source():
    return "{version}"

@workflow
def derive(value):
    return "derived(" + value + ")"

@workflow
def other():
    return "other"

def build():
    return derive(source().set_name("source")).set_name("derive")
"""

RUN_B = """
import sys
sys.path.insert(0, sys.argv[1])
import pipeline
from functionfuse_local import LocalWorkflow
wf = LocalWorkflow(pipeline.build(), workflow_name="wf")
wf.set_storage({"kind": "file", "options": {"path": sys.argv[2]}})
print(wf.run())
"""


def _module(folder: Path, version: str, name: str) -> ModuleType:
    folder.mkdir()
    path = folder / "pipeline.py"
    path.write_text(textwrap.dedent(PIPELINE.format(version=version)))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_b(tmp_path: Path, storage_path: Path) -> None:
    """Process B: the v2 pipeline, run to the end on the same storage."""
    folder = tmp_path / "v2"
    if not folder.exists():
        _module(folder, "v2", "pipeline_v2_probe")
    done = subprocess.run(
        [sys.executable, "-c", RUN_B, str(folder), str(storage_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "derived(v2)"


class _WhenRead:
    """Runs ``action`` once, when the run reports ``node`` as taken from storage."""

    def __init__(self, node: str, action: Any) -> None:
        self.node = node
        self.action = action
        self.started: list[str] = []

    @ff.hookimpl
    def functionfuse_node_start(self, node_name: str) -> None:
        self.started.append(node_name)

    @ff.hookimpl
    def functionfuse_node_finish(self, node_name: str, from_storage: bool) -> None:
        if node_name == self.node and from_storage and self.action is not None:
            action, self.action = self.action, None
            action()


@pytest.fixture
def v1(tmp_path: Path) -> ModuleType:
    return _module(tmp_path / "v1", "v1", "pipeline_v1_probe")


def _workflow(storage: FileStorage, *nodes: Any) -> LocalWorkflow:
    wf = LocalWorkflow(*nodes, workflow_name="wf")
    wf.set_storage(storage)
    return wf


def _hooked(hook: _WhenRead) -> Any:
    manager = ff.get_plugin_manager()
    manager.register(hook)
    return manager


def test_a_parent_replaced_by_another_version_runs_again(tmp_path: Path, v1: ModuleType) -> None:
    path = tmp_path / "storage"
    storage = FileStorage(path)
    assert _workflow(storage, v1.build()).run() == ("derived(v1)")
    storage.remove_task("wf", "derive")  # derive runs next time, reading source

    hook = _WhenRead("source", lambda: _run_b(tmp_path, path))
    manager = _hooked(hook)
    try:
        with pytest.warns(ff.FunctionFuseWarning, match=r"'source'.*another fingerprint"):
            result = _workflow(storage, v1.build()).run()
    finally:
        manager.unregister(hook)
    assert result == "derived(v1)"
    assert sorted(hook.started) == ["derive", "source"]  # source ran again: B's is not v1's
    assert storage.read_task("wf", "source") == "v1"

    # A later v1 run serves v1's results, never a mix.
    again = _WhenRead("", None)
    manager = _hooked(again)
    try:
        assert _workflow(storage, v1.build()).run() == ("derived(v1)")
    finally:
        manager.unregister(again)
    assert again.started == []


def test_a_leaf_replaced_by_another_version_runs_again(tmp_path: Path, v1: ModuleType) -> None:
    """The results ``run()`` returns are read with the same check."""
    path = tmp_path / "storage"
    storage = FileStorage(path)
    source = v1.source().set_name("source")
    later = v1.other().set_name("later")
    _workflow(storage, source, later).run()
    storage.remove_task("wf", "later")
    other_storage = FileStorage(path)
    stamp = b"ff1:" + bytes(64)  # what another version would have saved

    def replace() -> None:
        other_storage.save("wf", "source", "v2", fingerprint=stamp)

    hook = _WhenRead("source", replace)
    manager = _hooked(hook)
    try:
        with pytest.warns(ff.FunctionFuseWarning, match="another fingerprint"):
            results = _workflow(storage, source, later).run()
    finally:
        manager.unregister(hook)
    assert results == ["v1", "other"]
    assert storage.read_task("wf", "source") == "v1"


def test_resume_by_name_reads_whatever_is_stored(tmp_path: Path, v1: ModuleType) -> None:
    """``resume="name"`` asks for exactly that: no fingerprint check on reads."""
    storage = FileStorage(tmp_path / "storage")
    _workflow(storage, v1.build()).run()
    storage.save("wf", "source", "v2", fingerprint=b"ff1:" + bytes(64))
    storage.remove_task("wf", "derive")
    wf = _workflow(storage, v1.build())
    assert wf.run(resume="name") == "derived(v2)"


class _ReplacedAfterSave(FileStorage):
    """A real file storage where another writer replaces ``source`` right after each of
    this storage's first ``times`` saves of it (the window an always_read re-read has)."""

    __slots__ = ()
    times = 1

    def save(self, workflow_name: str, task_name: str, obj: object, **options: Any) -> None:
        super().save(workflow_name, task_name, obj, **options)
        if task_name == "source" and type(self).times > 0:
            type(self).times -= 1
            FileStorage.save(self, workflow_name, task_name, "v2", fingerprint=b"ff1:" + bytes(64))


def test_always_read_never_returns_another_runs_value(tmp_path: Path, v1: ModuleType) -> None:
    _ReplacedAfterSave.times = 1
    storage = _ReplacedAfterSave(tmp_path / "storage", always_read=True)
    assert _workflow(storage, v1.build()).run() == ("derived(v1)")
    assert FileStorage(tmp_path / "storage").read_task("wf", "source") == "v1"


def test_always_read_replaced_every_time_fails_the_node(tmp_path: Path, v1: ModuleType) -> None:
    _ReplacedAfterSave.times = 2
    storage = _ReplacedAfterSave(tmp_path / "storage", always_read=True)
    wf = _workflow(storage, v1.build())
    with pytest.raises(ff.NodeExecutionError, match="'source'") as caught:
        wf.run()
    assert isinstance(caught.value.__cause__, ff.StaleResultError)


def test_read_task_checks_the_fingerprint_before_unpickling(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path / "storage")
    storage.save("wf", "t", 1, fingerprint=b"mine")
    assert storage.read_task("wf", "t", fingerprint=b"mine") == 1
    assert storage.read_task("wf", "t") == 1
    with pytest.raises(ff.StaleResultError, match=r"'t'.*another fingerprint"):
        storage.read_task("wf", "t", fingerprint=b"theirs")
