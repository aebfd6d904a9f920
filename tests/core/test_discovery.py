"""Discovery: components of a throw-away distribution found by name, with no core change."""

from __future__ import annotations

import sys
from typing import Any

import pytest

import functionfuse
from functionfuse import (
    BaseWorkflow,
    Component,
    ComponentLoadError,
    ConfigurationError,
    FunctionFuseWarning,
    UnknownComponentError,
    workflow,
)

from .conftest import Distributions

BACKENDS = "functionfuse.backends"
STORAGE = "functionfuse.storage"
PLUGINS = "functionfuse.plugins"

TOOLS = '''
from functionfuse import BaseWorkflow, Plugin
from functionfuse.runtime import resolve_arguments


class TmpBackend(BaseWorkflow):
    """Runs function nodes in graph order, in this process."""

    backend_name = "tmpbackend"

    def run(self, **options):
        values = {}
        for _, node in self.graph_traversal():
            args, kwargs = resolve_arguments(node, values.__getitem__)
            values[node] = node.call(args, kwargs)
        return self.collect_results(values.__getitem__)


class DictStorage:
    always_read = False

    def __init__(self, where, options):
        self.where = where
        self.options = options
        self.data = {}

    @classmethod
    def from_config(cls, options):
        return cls("config", options)

    @classmethod
    def from_url(cls, url, options):
        return cls(url, options)

    def new_workflow(self, workflow_name):
        self.data.setdefault(workflow_name, {})

    def save(self, workflow_name, task_name, obj):
        self.data.setdefault(workflow_name, {})[task_name] = obj

    def read_task(self, workflow_name, task_name):
        try:
            return self.data[workflow_name][task_name]
        except KeyError:
            raise FileNotFoundError(task_name) from None

    def file_exists(self, workflow_name, task_name):
        return task_name in self.data.get(workflow_name, {})

    def list_tasks(self, workflow_name, pattern="*"):
        return sorted(self.data.get(workflow_name, {}))

    def remove_task(self, workflow_name, task_name=None, pattern=None):
        self.data.get(workflow_name, {}).pop(task_name, None)

    def remove_workflow(self, workflow_name):
        self.data.pop(workflow_name, None)


class PlainStorage(DictStorage):
    """No from_config / from_url: the class itself is called."""

    from_config = None
    from_url = None

    def __init__(self, where="plain", **options):
        super().__init__(where, options)


class SeedPlugin(Plugin):
    def __init__(self, seed, *, step=1):
        self.seed = seed
        self.step = step

    def local_initialize(self):
        self.seed += self.step


class NotABackend:
    pass


def not_a_storage(**options):
    return object()


class NotAPlugin:
    def __init__(self, **options):
        pass
'''


GOOD_BACKEND = """
from functionfuse import BaseWorkflow

class Good(BaseWorkflow):
    def run(self, **options):
        pass
"""


@pytest.fixture
def tools(distributions: Distributions) -> str:
    """A distribution ``ff-test-tools`` 1.2.3 with one component of each kind; its module."""
    module = distributions.module_name("tools")
    distributions.add(
        "ff-test-tools",
        {
            BACKENDS: {
                "tmpbackend": f"{module}:TmpBackend",
                "notabackend": f"{module}:NotABackend",
            },
            STORAGE: {
                "tmpstore": f"{module}:DictStorage",
                "MixedStore": f"{module}:DictStorage",
                "plainstore": f"{module}:PlainStorage",
                "notastore": f"{module}:not_a_storage",
            },
            PLUGINS: {"tmpplugin": f"{module}:SeedPlugin", "notaplugin": f"{module}:NotAPlugin"},
        },
        {module: TOOLS},
    )
    return module


@workflow
def add(a: int, b: int) -> int:
    return a + b


def by_name(group: str) -> dict[str, Component]:
    return {c.name: c for c in functionfuse.components(group)}


def test_components_are_listed_without_importing_them(tools: str) -> None:
    listed = functionfuse.components()
    assert tools not in sys.modules
    mine = [c for c in listed if c.distribution == "ff-test-tools"]
    assert {(c.group, c.name) for c in mine} == {
        (BACKENDS, "tmpbackend"),
        (BACKENDS, "notabackend"),
        (STORAGE, "tmpstore"),
        (STORAGE, "MixedStore"),
        (STORAGE, "plainstore"),
        (STORAGE, "notastore"),
        (PLUGINS, "tmpplugin"),
        (PLUGINS, "notaplugin"),
    }
    backend = by_name(BACKENDS)["tmpbackend"]
    assert backend == Component(
        BACKENDS, "tmpbackend", f"{tools}:TmpBackend", "ff-test-tools", "1.2.3"
    )
    assert backend.kind == "backend"
    assert by_name(STORAGE)["tmpstore"].kind == "storage kind"
    assert by_name(PLUGINS)["tmpplugin"].kind == "node plugin"
    assert all(c.group == PLUGINS for c in functionfuse.components(PLUGINS))
    assert tools not in sys.modules


def test_backend_by_name_runs_a_graph(tools: str) -> None:
    cls = functionfuse.backend("tmpbackend")
    assert tools in sys.modules
    assert cls is sys.modules[tools].TmpBackend
    assert issubclass(cls, BaseWorkflow)
    leaf = add(add(1, 2), 10)
    assert cls(leaf, workflow_name="tmp").run() == 13


def test_storage_kind_by_config_in_another_case(tools: str) -> None:
    storage = functionfuse.storage_factory({"kind": "TmpStore", "options": {"path": "x"}})
    assert type(storage) is sys.modules[tools].DictStorage
    assert (storage.where, storage.options) == ("config", {"path": "x"})  # type: ignore[attr-defined]
    assert isinstance(storage, functionfuse.Storage)


@pytest.mark.parametrize("kind", ["MixedStore", "mixedstore", "MIXEDSTORE"])
def test_storage_kind_registered_in_mixed_case(tools: str, kind: str) -> None:
    storage = functionfuse.storage_factory({"kind": kind})
    assert storage.where == "config"  # type: ignore[attr-defined]
    storage = functionfuse.storage_factory(f"{kind}://bucket")
    assert storage.where == f"{kind}://bucket"  # type: ignore[attr-defined]


def test_storage_kind_by_url(tools: str) -> None:
    storage = functionfuse.storage_factory("tmpstore://bucket/prefix", token="t")
    assert type(storage) is sys.modules[tools].DictStorage
    assert storage.where == "tmpstore://bucket/prefix"  # type: ignore[attr-defined]
    assert storage.options == {"token": "t"}  # type: ignore[attr-defined]
    upper = functionfuse.storage_factory("TMPSTORE://bucket")
    assert upper.where == "TMPSTORE://bucket"  # type: ignore[attr-defined]


def test_storage_class_without_factories_is_called(tools: str) -> None:
    storage = functionfuse.storage_factory({"kind": "plainstore", "options": {"a": 1}})
    assert (storage.where, storage.options) == ("plain", {"a": 1})  # type: ignore[attr-defined]
    storage = functionfuse.storage_factory("plainstore://here", b=2)
    assert (storage.where, storage.options) == ("plainstore://here", {"b": 2})  # type: ignore[attr-defined]


def test_workflow_set_storage_by_config_and_url(tools: str) -> None:
    wf = functionfuse.backend("tmpbackend")(add(1, 2), workflow_name="w")
    wf.set_storage({"kind": "tmpstore", "options": {}})
    assert wf.storage is not None
    assert wf.storage.where == "config"
    wf.set_storage("tmpstore://b")
    assert wf.storage is not None
    assert wf.storage.where == "tmpstore://b"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"kind": "tmpstore", "path": "x"}, "unknown key 'path'"),
        ({"options": {}}, "needs a 'kind'"),
        ({"kind": "tmpstore", "options": ["x"]}, "'options' must be a dict"),
    ],
)
def test_bad_storage_config(tools: str, config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        functionfuse.storage_factory(config)


def test_storage_options_twice(tools: str) -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        functionfuse.storage_factory({"kind": "tmpstore"}, token="x")


def test_plugin_by_name_with_options(tools: str) -> None:
    plugin = functionfuse.plugin("tmpplugin", seed=3, step=2)
    assert type(plugin) is sys.modules[tools].SeedPlugin
    assert (plugin.seed, plugin.step) == (3, 2)


@pytest.mark.parametrize("options", [{}, {"seed": 1, "colour": "red"}])
def test_plugin_with_wrong_options(tools: str, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="'tmpplugin'") as info:
        functionfuse.plugin("tmpplugin", **options)
    assert "tmpplugin(seed, *, step=1)" in str(info.value)


def test_component_of_the_wrong_type(tools: str) -> None:
    with pytest.raises(ComponentLoadError, match=r"subclass of functionfuse\.BaseWorkflow") as info:
        functionfuse.backend("notabackend")
    assert "ff-test-tools" in str(info.value)
    assert info.value.distribution == "ff-test-tools"
    assert (info.value.group, info.value.name) == (BACKENDS, "notabackend")
    with pytest.raises(ComponentLoadError, match="not a storage"):
        functionfuse.storage_factory({"kind": "notastore"})
    with pytest.raises(ConfigurationError, match="is not a node plugin"):
        functionfuse.plugin("notaplugin")


def test_broken_component_names_its_distribution(distributions: Distributions) -> None:
    good = distributions.module_name("good")
    broken = distributions.module_name("broken")
    distributions.add(
        "ff-test-good",
        {BACKENDS: {"goodbackend": f"{good}:Good"}},
        {good: GOOD_BACKEND},
    )
    distributions.add(
        "ff-test-broken",
        {
            BACKENDS: {"brokenbackend": f"{broken}:Backend"},
            PLUGINS: {"missingplugin": f"{good}:DoesNotExist"},
        },
        {broken: "raise RuntimeError('boom at import')\n"},
        version="0.0.1",
    )
    listed = {c.name for c in functionfuse.components()}
    assert {"goodbackend", "brokenbackend", "missingplugin"} <= listed
    with pytest.raises(ComponentLoadError) as info:
        functionfuse.backend("brokenbackend")
    error = info.value
    assert isinstance(error, ImportError)
    assert isinstance(error.__cause__, RuntimeError)
    assert str(error.__cause__) == "boom at import"
    assert error.distribution == "ff-test-broken"
    message = str(error)
    assert "'brokenbackend'" in message
    assert "ff-test-broken 0.0.1" in message
    assert "boom at import" in message
    # ...and nothing else is broken.
    assert functionfuse.backend("goodbackend").__name__ == "Good"
    assert functionfuse.backend("local").__name__ == "LocalWorkflow"
    with pytest.raises(ComponentLoadError, match="ff-test-broken") as missing:
        functionfuse.plugin("missingplugin")
    assert isinstance(missing.value.__cause__, AttributeError)


@pytest.mark.parametrize(
    ("call", "group", "kind"),
    [
        (lambda: functionfuse.backend("nosuch"), BACKENDS, "backend"),
        (lambda: functionfuse.storage_factory({"kind": "nosuch"}), STORAGE, "storage kind"),
        (lambda: functionfuse.plugin("nosuch"), PLUGINS, "node plugin"),
    ],
)
def test_unknown_names_list_the_installed_ones(
    tools: str, call: Any, group: str, kind: str
) -> None:
    with pytest.raises(UnknownComponentError) as info:
        call()
    error = info.value
    assert isinstance(error, ConfigurationError)
    assert isinstance(error, LookupError)
    assert (error.group, error.name) == (group, "nosuch")
    installed = sorted(by_name(group))
    assert error.installed == installed
    message = str(error)
    assert message.startswith(f"no {kind} named 'nosuch' is installed")
    assert all(repr(name) in message for name in installed)
    assert "pip install" not in message
    assert "Check the spelling" in message


def test_duplicate_entry_point_names_warn_naming_both(distributions: Distributions) -> None:
    first = distributions.module_name("first")
    second = distributions.module_name("second")
    distributions.add("ff-test-first", {BACKENDS: {"twin": f"{first}:Backend"}}, version="1.0")
    distributions.add("ff-test-second", {BACKENDS: {"twin": f"{second}:Backend"}}, version="2.0")
    with pytest.warns(FunctionFuseWarning, match="'twin'") as caught:
        listed = [c for c in functionfuse.components(BACKENDS) if c.name == "twin"]
    message = str(caught[0].message)
    assert "ff-test-first 1.0" in message
    assert "ff-test-second 2.0" in message
    assert len(listed) == 1  # one is used


def test_rescan_when_sys_path_changes(
    distributions: Distributions, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "latecomer" not in by_name(BACKENDS)
    module = distributions.module_name("late")
    distributions.add("ff-test-late", {BACKENDS: {"latecomer": f"{module}:Backend"}})
    later = distributions.root.parent / "later"
    later.mkdir()
    (distributions.root / "ff_test_late-1.2.3.dist-info").rename(
        later / "ff_test_late-1.2.3.dist-info"
    )
    assert "latecomer" not in by_name(BACKENDS)
    monkeypatch.syspath_prepend(str(later))
    assert "latecomer" in by_name(BACKENDS)
