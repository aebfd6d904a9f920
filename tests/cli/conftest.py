"""Fixtures of the command-line tests: `fuse` in a subprocess, and a workflow file.

Every test runs `python -m functionfuse_cli` (the `fuse` script runs the same
``main``) in a fresh interpreter, in its own temporary folder, so nothing of one run
(sys.modules, sys.path, hook plugins) can leak into the next.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

Fuse = Callable[..., subprocess.CompletedProcess[str]]

#: A small workflow; every node that runs appends its name to $FLOW_LOG.
FLOW = """
import os
import random

from functionfuse import workflow


def log(name):
    path = os.environ.get("FLOW_LOG")
    if path:
        with open(path, "a") as file:
            file.write(name + "\\n")


@workflow
def load(n):
    log("load")
    return list(range(n))


@workflow
def total(numbers):
    log("total")
    return sum(numbers)


@workflow
def draw():
    log("draw")
    return random.randrange(10**9)


data = load(int(os.environ.get("FLOW_N", "4"))).set_name("data")
result = total(data).set_name("total")


def build():
    return [result, draw().set_name("draw")]


if __name__ == "__main__":
    raise SystemExit("the __main__ block ran")
"""

FAILING = """
from functionfuse import workflow


@workflow
def first():
    return 1


@workflow
def broken(x):
    raise ValueError(f"boom {x}")


end = broken(first().set_name("first")).set_name("broken")
"""


@pytest.fixture
def fuse(tmp_path: Path) -> Fuse:
    """Run ``fuse ARGS...`` in ``tmp_path`` (or ``cwd``); returns the finished process.

    ``env`` adds variables to the environment; a variable set to None is removed.
    """

    def run(
        *args: str,
        cwd: Path | None = None,
        env: Mapping[str, str | None] | None = None,
        stdin: int | None = subprocess.DEVNULL,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        environment = dict(os.environ)
        environment.pop("FUNCTIONFUSE_DISABLE_PLUGIN_AUTOLOAD", None)
        environment["FLOW_LOG"] = str(tmp_path / "ran.log")
        environment["COLUMNS"] = "200"
        for key, value in (env or {}).items():  # None: remove the variable
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        return subprocess.run(
            [sys.executable, "-m", "functionfuse_cli", *args],
            cwd=cwd or tmp_path,
            env=environment,
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    """``flow.py`` in the test's folder (see FLOW)."""
    path = tmp_path / "flow.py"
    path.write_text(FLOW)
    return path


@pytest.fixture
def ran(tmp_path: Path) -> Callable[[], list[str]]:
    """The nodes that ran since the last call (read from and then clearing $FLOW_LOG)."""
    log = tmp_path / "ran.log"

    def read() -> list[str]:
        if not log.exists():
            return []
        names = log.read_text().split()
        log.unlink()
        return names

    return read


def write(path: Path, text: str) -> Path:
    """Write dedented ``text`` to ``path`` (parents created); return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="module")
def browser(
    tmp_path_factory: pytest.TempPathFactory, require_program: Callable[[str, str], str]
) -> Iterator[Any]:
    """One headless Chromium (Debian's, driven by Playwright) for a module's tests, on a
    fresh profile; it refuses every request that is not for a file (see report_page)."""
    from playwright.sync_api import sync_playwright

    from .report_page import CHROMIUM_ARGS, Browser

    chromium = require_program("chromium", "chromium")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            yield Browser(context)
        finally:
            context.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[[Path], Any]]:
    """``open_page(path)``: a report file opened in Chromium, once it is drawn. At the end
    of the test: no script error, and no request but for the page's own file."""
    pages: list[Any] = []
    errors: list[str] = []
    requests: list[str] = []

    def open_(path: Path) -> Any:
        page = browser.context.new_page()
        pages.append(page)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(path.resolve().as_uri())
        # a selector, not a JS predicate: the page's CSP forbids the eval() that polls one
        page.wait_for_selector("html[data-ready=true]", state="attached", timeout=120_000)
        return page

    yield open_
    for page in pages:
        page.close()
    assert errors == []
    assert all(url.startswith("file:") for url in requests), requests
    assert browser.outside_requests == []
