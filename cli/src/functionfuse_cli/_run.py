"""``fuse run``: run the workflow of a TARGET with a config, a backend and a storage."""

from __future__ import annotations

import argparse
import contextlib
from typing import TYPE_CHECKING, Any, Final

from functionfuse_cli._errors import EXIT_FAILED, EXIT_OK, Failure

if TYPE_CHECKING:
    from functionfuse_cli._progress import ProgressReporter
    from functionfuse_cli._target import Target

__all__ = ["RESUME_CHOICES", "check_takes", "configured_workflow", "run"]

#: ``--resume`` choices and what each passes to ``run(resume=...)``.
RESUME_CHOICES: Final = {"fingerprint": "fingerprint", "name": "name", "off": False}


def run(args: argparse.Namespace) -> int:
    from functionfuse_cli._progress import ProgressReporter
    from functionfuse_cli._render import short_repr
    from functionfuse_cli._target import leaf_label

    wf, target = configured_workflow(args)
    # --quiet: no reporter at all, so that no hook listens (Ray then watches no task).
    reporter = None if args.quiet else ProgressReporter()
    options: dict[str, Any] = {}
    if args.keep_going:
        options["keep_going"] = True
    if args.resume is not None:
        check_takes(wf, "resume", "--resume")
        options["resume"] = RESUME_CHOICES[args.resume]
    if args.report is not None:  # a usage error now, not after a long run
        from functionfuse_cli._report import check_output_path

        check_output_path(args.report, "--report")
    try:
        try:
            with reporter if reporter is not None else contextlib.nullcontext():
                result = wf.run(**options)
        except BaseException:  # a failed run's page is the one most worth reading
            if args.report is not None:
                _report_after_failure(wf, args.report)
            raise
        if args.report is not None:
            from functionfuse_cli._report import write_run_report

            write_run_report(wf, args.report)
    except SystemExit as exit_:  # sys.exit() in a node: not a success, whatever its code
        raise Failure(
            f"{_running_node(reporter)} exited (SystemExit: {exit_.code}), so the run "
            "stopped before it finished.",
            EXIT_FAILED,
        ) from None
    results = result if len(target.leaves) > 1 else [result]
    for leaf, value in zip(target.leaves, results, strict=True):
        print(f"{leaf_label(leaf, wf.name_of(leaf))} = {short_repr(value)}")
    return EXIT_OK


def configured_workflow(args: argparse.Namespace) -> tuple[Any, Target]:
    """The workflow of TARGET as ``fuse run`` and ``fuse plan`` build it: the config file,
    ``--backend``, ``--storage``, ``--set`` and ``--name`` applied."""
    from functionfuse.config import parse_config, read_config_file, secret_strings
    from functionfuse_cli._overrides import apply_override
    from functionfuse_cli._target import load_target

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
    return config.workflow(*target.leaves, workflow_name=name), target


def _report_after_failure(wf: Any, path: str) -> None:
    """Write the report of a run that raised; a failure to write it is only a warning, so
    that the run's own error is the one reported."""
    import sys

    from functionfuse_cli._report import write_run_report

    try:
        write_run_report(wf, path)
    except Exception as error:
        sys.stderr.write(f"fuse run: warning: could not write the report {path}: {error}\n")


def check_takes(wf: Any, keyword: str, option: str) -> None:
    """A usage error when the backend's ``run()`` has no ``keyword`` (an old backend)."""
    import inspect

    try:
        parameters = inspect.signature(wf.run).parameters
    except (TypeError, ValueError):
        return
    if keyword in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    cls = type(wf)
    raise Failure(
        f"{option}: backend {getattr(cls, 'backend_name', cls.__name__)!r} "
        f"({cls.__module__}.{cls.__qualname__}) does not take run({keyword}=...); upgrade "
        f"it, or leave out {option}."
    )


def _running_node(reporter: ProgressReporter | None) -> str:
    """``node 'name'`` of the node that was running when the run ended, or ``a node``."""
    from functionfuse_cli._progress import INTERRUPTED

    summary = None if reporter is None else reporter.summary
    if summary is not None:
        names = [report.name for report in summary.nodes.values() if report.status == INTERRUPTED]
        if len(names) == 1:
            return f"node {names[0]!r}"
    return "a node"
