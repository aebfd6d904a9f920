"""``fuse graph``: the graph of a TARGET as Mermaid or DOT text, or SVG/PNG via Graphviz."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Final

from functionfuse_cli._errors import EXIT_FAILED, EXIT_OK, Failure

__all__ = ["GRAPHVIZ_HELP", "graph"]

_SUFFIXES: Final = {".mmd": "mermaid", ".mermaid": "mermaid", ".dot": "dot", ".gv": "dot"}

GRAPHVIZ_HELP: Final = (
    "Install Graphviz (apt install graphviz, brew install graphviz, or see "
    "https://graphviz.org/download/), or write DOT text with --format dot (or Mermaid "
    "with --format mermaid) and render it elsewhere."
)


def graph(args: argparse.Namespace) -> int:
    from functionfuse_cli._render import GRAPHVIZ_FORMATS, drawing, to_dot, to_mermaid
    from functionfuse_cli._target import load_target

    fmt: str | None = args.format
    if fmt is None and args.output:
        suffix = os.path.splitext(args.output)[1].lower()
        fmt = _SUFFIXES.get(suffix) or (suffix[1:] if suffix[1:] in GRAPHVIZ_FORMATS else None)
    fmt = fmt or "mermaid"
    dot_program = None
    if fmt in GRAPHVIZ_FORMATS:
        import shutil

        dot_program = shutil.which("dot")
        if dot_program is None:
            raise Failure(
                f"--format {fmt} needs Graphviz's `dot` program, which is not on PATH. "
                + GRAPHVIZ_HELP
            )
        if args.output is None and fmt == "png" and sys.stdout.isatty():
            raise Failure("a PNG is not for a terminal: give -o FILE.png.")
    target = load_target(args.target)
    graph = drawing(target.leaves, target.default_workflow_name)
    text = to_mermaid(graph) if fmt == "mermaid" else to_dot(graph)
    output = text.encode("utf-8")
    if dot_program is not None:
        import subprocess

        try:
            done = subprocess.run(
                [dot_program, f"-T{fmt}"], input=output, capture_output=True, check=False
            )
        except OSError as error:
            raise Failure(f"running {dot_program} failed: {error}", EXIT_FAILED) from None
        if done.returncode != 0:
            stderr = done.stderr.decode("utf-8", "replace").strip()
            raise Failure(f"Graphviz's dot failed (exit {done.returncode}): {stderr}", EXIT_FAILED)
        output = done.stdout
    if args.output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(output)
        sys.stdout.buffer.flush()
    else:
        try:
            with open(args.output, "wb") as file:
                file.write(output)
        except OSError as error:
            raise Failure(f"cannot write {args.output!r}: {error}") from None
    return EXIT_OK
