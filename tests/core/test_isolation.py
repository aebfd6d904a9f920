"""What only a fresh interpreter shows: import cost, install hints, hook auto-loading."""

from __future__ import annotations

import json
from pathlib import Path

import pluggy

from .conftest import CORE_SRC, Distributions, RunPython


def test_import_loads_no_heavy_module_and_scans_nothing(run_python: RunPython) -> None:
    result = run_python(
        """
        import json, sys

        opened = []

        def audit(event, args):
            if event == "open" and isinstance(args[0], str):
                opened.append(args[0])

        sys.addaudithook(audit)
        import functionfuse
        after_import = [p for p in opened if p.endswith(("entry_points.txt", "METADATA"))]
        heavy = ["ray", "fsspec", "s3fs", "numpy", "functionfuse_fs", "functionfuse_ray"]
        loaded = sorted(m for m in heavy if m in sys.modules)
        functionfuse.components()
        after_listing = [p for p in opened if p.endswith("entry_points.txt")]
        print(json.dumps([after_import, loaded, len(after_listing)]))
        """
    )
    after_import, loaded, scanned = json.loads(result.stdout)
    assert after_import == []
    assert loaded == []
    assert scanned > 0  # the audit hook does see a scan when one happens


def test_import_and_config_files_load_neither_the_cli_nor_rich(
    run_python: RunPython, tmp_path: Path
) -> None:
    config = tmp_path / "fuse.toml"
    config.write_text('workflow_name = "w"\n[backend]\nname = "local"\n')
    result = run_python(
        f"""
        import json, sys

        import functionfuse

        functionfuse.load_config({str(config)!r})  # config files are the core's own
        print(json.dumps(sorted(
            m for m in sys.modules
            if m.partition(".")[0] in ("rich", "functionfuse_cli")
            or m.startswith("functionfuse.") and any(
                word in m for word in ("cli", "progress", "render", "target")
            )
        )))
        """
    )
    assert json.loads(result.stdout) == []


def pluggy_only(tmp_path: Path) -> Path:
    """A folder holding pluggy alone, for an interpreter that sees no other package."""
    folder = tmp_path / "pluggy-only"
    folder.mkdir()
    (folder / "pluggy").symlink_to(Path(pluggy.__file__).parent, target_is_directory=True)
    return folder


def test_well_known_names_hint_at_their_distribution(run_python: RunPython, tmp_path: Path) -> None:
    # -S: no site-packages, so none of this workspace's distributions is installed.
    result = run_python(
        """
        import json, functionfuse

        attempts = {
            "ray": lambda: functionfuse.backend("ray"),
            "local": lambda: functionfuse.backend("local"),
            "s3 url": lambda: functionfuse.storage_factory("s3://bucket/prefix"),
            "S3 kind": lambda: functionfuse.storage_factory({"kind": "S3", "options": {}}),
            "path": lambda: functionfuse.storage_factory("./storage"),
            "random_state": lambda: functionfuse.plugin("random_state", seed=0),
            "unknown": lambda: functionfuse.backend("nosuch"),
        }
        messages = {}
        for name, attempt in attempts.items():
            try:
                attempt()
            except functionfuse.UnknownComponentError as error:
                messages[name] = str(error)
        print(json.dumps(messages))
        """,
        path=[CORE_SRC, pluggy_only(tmp_path)],
        args=("-S",),
    )
    messages = json.loads(result.stdout)
    assert messages.keys() == {
        "ray", "local", "s3 url", "S3 kind", "path", "random_state", "unknown"
    }  # fmt: skip
    for message in messages.values():
        assert "(installed: none)" in message
    assert messages["ray"].endswith('pip install "functionfuse-ray"')
    assert messages["local"].endswith('pip install "functionfuse-local"')
    assert messages["s3 url"].endswith('pip install "functionfuse-fs[s3]"')
    assert messages["S3 kind"].endswith('pip install "functionfuse-fs[s3]"')
    assert messages["path"].endswith('pip install "functionfuse-fs"')
    assert messages["random_state"].endswith('pip install "functionfuse-plugins"')
    assert "pip install" not in messages["unknown"]


HOOKS = "functionfuse.hooks"

GOOD_HOOK = """
from functionfuse import hookimpl

class Observer:
    @hookimpl
    def functionfuse_node_finish(self, node_name):
        pass
"""

MODULE_HOOK = """
from functionfuse import hookimpl

@hookimpl
def functionfuse_workflow_finish(workflow_name):
    pass
"""

HALF_GOOD_HOOK = """
from functionfuse import hookimpl

class HalfGood:
    @hookimpl
    def functionfuse_node_start(self, node_name):
        pass

    @hookimpl
    def functionfuse_workflow_start(self, workflow_name, colour):
        pass
"""

LOAD_HOOKS = """
import json, sys, warnings

import functionfuse
from functionfuse.runtime import lifecycle_hooks

modules = sys.argv[1:]
before = [m for m in modules if m in sys.modules]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    manager = functionfuse.get_plugin_manager()
    hooks = lifecycle_hooks()
from functionfuse._hooks import hook_load_errors

print(json.dumps({
    "imported_at_import": before,
    "imported": [m for m in modules if m in sys.modules],
    "registered": sorted(
        n for n, _ in manager.list_name_plugin() if n.startswith("functionfuse.hooks:")
    ),
    "impls": sorted(
        [slot, impl.plugin_name]
        for slot in hooks.__slots__
        for impl in getattr(manager.hook, "functionfuse_" + slot).get_hookimpls()
    ),
    "callers": sorted(s for s in hooks.__slots__ if getattr(hooks, s) is not None),
    "warnings": [
        [w.category.__name__, str(w.message)] for w in caught
    ],
    "errors": [[e.name, e.distribution, type(e.__cause__).__name__] for e in hook_load_errors()],
}))
"""


def hook_distributions(distributions: Distributions) -> list[str]:
    good = distributions.module_name("observer")
    module_hook = distributions.module_name("module_hook")
    broken = distributions.module_name("broken_hook")
    half = distributions.module_name("half_hook")
    distributions.add(
        "ff-test-hooks",
        {HOOKS: {"observer": f"{good}:Observer", "finisher": module_hook}},
        {good: GOOD_HOOK, module_hook: MODULE_HOOK},
    )
    distributions.add(
        "ff-test-broken-hooks",
        {HOOKS: {"broken": f"{broken}:Hook", "halfgood": f"{half}:HalfGood"}},
        {broken: "raise ImportError('no such dependency')\n", half: HALF_GOOD_HOOK},
        version="0.9",
    )
    return [good, module_hook, broken, half]


def run_hooks(
    run_python: RunPython, distributions: Distributions, modules: list[str], **env: str
) -> dict[str, list]:  # type: ignore[type-arg]
    code = f"import sys; sys.argv[1:] = {modules!r}\n{LOAD_HOOKS}"
    result = run_python(code, path=[distributions.root], env=env)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_hook_plugins_are_auto_loaded_and_broken_ones_skipped(
    run_python: RunPython, distributions: Distributions
) -> None:
    modules = hook_distributions(distributions)
    report = run_hooks(run_python, distributions, modules)
    good, module_hook, _broken, half = modules
    assert report["imported_at_import"] == []  # loaded on first use, not at import
    assert report["imported"] == [good, module_hook, half]
    mine = {f"{HOOKS}:{name}" for name in ("observer", "finisher", "broken", "halfgood")}
    registered = [name for name in report["registered"] if name in mine]
    assert registered == [f"{HOOKS}:finisher", f"{HOOKS}:observer"]
    # The half-good plugin is refused as a whole: none of its hooks is called.
    assert [impl for impl in report["impls"] if impl[1] in mine] == [
        ["node_finish", f"{HOOKS}:observer"],
        ["workflow_finish", f"{HOOKS}:finisher"],
    ]
    assert {"node_finish", "workflow_finish"} <= set(report["callers"])
    assert [e[:2] for e in report["errors"]] == [
        ["broken", "ff-test-broken-hooks"],
        ["halfgood", "ff-test-broken-hooks"],
    ]
    assert report["errors"][0][2] == "ImportError"
    assert [category for category, _ in report["warnings"]] == ["FunctionFuseWarning"] * 2
    broken_warning, half_warning = (message for _, message in report["warnings"])
    assert "'broken'" in broken_warning
    assert "no such dependency" in broken_warning
    assert "ff-test-broken-hooks 0.9" in broken_warning
    assert "FUNCTIONFUSE_DISABLE_PLUGIN_AUTOLOAD=1" in broken_warning
    assert "'halfgood'" in half_warning
    assert "colour" in half_warning


def test_hook_autoload_can_be_turned_off(
    run_python: RunPython, distributions: Distributions
) -> None:
    modules = hook_distributions(distributions)
    report = run_hooks(run_python, distributions, modules, FUNCTIONFUSE_DISABLE_PLUGIN_AUTOLOAD="1")
    assert report["imported"] == []
    assert report["registered"] == []
    assert report["impls"] == []
    assert report["callers"] == []
    assert report["warnings"] == []
    assert report["errors"] == []
