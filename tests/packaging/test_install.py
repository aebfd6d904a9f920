"""The distributions as a user meets them: built wheels in fresh virtual environments.

Inside the workspace every package is installed editable side by side, which hides a
missing dependency, a file left out of a wheel or an entry point that only works from a
source tree. Here the wheels are built (``uv build --all-packages``) and installed with
``uv pip`` into new environments that know nothing of the workspace; third-party
dependencies come from the package index (or uv's cache).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import functionfuse

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
VERSION = functionfuse.__version__


def uv() -> list[str]:
    """The uv that runs this suite (``uv run`` sets ``UV``), else the one on PATH."""
    found = os.environ.get("UV") or shutil.which("uv")
    if found:
        return [found]
    return [sys.executable, "-m", "uv"]  # installed with pip into this interpreter


def clean_env() -> dict[str, str]:
    """This process's environment without the workspace's virtual environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.pop("UV_PROJECT_ENVIRONMENT", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
    return env


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        args, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=600
    )
    if check and done.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every distribution built from the source tree: {distribution name: wheel}."""
    out = tmp_path_factory.mktemp("dist")
    run([*uv(), "build", "--all-packages", "--no-config", "-o", str(out)], cwd=ROOT)
    found = {wheel.name.split("-")[0].replace("_", "-"): wheel for wheel in out.glob("*.whl")}
    assert sorted(found) == sorted(
        [
            "functionfuse",
            "functionfuse-cli",
            "functionfuse-dask",
            "functionfuse-fs",
            "functionfuse-local",
            "functionfuse-plugins",
            "functionfuse-ray",
        ]
    )
    assert len(list(out.glob("*.tar.gz"))) == len(found)  # and an sdist each
    return found


class Env:
    """A fresh virtual environment outside the workspace, driven by uv pip."""

    def __init__(self, folder: Path, wheels: dict[str, Path]) -> None:
        self.folder = folder
        self.wheels = wheels
        self.work = folder / "work"  # where its commands run: no pyproject.toml around
        self.work.mkdir(parents=True)
        run(
            [*uv(), "venv", "--no-config", "--python", sys.executable, str(folder / "venv")],
            cwd=self.work,
        )
        self.python = str(folder / "venv" / "bin" / "python")
        self.fuse = str(folder / "venv" / "bin" / "fuse")  # functionfuse-cli's console script

    def install(self, *names: str, extra: tuple[str, ...] = ()) -> None:
        """Install distributions by name from the built wheels (the others found there
        too); ``extra``: more requirements, e.g. ``numpy``."""
        run(
            [
                *uv(),
                "pip",
                "install",
                "--no-config",
                "--python",
                self.python,
                "--find-links",
                str(self.wheels["functionfuse"].parent),
                *(str(self.wheels[name]) for name in names),
                *extra,
            ],
            cwd=self.work,
        )

    def uninstall(self, *names: str) -> None:
        run(
            [*uv(), "pip", "uninstall", "--no-config", "--python", self.python, *names],
            cwd=self.work,
        )

    def python_json(self, code: str) -> object:
        """Run ``code`` in the environment; it prints one JSON document."""
        done = run([self.python, "-c", textwrap.dedent(code)], cwd=self.work)
        return json.loads(done.stdout.strip().splitlines()[-1])


LISTING = """
    import json, functionfuse
    print(json.dumps(sorted(
        [c.kind, c.name, c.distribution, c.version] for c in functionfuse.components()
    )))
"""

UNKNOWN = """
    import json, functionfuse
    try:
        {call}
    except functionfuse.UnknownComponentError as error:
        print(json.dumps(str(error)))
    else:
        print(json.dumps("no error"))
"""


@pytest.fixture(scope="module")
def core_alone(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> Env:
    env = Env(tmp_path_factory.mktemp("core-alone"), wheels)
    env.install("functionfuse")
    return env


def test_core_alone_imports_and_asks_for_a_backend(core_alone: Env) -> None:
    info = core_alone.python_json(
        """
        import json, sys, functionfuse
        heavy = sorted(m for m in ("ray", "fsspec", "s3fs", "numpy") if m in sys.modules)
        print(json.dumps([functionfuse.__version__, heavy]))
        """
    )
    assert info == [VERSION, []]
    assert core_alone.python_json(LISTING) == []
    message = core_alone.python_json(UNKNOWN.format(call='functionfuse.backend("local")'))
    assert 'pip install "functionfuse-local"' in str(message)
    message = core_alone.python_json(
        UNKNOWN.format(call='functionfuse.storage_factory("s3://b/p")')
    )
    assert "functionfuse-fs[s3]" in str(message)


def test_core_alone_is_a_library_without_the_fuse_command(core_alone: Env) -> None:
    assert not Path(core_alone.fuse).exists()
    info = core_alone.python_json(
        """
        import importlib.util, json, sys, functionfuse
        config = functionfuse.config.parse_config  # config files are library API
        print(json.dumps([
            importlib.util.find_spec("functionfuse_cli") is None,
            importlib.util.find_spec("rich") is None,
            hasattr(functionfuse, "ProgressReporter"),
        ]))
        """
    )
    assert info == [True, True, False]
    done = run([core_alone.python, "-m", "functionfuse_cli"], cwd=core_alone.work, check=False)
    assert done.returncode != 0
    assert "No module named functionfuse_cli" in done.stderr


@pytest.fixture(scope="module")
def core_and_cli(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> Env:
    """``pip install "functionfuse[cli]"``: the extra brings functionfuse-cli (and rich)."""
    env = Env(tmp_path_factory.mktemp("core-and-cli"), wheels)
    env.install(extra=(f"functionfuse[cli] @ {wheels['functionfuse'].as_uri()}",))
    return env


def test_the_cli_extra_installs_the_fuse_command(core_and_cli: Env) -> None:
    listing = run([core_and_cli.fuse, "plugins"], cwd=core_and_cli.work).stdout
    assert "backends (functionfuse.backends):\n  (none installed)" in listing
    version = run([core_and_cli.fuse, "--version"], cwd=core_and_cli.work).stdout
    assert version.strip() == f"functionfuse {VERSION} (functionfuse-cli {VERSION})"
    info = core_and_cli.python_json(
        """
        import json, sys
        import functionfuse
        before = sorted(m for m in ("rich", "functionfuse_cli") if m in sys.modules)
        from functionfuse_cli import ProgressReporter
        with ProgressReporter(quiet=True):
            pass
        print(json.dumps([before, ProgressReporter.__module__]))
        """
    )
    assert info == [[], "functionfuse_cli._progress"]


def test_the_installed_cli_writes_a_whole_report_page(core_and_cli: Env) -> None:
    """The page's script, style and template are package data: in the wheel, inlined."""
    sizes = core_and_cli.python_json(
        """
        import json, re
        from functionfuse_cli import write_report
        node = {"name": "a", "status": "ran", "parents": []}
        write_report({"format": "functionfuse-run/1", "nodes": [node]}, "r.html")
        page = open("r.html", encoding="utf-8").read()
        parts = re.search(r"<style>(.*)</style>.*<script>(.*)</script>", page, re.S)
        print(json.dumps([len(parts.group(1)), len(parts.group(2)), "__JS__" in page]))
        """
    )
    assert isinstance(sizes, list)
    assert sizes[0] > 1000  # report.css
    assert sizes[1] > 10000  # report.js
    assert sizes[2] is False  # every marker of template.html replaced


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> Env:
    """core + cli + local + fs (and numpy for the quickstart), grown and shrunk by the tests
    below, which run in file order."""
    env = Env(tmp_path_factory.mktemp("grown"), wheels)
    names = ("functionfuse", "functionfuse-cli", "functionfuse-local", "functionfuse-fs")
    env.install(*names, extra=("numpy",))
    return env


def test_core_local_and_fs_run_the_quickstart_and_resume(grown: Env) -> None:
    quickstart = str(ROOT / "examples" / "quickstart.py")
    first = run([grown.python, quickstart], cwd=grown.work).stdout
    second = run([grown.python, quickstart], cwd=grown.work).stdout
    assert "rmse     ran in" in first
    assert "rmse     from storage" in second
    assert "ran in" not in second
    assert (grown.work / "storage" / "quickstart").is_dir()


def test_installed_later_ray_and_plugins_are_found_by_name(grown: Env) -> None:
    before = grown.python_json(LISTING)
    assert ["backend", "local", "functionfuse-local", VERSION] in before  # type: ignore[operator]
    assert not [c for c in before if c[2] in ("functionfuse-ray", "functionfuse-plugins")]  # type: ignore[union-attr,index]
    grown.install("functionfuse-ray", "functionfuse-plugins")  # a month later
    after = grown.python_json(LISTING)
    for row in (
        ["backend", "ray", "functionfuse-ray", VERSION],
        ["node plugin", "random_state", "functionfuse-plugins", VERSION],
        ["node plugin", "initializer", "functionfuse-plugins", VERSION],
        ["node plugin", "collection", "functionfuse-plugins", VERSION],
    ):
        assert row in after  # type: ignore[operator]
    found = grown.python_json(
        """
        import json, functionfuse
        ray_backend = functionfuse.backend("ray")
        plugin = functionfuse.plugin("random_state", seed=3)
        print(json.dumps([ray_backend.__name__, type(plugin).__name__, plugin.seed]))
        """
    )
    assert found == ["RayWorkflow", "RandomStatePlugin", 3]
    listing = run([grown.fuse, "plugins"], cwd=grown.work).stdout
    columns = [line.split() for line in listing.splitlines()]
    assert ["ray", "functionfuse-ray", VERSION, "functionfuse_ray:RayWorkflow"] in columns
    assert ["random_state", "functionfuse-plugins", VERSION] in [c[:3] for c in columns]


def test_an_uninstalled_distribution_leaves_discovery_cleanly(grown: Env) -> None:
    grown.uninstall("functionfuse-plugins")
    listing = grown.python_json(LISTING)
    assert not [c for c in listing if c[2] == "functionfuse-plugins"]  # type: ignore[union-attr,index]
    assert ["backend", "ray", "functionfuse-ray", VERSION] in listing  # type: ignore[operator]
    message = grown.python_json(UNKNOWN.format(call='functionfuse.plugin("random_state")'))
    assert 'pip install "functionfuse-plugins"' in str(message)
    warnings = run(
        [grown.python, "-W", "error", "-c", "import functionfuse; functionfuse.components()"],
        cwd=grown.work,
    )
    assert warnings.stderr == ""
