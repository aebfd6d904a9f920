"""`fuse run --report` and `fuse report` on real runs: records made by the core
(``functionfuse.run_records`` and ``wf.last_run_record``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .conftest import FAILING, Fuse, write
from .report_page import details


def embedded_record(path: Path) -> dict[str, Any]:
    page = path.read_text("utf-8")
    match = re.search(r'<script type="application/json" id="ff-data">(.*?)</script>', page, re.S)
    assert match is not None
    return json.loads(match.group(1))["record"]  # type: ignore[no-any-return]


def statuses(record: dict[str, Any]) -> dict[str, str]:
    return {node["name"]: node["status"] for node in record["nodes"]}


def test_a_failed_run_writes_its_report(
    fuse: Fuse, tmp_path: Path, open_page: Callable[[Path], Any]
) -> None:
    write(tmp_path / "failing.py", FAILING)
    done = fuse("run", "failing.py", "--storage", "storage", "--report", "report.html")
    assert done.returncode == 1, done.stderr
    assert "report written to report.html" in done.stderr
    record = embedded_record(tmp_path / "report.html")
    assert record["state"] == "failed"
    assert statuses(record) == {"first": "ran", "broken": "failed"}

    page = open_page(tmp_path / "report.html")
    assert page.locator("#totals [data-key=failed] dd").inner_text() == "1"
    page.evaluate("functionfuseReport.select('broken')")
    text = details(page)
    assert "ValueError: boom 1" in text
    assert "Traceback (most recent call last)" in text


def test_fuse_report_reads_the_newest_run_or_the_one_asked_for(fuse: Fuse, flow: Path) -> None:
    for _ in range(2):
        done = fuse("run", "flow.py", "--storage", "storage", "--name", "exp", "--quiet")
        assert done.returncode == 0, done.stderr
    done = fuse("report", "storage", "exp", "-o", "newest.html")
    assert done.returncode == 0, done.stderr
    newest = embedded_record(flow.parent / "newest.html")
    assert set(statuses(newest).values()) == {"stored"}
    assert f"wrote newest.html (run {newest['run_id']}, 2 nodes)" in done.stdout

    from functionfuse.run_records import list_runs

    first = list_runs(str(flow.parent / "storage"), "exp")[-1]["run_id"]
    done = fuse("report", "storage", "exp", "--run", first, "-o", "first.html")
    assert done.returncode == 0, done.stderr
    assert set(statuses(embedded_record(flow.parent / "first.html")).values()) == {"ran"}


def test_fuse_report_without_recorded_runs_says_so(fuse: Fuse, tmp_path: Path) -> None:
    (tmp_path / "storage").mkdir()
    done = fuse("report", "storage", "nothing", "-o", "r.html")
    assert done.returncode == 1
    assert "no runs recorded for workflow 'nothing'" in done.stderr
    assert not (tmp_path / "r.html").exists()


def test_write_report_from_a_local_runs_record(tmp_path: Path) -> None:
    from functionfuse import workflow
    from functionfuse_cli import write_report
    from functionfuse_local import LocalWorkflow

    @workflow
    def double(x: int) -> int:
        return 2 * x

    wf = LocalWorkflow(double(double(1).set_name("a")).set_name("b"), workflow_name="w")
    assert wf.run() == 4
    write_report(wf.last_run_record, tmp_path / "r.html")
    assert statuses(embedded_record(tmp_path / "r.html")) == {"a": "ran", "b": "ran"}
