"""`fuse graph`: Mermaid and DOT text without anything installed, SVG/PNG via Graphviz."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Fuse, write

PIPELINE = """
from functionfuse import workflow

@workflow
def load():
    return [1, 2]

@workflow
class Model:
    def fit(self, data):
        return self
    def predict(self, data):
        return data

@workflow
def report(prediction, note):
    return prediction

data = load().set_name('say "hi"')
model = Model().set_name("model")
fitted = model.fit(data).set_name("fit")
prediction = model.predict(data).set_name("predict")
out = report(prediction, {"fit": fitted}).set_name("report")
"""

MERMAID = """\
flowchart TD
    n0["say #quot;hi#quot;"]
    n1[["model"]]
    n2["fit"]
    n3["predict"]
    n4["report"]
    n1 -.-> n2
    n0 --> n2
    n2 -.-> n3
    n0 --> n3
    n3 --> n4
    n2 --> n4
"""

DOT = """\
digraph "pipeline" {
    rankdir=TB;
    node [shape=box, style=rounded, fontname="Helvetica"];
    n0 [label="say \\"hi\\""];
    n1 [label="model", shape=box3d, style=solid];
    n2 [label="fit"];
    n3 [label="predict"];
    n4 [label="report"];
    n1 -> n2 [style=dashed];
    n0 -> n2;
    n2 -> n3 [style=dashed];
    n0 -> n3;
    n3 -> n4;
    n2 -> n4;
}
"""


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    return write(tmp_path / "pipeline.py", PIPELINE)


def no_dot_path(tmp_path: Path) -> str:
    """A PATH on which there is no Graphviz `dot`."""
    folder = tmp_path / "bin-without-dot"
    folder.mkdir(exist_ok=True)
    assert shutil.which("dot", path=str(folder)) is None
    return str(folder)


def test_mermaid_by_default(fuse: Fuse, pipeline: Path, tmp_path: Path) -> None:
    done = fuse("graph", "pipeline.py", env={"PATH": no_dot_path(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout == MERMAID


def test_dot_text(fuse: Fuse, pipeline: Path, tmp_path: Path) -> None:
    done = fuse("graph", "pipeline.py", "--format", "dot", env={"PATH": no_dot_path(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout == DOT


def test_output_file_and_format_from_its_suffix(fuse: Fuse, pipeline: Path, tmp_path: Path) -> None:
    done = fuse("graph", "pipeline.py", "-o", "graph.dot")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert (tmp_path / "graph.dot").read_text() == DOT
    assert fuse("graph", "pipeline.py:prediction", "-o", "graph.mmd").returncode == 0
    assert (tmp_path / "graph.mmd").read_text() == MERMAID  # the whole connected graph


def test_svg_and_png_without_graphviz_say_how_to_get_it(
    fuse: Fuse, pipeline: Path, tmp_path: Path
) -> None:
    for args in (["--format", "svg"], ["--format", "png", "-o", "g.png"], ["-o", "g.svg"]):
        done = fuse("graph", "pipeline.py", *args, env={"PATH": no_dot_path(tmp_path)})
        assert done.returncode == 2
        assert "needs Graphviz's `dot` program, which is not on PATH" in done.stderr
        assert "apt install graphviz" in done.stderr
        assert "brew install graphviz" in done.stderr
        assert "--format dot" in done.stderr
    assert not (tmp_path / "g.png").exists()


def test_svg_with_graphviz(
    fuse: Fuse, pipeline: Path, tmp_path: Path, require_program: Callable[[str, str], str]
) -> None:
    require_program("dot", "graphviz")  # skipped without Graphviz, except in CI
    done = fuse("graph", "pipeline.py", "--format", "svg")
    assert done.returncode == 0, done.stderr
    assert "<svg" in done.stdout
    assert "predict" in done.stdout
    assert fuse("graph", "pipeline.py", "-o", "g.png").returncode == 0
    assert (tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")


def test_graph_of_a_bad_target_exits_2(fuse: Fuse, tmp_path: Path) -> None:
    done = fuse("graph", "nowhere.py")
    assert done.returncode == 2
    assert "no file 'nowhere.py'" in done.stderr
