"""``fuse tasks``, ``fuse show`` and ``fuse rm``: what a storage holds for a workflow."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from functionfuse import Storage, StorageError, storage_factory
from functionfuse.config import url_secrets
from functionfuse_cli._errors import EXIT_USAGE, Failure

__all__ = ["rm", "show", "tasks"]


def _open(args: argparse.Namespace) -> Storage:
    # Results may be instances of classes of the user's modules: make the current
    # folder importable, as `python -m` does, so that they unpickle.
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)
    from functionfuse_cli._target import install_target_finder

    install_target_finder()  # ... and classes of target files such as my-flow.py
    args.storage_url = args.storage  # an error from here on is the storage's (see main)
    args.secrets = url_secrets(args.storage)  # credentials in the URL: never shown
    storage = args.storage_in_use = storage_factory(args.storage)
    return storage


def _failure(message: str, code: int = EXIT_USAGE) -> Exception:
    return Failure(message, code)


def _preview(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _clipped(text: str, limit: int = 80) -> str:
    """``text`` quoted, cut to ``limit`` characters: a pattern may be as long as a
    command line, and echoing it in full buries the message."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def tasks(args: argparse.Namespace) -> int:
    storage = _open(args)
    names = storage.list_tasks(args.workflow, args.pattern)
    for name in names:
        print(name)
    if not names:
        matching = "" if args.pattern == "*" else f" matching {_clipped(args.pattern)}"
        sys.stderr.write(
            f"fuse tasks: no stored results{matching} for workflow {args.workflow!r} in "
            f"{storage!r}.\n"
        )
    return 0


def show(args: argparse.Namespace) -> int:
    from functionfuse_cli._render import short_repr

    storage = _open(args)
    workflow, task = args.workflow, args.task
    if not storage.file_exists(workflow, task):
        raise _missing(storage, workflow, task)
    lines = [("workflow", workflow), ("task", task), ("storage", repr(storage))]
    read_header = getattr(storage, "read_header", None)
    if callable(read_header):
        lines += _fields(read_header(workflow, task))
    try:
        value = storage.read_task(workflow, task)
    except FileNotFoundError:
        raise _missing(storage, workflow, task) from None
    lines.append(("type", f"{type(value).__module__}.{type(value).__qualname__}"))
    width = max(len(label) for label, _ in lines) + 2
    for label, text in lines:
        print(f"{label + ':':<{width}}{text}")
    print(repr(value) if args.full else short_repr(value))
    return 0


def _fields(header: Any) -> list[tuple[str, str]]:
    """A header's fields as text; bytes as hex."""
    import dataclasses

    if dataclasses.is_dataclass(header) and not isinstance(header, type):
        items = [(f.name, getattr(header, f.name)) for f in dataclasses.fields(header)]
    elif isinstance(header, dict):
        items = list(header.items())
    else:
        return [("header", repr(header))]
    shown = []
    for name, value in items:
        if name == "task_name":
            continue  # the same as the task shown above (read_header checks it)
        if name == "fingerprint" and isinstance(value, bytes) and value:
            text = _fingerprint(value)
        elif isinstance(value, bytes):
            text = value[:32].hex() + ("..." if len(value) > 32 else "") if value else "(none)"
        else:
            text = str(value)
        shown.append((name.replace("_", " "), text))
    return shown


def _fingerprint(value: bytes) -> str:
    """A stamp of functionfuse's fingerprints read as its parts; other bytes as hex."""
    from functionfuse.lineage import describe_stamp  # not at import time

    described = describe_stamp(value)
    if described != value.hex():  # a stamp of the core's layout: its parts
        return described
    return value[:32].hex() + ("..." if len(value) > 32 else "")


def _missing(storage: Storage, workflow: str, task: str) -> Exception:
    names = storage.list_tasks(workflow)
    stored = f"its stored results: {_preview(names)}" if names else "it has no stored results"
    return _failure(
        f"no stored result named {task!r} in workflow {workflow!r} of {storage!r} "
        f"({stored}). `fuse tasks STORAGE WORKFLOW` lists them."
    )


def rm(args: argparse.Namespace) -> int:
    storage = _open(args)
    workflow = args.workflow
    if args.task is not None:
        if not storage.file_exists(workflow, args.task):
            raise _missing(storage, workflow, args.task)
        names = [args.task]
        what = f"the stored result {args.task!r} of workflow {workflow!r}"
    elif args.pattern is not None:
        names = storage.list_tasks(workflow, args.pattern)
        what = (
            f"{len(names)} stored result(s) of workflow {workflow!r} "
            f"matching {_clipped(args.pattern)}"
        )
    else:
        names = storage.list_tasks(workflow)
        what = f"workflow {workflow!r} and its {len(names)} stored result(s)"
    if not names:
        print(f"Nothing to remove: no stored results match in workflow {workflow!r}.")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise _failure(
                f"refusing to remove {what} without confirmation: stdin is not a terminal. "
                "Pass --yes to remove without being asked."
            )
        print(f"About to remove {what} from {storage!r}: {_preview(names)}")
        try:
            answer = input("Remove them? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing removed.")
            return 0
    try:
        if args.task is not None:
            storage.remove_task(workflow, task_name=args.task)
        elif args.pattern is not None:
            storage.remove_task(workflow, pattern=args.pattern)
        else:
            storage.remove_workflow(workflow)
    except FileNotFoundError:
        raise _missing(storage, workflow, args.task) from None
    except OSError as error:
        raise StorageError(f"removing {what} from {storage!r} failed: {error}") from error
    print(f"Removed {what}.")
    return 0
