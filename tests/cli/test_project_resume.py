"""Resume on a real project of several modules (issue 16), end to end: ``fuse plan`` and
``fuse run pipeline.py --storage ./storage`` in fresh processes, each with another
``PYTHONHASHSEED``.

The pipeline imports helpers, settings and a model class from sibling modules, as
researchers lay projects out; each kind of edit re-runs exactly the nodes it should,
and ``fuse run`` and ``fuse plan`` name the culprit. An installed package (in a
``site-packages`` folder on ``PYTHONPATH``: an overlay) counts by its version, and
scikit-learn's estimator classes and kernels passed as arguments resume.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Fuse, write

Ran = Callable[[], list[str]]

PIPELINE = """
import os

from functionfuse import workflow

import settings
from helpers import scale
from models import Model


def log(name):
    with open(os.environ["FLOW_LOG"], "a") as file:
        file.write(name + "\\n")


@workflow
def load(n):
    log("load")
    return list(range(n))


@workflow
def prep(xs):
    log("prep")
    return [scale(x) for x in xs]


@workflow
def model(xs, k):
    log("model")
    return Model(k).fit(xs)


@workflow
def report(value, label):
    log("report")
    return f"{label}: {value}"


data = load(4).set_name("data")
prepped = prep(data).set_name("prep")
fitted = model(prepped, 10).set_name("model")
result = report(fitted, settings.LABEL).set_name("report")
"""

HELPERS = '''
"""Helpers of the pipeline."""
import settings


def scale(x):
    return _inner(x) * settings.SCALE


def _inner(x):
    return x + 1


def unused(x):
    return x - 1
'''

SETTINGS = """
SCALE = 2
LABEL = "total"
"""

MODELS = """
class Model:
    def __init__(self, k):
        self.k = k

    def fit(self, xs):
        return sum(xs) * self.k
"""

_seeds = itertools.count(1)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, source in [
        ("pipeline", PIPELINE),
        ("helpers", HELPERS),
        ("settings", SETTINGS),
        ("models", MODELS),
    ]:
        write(tmp_path / f"{name}.py", source)
    return tmp_path


def fresh(fuse: Fuse, *args: str) -> tuple[str, str]:
    """``fuse ARGS`` in a fresh process with a hash seed of its own, no bytecode cache
    (an edit within the same second must be what runs); its stdout and stderr."""
    env = {"PYTHONHASHSEED": str(next(_seeds)), "PYTHONDONTWRITEBYTECODE": "1"}
    done = fuse(*args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def reruns(stderr: str) -> list[str]:
    """The ``rerun`` lines of ``fuse run``'s progress."""
    return [line.split(None, 1)[1] for line in stderr.splitlines() if line.startswith("rerun ")]


def planned(stdout: str) -> list[str]:
    """The ``would run`` lines of ``fuse plan``, as ``name: reasons``."""
    prefix = "would run"
    return [line[len(prefix) :].strip() for line in stdout.splitlines() if line.startswith(prefix)]


RUN = ("run", "pipeline.py", "--storage", "storage")
PLAN = ("plan", "pipeline.py", "--storage", "storage")


@pytest.mark.parametrize(
    ("path", "old", "new", "expected"),
    [
        (
            "helpers.py",
            "return _inner(x) * settings.SCALE",
            "return _inner(x) * settings.SCALE + 1",
            [
                "prep: code changed (helpers.scale)",
                "model: upstream changed ('prep')",
                "report: upstream changed ('model')",
            ],
        ),
        (
            "helpers.py",
            "return x + 1",
            "return x + 3",
            [
                "prep: code changed (helpers._inner)",
                "model: upstream changed ('prep')",
                "report: upstream changed ('model')",
            ],
        ),
        (
            "settings.py",
            "SCALE = 2",
            "SCALE = 30",
            [
                "prep: code changed (settings.SCALE)",
                "model: upstream changed ('prep')",
                "report: upstream changed ('model')",
            ],
        ),
        (
            "models.py",
            "return sum(xs) * self.k",
            "return sum(xs) * self.k * 2",
            ["model: code changed (models.Model.fit)", "report: upstream changed ('model')"],
        ),
        (
            "pipeline.py",
            "model(prepped, 10)",
            "model(prepped, 20)",
            ["model: argument 'k' changed", "report: upstream changed ('model')"],
        ),
        (
            "settings.py",
            'LABEL = "total"',
            'LABEL = "sum of all"',
            ["report: argument 'label' changed"],
        ),
        ("helpers.py", '"""Helpers of the pipeline."""', '"""Helpers.\n\n\n# Moved."""', []),
        ("helpers.py", "return x - 1", "return x - 100", []),
        ("models.py", "    def fit(self, xs):", "    # Fit.\n    def fit(self, xs):", []),
    ],
    ids=[
        "helper",
        "helper-of-helper",
        "setting",
        "method",
        "argument",
        "setting-as-argument",
        "docstring-and-moved-code",
        "unused-helper",
        "comment",
    ],
)
def test_each_edit_reruns_exactly_the_nodes_it_should_and_names_the_culprit(
    fuse: Fuse,
    ran: Ran,
    project: Path,
    path: str,
    old: str,
    new: str,
    expected: list[str],
) -> None:
    fresh(fuse, *RUN)
    assert ran() == ["load", "prep", "model", "report"]
    stdout, _ = fresh(fuse, *PLAN)
    assert planned(stdout) == []
    assert stdout.endswith("Nothing would run: every stored result is up to date.\n")
    _, stderr = fresh(fuse, *RUN)
    assert ran() == []  # unchanged code runs nothing, whatever the hash seed

    edit(project / path, old, new)
    stdout, _ = fresh(fuse, *PLAN)
    assert planned(stdout) == expected
    assert ran() == []  # planning runs nothing
    _, stderr = fresh(fuse, *RUN)
    assert reruns(stderr) == expected
    assert ran() == [line.partition(":")[0] for line in expected]
    fresh(fuse, *RUN)
    assert ran() == []


FAKELIB = """
def fit(xs):
    return sum(xs)
"""

USES_FAKELIB = """
import os

from functionfuse import workflow
from fakelib import fit as fit_all


def log(name):
    with open(os.environ["FLOW_LOG"], "a") as file:
        file.write(name + "\\n")


@workflow
def load(n):
    log("load")
    return list(range(n))


@workflow
def fit(xs):
    log("fit")
    return fit_all(xs)


@workflow
def report(value):
    log("report")
    return f"total: {value}"


result = report(fit(load(4).set_name("data")).set_name("fit")).set_name("report")
"""


def install_fakelib(folder: Path, version: str, body: str = FAKELIB) -> None:
    for old in folder.glob("fakelib-*.dist-info"):
        for file in old.iterdir():
            file.unlink()
        old.rmdir()
    write(folder / "fakelib" / "__init__.py", body)
    info = folder / f"fakelib-{version}.dist-info"
    write(info / "METADATA", f"Metadata-Version: 2.1\nName: fakelib\nVersion: {version}\n")
    write(info / "RECORD", "fakelib/__init__.py,,\n")


def test_an_upgraded_package_in_an_overlay_reruns_its_users(
    fuse: Fuse, ran: Ran, tmp_path: Path
) -> None:
    """``fakelib`` in an overlay's ``site-packages`` on ``PYTHONPATH`` (``uv run
    --with``, a cluster's module): installed, so editing its files in place re-runs
    nothing (it is never walked), and upgrading it re-runs the nodes that use it."""
    overlay = tmp_path / "overlay" / "lib" / "python3" / "site-packages"
    install_fakelib(overlay, "1.0")
    write(tmp_path / "pipeline.py", USES_FAKELIB)

    def run(*args: str) -> tuple[str, str]:
        env = {
            "PYTHONPATH": str(overlay),
            "PYTHONHASHSEED": str(next(_seeds)),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        done = fuse(*args, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout, done.stderr

    run(*RUN)
    assert ran() == ["load", "fit", "report"]
    install_fakelib(overlay, "1.0", FAKELIB.replace("sum(xs)", "sum(xs) + 0"))
    run(*RUN)
    assert ran() == []
    install_fakelib(overlay, "1.1")
    stdout, _ = run(*PLAN)
    expected = ["fit: fakelib 1.0 → 1.1", "report: upstream changed ('fit')"]
    assert planned(stdout) == expected
    _, stderr = run(*RUN)
    assert reruns(stderr) == expected
    assert ran() == ["fit", "report"]


CLASSIFIERS = """
import os

import numpy as np
from functionfuse import workflow
from sklearn.datasets import make_moons
from sklearn.gaussian_process import GaussianProcessClassifier
from sklearn.gaussian_process.kernels import RBF
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC


def log(name):
    with open(os.environ["FLOW_LOG"], "a") as file:
        file.write(name + "\\n")


@workflow
def dataset(seed):
    log("dataset")
    return make_moons(n_samples=40, noise=0.3, random_state=seed)


@workflow
def train(data, model_class, options):
    log("train")
    x, y = data
    return model_class(**options).fit(x, y).score(x, y)


data = dataset(0).set_name("data")
scores = [
    train(data, KNeighborsClassifier, {"n_neighbors": 3}).set_name("knn"),
    train(data, SVC, {"kernel": "linear", "C": 0.025}).set_name("linear_svm"),
    train(data, SVC, {"gamma": 2, "C": 1}).set_name("rbf_svm"),
    train(data, GaussianProcessClassifier, {"kernel": 1.0 * RBF(1.0)}).set_name("gp"),
]
"""


def test_scikit_learn_classes_and_kernels_as_arguments_resume(
    fuse: Fuse, ran: Ran, tmp_path: Path
) -> None:
    """The original Function Fuse's classifier comparison: estimator classes and a
    kernel as arguments. The second run, in another process, runs nothing."""
    pytest.importorskip("sklearn")
    write(tmp_path / "pipeline.py", CLASSIFIERS)
    fresh(fuse, *RUN)
    assert sorted(ran()) == ["dataset", "train", "train", "train", "train"]
    stdout, _ = fresh(fuse, *PLAN)
    assert planned(stdout) == []
    _, stderr = fresh(fuse, *RUN)
    assert "warning" not in stderr
    assert ran() == []


def test_a_result_stored_by_0_1_runs_once_more(fuse: Fuse, ran: Ran, project: Path) -> None:
    """A result saved with 0.1's stamp (``ff1:``) is not compared part by part: it runs
    once more, with a reason, and then resumes."""
    from functionfuse_fs import FileStorage

    fresh(fuse, *RUN)
    ran()
    storage = FileStorage(str(project / "storage"))
    storage.save("pipeline", "data", [0, 1, 2, 3], fingerprint=b"ff1:" + bytes(65))
    stdout, _ = fresh(fuse, *PLAN)
    assert planned(stdout)[0] == "data: stored by an older release"
    _, stderr = fresh(fuse, *RUN)
    assert reruns(stderr)[0] == "data: stored by an older release"
    assert ran() == ["load"]
    fresh(fuse, *RUN)
    assert ran() == []
