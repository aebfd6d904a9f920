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
        self.causes: dict[str, list[ff.RerunReason]] = {}

    def clear(self) -> None:
        self.started.clear()
        self.reruns.clear()
        self.causes.clear()

    @ff.hookimpl
    def functionfuse_node_start(self, node_name: str) -> None:
        self.started[node_name] += 1

    @ff.hookimpl
    def functionfuse_node_rerun(
        self, node_name: str, reasons: list[str], causes: list[ff.RerunReason]
    ) -> None:
        assert node_name not in self.reruns, "one report per node and run"
        assert len(causes) == len(reasons), (reasons, causes)  # one cause per reason
        pairs = zip(reasons, causes, strict=True)
        assert all(cause is ff.RerunReason.of(reason) for reason, cause in pairs), (reasons, causes)
        self.reruns[node_name] = list(reasons)
        self.causes[node_name] = list(causes)


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
