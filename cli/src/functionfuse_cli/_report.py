"""The run report: one self-contained HTML page drawn from a run record.

:func:`write_report` writes it from a record (a dict of format ``functionfuse-run/1``, as
``functionfuse.run_records.read_run`` and ``wf.last_run_record`` give); ``fuse report``
reads the record from a storage, ``fuse run --report`` takes the run's own. The page
inlines its CSS and script and embeds the record with its layout (computed here, see
:mod:`functionfuse_cli._report_layout`) as JSON; it fetches nothing, and its
Content-Security-Policy forbids it to, so it opens anywhere, offline, years later.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import re
import sys
from collections.abc import Mapping
from importlib import resources
from typing import Any, Final

from functionfuse_cli._errors import EXIT_OK, Failure
from functionfuse_cli._report_layout import layout

__all__ = [
    "FORMAT_PREFIX",
    "check_output_path",
    "report",
    "report_html",
    "write_report",
    "write_run_report",
]

#: The run-record format this page reads; a later ``functionfuse-run/N`` only adds keys.
FORMAT_PREFIX: Final = "functionfuse-run/"
#: The template's markers, each replaced by its value.
_MARKERS: Final = re.compile("__(?:TITLE|WORKFLOW|VERSION|CSS|JS|DATA)__")


def write_report(record: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the run report of ``record`` (a run record dict) to ``path``, one HTML file.

    The page needs no network: open it in any browser, attach it to a ticket, keep it
    beside the results. Raises TypeError / ValueError for something that is not a run
    record, OSError when ``path`` cannot be written.
    """
    text = report_html(record)
    folder = os.path.dirname(os.fspath(path)) or "."
    temporary = os.path.join(folder, f".{os.path.basename(os.fspath(path))}.{os.getpid()}.tmp")
    try:  # whole or nothing: a browser never opens a half-written page
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def report_html(record: Mapping[str, Any]) -> str:
    """The text of the run report page of ``record`` (see :func:`write_report`)."""
    nodes = _checked_nodes(record)
    data = {"record": record, "layout": layout(nodes)}
    # JSON inside <script>: "<" escaped, so no "</script>" or "<!--" in a node's error or
    # result repr can end the element; ensure_ascii also escapes U+2028/U+2029.
    embedded = _json(data).replace("<", "\\u003c")
    workflow = str(record.get("workflow") or "workflow")
    title = f"{workflow} · run {record.get('run_id') or '?'} · functionfuse"
    from functionfuse_cli import __version__

    values = {
        "__TITLE__": html.escape(title),
        "__WORKFLOW__": html.escape(workflow),
        "__VERSION__": html.escape(__version__),
        "__CSS__": _resource("report.css"),
        "__JS__": _resource("report.js"),
        "__DATA__": embedded,
    }
    # One pass over the template: a value (a workflow named "w __DATA__", a record's
    # text) is never searched for markers.
    return _MARKERS.sub(lambda found: values[found.group(0)], _resource("template.html"))


def _json(data: Any) -> str:
    """Strict JSON (what JSON.parse reads): NaN and infinities, which Python's json
    writes as bare words, become null; anything else unknown becomes its str()."""
    try:
        return json.dumps(data, separators=(",", ":"), default=str, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(data), separators=(",", ":"), default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _checked_nodes(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if not isinstance(record, Mapping):
        raise TypeError(f"a run record is a dict, not {type(record).__name__}")
    form = record.get("format")
    if not isinstance(form, str) or not form.startswith(FORMAT_PREFIX):
        raise ValueError(
            f"not a run record: its 'format' is {form!r}, not '{FORMAT_PREFIX}1'. Pass a "
            "record from functionfuse.run_records.read_run(...) or wf.last_run_record."
        )
    nodes = record.get("nodes")
    if not isinstance(nodes, list) or not all(
        isinstance(node, Mapping) and isinstance(node.get("name"), str) for node in nodes
    ):
        raise ValueError("the run record's 'nodes' is not a list of nodes with a 'name' each")
    return nodes


def _resource(name: str) -> str:
    return resources.files("functionfuse_cli").joinpath("report").joinpath(name).read_text("utf-8")


def check_output_path(path: str, option: str) -> None:
    """A usage error when the page could not be written to ``path`` (given as ``option``)."""
    folder = os.path.dirname(path) or "."
    problem = "is a folder" if os.path.isdir(path) else f"there is no folder {folder!r}"
    if os.path.isdir(path) or not os.path.isdir(folder):
        raise Failure(
            f"{option} {path}: {problem}; give the path of an HTML file to write, in a "
            "folder that exists."
        )


def report(args: argparse.Namespace) -> int:
    """``fuse report STORAGE WORKFLOW [--run ID] -o FILE``: a stored run's report.

    The record is read with ``functionfuse.run_records.read_run``, whose error names the
    workflow and the run when none is recorded (exit 1, as for any storage failure)."""
    from functionfuse_cli._storage import _open  # as fuse tasks/show/rm open it

    check_output_path(args.output, "-o")
    storage = _open(args)
    record = run_records().read_run(storage, args.workflow, args.run)
    write_report(record, args.output)
    print(f"wrote {args.output} (run {record.get('run_id')}, {len(record['nodes'])} nodes)")
    return EXIT_OK


def run_records() -> Any:
    """The core's ``functionfuse.run_records``, or a failure that says to upgrade the
    core (the cli works with a core older than run records; only these commands not)."""
    try:
        from functionfuse import run_records as module  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        from functionfuse import __version__

        raise Failure(
            f"functionfuse {__version__} does not record runs (it has no "
            "functionfuse.run_records); upgrade functionfuse, run the workflow again with a "
            "storage, then look at its runs."
        ) from None
    return module


def write_run_report(wf: Any, path: str) -> None:
    """``fuse run --report``: the page of ``wf``'s last run, or a warning saying why not."""
    record = getattr(wf, "last_run_record", None)
    if record is None:
        backend = getattr(type(wf), "backend_name", type(wf).__name__)
        sys.stderr.write(
            f"fuse run: warning: backend {backend!r} recorded no run record, so no report was "
            f"written to {path}; upgrade functionfuse and the backend.\n"
        )
        return
    write_report(record, path)
    sys.stderr.write(f"fuse run: report written to {path}\n")
