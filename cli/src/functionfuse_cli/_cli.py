"""The ``fuse`` command: run workflows, draw them, list plugins, look into storage.

Exit codes: 0 success; 1 a node failed (or another failure while working: a storage
that cannot be read, Graphviz failing); 2 a usage or configuration error (bad
arguments, a bad config, a TARGET that names no nodes, a component that is missing).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, TextIO

from functionfuse._errors import (
    ComponentLoadError,
    ConfigurationError,
    FunctionFuseError,
    FunctionFuseWarning,
    GraphError,
    NodeExecutionError,
    StorageError,
)

if TYPE_CHECKING:
    from functionfuse._progress import ProgressReporter

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2

_EPILOG: Final = """\
TARGET is path/to/file.py[:name] or package.module[:name]: a node, a list of nodes or
a function returning them; without :name, the module's leaf nodes. STORAGE is a folder
or a URL (./storage, s3://bucket/prefix, memory://x).
Exit codes: 0 success, 1 a node failed, 2 a usage or configuration error.
"""


class _Failure(Exception):
    """A command failed in a way the user can act on: print ``message``, exit ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


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
        except _Failure as failure:
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
    secrets = getattr(args, "secrets", ())  # set by the commands: see _config.secret_strings
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
    from functionfuse._render import FORMATS

    parser = argparse.ArgumentParser(
        prog="fuse",
        description="Run functionfuse workflows, draw them, list plugins, look into storage.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"functionfuse {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(name: str, handler: Callable[[argparse.Namespace], int], text: str) -> Any:
        sub = commands.add_parser(name, help=text, description=text, epilog=_EPILOG)
        sub.formatter_class = argparse.RawDescriptionHelpFormatter
        sub.set_defaults(command=handler, command_name=name)
        return sub

    run = command("run", _run, "Run the workflow of TARGET.")
    run.add_argument("target", metavar="TARGET")
    run.add_argument("--config", metavar="FILE", help="a TOML (or .json) config file")
    run.add_argument("--backend", metavar="NAME", help="backend name, e.g. local or ray")
    run.add_argument("--storage", metavar="URL", help="where results are kept (a folder or URL)")
    run.add_argument("--name", metavar="WORKFLOW", help="the workflow name (its storage folder)")
    run.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="set a config key by dotted path, e.g. rules[0].storage=false (repeatable)",
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress and no summary")
    run.add_argument(
        "--keep-going",
        action="store_true",
        help="after a node fails, still run every node that does not depend on it",
    )
    run.add_argument(
        "--resume",
        choices=_RESUME_CHOICES,
        help="when a stored result is used instead of running its node: fingerprint (the "
        "default) if the node's code, literal arguments and upstream are unchanged, and "
        "otherwise it runs again and the progress says why; name: any result stored "
        "under the node's name, even an out-of-date one; off: run every node, replacing "
        "what is stored (default: the config's resume, else fingerprint)",
    )
    run.add_argument(
        "--traceback", action="store_true", help="on a node failure, show its traceback"
    )

    graph = command("graph", _graph, "Draw the graph of TARGET.")
    graph.add_argument("target", metavar="TARGET")
    graph.add_argument(
        "--format",
        choices=FORMATS,
        help="mermaid (default), dot, or svg/png through Graphviz; guessed from -o's suffix",
    )
    graph.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")

    plugins = command("plugins", _plugins, "List the installed backends, storages and plugins.")
    plugins.add_argument("--check", action="store_true", help="import each one, report failures")

    from functionfuse import _cli_storage as storage

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
    for sub in (tasks, show, rm):
        sub.add_argument(
            "--traceback", action="store_true", help="on a storage failure, show its traceback"
        )
    return parser


# -- fuse run ---------------------------------------------------------------------------

#: ``--resume`` choices and what each passes to ``run(resume=...)``.
_RESUME_CHOICES: Final = {"fingerprint": "fingerprint", "name": "name", "off": False}


def _run(args: argparse.Namespace) -> int:
    from functionfuse._overrides import apply_override
    from functionfuse._progress import ProgressReporter
    from functionfuse._render import short_repr
    from functionfuse._target import leaf_label, load_target
    from functionfuse.config import parse_config, read_config_file, secret_strings

    data: dict[str, Any] = read_config_file(args.config) if args.config else {}
    if args.backend is not None:
        previous = data.get("backend")
        same = isinstance(previous, dict) and previous.get("name", "local") == args.backend
        if not same:  # another backend's options would not fit this one
            data["backend"] = {"name": args.backend}
    if args.storage is not None:
        data["storage"] = args.storage
    for assignment in args.overrides:
        apply_override(data, assignment)
    args.secrets = secret_strings(data)  # never shown in an error message
    changed = args.backend is not None or args.storage is not None or args.overrides
    if args.config:
        source = f"config file {args.config!r}" + (" with command-line changes" if changed else "")
    else:
        source = "the command-line config"
    config = parse_config(data, source=source)
    args.storage_in_use = config.storage  # for a storage error's message (see main)
    target = load_target(args.target)
    name = args.name or config.workflow_name or target.default_workflow_name
    wf = config.workflow(*target.leaves, workflow_name=name)
    # --quiet: no reporter at all, so that no hook listens (Ray then watches no task).
    reporter = None if args.quiet else ProgressReporter()
    options: dict[str, Any] = {}
    if args.keep_going:
        options["keep_going"] = True
    if args.resume is not None:
        _check_takes(wf, "resume", "--resume")
        options["resume"] = _RESUME_CHOICES[args.resume]
    try:
        with reporter if reporter is not None else contextlib.nullcontext():
            result = wf.run(**options)
    except SystemExit as exit_:  # sys.exit() in a node: not a success, whatever its code
        raise _Failure(
            f"{_running_node(reporter)} exited (SystemExit: {exit_.code}), so the run "
            "stopped before it finished.",
            EXIT_FAILED,
        ) from None
    results = result if len(target.leaves) > 1 else [result]
    for leaf, value in zip(target.leaves, results, strict=True):
        print(f"{leaf_label(leaf, wf.name_of(leaf))} = {short_repr(value)}")
    return EXIT_OK


def _check_takes(wf: Any, keyword: str, option: str) -> None:
    """A usage error when the backend's ``run()`` has no ``keyword`` (an old backend)."""
    import inspect

    try:
        parameters = inspect.signature(wf.run).parameters
    except (TypeError, ValueError):
        return
    if keyword in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    cls = type(wf)
    raise _Failure(
        f"{option}: backend {getattr(cls, 'backend_name', cls.__name__)!r} "
        f"({cls.__module__}.{cls.__qualname__}) does not take run({keyword}=...); upgrade "
        f"it, or leave out {option}."
    )


def _running_node(reporter: ProgressReporter | None) -> str:
    """``node 'name'`` of the node that was running when the run ended, or ``a node``."""
    from functionfuse._progress import INTERRUPTED

    summary = None if reporter is None else reporter.summary
    if summary is not None:
        names = [report.name for report in summary.nodes.values() if report.status == INTERRUPTED]
        if len(names) == 1:
            return f"node {names[0]!r}"
    return "a node"


# -- fuse graph -------------------------------------------------------------------------

_SUFFIXES: Final = {".mmd": "mermaid", ".mermaid": "mermaid", ".dot": "dot", ".gv": "dot"}

GRAPHVIZ_HELP: Final = (
    "Install Graphviz (apt install graphviz, brew install graphviz, or see "
    "https://graphviz.org/download/), or write DOT text with --format dot (or Mermaid "
    "with --format mermaid) and render it elsewhere."
)


def _graph(args: argparse.Namespace) -> int:
    from functionfuse._nodes import node_of
    from functionfuse._render import GRAPHVIZ_FORMATS, to_dot, to_mermaid
    from functionfuse._target import load_target

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
            raise _Failure(
                f"--format {fmt} needs Graphviz's `dot` program, which is not on PATH. "
                + GRAPHVIZ_HELP
            )
        if args.output is None and fmt == "png" and sys.stdout.isatty():
            raise _Failure("a PNG is not for a terminal: give -o FILE.png.")
    target = load_target(args.target)
    leaves = [node_of(leaf) for leaf in target.leaves]
    name = target.default_workflow_name
    text = to_mermaid(leaves) if fmt == "mermaid" else to_dot(leaves, name)
    output = text.encode("utf-8")
    if dot_program is not None:
        import subprocess

        try:
            done = subprocess.run(
                [dot_program, f"-T{fmt}"], input=output, capture_output=True, check=False
            )
        except OSError as error:
            raise _Failure(f"running {dot_program} failed: {error}", EXIT_FAILED) from None
        if done.returncode != 0:
            stderr = done.stderr.decode("utf-8", "replace").strip()
            raise _Failure(f"Graphviz's dot failed (exit {done.returncode}): {stderr}", EXIT_FAILED)
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
            raise _Failure(f"cannot write {args.output!r}: {error}") from None
    return EXIT_OK


# -- fuse plugins -----------------------------------------------------------------------


def _plugins(args: argparse.Namespace) -> int:
    from functionfuse._registry import GROUPS, components

    headings = {
        "functionfuse.backends": "backends",
        "functionfuse.storage": "storage kinds",
        "functionfuse.plugins": "node plugins",
        "functionfuse.hooks": "hook plugins",
    }
    failures = 0
    for group in GROUPS:
        found = components(group)
        print(f"{headings[group]} ({group}):")
        if not found:
            print("  (none installed)")
        rows = [
            (c.name, f"{c.distribution or '?'} {c.version or ''}".strip(), c.value) for c in found
        ]
        widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
        for row in rows:
            line = "  " + "  ".join(
                f"{cell:<{width}}" for cell, width in zip(row, widths, strict=True)
            )
            if args.check:
                problem = _check_component(group, row[0])
                failures += problem is not None
                line += "  ok" if problem is None else f"  FAILED: {problem}"
            print(line.rstrip())
    if failures:
        sys.stderr.write(f"fuse plugins: {failures} component(s) failed to load.\n")
        return EXIT_FAILED
    return EXIT_OK


def _check_component(group: str, name: str) -> str | None:
    """Why the component cannot be used (None: it loads and is what its group needs)."""
    import inspect

    from functionfuse._factories import backend
    from functionfuse._registry import BACKENDS, HOOKS, load_component

    try:
        if group == BACKENDS:
            backend(name)
            return None
        obj = load_component(group, name)
        if group == HOOKS:
            import pluggy

            from functionfuse import hookspecs

            manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
            manager.add_hookspecs(hookspecs)
            manager.register(obj() if inspect.isclass(obj) else obj)
        elif not callable(obj):
            return f"{obj!r} is not a class or factory"
    except ComponentLoadError as error:
        cause = error.__cause__
        if cause is not None:
            return f"{type(cause).__name__}: {cause}"
        return str(error)
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


if __name__ == "__main__":  # python -m functionfuse._cli
    # Run the imported module, not this __main__ copy, so that its classes are the
    # ones the command modules import.
    from functionfuse._cli import main as _main

    sys.exit(_main())
