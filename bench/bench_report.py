"""Run report: the cost of writing the page and of opening it in headless Chromium.

    uv run python bench/bench_report.py [--quick] [--screenshot docs/report.png]

For run records of 1,000 and 10,000 nodes (tests/cli/report_records.py's large_record:
rows of four nodes, nothing summarized, the worst case for drawing), side by side: the
layout and the whole write_report in Python, the page's size, then in Chromium (Debian's
``chromium``, driven by Playwright) the time from navigation to DOMContentLoaded and to
the first drawn frame, one redraw after a pan, and a regex search. The target: a
10,000-node page drawn within ~3 s. ``--screenshot`` saves the README's picture of the
sample run's page (a failed node selected).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "cli"))  # the tests' record makers and browser flags

from report_page import CHROMIUM_ARGS  # noqa: E402
from report_records import large_record, sample_record  # noqa: E402

from functionfuse_cli import write_report  # noqa: E402
from functionfuse_cli._report_layout import layout  # noqa: E402


def best_of(repeat: int, work: Any) -> float:
    """The fastest of ``repeat`` runs of ``work()``, in ms."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


def open_page(context: Any, path: Path) -> dict[str, float]:
    """Open the page; times in ms: navigation → DOMContentLoaded, → drawn; a pan's
    redraw; a regex search."""
    page = context.new_page()
    started = time.perf_counter()
    page.goto(path.as_uri(), wait_until="commit")
    page.wait_for_selector("html[data-ready=true]", state="attached")  # CSP: no eval
    wall = (time.perf_counter() - started) * 1000
    got = page.evaluate(
        """() => {
          const r = window.functionfuseReport;
          const nav = performance.getEntriesByType('navigation')[0];
          const t0 = performance.now();
          const found = r.search('/^check_\\\\d*7$/');
          return {dcl: nav.domContentLoadedEventEnd, drawn: r.timings.drawn,
                  search: performance.now() - t0, found: found.length};
        }"""
    )
    frames = page.evaluate("window.functionfuseReport.frames")
    page.evaluate("window.functionfuseReport.select('fit_1')")  # pans there: a new frame
    while page.evaluate("window.functionfuseReport.frames") == frames:
        page.wait_for_timeout(5)
    got["redraw"] = page.evaluate("window.functionfuseReport.timings.lastFrameMs")
    frames = page.evaluate("window.functionfuseReport.frames")
    page.click("#zoom-fit")  # the whole graph: every node in one frame
    while page.evaluate("window.functionfuseReport.frames") == frames:
        page.wait_for_timeout(5)
    got["redraw_all"] = page.evaluate("window.functionfuseReport.timings.lastFrameMs")
    assert page.evaluate("window.functionfuseReport.drawnItems") == got_items(page)
    got["wall"] = wall
    page.close()
    return got  # type: ignore[no-any-return]


def got_items(page: Any) -> int:
    return page.evaluate("window.functionfuseReport.items")  # type: ignore[no-any-return]


def screenshot(context: Any, path: Path, folder: Path) -> None:
    page_file = folder / "sample.html"
    write_report(sample_record(), page_file)
    page = context.new_page()
    page.set_viewport_size({"width": 1400, "height": 860})
    page.goto(page_file.as_uri())
    page.wait_for_selector("html[data-ready=true]", state="attached")  # CSP: no eval
    page.evaluate("window.functionfuseReport.select('evaluate')")
    page.wait_for_timeout(100)
    page.screenshot(path=str(path))
    page.close()
    print(f"screenshot: {path} ({path.stat().st_size // 1024} KB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--screenshot", type=Path, help="save the README's picture here")
    args = parser.parse_args()
    repeat = 1 if args.quick else 3

    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        folder = Path(tmp)
        context = playwright.chromium.launch_persistent_context(
            str(folder / "profile"),
            executable_path="/usr/bin/chromium",
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            for count in (1_000, 10_000):
                run = large_record(count)
                page_file = folder / f"report-{count}.html"
                lay_ms = best_of(repeat, lambda run=run: layout(run["nodes"]))
                write_ms = best_of(repeat, lambda run=run, f=page_file: write_report(run, f))
                loads = [open_page(context, page_file) for _ in range(repeat)]
                best = min(loads, key=lambda load: load["drawn"])
                rows.append(
                    (
                        count,
                        lay_ms,
                        write_ms,
                        page_file.stat().st_size / 1e6,
                        best["dcl"],
                        best["drawn"],
                        statistics.median(load["wall"] for load in loads),
                        best["redraw"],
                        best["redraw_all"],
                        best["search"],
                    )
                )
            if args.screenshot is not None:
                screenshot(context, args.screenshot, folder)
        finally:
            context.close()

    head = (
        f"{'nodes':>7} {'layout':>9} {'write':>9} {'page':>8} {'DCL':>9} {'drawn':>9} "
        f"{'open':>9} {'redraw':>8} {'all':>8} {'search':>8}"
    )
    print("run report: Python (write_report) and Chromium (open), ms; page in MB")
    print(head)
    for count, lay_ms, write_ms, mb, dcl, drawn, wall, redraw, redraw_all, search in rows:
        print(
            f"{count:>7,} {lay_ms:>9.1f} {write_ms:>9.1f} {mb:>8.2f} {dcl:>9.1f} {drawn:>9.1f} "
            f"{wall:>9.1f} {redraw:>8.1f} {redraw_all:>8.1f} {search:>8.1f}"
        )
    print(
        "DCL / drawn: from navigation start, in the page; open: goto() until drawn, seen "
        "from Python; redraw: one frame zoomed in on a node, all: one frame of the whole "
        "graph (Fit); target: drawn < 3000 ms at 10,000 nodes"
    )


if __name__ == "__main__":
    main()
