"""Reading the run report in Chromium: what the tests see of a page (colours on screen,
a node's box, the details panel's text). The browser itself is the ``browser`` and
``open_page`` fixtures of tests/cli/conftest.py."""

from __future__ import annotations

import io
import re
from typing import Any

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: The page's colours by status (report.js STATUS): what a user sees and the legend shows.
COLOURS = {
    "ran": (0x37, 0xB2, 0x4D),
    "stored": (0x74, 0xA9, 0xCF),
    "reran": (0xF5, 0x9F, 0x00),
    "failed": (0xE0, 0x31, 0x31),
    "blocked": (0x86, 0x8E, 0x96),
    "not_saved": (0x97, 0x75, 0xFA),
}


class Browser:
    """A Chromium context on a fresh profile that refuses, and remembers, every request
    that is not for a file."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.outside_requests: list[str] = []
        context.route(re.compile(r"^(?!file:|data:|about:|blob:)"), self._refuse)

    def _refuse(self, route: Any) -> None:
        self.outside_requests.append(route.request.url)
        route.abort()


def pixel(page: Any, x: float, y: float) -> tuple[int, int, int]:
    """The colour the screen shows at (x, y): read from a screenshot, as a user sees it."""
    from PIL import Image

    shot = page.screenshot(clip={"x": round(x), "y": round(y), "width": 1, "height": 1})
    return Image.open(io.BytesIO(shot)).convert("RGB").getpixel((0, 0))  # type: ignore[no-any-return]


def close_to(colour: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 4 for a, b in zip(colour, expected, strict=True))


def until(page: Any, expression: str, seconds: float = 30) -> None:
    """Wait until ``expression`` is true in the page. Not wait_for_function: its polling
    evaluates a string, which the page's Content-Security-Policy forbids."""
    import time

    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {seconds} s: {expression}"
        page.wait_for_timeout(20)


def box(page: Any, name: str) -> dict[str, float]:
    found = page.evaluate("(name) => window.functionfuseReport.boxOf(name)", name)
    assert found is not None, name
    return found  # type: ignore[no-any-return]


def details(page: Any) -> str:
    """The details panel's text as a user reads it: one line per field, label then value."""
    text = page.locator("#details").inner_text()
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())
