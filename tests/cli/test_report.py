"""The run report without a browser: its layout, the page's text, and `fuse run --report`
arguments. What the page shows is tested in Chromium (test_report_browser.py)."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from functionfuse_cli import write_report
from functionfuse_cli._report import report_html
from functionfuse_cli._report_layout import GROUP_THRESHOLD, layout

from .conftest import Fuse
from .report_records import large_record, node, record, sample_record


def embedded(page: str) -> Any:
    match = re.search(r'<script type="application/json" id="ff-data">(.*?)</script>', page, re.S)
    assert match is not None
    return json.loads(match.group(1))


def test_the_page_embeds_the_record_and_its_layout(tmp_path: Path) -> None:
    run = sample_record()
    write_report(run, tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text("utf-8")
    data = embedded(page)
    assert data["record"] == run
    assert data["layout"] == layout(run["nodes"])
    assert "<title>experiment · run 20261203T153012Z-3f2a1b · functionfuse</title>" in page
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary left


def test_the_page_fetches_nothing() -> None:
    page = report_html(sample_record())
    assert not re.search(r"""(src|href)\s*=|@import|url\(|https?://|<link""", page)
    assert "Content-Security-Policy\" content=\"default-src 'none';" in page
    assert page.count("<script") == 2  # the data and the inlined script, nothing loaded


def test_record_text_cannot_end_the_data_element() -> None:
    hostile = "</script><script>alert(1)</script><!-- \u2028"
    run = record([node("a", error=hostile, result_repr=hostile, function="m.</SCRIPT>")])
    page = report_html(run)
    data_part = page.split('id="ff-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data_part
    assert embedded(page)["record"] == run  # and it reads back exactly


def test_a_value_json_cannot_hold_does_not_break_the_page() -> None:
    run = record([node("a", start=float("nan"), end=float("inf"), size=3)])
    page = report_html(run)
    data = embedded(page)
    assert data["record"]["nodes"][0]["start"] is None
    assert data["record"]["nodes"][0]["end"] is None
    text = page.split('id="ff-data">', 1)[1].split("</script>", 1)[0]
    assert "NaN" not in text  # json.loads reads NaN, JSON.parse does not
    assert "Infinity" not in text


def test_what_is_not_a_run_record_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="a run record is a dict, not list"):
        write_report([], tmp_path / "r.html")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"its 'format' is 'other/1'.*read_run"):
        write_report({"format": "other/1", "nodes": []}, tmp_path / "r.html")
    with pytest.raises(ValueError, match="'nodes' is not a list of nodes"):
        write_report(record([{"status": "ran"}]), tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []
    # a later format version only adds keys: drawn as far as it is understood
    write_report(record([node("a", new_key=1)], format="functionfuse-run/2"), tmp_path / "r.html")


def test_layers_are_longest_paths_and_method_calls_are_dashed() -> None:
    run = sample_record()
    lay = layout(run["nodes"])
    names = [n["name"] for n in run["nodes"]]

    def item(name: str) -> int:
        return lay["node_item"][names.index(name)]

    def column(name: str) -> int:
        return lay["x"][item(name)]

    # load -> clean -> fit -> predict -> score/evaluate -> summary -> plot -> publish
    assert column("load") < column("clean") < column("fit") < column("predict")
    assert column("predict") < column("evaluate") < column("plot") < column("publish")
    assert column("summary") > column("score_0")
    edges = {tuple(lay["edges"][k : k + 3]) for k in range(0, len(lay["edges"]), 3)}
    assert (item("model"), item("fit"), 1) in edges  # the call order: dashed
    assert (item("fit"), item("predict"), 1) in edges
    assert (item("clean"), item("fit"), 0) in edges  # data: solid
    assert (item("evaluate"), item("plot"), 0) in edges


def test_method_calls_chain_in_call_order_whatever_instance_names() -> None:
    # dashed: class node -> first call -> next call, however the record says it
    chain = {(0, 2, 1), (1, 2, 0), (2, 3, 1), (1, 3, 0)}
    for second_on, fit_parents, predict_parents in [
        ("model", ["model", "x"], ["fit", "x"]),  # as the core records them
        ("model", ["x"], ["x"]),  # the chain from the instance alone
        ("fit", ["x"], ["x"]),  # instance: the previous call
    ]:
        nodes = [
            node("model", kind="class"),
            node("x"),
            node("fit", kind="method", parents=fit_parents, instance="model"),
            node("predict", kind="method", parents=predict_parents, instance=second_on),
        ]
        edges = layout(nodes)["edges"]
        assert {tuple(edges[k : k + 3]) for k in range(0, len(edges), 3)} == chain


def test_a_large_fan_out_is_one_group_and_a_small_one_is_not() -> None:
    def fan(count: int) -> list[dict[str, Any]]:
        nodes = [node("data")]
        nodes += [node(f"f_{k}", function="m.f", parents=["data"]) for k in range(count)]
        return [*nodes, node("join", parents=[f"f_{k}" for k in range(count)])]

    big = layout(fan(GROUP_THRESHOLD + 1))
    assert big["label"] == ["data", f"f \u00d7{GROUP_THRESHOLD + 1}", "join"]
    assert big["members"][1] == list(range(1, GROUP_THRESHOLD + 2))
    assert big["edges"] == [0, 1, 0, 1, 2, 0]
    small = layout(fan(GROUP_THRESHOLD))
    assert len(small["label"]) == GROUP_THRESHOLD + 2
    # another child sets f_0 apart: GROUP_THRESHOLD alike are left, too few to group
    nodes = fan(GROUP_THRESHOLD + 1)
    nodes.append(node("odd_one_out", parents=["f_0"]))
    assert len(layout(nodes)["label"]) == len(nodes)


def test_items_of_a_layer_never_overlap_and_layout_is_deterministic() -> None:
    run = large_record(1000)
    lay = layout(run["nodes"])
    assert lay == layout(json.loads(json.dumps(run))["nodes"])
    columns: dict[int, list[tuple[int, int]]] = {}
    for i in range(len(lay["label"])):
        columns.setdefault(lay["x"][i], []).append((lay["y"][i], lay["h"][i]))
    for spans in columns.values():
        spans.sort()
        for (top, height), (next_top, _) in itertools.pairwise(spans):
            assert top + height < next_top
    assert sorted(set(lay["node_item"])) == list(range(len(lay["label"])))
    assert lay["height"] == max(y + h for y, h in zip(lay["y"], lay["h"], strict=True))


def test_run_report_path_is_checked_before_the_run(
    fuse: Fuse, flow: Path, tmp_path: Path, ran: Any
) -> None:
    for path, problem in (("nowhere/r.html", "there is no folder 'nowhere'"), (".", "is a folder")):
        done = fuse("run", "flow.py", "--report", path)
        assert done.returncode == 2, done.stderr
        assert f"--report {path}: {problem}; give the path of an HTML file" in done.stderr
        done = fuse("report", "storage", "flow", "-o", path)
        assert done.returncode == 2, done.stderr
        assert f"-o {path}: {problem}; give the path of an HTML file" in done.stderr
    assert ran() == []
    assert not (tmp_path / "storage").exists()


def test_a_workflow_named_like_a_marker_does_not_break_the_page() -> None:
    name = "w __DATA__ __JS__ __CSS__ __TITLE__"
    run = {**sample_record(), "workflow": name}
    page = report_html(run)
    assert embedded(page)["record"] == run
    assert page.count("<script") == 2
    assert f"<title>{name} · run" in page
