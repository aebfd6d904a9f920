"""Fingerprints of a project of several modules (issue 16): a node's code is the code of
every project module it reaches — helpers, settings, models — and a stale stamp names
the culprit.

Each test writes a small project to a temp folder put on ``sys.path``, imports it, edits
one file and imports everything again under the same module names (as a second run of
the pipeline would), with bytecode caching off so that an edit made within the same
second is the code that runs.
"""

from __future__ import annotations

import importlib
import itertools
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from functionfuse._fingerprint import Lineage
from functionfuse._graph import connected_nodes
from functionfuse.runtime import Node, node_of

_serial = itertools.count()


class Project:
    """A folder of modules on ``sys.path``, each named ``<stem>_<unique>``; ``load``
    imports the pipeline module anew, with every module of the project."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.suffix = f"{os.getpid()}_{next(_serial)}"
        self.sources: dict[str, str] = {}

    def name(self, stem: str) -> str:
        return f"{stem}_{self.suffix}"

    def write(self, **modules: str) -> None:
        """Write modules by stem; ``{helpers}`` in a source stands for that module's name."""
        for stem, source in modules.items():
            self.sources[stem] = source
        names = {stem: self.name(stem) for stem in self.sources}
        for stem, source in self.sources.items():
            text = textwrap.dedent(source)
            for other, name in names.items():
                text = text.replace("{" + other + "}", name)
            path = self.root / f"{names[stem]}.py"
            if "/" in stem:  # a package's module
                path = self.root / f"{stem.replace('/', os.sep)}.py"
                path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def edit(self, stem: str, old: str, new: str) -> None:
        assert self.sources[stem].count(old) == 1, (stem, old)
        self.write(**{stem: self.sources[stem].replace(old, new)})

    def load(self, stem: str = "pipeline") -> ModuleType:
        self.forget()
        importlib.invalidate_caches()
        return importlib.import_module(self.name(stem))

    def forget(self) -> None:
        for name in list(sys.modules):
            if name.endswith(self.suffix) or name.startswith(f"pkg_{self.suffix}"):
                del sys.modules[name]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    found = Project(tmp_path)
    yield found
    found.forget()


def lineage_of(leaf: Any) -> tuple[Lineage, Node]:
    node = node_of(leaf)
    return Lineage(connected_nodes([node])), node


def fingerprint(leaf: Any) -> bytes:
    lineage, node = lineage_of(leaf)
    found = lineage.fingerprints[node]
    assert found is not None, lineage._problems.get(node)
    return found


def reasons(before: Any, after: Any) -> list[str]:
    """What ``after``'s lineage says of the stamp ``before`` was stored with."""
    lineage, node = lineage_of(before)
    stamp = lineage.stamp(node)
    now, node_now = lineage_of(after)
    return now.explain(node_now, stamp)


PIPELINE = """
from functionfuse import workflow

import {settings}
from {helpers} import scale
from {models} import Model


@workflow
def prep(x):
    return scale(x) + {settings}.OFFSET


@workflow
def fit(x):
    return Model(x).fit()


def build():
    return [prep(2), fit(3)]
"""

HELPERS = '''
"""Helpers of the pipeline."""
import {settings}


def scale(x):
    """Scale a number."""
    return _inner(x) * {settings}.SCALE


def _inner(x):
    return x + 1


def unused(x):
    return x - 1
'''

SETTINGS = """
SCALE = 2
OFFSET = 10
NAMES = ("a", "b")
CACHE = {}
"""

MODELS = """
from {helpers} import scale


class Base:
    def predict(self, x):
        return x


class Model(Base):
    KIND = "linear"

    def __init__(self, x):
        self.x = x

    def fit(self):
        return scale(self.x)

    @property
    def size(self):
        return 1
"""


@pytest.fixture
def pipeline(project: Project) -> Project:
    project.write(pipeline=PIPELINE, helpers=HELPERS, settings=SETTINGS, models=MODELS)
    return project


@pytest.mark.parametrize(
    ("stem", "old", "new", "prep", "fit"),
    [
        ("helpers", "return _inner(x) *", "return _inner(x) +", "helpers.scale", "helpers.scale"),
        ("helpers", "return x + 1", "return x + 2", "helpers._inner", "helpers._inner"),
        ("settings", "SCALE = 2", "SCALE = 3", "settings.SCALE", "settings.SCALE"),
        ("settings", "OFFSET = 10", "OFFSET = 11", "settings.OFFSET", None),
        ("models", "return scale(self.x)", "return 2 * scale(self.x)", None, "models.Model.fit"),
        ("models", 'KIND = "linear"', 'KIND = "tree"', None, "models.Model"),
        ("models", "return x\n", "return -x\n", None, "models.Base.predict"),
        ("models", "return 1\n", "return 2\n", None, "models.Model.size"),
    ],
    ids=[
        "helper",
        "helper-of-helper",
        "setting",
        "setting-read-by-attribute",
        "method",
        "class-attribute",
        "base-class-method",
        "property",
    ],
)
def test_an_edit_in_a_sibling_module_reruns_exactly_its_users_and_is_named(
    pipeline: Project, stem: str, old: str, new: str, prep: str | None, fit: str | None
) -> None:
    """``prep`` → ``helpers.scale`` → ``helpers._inner`` → ``settings.SCALE``, and
    ``fit`` → ``models.Model`` (its methods, properties, class attributes, base class)
    → ``helpers.scale``: an edit anywhere on that path changes the fingerprints of the
    nodes that reach it — only those — and the reason names the part that changed
    (prefixed by its module: it is not the node's own)."""
    before = pipeline.load().build()
    pipeline.edit(stem, old, new)
    after = pipeline.load().build()
    for expected, old_leaf, new_leaf in zip((prep, fit), before, after, strict=True):
        if expected is None:
            assert fingerprint(new_leaf) == fingerprint(old_leaf)
        else:
            assert fingerprint(new_leaf) != fingerprint(old_leaf)
            name = expected.replace(".", f"_{pipeline.suffix}.", 1)
            assert reasons(old_leaf, new_leaf) == [f"code changed ({name})"]


@pytest.mark.parametrize(
    ("stem", "old", "new"),
    [
        ("helpers", '"""Scale a number."""', '"""Scale a number, and more docs."""'),
        ("helpers", '"""Helpers of the pipeline."""', '"""Helpers.\n\n\n# Moved down."""'),
        ("helpers", "return x - 1", "return x - 2"),
        ("settings", "CACHE = {}", "CACHE = {'hits': 1}"),
        ("settings", 'NAMES = ("a", "b")', 'NAMES = ("a", "c")'),
        ("models", "    def fit(self):", "    # Fit it.\n    def fit(self):"),
    ],
    ids=["docstring", "moved", "unused-helper", "mutable-data", "unread-constant", "comment"],
)
def test_edits_that_change_no_behaviour_of_the_nodes_leave_fingerprints_alone(
    pipeline: Project, stem: str, old: str, new: str
) -> None:
    """Docstrings, comments, moved lines, a function of ``helpers`` that nothing
    calls, a constant of ``settings`` that nothing reads, mutable module data."""
    before = [fingerprint(leaf) for leaf in pipeline.load().build()]
    pipeline.edit(stem, old, new)
    assert [fingerprint(leaf) for leaf in pipeline.load().build()] == before


IMPORTS_INSIDE = """
from functionfuse import workflow


@workflow
def local_from(x):
    from {helpers} import scale

    return scale(x)


@workflow
def local_as(x):
    import {helpers} as h

    return h.scale(x)


@workflow
def local_package(x):
    from pkg_{suffix}.tools import double

    return double(x)


@workflow
def package_attribute(x):
    import pkg_{suffix}.tools

    return pkg_{suffix}.tools.double(x)


def build():
    return [local_from(1), local_as(1), local_package(1), package_attribute(1)]
"""


def test_imports_inside_a_node_function_are_followed(project: Project) -> None:
    """``from helpers import scale`` or ``import helpers as h`` inside the node's body
    (the way pipelines for Ray and process pools are often written), and a package's
    module: the function read there counts by its code, imported for the fingerprint if
    it is not imported yet."""
    project.write(
        pipeline=IMPORTS_INSIDE.replace("{suffix}", project.suffix),
        helpers=HELPERS,
        settings=SETTINGS,
    )
    package = project.root / f"pkg_{project.suffix}"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tools.py").write_text("def double(x):\n    return 2 * x\n")
    before = [fingerprint(leaf) for leaf in project.load().build()]
    assert f"pkg_{project.suffix}.tools" in sys.modules  # imported to be fingerprinted
    project.edit("helpers", "return x + 1", "return x + 5")
    (package / "tools.py").write_text("def double(x):\n    return 3 * x\n")
    after = [fingerprint(leaf) for leaf in project.load().build()]
    assert all(a != b for a, b in zip(before, after, strict=True))
    project.forget()
    assert [fingerprint(leaf) for leaf in project.load().build()] == after


def test_modules_that_import_each_other_are_walked_once(project: Project) -> None:
    """``ping.ping`` calls ``pong.pong``, which calls ``ping.ping``: the walk ends, and
    an edit on either side is seen."""
    project.write(
        pipeline="""
        from functionfuse import workflow
        import {ping}

        @workflow
        def node(n):
            return {ping}.ping(n)
        """,
        ping="""
        import {pong}

        def ping(n):
            return {pong}.pong(n - 1) if n else 0
        """,
        pong="""
        import {ping}

        def pong(n):
            return {ping}.ping(n - 1) if n else 1
        """,
    )
    before = project.load().node(3)
    project.edit("pong", "else 1", "else 2")
    after = project.load().node(3)
    assert fingerprint(after) != fingerprint(before)
    assert reasons(before, after) == [f"code changed ({project.name('pong')}.pong)"]


def test_a_node_reports_the_first_few_changed_parts(project: Project) -> None:
    """Several parts changed at once: the first three by walk order, then a count."""
    project.write(
        pipeline="""
        from functionfuse import workflow
        from {helpers} import a, b, c, d

        @workflow
        def node(x):
            return a(x) + b(x) + c(x) + d(x)
        """,
        helpers="""
        def a(x):
            return x + 1

        def b(x):
            return x + 2

        def c(x):
            return x + 3

        def d(x):
            return x + 4
        """,
    )
    before = project.load().node(1)
    project.write(helpers=project.sources["helpers"].replace("return x +", "return x -"))
    after = project.load().node(1)
    helpers = project.name("helpers")
    assert reasons(before, after) == [
        f"code changed ({helpers}.a, {helpers}.b, {helpers}.c and 1 more)"
    ]


def test_a_stamp_stays_small_however_much_code_a_node_reaches(project: Project) -> None:
    """A node reaching 300 functions: its stamp keeps the first 200 parts (well under
    the 64 KiB a storage header holds); an edit among them is named, one beyond is
    still a code change, without a name."""
    chain = "\n".join(f"def f{i}(x):\n    return f{i + 1}(x) + {i}\n" for i in range(300))
    project.write(
        pipeline="""
        from functionfuse import workflow
        from {helpers} import f0

        @workflow
        def node(x):
            return f0(x)
        """,
        helpers=chain + "def f300(x):\n    return x\n",
    )
    before = project.load().node(1)
    lineage, node = lineage_of(before)
    stamp = lineage.stamp(node)
    assert stamp is not None
    assert len(stamp) < 20_000
    helpers = project.name("helpers")
    project.edit("helpers", "return f6(x) + 5", "return f6(x) - 5")
    assert reasons(before, project.load().node(1)) == [f"code changed ({helpers}.f5)"]
    project.edit("helpers", "return f6(x) - 5", "return f6(x) + 5")
    project.edit("helpers", "return f251(x) + 250", "return f251(x) - 250")
    assert reasons(before, project.load().node(1)) == ["code changed"]
