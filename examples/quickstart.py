"""Quickstart: a small least-squares pipeline, run locally, resumable from ./storage.

    uv run examples/quickstart.py      # runs every node, stores results in ./storage
    uv run examples/quickstart.py      # again: every node comes from storage

The research code (the decorated functions and the class) says nothing about how or
where it runs; the last lines choose the local backend and file storage by name.
"""

from __future__ import annotations

import numpy as np

import functionfuse
from functionfuse import hookimpl, workflow

# -- research code --------------------------------------------------------------------


@workflow
def make_data(n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Points on a plane y = 3 x0 - 2 x1 + 1, with Gaussian noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2))
    y = x @ np.array([3.0, -2.0]) + 1.0 + rng.normal(0, noise, size=n)
    return x, y


@workflow
def split(data: tuple[np.ndarray, np.ndarray], test_fraction: float) -> dict[str, np.ndarray]:
    x, y = data
    cut = int(len(y) * (1 - test_fraction))
    return {"x_train": x[:cut], "y_train": y[:cut], "x_test": x[cut:], "y_test": y[cut:]}


@workflow
class LinearModel:
    """A stateful node: built once, then fitted and used by its method calls in order."""

    def __init__(self, ridge: float) -> None:
        self.ridge = ridge
        self.weights: np.ndarray | None = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        design = np.hstack([x, np.ones((len(x), 1))])
        gram = design.T @ design + self.ridge * np.eye(design.shape[1])
        self.weights = np.linalg.solve(gram, design.T @ y)
        return self.weights

    def predict(self, x: np.ndarray) -> np.ndarray:
        assert self.weights is not None, "fit() runs before predict()"
        return np.hstack([x, np.ones((len(x), 1))]) @ self.weights


@workflow
def evaluate(prediction: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((prediction - truth) ** 2)))


data = make_data(n=2_000, noise=0.1, seed=0).set_name("data")
parts = split(data, test_fraction=0.25).set_name("split")
model = LinearModel(ridge=1e-3).set_name("model")
weights = model.fit(parts["x_train"], parts["y_train"]).set_name("fit")
prediction = model.predict(parts["x_test"]).set_name("predict")
rmse = evaluate(prediction, parts["y_test"]).set_name("rmse")


# -- how it runs: chosen by the engineer ------------------------------------------------


class Report:
    """A hook plugin: says, for every node, whether it ran or came from storage."""

    def __init__(self) -> None:
        self.ran = 0

    @hookimpl
    def functionfuse_node_finish(self, node_name: str, duration: float, from_storage: bool) -> None:
        self.ran += not from_storage
        how = "from storage" if from_storage else f"ran in {duration * 1000:.1f} ms"
        print(f"  {node_name:<8} {how}")


def main() -> None:
    report = Report()
    functionfuse.get_plugin_manager().register(report)
    Workflow = functionfuse.backend("local")
    pipeline = Workflow(rmse, weights, workflow_name="quickstart")
    pipeline.set_storage({"kind": "file", "options": {"path": "storage"}})
    print("quickstart workflow:")
    result_rmse, result_weights = pipeline.run()
    print(f"weights {np.round(result_weights, 2)} (true: [3, -2, 1]), test RMSE {result_rmse:.4f}")
    if report.ran:
        print("Run it again: the nodes are not run but read from ./storage.")
    else:
        print("Every result came from ./storage; delete that folder to run it all again.")


if __name__ == "__main__":
    main()
