"""A workflow of the original Function Fuse's example shape, with only the imports mapped.

The original's examples compare scikit-learn classifiers over small generated datasets:
each classifier is passed to a node *as a class*, with a dict of its parameters; node
names hold spaces and commas ("moons, Nearest Neighbors-model"); the workflow is given
the datasets (its first nodes) and runs the whole graph; a notebook then lists the
stored results with glob patterns and reads them back to score and plot the models.
This is a test of that shape, written for this suite (small data, few iterations).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import matplotlib
import pytest

matplotlib.use("Agg")  # before pyplot: no display here

import matplotlib.pyplot as plt
import numpy as np
from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
from sklearn.ensemble import AdaBoostClassifier, RandomForestClassifier
from sklearn.gaussian_process import GaussianProcessClassifier
from sklearn.gaussian_process.kernels import RBF
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from functionfuse import storage_factory, workflow
from functionfuse_local import LocalWorkflow

WORKFLOW = "classifiers"

#: (name, class, parameters): the classes themselves go to the training nodes.
CLASSIFIERS: list[tuple[str, type[Any], dict[str, Any]]] = [
    ("Nearest Neighbors", KNeighborsClassifier, {"n_neighbors": 3}),
    ("Linear SVM", SVC, {"kernel": "linear", "C": 0.025}),
    ("RBF SVM", SVC, {"gamma": 2, "C": 1}),
    ("Gaussian Process", GaussianProcessClassifier, {"kernel": 1.0 * RBF(1.0)}),
    ("Decision Tree", DecisionTreeClassifier, {"max_depth": 5, "random_state": 0}),
    (
        "Random Forest",
        RandomForestClassifier,
        {"max_depth": 5, "n_estimators": 5, "max_features": 1, "random_state": 0},
    ),
    ("Neural Net", MLPClassifier, {"alpha": 1, "max_iter": 300, "random_state": 0}),
    ("AdaBoost", AdaBoostClassifier, {"n_estimators": 10, "random_state": 0}),
    ("Naive Bayes", GaussianNB, {}),
    ("QDA", QuadraticDiscriminantAnalysis, {}),
]
DATASETS = ["circles", "moons", "linearly separable"]

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class RunLog:
    """Counts node runs in a file (one appended line per run), as a notebook sees them."""

    def __init__(self, folder: Path) -> None:
        self.path = os.fspath(folder / "runs.log")

    def hit(self, name: str) -> None:
        with open(self.path, "a") as log:
            log.write(name + "\n")

    def names(self) -> list[str]:
        if not os.path.exists(self.path):
            return []
        with open(self.path) as log:
            return log.read().splitlines()


@workflow
def circles(log: RunLog, n: int) -> tuple[Any, Any]:
    from sklearn.datasets import make_circles

    log.hit("circles")
    return make_circles(n_samples=n, noise=0.2, factor=0.5, random_state=1)  # type: ignore[no-any-return]


@workflow
def moons(log: RunLog, n: int) -> tuple[Any, Any]:
    from sklearn.datasets import make_moons

    log.hit("moons")
    return make_moons(n_samples=n, noise=0.3, random_state=0)  # type: ignore[no-any-return]


@workflow
def linearly_separable(log: RunLog, n: int) -> tuple[Any, Any]:
    from sklearn.datasets import make_classification

    log.hit("linearly separable")
    x, y = make_classification(
        n_samples=n,
        n_features=2,
        n_redundant=0,
        n_informative=2,
        random_state=1,
        n_clusters_per_class=1,
    )
    x += 2 * np.random.RandomState(2).uniform(size=x.shape)
    return x, y


@workflow
def split(log: RunLog, name: str, x: Any, y: Any) -> dict[str, Any]:
    from sklearn.model_selection import train_test_split

    log.hit(f"{name} split")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.4, random_state=42)
    return {"X_train": x_train, "X_test": x_test, "y_train": y_train, "y_test": y_test}


@workflow
def train(
    log: RunLog, name: str, classifier: type[Any], parameters: dict[str, Any], x: Any, y: Any
) -> Any:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    log.hit(name)
    model = make_pipeline(StandardScaler(), classifier(**parameters))
    model.fit(x, y)
    return model


def build(log: RunLog, n: int = 60) -> list[Any]:
    """The graph: three datasets, each split once and given to every classifier."""
    makers = {"circles": circles, "moons": moons, "linearly separable": linearly_separable}
    datasets = []
    for name in DATASETS:
        data = makers[name](log, n).set_name(f"{name} samples")
        datasets.append(data)
        parts = split(log, name, data[0], data[1]).set_name(f"{name} split")
        for label, classifier, parameters in CLASSIFIERS:
            model_name = f"{name}, {label}-model"
            train(
                log, model_name, classifier, parameters, parts["X_train"], parts["y_train"]
            ).set_name(model_name)
    return datasets


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunLog, list[Any]]:
    """The workflow run once, as the original's script does (given its first nodes)."""
    folder = tmp_path_factory.mktemp("original-example")
    log = RunLog(folder)
    wf = LocalWorkflow(*build(log), workflow_name=WORKFLOW)
    wf.set_storage({"kind": "file", "options": {"path": str(folder / "storage")}})
    results = wf.run()
    return folder, log, results


def notebook_storage(folder: Path) -> Any:
    return storage_factory({"kind": "file", "options": {"path": str(folder / "storage")}})


def test_the_run_returns_the_nodes_it_was_given(first_run: tuple[Path, RunLog, Any]) -> None:
    _, log, results = first_run
    assert len(results) == 3
    assert [len(x) for x, _ in results] == [60, 60, 60]
    ran = log.names()
    assert len(ran) == len(set(ran)) == 3 * (2 + len(CLASSIFIERS))


def test_the_notebook_lists_results_with_patterns(first_run: tuple[Path, RunLog, Any]) -> None:
    folder, _, _ = first_run
    storage = notebook_storage(folder)
    everything = storage.list_tasks(workflow_name=WORKFLOW, pattern="*")
    assert len(everything) == 3 * (2 + len(CLASSIFIERS))
    models = storage.list_tasks(workflow_name=WORKFLOW, pattern="*-model")
    assert len(models) == 3 * len(CLASSIFIERS)
    assert storage.list_tasks(workflow_name=WORKFLOW, pattern="moons, *") == sorted(
        f"moons, {label}-model" for label, _, _ in CLASSIFIERS
    )
    svms = storage.list_tasks(workflow_name=WORKFLOW, pattern="*SVM-model")
    assert svms == sorted(f"{d}, {k} SVM-model" for d in DATASETS for k in ("Linear", "RBF"))
    assert storage.list_tasks(workflow_name=WORKFLOW, pattern="* split") == sorted(
        f"{d} split" for d in DATASETS
    )


def test_the_notebook_scores_and_plots_what_it_reads_back(
    first_run: tuple[Path, RunLog, Any],
) -> None:
    folder, _, _ = first_run
    storage = notebook_storage(folder)
    scores = {}
    for name in DATASETS:
        parts = storage.read_task(workflow_name=WORKFLOW, task_name=f"{name} split")
        for label, classifier, _ in CLASSIFIERS:
            model = storage.read_task(workflow_name=WORKFLOW, task_name=f"{name}, {label}-model")
            assert isinstance(model.steps[-1][1], classifier)
            scores[name, label] = model.score(parts["X_test"], parts["y_test"])
    assert all(0.0 <= score <= 1.0 for score in scores.values())
    assert scores["moons", "RBF SVM"] > 0.7  # trained models, not placeholders

    # The decision surfaces of one dataset's models, as the notebook draws them.
    x, y = storage.read_task(workflow_name=WORKFLOW, task_name="moons samples")
    grid_x, grid_y = np.meshgrid(
        np.linspace(x[:, 0].min() - 0.5, x[:, 0].max() + 0.5, 30),
        np.linspace(x[:, 1].min() - 0.5, x[:, 1].max() + 0.5, 30),
    )
    figure, axes = plt.subplots(1, len(CLASSIFIERS), figsize=(15, 2))
    for axis, (label, _, _) in zip(axes, CLASSIFIERS, strict=True):
        model = storage.read_task(workflow_name=WORKFLOW, task_name=f"moons, {label}-model")
        surface = model.predict(np.c_[grid_x.ravel(), grid_y.ravel()]).reshape(grid_x.shape)
        axis.contourf(grid_x, grid_y, surface, alpha=0.8)
        axis.scatter(x[:, 0], x[:, 1], c=y, s=4)
        axis.set_title(f"{label}: {scores['moons', label]:.2f}", fontsize=6)
    figure.savefig(folder / "moons.png", dpi=40)
    plt.close(figure)
    assert (folder / "moons.png").stat().st_size > 0


def run_again(folder: Path, log: RunLog, **options: Any) -> tuple[list[str], Any]:
    """The workflow built and run again in this process; the nodes that ran."""
    before = len(log.names())
    wf = LocalWorkflow(*build(log), workflow_name=WORKFLOW)
    wf.set_storage({"kind": "file", "options": {"path": str(folder / "storage")}})
    results = wf.run(**options)
    return log.names()[before:], results


SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
import test_original_examples as example
from pathlib import Path
ran, _ = example.run_again(Path(sys.argv[2]), example.RunLog(Path(sys.argv[2])))
print("RAN", len(ran))
"""


def test_the_script_run_again_runs_nothing(first_run: tuple[Path, RunLog, Any]) -> None:
    """As the original's script is used: ``python model_training_workflow.py`` twice."""
    folder, log, _ = first_run
    before = len(log.names())
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(Path(__file__).parent), str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "RAN 0" in done.stdout, done.stdout[-2000:] + done.stderr[-4000:]
    assert log.names()[before:] == []


def test_an_unchanged_workflow_runs_nothing_the_second_time(
    first_run: tuple[Path, RunLog, Any], reports: Any
) -> None:
    """As a notebook does: the cell that builds and runs the workflow, run again."""
    folder, _, first_results = first_run
    log = RunLog(folder)
    ran_again, results = run_again(folder, log)
    if ran_again and _known_import_defect(reports.reruns):
        # Issue 16: an import inside a node ("from sklearn.datasets import make_moons")
        # fingerprints differently before and after the driver process has imported that
        # module (the first run does), so in one process everything runs once more. A
        # second process fingerprints like the first (see the script test above).
        pytest.xfail("issue 16: a node's import fingerprints differently once imported")
    assert ran_again == []
    for (x, y), (x0, y0) in zip(results, first_results, strict=True):
        assert np.array_equal(x, x0)
        assert np.array_equal(y, y0)


def _known_import_defect(reruns: dict[str, list[str]]) -> bool:
    """The reruns are those of the defect: the datasets' code, and what is downstream."""
    datasets = {f"{name} samples": name.replace(" ", "_") for name in DATASETS}
    if not set(datasets) <= set(reruns):
        return False
    for node, reasons in reruns.items():
        if node in datasets:
            if reasons != [f"code changed ({datasets[node]})"]:
                return False
        elif not all(reason.startswith("upstream changed") for reason in reasons):
            return False
    return True


def test_the_original_behaviour_by_name_also_runs_nothing(
    first_run: tuple[Path, RunLog, Any],
) -> None:
    folder, log, _ = first_run
    ran_again, _ = run_again(folder, log, resume="name")
    assert ran_again == []
