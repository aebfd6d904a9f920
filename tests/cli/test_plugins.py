"""`fuse plugins [--check]`: what is installed, and which components fail to import."""

from __future__ import annotations

from pathlib import Path

from .conftest import Fuse, write


def add_distribution(site: Path, name: str, entry_points: str, modules: dict[str, str]) -> None:
    """A throw-away installed distribution in ``site`` (a folder put on PYTHONPATH)."""
    dist_info = site / f"{name.replace('-', '_')}-2.5.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 2.5.0\n")
    (dist_info / "entry_points.txt").write_text(entry_points)
    for module, source in modules.items():
        write(site / f"{module}.py", source)


def test_lists_first_party_components_with_distribution_and_version(fuse: Fuse) -> None:
    done = fuse("plugins")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "backends (functionfuse.backends):"
    local = next(line.split() for line in lines if line.split()[:1] == ["local"])
    assert local[1:] == ["functionfuse-local", "0.1.0", "functionfuse_local:LocalWorkflow"]
    assert "storage kinds (functionfuse.storage):" in lines
    assert "node plugins (functionfuse.plugins):" in lines
    assert any(line.split()[:2] == ["random_state", "functionfuse-plugins"] for line in lines)
    assert "hook plugins (functionfuse.hooks):" in lines


def test_check_reports_the_broken_ones_and_exits_1(fuse: Fuse, tmp_path: Path) -> None:
    site = tmp_path / "site"
    add_distribution(
        site,
        "functionfuse-broken",
        "[functionfuse.backends]\nbroken = ff_cli_broken:Workflow\n\n"
        "[functionfuse.hooks]\nnoisy = ff_cli_hooks:Noisy\n",
        {
            "ff_cli_broken": "raise ImportError('needs libfoo 3, found 2')\n",
            "ff_cli_hooks": """
                from functionfuse import hookimpl

                class Noisy:
                    @hookimpl
                    def functionfuse_node_finish(self, node_name):
                        pass
                """,
        },
    )
    env = {"PYTHONPATH": str(site), "FUNCTIONFUSE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    listed = fuse("plugins", env=env)
    assert listed.returncode == 0  # listing imports nothing
    assert "broken" in listed.stdout

    done = fuse("plugins", "--check", env=env)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    broken = next(line for line in lines if line.split()[:1] == ["broken"])
    assert "functionfuse-broken 2.5.0" in broken
    assert broken.endswith("FAILED: ImportError: needs libfoo 3, found 2")
    noisy = next(line for line in lines if line.split()[:1] == ["noisy"])
    assert noisy.endswith("ok")
    local = next(line for line in lines if line.split()[:1] == ["local"])
    assert local.endswith("ok")
    assert "1 component(s) failed to load" in done.stderr


def test_check_all_ok_exits_0(fuse: Fuse) -> None:
    done = fuse("plugins", "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAILED" not in done.stdout
