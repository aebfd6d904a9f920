"""What the lineage tests share: a hook recorder and a file storage in the test's folder."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import functionfuse as ff


class Reports:
    """What the hooks hear: the nodes that start, and each rerun with its reasons."""

    def __init__(self) -> None:
        self.started: Counter[str] = Counter()
        self.reruns: dict[str, list[str]] = {}

    def clear(self) -> None:
        self.started.clear()
        self.reruns.clear()

    @ff.hookimpl
    def functionfuse_node_start(self, node_name: str) -> None:
        self.started[node_name] += 1

    @ff.hookimpl
    def functionfuse_node_rerun(self, node_name: str, reasons: list[str]) -> None:
        assert node_name not in self.reruns, "one report per node and run"
        self.reruns[node_name] = list(reasons)


@pytest.fixture
def reports() -> Iterator[Reports]:
    recorder = Reports()
    manager = ff.get_plugin_manager()
    manager.register(recorder)
    try:
        yield recorder
    finally:
        manager.unregister(recorder)


@pytest.fixture
def storage(tmp_path: Path) -> Any:
    return ff.storage_factory({"kind": "file", "options": {"path": str(tmp_path / "storage")}})
