"""One version scheme: every distribution moves in lockstep with the core.

All six distributions carry the same version, the core's ``__version__`` says it too,
and each one pins the core to that minor release (``>=X.Y.Z,<X.Y+1`` while 0.x; a 0.x
minor release may break the plugin contract).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import functionfuse

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the suite runs on 3.11+
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = ["core", "cli", "backend-local", "backend-ray", "backend-dask", "storage-fs", "plugins"]


def project(member: str) -> dict[str, object]:
    with open(ROOT / member / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]  # type: ignore[no-any-return]


def test_every_distribution_has_the_core_version() -> None:
    versions = {member: project(member)["version"] for member in MEMBERS}
    assert set(versions.values()) == {functionfuse.__version__}, versions


def test_each_plugin_distribution_pins_the_core_to_its_minor_release() -> None:
    major, minor, _ = (int(part) for part in functionfuse.__version__.split("."))
    wanted = f"functionfuse>={functionfuse.__version__},<{major}.{minor + 1}"
    for member in MEMBERS[1:]:
        dependencies = project(member)["dependencies"]
        assert isinstance(dependencies, list)
        pins = [d for d in dependencies if re.match(r"functionfuse\b(?!-)", d)]
        assert pins == [wanted], (member, pins)


def test_the_cli_extra_pins_functionfuse_cli_to_the_same_minor_release() -> None:
    major, minor, _ = (int(part) for part in functionfuse.__version__.split("."))
    extras = project("core")["optional-dependencies"]
    assert isinstance(extras, dict)
    assert extras["cli"] == [f"functionfuse-cli>={functionfuse.__version__},<{major}.{minor + 1}"]


def test_the_changelog_has_an_entry_for_this_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## {functionfuse.__version__}" in changelog


def test_every_distribution_ships_license_readme_and_py_typed() -> None:
    for member in MEMBERS:
        folder = ROOT / member
        meta = project(member)
        assert (folder / "LICENSE").read_text() == (ROOT / "LICENSE").read_text(), member
        assert (folder / str(meta["readme"])).is_file(), member
        assert list((folder / "src").glob("*/py.typed")), member
        assert meta["requires-python"] == ">=3.10", member
        assert "Typing :: Typed" in meta["classifiers"], member  # type: ignore[operator]
