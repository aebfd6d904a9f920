"""The CLI is a client of the core like any other: public names and attributes only."""

from __future__ import annotations

import ast
from pathlib import Path

import functionfuse_cli

SOURCES = sorted(Path(functionfuse_cli.__file__).parent.glob("*.py"))


def private_uses(path: Path) -> list[str]:
    """``functionfuse._x`` imports, and ``obj._x`` reads of anything but ``self``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            modules = []
        for module in modules:
            first, *rest = module.split(".")
            if first == "functionfuse" and any(_private(part) for part in rest):
                found.append(f"{path.name}:{node.lineno}: imports {module}")
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "sys"))
        ):
            found.append(f"{path.name}:{node.lineno}: reads .{node.attr}")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_the_cli_uses_only_the_public_api_of_the_core() -> None:
    assert len(SOURCES) > 10
    assert [use for path in SOURCES for use in private_uses(path)] == []
