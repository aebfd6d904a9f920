"""The original Function Fuse's Ray example shape: a sparse logistic regression on Ray with
the ``ray`` storage kind, and a notebook that reads the model back and plots it.

The original trains an L1 logistic regression on MNIST fetched from OpenML; here the same
graph trains on scikit-learn's bundled digits (no download, seconds to run). Its shape is
kept: the workflow is given its first node, the storage is made after the workflow (the
original's comment says Ray is initialised there), the model node asks for resources with
``query("^model$").set_remote_args(...)``, and a separate Python session (a notebook)
lists the stored results and reads the model back through a ``ray`` storage config with
``rayInitArgs``. This is a test of that shape, written for this suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import ray

from functionfuse import storage_factory, workflow
from functionfuse_ray import RayWorkflow

from .graphs import Counter

WORKFLOW = "classifier"
STORAGE_REMOTE_ARGS = {"resources": {"storage_disk": 0.001}}


@workflow
def digits_dataset(counter: Counter) -> tuple[Any, Any]:
    from sklearn.datasets import load_digits
    from sklearn.utils import check_random_state

    counter.hit("dataset")
    x, y = load_digits(return_X_y=True)
    permutation = check_random_state(0).permutation(x.shape[0])
    return x[permutation].reshape((x.shape[0], -1)), y[permutation]


@workflow
def train_test_split(
    counter: Counter, x: Any, y: Any, train_samples: int, test_size: int
) -> dict[str, Any]:
    from sklearn.model_selection import train_test_split

    counter.hit("dataset_split")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, train_size=train_samples, test_size=test_size, random_state=0
    )
    return {"X_train": x_train, "X_test": x_test, "y_train": y_train, "y_test": y_test}


@workflow
def train_model(counter: Counter, x: Any, y: Any) -> Any:
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    counter.hit("model")
    major, minor = (int(part) for part in sklearn.__version__.split(".")[:2])
    # An L1 penalty: `penalty="l1"` until scikit-learn 1.8 deprecated it for l1_ratio.
    l1: dict[str, Any] = {"l1_ratio": 1.0} if (major, minor) >= (1, 8) else {"penalty": "l1"}
    model = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=50.0 / len(x), solver="saga", tol=0.1, **l1),
    )
    model.fit(x, y)
    return model


def build(counter: Counter) -> Any:
    dataset = digits_dataset(counter).set_name("dataset")
    x, y = dataset[0], dataset[1]
    split = train_test_split(counter, x, y, train_samples=500, test_size=300).set_name(
        "dataset_split"
    )
    train_model(counter, split["X_train"], split["y_train"]).set_name("model")
    return dataset


def run_example(counter: Counter, storage_path: Path) -> Any:
    ray_workflow = RayWorkflow(build(counter), workflow_name=WORKFLOW)
    # As in the original: the storage is made after the workflow.
    storage = storage_factory(
        {
            "kind": "ray",
            "options": {"remoteArgs": STORAGE_REMOTE_ARGS, "path": str(storage_path)},
        }
    )
    ray_workflow.set_storage(storage)
    ray_workflow.query(pattern="^model$").set_remote_args(
        {"num_cpus": 1, "resources": {"gadget": 1}}
    )
    return ray_workflow.run()


NOTEBOOK = """
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from functionfuse import storage_factory

the_workflow_name = "classifier"
opt = {
    "kind": "ray",
    "options": {
        "rayInitArgs": {"address": sys.argv[1], "logging_level": "ERROR"},
        "remoteArgs": {"resources": {"storage_disk": 0.001}},
        "path": sys.argv[2],
    },
}
storage = storage_factory(opt)
all_tasks = storage.list_tasks(workflow_name=the_workflow_name, pattern="*")

clf = storage.read_task(workflow_name=the_workflow_name, task_name="model")
dataset_split = storage.read_task(workflow_name=the_workflow_name, task_name="dataset_split")
X_test, y_test = dataset_split["X_test"], dataset_split["y_test"]
lr = clf.named_steps["logisticregression"]
sparsity = np.mean(lr.coef_ == 0) * 100
score = clf.score(X_test, y_test)

coef = lr.coef_.copy()
plt.figure(figsize=(10, 5))
scale = np.abs(coef).max()
for i in range(10):
    plot = plt.subplot(2, 5, i + 1)
    plot.imshow(coef[i].reshape(8, 8), interpolation="nearest", cmap=plt.cm.RdBu,
                vmin=-scale, vmax=scale)
    plot.set_xticks(())
    plot.set_yticks(())
    plot.set_xlabel("Class %i" % i)
plt.suptitle("Classification vector for...")
plt.savefig(sys.argv[3], dpi=30)
print("RESULT " + json.dumps([all_tasks, float(sparsity), float(score), coef.shape]))
"""


def read_back_in_a_notebook(storage_path: Path, picture: Path) -> Any:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(NOTEBOOK),
            ray.get_runtime_context().gcs_address,
            str(storage_path),
            str(picture),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=dict(os.environ),  # the session's Ray token and settings
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise AssertionError(f"exit {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")


@pytest.mark.slow
def test_the_sparse_logistic_regression_example_runs_resumes_and_reads_back(
    tmp_path: Path,
) -> None:
    counter = Counter(tmp_path)
    storage_path = tmp_path / "storage"
    x, y = run_example(counter, storage_path)
    assert x.shape == (1797, 64)
    assert y.shape == (1797,)
    assert counter.counts() == {"dataset": 1, "dataset_split": 1, "model": 1}

    names, sparsity, score, shape = read_back_in_a_notebook(storage_path, tmp_path / "coef.png")
    assert names == ["dataset", "dataset_split", "model"]
    assert shape == [10, 64]
    assert 0.0 < sparsity < 100.0  # an L1 penalty zeroes some coefficients, not all
    assert score > 0.7
    assert (tmp_path / "coef.png").stat().st_size > 0

    counter.clear()
    x2, y2 = run_example(counter, storage_path)  # an unchanged workflow: nothing runs
    assert counter.counts() == {}
    assert (x2 == x).all()
    assert (y2 == y).all()
