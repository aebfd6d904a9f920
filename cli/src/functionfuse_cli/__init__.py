"""functionfuse-cli: the ``fuse`` command, live progress and graph pictures for functionfuse.

``fuse run``, ``fuse graph``, ``fuse plugins``, ``fuse tasks``, ``fuse show``,
``fuse rm`` and ``fuse report`` (see ``fuse --help``; :func:`main` runs the command from
Python). :func:`write_report` writes a run's report, one self-contained HTML page, from
a run record.
:class:`ProgressReporter` shows the progress of runs started in a ``with`` block and a
summary table at its end; :func:`to_mermaid` and :func:`to_dot` draw a graph as text.
The core, ``functionfuse``, never imports this package.
"""

from typing import TYPE_CHECKING, Any

from functionfuse_cli._cli import main
from functionfuse_cli._progress import NodeReport, ProgressReporter, RunSummary
from functionfuse_cli._render import to_dot, to_mermaid

if TYPE_CHECKING:
    from functionfuse_cli._report import write_report

__version__ = "0.1.0"

__all__ = [
    "NodeReport",
    "ProgressReporter",
    "RunSummary",
    "__version__",
    "main",
    "to_dot",
    "to_mermaid",
    "write_report",
]


def __getattr__(name: str) -> Any:
    # The report writer (its layout, templates and html) loads when first used: every
    # `fuse` command imports this package.
    if name == "write_report":
        from functionfuse_cli._report import write_report

        return write_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
