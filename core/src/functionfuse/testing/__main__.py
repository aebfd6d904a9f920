"""``python -m functionfuse.testing KIND TARGET``: run the whole kit against a component.

::

    python -m functionfuse.testing backend threads --option max_workers=2
    python -m functionfuse.testing backend mypackage.backend:MyWorkflow
    python -m functionfuse.testing storage file               # a storage kind
    python -m functionfuse.testing storage s3://bucket/prefix --option endpoint_url=...
    python -m functionfuse.testing storage mypackage.stores:fresh_store   # a factory
    python -m functionfuse.testing plugin random_state --option seed=3 --capability seeds
    python -m functionfuse.testing backend mine:Serial --lacks class_nodes

A backend or plugin is an entry-point name or ``package.module:Class``; a storage is a
kind, a URL (each check gets a fresh prefix under it) or ``package.module:factory``, a
callable returning a fresh, empty storage on each call. Prints one line per failed check
saying what the contract expects; exits 0 when every check passes, 1 otherwise, 2 on a
usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

__all__ = ["main"]

_CLASSES = {"backend": "BackendTests", "storage": "StorageTests", "plugin": "NodePluginTests"}


class _Failures:
    """A pytest plugin that keeps each check's promise and the checks that failed."""

    def __init__(self) -> None:
        self.promises: dict[str, str] = {}
        self.failed: list[tuple[str, str]] = []
        self.ran = 0

    def pytest_collection_modifyitems(self, items: list[Any]) -> None:
        for item in items:
            doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
            self.promises[item.nodeid] = doc.strip().splitlines()[0] if doc.strip() else ""

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call" and not report.skipped:
            self.ran += 1
        if report.failed:
            message = (
                report.longrepr.reprcrash.message if hasattr(report.longrepr, "reprcrash") else ""
            )
            self.failed.append((report.nodeid, str(message).splitlines()[0] if message else ""))


def _test_module(
    kind: str,
    target: str,
    options: dict[str, Any],
    lacks: list[str] | None = None,
    capabilities: list[str] | None = None,
) -> str:
    """The source of a test module subclassing the kit's class for ``target``."""
    base = _CLASSES[kind]
    lines = [f"from functionfuse.testing import {base}"]
    if kind == "storage":
        from functionfuse.testing._load import one_process

        lines += [
            "from functionfuse.testing._load import signed_storage_maker, storage_maker",
            "",
            f"signed = signed_storage_maker({target!r}, {options!r})",
            "",
            "",
            f"class TestComponent({base}):",
            f"    make_storage = staticmethod(storage_maker({target!r}, {options!r}))",
            "    if signed is not None:",
            "        make_signed_storage = staticmethod(signed)",
        ]
        if one_process(target):
            lines.append('    lacks = frozenset({"processes"})')
    else:
        lines += [
            "",
            "",
            f"class TestComponent({base}):",
            f"    {kind} = {target!r}",
            f"    options = {options!r}",
        ]
    if lacks:
        lines = [line for line in lines if not line.startswith("    lacks = ")]
        lines.append(f"    lacks = frozenset({sorted(set(lacks))!r})")
    if capabilities:
        lines.append(f"    capabilities = frozenset({sorted(set(capabilities))!r})")
    return "\n".join(lines) + "\n"


def _unusable(kind: str, target: str, options: dict[str, Any]) -> str | None:
    """Why the component cannot be tested at all (not installed, not loadable), or None."""
    from functionfuse.testing._load import storage_maker

    try:
        if kind == "backend":
            from functionfuse.testing._backend import load_backend

            load_backend(target)
        elif kind == "storage":
            with tempfile.TemporaryDirectory() as folder:
                storage_maker(target, options)(Path(folder))
        elif ":" in target:
            from functionfuse.testing._load import load_object

            load_object(target)
        else:
            import functionfuse

            functionfuse.plugin(target, **options)
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--option takes key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value  # a plain string


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m functionfuse.testing",
        description="Run functionfuse's conformance kit against an installed component.",
    )
    parser.add_argument("kind", choices=sorted(_CLASSES))
    parser.add_argument("target", help="entry-point name, package.module:Name, kind or URL")
    parser.add_argument(
        "--option",
        action="append",
        type=_option,
        default=[],
        metavar="KEY=VALUE",
        help="a constructor (storage: fsspec) option; VALUE is JSON or a string",
    )
    parser.add_argument(
        "--lacks",
        action="append",
        default=[],
        metavar="CAPABILITY",
        help="a capability the component does not have (its checks are skipped)",
    )
    parser.add_argument(
        "--capability",
        action="append",
        default=[],
        metavar="CAPABILITY",
        help="plugins: a capability the plugin promises (e.g. seeds)",
    )
    parser.add_argument("-k", dest="keyword", help="only the checks matching this expression")
    parser.add_argument("-v", "--verbose", action="store_true", help="pytest's full output")
    args = parser.parse_args(argv)
    options = dict(args.option)
    problem = _unusable(args.kind, args.target, options)
    if problem is not None:
        print(f"cannot test {args.kind} {args.target!r}: {problem}")
        return 2

    failures = _Failures()
    with tempfile.TemporaryDirectory(prefix="functionfuse-kit-") as folder:
        root = Path(folder)
        (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        module = root / f"test_{args.kind}_conformance.py"
        source = _test_module(args.kind, args.target, options, args.lacks, args.capability)
        module.write_text(source, encoding="utf-8")
        pytest_args = [str(module), "-c", str(root / "pytest.ini"), "--rootdir", folder]
        pytest_args += ["-p", "no:cacheprovider", "-rN", "-q" if not args.verbose else "-v"]
        if not args.verbose:
            pytest_args += ["--tb=no", "--no-header"]
        if args.keyword:
            pytest_args += ["-k", args.keyword]
        code = pytest.main(pytest_args, plugins=[failures])
    for nodeid, message in failures.failed:
        check = nodeid.rsplit("::", 1)[-1]
        promise = failures.promises.get(nodeid, "")
        if promise and promise.rstrip(".") in message:
            message = ""  # the failure already states the promise
        print(f"FAILED {check}: expected: {promise}" + (f" ({message})" if message else ""))
    if code == pytest.ExitCode.USAGE_ERROR or code == pytest.ExitCode.INTERNAL_ERROR:
        return 2
    if code == pytest.ExitCode.NO_TESTS_COLLECTED or (failures.ran == 0 and not failures.failed):
        print("no check ran: is the component installed, and does -k match a check?")
        return 2 if code == pytest.ExitCode.NO_TESTS_COLLECTED else 1
    if failures.failed:
        print(f"{len(failures.failed)} check(s) failed for {args.kind} {args.target!r}.")
        return 1
    print(f"every check passed for {args.kind} {args.target!r} ({failures.ran} ran).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
