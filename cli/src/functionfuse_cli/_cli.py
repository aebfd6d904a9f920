"""The ``fuse`` command: run workflows, plan them, draw them, list plugins, look into storage.

Exit codes: 0 success; 1 a node failed (or another failure while working: a storage
that cannot be read, Graphviz failing); 2 a usage or configuration error (bad
arguments, a bad config, a TARGET that names no nodes, a component that is missing).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Final, TextIO

from functionfuse import (
    ComponentLoadError,
    ConfigurationError,
    FunctionFuseError,
    FunctionFuseWarning,
    GraphError,
    NodeExecutionError,
    StorageError,
)
from functionfuse_cli._errors import EXIT_FAILED, EXIT_USAGE, Failure

__all__ = ["main"]

_EPILOG: Final = """\
TARGET is path/to/file.py[:name] or package.module[:name]: a node, a list of nodes or
a function returning them; without :name, the module's leaf nodes. STORAGE is a folder
or a URL (./storage, s3://bucket/prefix, memory://x).
Exit codes: 0 success, 1 a node failed, 2 a usage or configuration error.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fuse`` command with ``argv`` (default: ``sys.argv[1:]``); the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    command: Callable[[argparse.Namespace], int] = args.command
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return command(args)
        except Failure as failure:
            _error(args, str(failure))
            return failure.code
        except NodeExecutionError as error:
            _error(args, str(error))
            if getattr(args, "traceback", False) and error.__cause__ is not None:
                import traceback

                cause = error.__cause__
                tb = cause.__traceback__
                sys.stderr.write("".join(traceback.format_exception(type(cause), cause, tb)))
            return EXIT_FAILED
        except StorageError as error:
            _error(args, str(error))
            return EXIT_FAILED
        except (ConfigurationError, ComponentLoadError, GraphError) as error:
            _error(args, str(error))
            details = getattr(error, "details", None)
            if details:
                sys.stderr.write(details)
            return EXIT_USAGE
        except FunctionFuseError as error:
            _error(args, str(error))
            return EXIT_FAILED
        except KeyboardInterrupt:
            _error(args, "interrupted.")
            return 130
        except BrokenPipeError:  # `fuse tasks ... | head`: stop quietly, as cat does
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_FAILED
        except Exception as error:
            message = _storage_failure(args, error)
            if message is None:
                raise  # not the storage's: a bug, with its traceback
            _error(args, message)
            if getattr(args, "traceback", False):
                import traceback

                sys.stderr.write("".join(traceback.format_exception(error)))
            return EXIT_FAILED


def _error(args: argparse.Namespace, message: str) -> None:
    secrets = getattr(args, "secrets", ())  # set by the commands: see config.secret_strings
    if secrets:
        from functionfuse.config import scrub

        message = scrub(message, secrets)
    sys.stderr.write(f"fuse {args.command_name}: error: {message}\n")


def _storage_failure(args: argparse.Namespace, error: Exception) -> str | None:
    """A one-line message for an error the storage raised (None: not the storage's).

    Storage commands set ``args.storage_url`` (and ``args.storage_in_use`` once it is
    open), ``fuse run`` sets ``args.storage_in_use`` to the configured storage: every
    error of a storage command is the storage's; in ``fuse run`` (where a node's error
    is a NodeExecutionError), an OSError or an error raised inside the storage's code.
    """
    storage = getattr(args, "storage_in_use", None)
    url: str | None = getattr(args, "storage_url", None)
    in_run = url is None
    if in_run and (
        storage is None or not (isinstance(error, OSError) or _raised_in(error, storage))
    ):
        return None
    if storage is not None:
        label = repr(storage)
    else:
        from functionfuse.config import redact_url

        label = repr(redact_url(url or ""))
    if "://" in label and "file://" not in label:
        hint = (
            "check that it exists and can be reached, and that its credentials are set "
            "(environment variables, a credentials file or the storage options)"
        )
    else:
        hint = "check that the path is a folder you can write to (or create), not a file"
    reason = " ".join(str(error).split()) or "(no message)"
    more = "" if getattr(args, "traceback", False) else " (--traceback shows where)"
    return f"storage {label} failed: {type(error).__name__}: {reason}. To fix: {hint}{more}."


def _raised_in(error: BaseException, storage: object) -> bool:
    """Whether a frame of ``error``'s traceback runs a method of ``storage``."""
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_locals.get("self") is storage:
            return True
        tb = tb.tb_next
    return False


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    if issubclass(category, FunctionFuseWarning):
        (file or sys.stderr).write(f"fuse: warning: {message}\n")
    else:
        (file or sys.stderr).write(warnings.formatwarning(message, category, filename, lineno))


# -- the parser -------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from functionfuse import __version__
    from functionfuse_cli import __version__ as cli_version
    from functionfuse_cli import _storage as storage
    from functionfuse_cli._graph import graph as graph_command
    from functionfuse_cli._plan import plan as plan_command
    from functionfuse_cli._plugins import plugins as plugins_command
    from functionfuse_cli._render import FORMATS
    from functionfuse_cli._report import report as report_command
    from functionfuse_cli._run import RESUME_CHOICES
    from functionfuse_cli._run import run as run_command
    from functionfuse_cli._runs import runs as runs_command

    parser = argparse.ArgumentParser(
        prog="fuse",
        description="Run functionfuse workflows, plan them, draw them, list plugins, look "
        "into storage.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    version = f"functionfuse {__version__} (functionfuse-cli {cli_version})"
    parser.add_argument("--version", action="version", version=version)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(name: str, handler: Callable[[argparse.Namespace], int], text: str) -> Any:
        sub = commands.add_parser(name, help=text, description=text, epilog=_EPILOG)
        sub.formatter_class = argparse.RawDescriptionHelpFormatter
        sub.set_defaults(command=handler, command_name=name)
        return sub

    def target_options(sub: Any, set_help: str) -> None:
        """TARGET and the options that pick what runs where (fuse run, fuse plan)."""
        sub.add_argument("target", metavar="TARGET")
        sub.add_argument("--config", metavar="FILE", help="a TOML (or .json) config file")
        sub.add_argument("--backend", metavar="NAME", help="backend name, e.g. local or ray")
        sub.add_argument(
            "--storage", metavar="URL", help="where results are kept (a folder or URL)"
        )
        sub.add_argument(
            "--name", metavar="WORKFLOW", help="the workflow name (its storage folder)"
        )
        sub.add_argument(
            "--set",
            metavar="KEY=VALUE",
            action="append",
            default=[],
            dest="overrides",
            help=set_help,
        )

    run = command("run", run_command, "Run the workflow of TARGET.")
    target_options(run, "set a config key by dotted path, e.g. rules[0].storage=false (repeatable)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress and no summary")
    run.add_argument(
        "--keep-going",
        action="store_true",
        help="after a node fails, still run every node that does not depend on it",
    )
    run.add_argument(
        "--resume",
        choices=RESUME_CHOICES,
        help="when a stored result is used instead of running its node: fingerprint (the "
        "default) if the node's code, literal arguments and upstream are unchanged, and "
        "otherwise it runs again and the progress says why; name: any result stored "
        "under the node's name, even an out-of-date one; off: run every node, replacing "
        "what is stored (default: the config's resume, else fingerprint)",
    )
    run.add_argument(
        "--traceback", action="store_true", help="on a node failure, show its traceback"
    )
    run.add_argument(
        "--report",
        metavar="FILE",
        help="at the end of the run (also when it fails), write its report: one HTML page",
    )

    plan = command(
        "plan",
        plan_command,
        "Say what `fuse run` would do, without running anything: for each node, up to "
        "date or would run, and why.",
    )
    target_options(plan, "set a config key by dotted path, as for fuse run (repeatable)")
    plan.add_argument(
        "--resume",
        choices=RESUME_CHOICES,
        help="plan a run with this resume mode (see fuse run --resume)",
    )

    graph = command("graph", graph_command, "Draw the graph of TARGET.")
    graph.add_argument("target", metavar="TARGET")
    graph.add_argument(
        "--format",
        choices=FORMATS,
        help="mermaid (default), dot, or svg/png through Graphviz; guessed from -o's suffix",
    )
    graph.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")

    plugins = command(
        "plugins", plugins_command, "List the installed backends, storages and plugins."
    )
    plugins.add_argument("--check", action="store_true", help="import each one, report failures")

    report = command(
        "report",
        report_command,
        "Write the report of a recorded run: one self-contained HTML page (the graph "
        "coloured by status, why each node ran, errors, a timeline per worker).",
    )
    report.add_argument("storage", metavar="STORAGE")
    report.add_argument("workflow", metavar="WORKFLOW")
    report.add_argument("--run", metavar="ID", help="the run's id (default: the newest run)")
    report.add_argument(
        "-o", "--output", metavar="FILE", default="report.html", help="default: report.html"
    )

    tasks = command("tasks", storage.tasks, "List the stored results of a workflow.")
    tasks.add_argument("storage", metavar="STORAGE")
    tasks.add_argument("workflow", metavar="WORKFLOW")
    tasks.add_argument("pattern", metavar="PATTERN", nargs="?", default="*", help="a glob")

    show = command("show", storage.show, "Show a stored result.")
    show.add_argument("storage", metavar="STORAGE")
    show.add_argument("workflow", metavar="WORKFLOW")
    show.add_argument("task", metavar="TASK")
    show.add_argument("--full", action="store_true", help="the whole repr, not shortened")

    rm = command("rm", storage.rm, "Remove stored results (all of a workflow's by default).")
    rm.add_argument("storage", metavar="STORAGE")
    rm.add_argument("workflow", metavar="WORKFLOW")
    which = rm.add_mutually_exclusive_group()
    which.add_argument("task", metavar="TASK", nargs="?", help="one stored result")
    which.add_argument("--pattern", metavar="GLOB", help="the stored results matching a glob")
    rm.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")

    runs = command(
        "runs",
        runs_command,
        "List the recorded runs of a workflow, newest first: when, how long, state, "
        "backend, and how many nodes ran, came from storage, ran again, failed or were "
        "blocked by a failure.",
    )
    runs.add_argument("storage", metavar="STORAGE")
    runs.add_argument("workflow", metavar="WORKFLOW")
    runs.add_argument("--json", action="store_true", help="the runs' summaries as JSON")
    for sub in (report, tasks, show, rm, runs):
        sub.add_argument(
            "--traceback", action="store_true", help="on a storage failure, show its traceback"
        )
    return parser


if __name__ == "__main__":  # python -m functionfuse_cli._cli
    # Run the imported module, not this __main__ copy, so that its classes are the
    # ones the command modules import.
    from functionfuse_cli._cli import main as _main

    sys.exit(_main())
