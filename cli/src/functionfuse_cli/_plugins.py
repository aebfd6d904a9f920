"""``fuse plugins``: the installed backends, storage kinds, node plugins and hook plugins."""

from __future__ import annotations

import argparse
import sys
from typing import Final

from functionfuse import Component, ComponentLoadError, components
from functionfuse_cli._errors import EXIT_FAILED, EXIT_OK

__all__ = ["plugins"]

#: The entry-point groups the core reads, in the order they are listed.
HEADINGS: Final = {
    "functionfuse.backends": "backends",
    "functionfuse.storage": "storage kinds",
    "functionfuse.plugins": "node plugins",
    "functionfuse.hooks": "hook plugins",
}


def plugins(args: argparse.Namespace) -> int:
    failures = 0
    for group, heading in HEADINGS.items():
        found = components(group)
        print(f"{heading} ({group}):")
        if not found:
            print("  (none installed)")
        rows = [
            (c.name, f"{c.distribution or '?'} {c.version or ''}".strip(), c.value) for c in found
        ]
        widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
        for component, row in zip(found, rows, strict=True):
            line = "  " + "  ".join(
                f"{cell:<{width}}" for cell, width in zip(row, widths, strict=True)
            )
            if args.check:
                problem = _check_component(component)
                failures += problem is not None
                line += "  ok" if problem is None else f"  FAILED: {problem}"
            print(line.rstrip())
    if failures:
        sys.stderr.write(f"fuse plugins: {failures} component(s) failed to load.\n")
        return EXIT_FAILED
    return EXIT_OK


def _check_component(component: Component) -> str | None:
    """Why the component cannot be used (None: it loads and is what its group needs)."""
    import inspect

    from functionfuse import backend

    try:
        if component.group == "functionfuse.backends":
            backend(component.name)  # also checks that it is a BaseWorkflow subclass
            return None
        obj = component.load()
        if component.group == "functionfuse.hooks":
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
