"""Installed or project code (issue 16): where a module lives decides whether its code is
walked (the project's) or counted by its distribution's name and version (installed).

Every case runs in a fresh interpreter, with a throw-away distribution ``fakelib``
placed where pip, uv, conda, Debian or a cluster's module system would put it. Its
classes hold what cannot be fingerprinted (a lock in a closure), as scikit-learn's
properties do: walking them by mistake would make a node unknown.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from .conftest import RunPython

PYTHON = f"python{sys.version_info.major}.{sys.version_info.minor}"

FAKELIB = '''
import threading

_lock = threading.Lock()


def _guarded(name):
    def get(self):
        with _lock:
            return getattr(self, "_" + name)

    return property(get)


class Estimator:
    """An installed class whose internals cannot be fingerprinted (a lock in a closure)."""

    coef_ = _guarded("coef")

    def fit(self, x):
        return x


def transform(x):
    return x + 1
'''

CLASSIFY = """
import json, sys
import fakelib.core
from functionfuse import _fingerprint_installed as installed

print(json.dumps({
    "installed": installed._installed("fakelib.core"),
    "distribution": installed.distribution("fakelib.core"),
    "stdlib": [installed._installed("json.decoder"), installed.distribution("json.decoder")],
    "main": installed._installed("__main__"),
}))
"""


def install(folder: Path, version: str = "1.0", record: bool = True) -> None:
    """``fakelib`` (a package) in ``folder``, with a ``*.dist-info`` naming its files."""
    package = folder / "fakelib"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "core.py").write_text(FAKELIB)
    for old in folder.glob("fakelib-*.dist-info"):
        for file in old.iterdir():
            file.unlink()
        old.rmdir()
    dist_info = folder / f"fakelib-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: fakelib\nVersion: {version}\n"
    )
    files = ["fakelib/__init__.py,,", "fakelib/core.py,,"] if record else []
    files.append(f"fakelib-{version}.dist-info/METADATA,,")
    (dist_info / "RECORD").write_text("\n".join(files) + "\n")


def classify(run_python: RunPython, path: list[Path], **env: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(run_python(CLASSIFY, path=path, env=env).stdout)
    assert found["stdlib"] == [True, None]  # the standard library: by name only
    assert found["main"] is False
    return found


@pytest.mark.parametrize(
    "where",
    [
        f"overlay/lib/{PYTHON}/site-packages",  # uv run --with, a venv, conda
        "usr/lib/python3/dist-packages",  # Debian
        "target",  # pip install --target, then PYTHONPATH: found by its RECORD
    ],
    ids=["site-packages", "dist-packages", "target-folder"],
)
def test_a_package_in_a_site_folder_or_with_metadata_is_installed(
    run_python: RunPython, tmp_path: Path, where: str
) -> None:
    folder = tmp_path / where
    install(folder)
    found = classify(run_python, [folder])
    assert found["installed"] is True
    assert found["distribution"] == ["fakelib", "1.0"]


def test_a_package_in_the_user_site_is_installed(run_python: RunPython, tmp_path: Path) -> None:
    """``pip install --user`` (HPC clusters): the user site of ``PYTHONUSERBASE``."""
    env = {"PYTHONUSERBASE": str(tmp_path / "userbase")}
    user_site = Path(
        run_python("import site; print(site.getusersitepackages())", env=env).stdout.strip()
    )
    assert user_site.is_relative_to(tmp_path)
    install(user_site)
    # A virtual environment leaves the user site off sys.path: put it there.
    found = classify(run_python, [user_site], **env)
    assert found["installed"] is True
    assert found["distribution"] == ["fakelib", "1.0"]


def test_a_folder_of_modules_without_metadata_is_the_projects(
    run_python: RunPython, tmp_path: Path
) -> None:
    """A package next to the pipeline, or on PYTHONPATH without any metadata (and a
    ``*.dist-info`` that does not name its files proves nothing)."""
    install(tmp_path / "code", record=False)
    found = classify(run_python, [tmp_path / "code"])
    assert found == {**found, "installed": False, "distribution": None}


def test_an_editable_install_is_the_projects(run_python: RunPython, tmp_path: Path) -> None:
    """``pip install -e .``: the ``*.dist-info`` and a ``.pth`` file live in the site
    folder; the code stays in the project's ``src/``, which is what is walked."""
    site_folder = tmp_path / "venv" / "lib" / PYTHON / "site-packages"
    install(tmp_path / "src", record=False)
    for old in (tmp_path / "src").glob("*.dist-info"):  # only the package stays in src/
        for file in old.iterdir():
            file.unlink()
        old.rmdir()
    dist_info = site_folder / "fakelib-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakelib\nVersion: 1.0\n")
    (dist_info / "RECORD").write_text("__editable__.fakelib-1.0.pth,,\n")
    (site_folder / "__editable__.fakelib-1.0.pth").write_text(str(tmp_path / "src") + "\n")
    code = f"import site; site.addsitedir({str(site_folder)!r})\n" + CLASSIFY
    found = json.loads(run_python(code).stdout)
    assert found["installed"] is False
    assert found["distribution"] is None


@pytest.mark.parametrize(
    ("where", "env", "installed"),
    [
        ("code", {"FUNCTIONFUSE_INSTALLED": "other, fakelib"}, True),
        (f"lib/{PYTHON}/site-packages", {"FUNCTIONFUSE_PROJECT": "fakelib.core"}, False),
        (f"lib/{PYTHON}/site-packages", {"FUNCTIONFUSE_PROJECT": "fakelib.other"}, True),
    ],
    ids=["installed-by-name", "project-by-name", "another-module-named"],
)
def test_modules_named_in_the_environment_are_what_they_are_named(
    run_python: RunPython, tmp_path: Path, where: str, env: dict[str, str], installed: bool
) -> None:
    """The escape hatch: a package (and every module in it) or one module named as
    installed or as the project's."""
    install(tmp_path / where, record=False)
    assert classify(run_python, [tmp_path / where], **env)["installed"] is installed


def test_configure_names_modules_and_switches_versions_off() -> None:
    """``functionfuse.lineage.configure()``: the same from Python, for this process."""
    from functionfuse import _fingerprint_installed as installed
    from functionfuse.lineage import configure

    try:
        configure(installed=["tests.core"])
        assert installed._installed(__name__)
        configure(installed=[], project=["json"])
        assert not installed._installed(__name__)
        assert not installed._installed("json.decoder")
        configure(versions=False)
        assert not installed.track_versions()
    finally:
        configure(installed=[], project=[], versions=True)
    assert installed._installed("json.decoder")
    assert installed.track_versions()


# -- installed code in fingerprints ---------------------------------------------------------

STAMP = """
import json, sys
import fakelib.core
from functionfuse import workflow
from functionfuse._fingerprint import Lineage
from functionfuse._graph import connected_nodes


@workflow
def uses_code(x):
    return fakelib.core.transform(x)


@workflow
def takes(estimator, x):
    return estimator


import os
stored = json.loads(os.environ.get("STORED_STAMPS", "{}"))
out = {}
for name, node in {
    "code": uses_code(1),
    "class": takes(fakelib.core.Estimator, 1),
    "instance": takes(fakelib.core.Estimator(), 1),
}.items():
    lineage = Lineage(connected_nodes([node]))
    stamp = lineage.stamp(node)
    before = bytes.fromhex(stored[name]) if name in stored else None
    out[name] = {
        "fingerprint": lineage.fingerprints[node].hex(),
        "stamp": stamp.hex(),
        "explain": lineage.explain(node, before) if before else None,
    }
print(json.dumps(out))
"""


def stamps(
    run_python: RunPython, folder: Path, before: dict[str, Any] | None = None, **env: str
) -> dict[str, Any]:
    stored = json.dumps({k: v["stamp"] for k, v in (before or {}).items()})
    done = run_python(STAMP, path=[folder], env={**env, "STORED_STAMPS": stored})
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_installed_code_counts_by_distribution_and_version(
    run_python: RunPython, tmp_path: Path
) -> None:
    """A node calling ``fakelib``, or given its class or an instance: known (its
    internals are never walked), the same in every process, and run again when
    ``fakelib`` is upgraded — the reason says from which version to which."""
    folder = tmp_path / "overlay" / "lib" / PYTHON / "site-packages"
    install(folder, "1.0")
    first = stamps(run_python, folder, PYTHONHASHSEED="1")
    again = stamps(run_python, folder, first, PYTHONHASHSEED="2")
    for name, found in again.items():
        assert found["fingerprint"] == first[name]["fingerprint"], name
    install(folder, "1.1")
    upgraded = stamps(run_python, folder, first)
    for name, found in upgraded.items():
        assert found["fingerprint"] != first[name]["fingerprint"], name
        assert found["explain"] == ["fakelib 1.0 → 1.1"], name


def test_version_tracking_off_keeps_fingerprints_across_upgrades(
    run_python: RunPython, tmp_path: Path
) -> None:
    folder = tmp_path / "lib" / PYTHON / "site-packages"
    install(folder, "1.0")
    off = {"FUNCTIONFUSE_TRACK_VERSIONS": "0"}
    first = stamps(run_python, folder, **off)
    install(folder, "2.0")
    upgraded = stamps(run_python, folder, first, **off)
    for name, found in upgraded.items():
        assert found["fingerprint"] == first[name]["fingerprint"], name
    # Turning tracking on again is a change, and says so.
    tracked = stamps(run_python, folder, first)
    assert tracked["code"]["explain"] == ["package versions now tracked"]


SKLEARN = """
import json
import numpy as np
from sklearn.gaussian_process.kernels import RBF, WhiteKernel
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC

from functionfuse import workflow
from functionfuse._fingerprint import Lineage
from functionfuse._graph import connected_nodes


@workflow
def train(model, options, x):
    return model


nodes = [
    train(SVC, {"kernel": "linear", "C": 0.025}, 1),
    train(KNeighborsClassifier, {"n_neighbors": 3}, 1),
    train(SVC(gamma=2, C=1), {}, 1),
    train(RBF(1.0) + WhiteKernel(0.1), {"seed": np.int64(3)}, 1),
]
lineage = Lineage(connected_nodes(nodes))
print(json.dumps({
    "fingerprints": [
        None if lineage.fingerprints[n] is None else lineage.fingerprints[n].hex() for n in nodes
    ],
    "problems": [str(p) for p in lineage._problems.values()],
    "stamp": lineage.stamp(nodes[0]).hex(),
}))
"""


def test_scikit_learn_estimators_and_kernels_as_arguments_fingerprint(
    run_python: RunPython,
) -> None:
    """The original Function Fuse's classifier comparison passes estimator classes,
    instances and kernels as arguments: each is fingerprinted (scikit-learn is never
    walked), the same under every hash seed, and the stamp names scikit-learn's version."""
    pytest.importorskip("sklearn")
    import sklearn

    outputs = [
        json.loads(run_python(SKLEARN, env={"PYTHONHASHSEED": seed}).stdout)
        for seed in ("0", "1", "2")
    ]
    assert outputs[0]["problems"] == []
    assert None not in outputs[0]["fingerprints"]
    assert len(set(outputs[0]["fingerprints"])) == 4
    assert all(out["fingerprints"] == outputs[0]["fingerprints"] for out in outputs)
    stamp = bytes.fromhex(outputs[0]["stamp"])
    assert f'["scikit-learn","{sklearn.__version__}"]'.encode() in stamp


def test_a_script_is_the_projects_and_its_installed_imports_are_not(
    run_python: RunPython, tmp_path: Path
) -> None:
    """Run as ``python script.py``, the script is ``__main__``: its functions are
    walked, while functions it imports from an installed package are named."""
    folder = tmp_path / "lib" / PYTHON / "site-packages"
    install(folder)
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            from fakelib.core import transform
            from functionfuse import _fingerprint_installed as installed

            def mine(x):
                return transform(x)

            print(installed._installed(mine.__module__), installed._installed(transform.__module__))
            """
        )
    )
    done = run_python(
        f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')", path=[folder]
    )
    assert done.stdout.split() == ["False", "True"]


IMPORTED_LATER = """
import importlib, json, sys
from functionfuse import workflow
from functionfuse._fingerprint import Lineage
from functionfuse._graph import connected_nodes


@workflow
def uses(x):
    from fakelib.core import transform
    import wave as sound
    import fakelib.core

    return transform(x), sound, fakelib.core


def fingerprint():
    node = uses(1)
    return Lineage(connected_nodes([node])).fingerprints[node].hex()


before = fingerprint()
assert "fakelib" not in sys.modules and "wave" not in sys.modules, "imported for a fingerprint"
importlib.import_module("fakelib.core")  # as the node's first run does (no global bound)
importlib.import_module("wave")
print(json.dumps([before, fingerprint()]))
"""


def test_an_import_inside_a_node_fingerprints_the_same_before_and_after_it_runs(
    run_python: RunPython, tmp_path: Path
) -> None:
    """``from sklearn.datasets import make_moons`` inside a node: the first run imports
    it; the same node built again in that process (a notebook cell run again) has the
    same fingerprint — and an installed module is never imported to be fingerprinted."""
    folder = tmp_path / "lib" / PYTHON / "site-packages"
    install(folder)
    before, after = json.loads(run_python(IMPORTED_LATER, path=[folder]).stdout)
    assert before == after
