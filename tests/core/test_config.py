"""Config files as library API: functionfuse.from_config / load_config (functionfuse.config)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import functionfuse
from functionfuse import ConfigurationError, UnknownComponentError, workflow
from functionfuse.runtime import PLUGIN, REMOTE_ARGS, STORAGE


@workflow
def source(n: int) -> list[int]:
    return list(range(n))


@workflow
def train(data: list[int]) -> int:
    return sum(data)


@workflow
def evaluate(score: int) -> str:
    return f"score {score}"


def graph() -> tuple[Any, Any, Any]:
    data = source(3).set_name("data")
    model = train(data).set_name("train_model")
    return data, model, evaluate(model).set_name("evaluate")


def toml_file(tmp_path: Path, text: str, name: str = "fuse.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_from_config_file_gives_a_ready_workflow(tmp_path: Path) -> None:
    path = toml_file(
        tmp_path,
        f"""
        workflow_name = "experiment"

        [storage]
        url = {json.dumps(str(tmp_path / "runs"))}

        [[rules]]
        pattern = "train.*"
        remote_args = {{num_cpus = 2}}
        plugin = {{name = "random_state", options = {{seed = 3}}}}

        [[rules]]
        pattern = "eval.*"
        storage = false
        remote_args = {{num_cpus = 1}}
        """,
    )
    data, model, report = graph()
    wf = functionfuse.from_config(path, report)
    assert type(wf).__name__ == "LocalWorkflow"
    assert wf.workflow_name == "experiment"
    assert wf.settings(data) is None
    train_settings = wf.settings(model)
    assert train_settings is not None
    assert train_settings[REMOTE_ARGS] == {"num_cpus": 2}
    assert type(train_settings[PLUGIN][0].plugin).__name__ == "RandomStatePlugin"
    assert wf.settings(report) == {REMOTE_ARGS: {"num_cpus": 1}, STORAGE: False}
    assert wf.run() == "score 3"
    stored = (tmp_path / "runs" / "experiment").iterdir()
    assert sorted(p.name for p in stored if p.name != ".runs") == [
        "data",
        "train_model",
    ]
    # The nodes themselves are untouched: the settings belong to the workflow.
    assert model._backend_info is None


def test_workflow_name_argument_wins_and_one_is_needed(tmp_path: Path) -> None:
    *_, report = graph()
    path = toml_file(tmp_path, 'workflow_name = "from-file"\n')
    assert functionfuse.from_config(path, report, workflow_name="mine").workflow_name == "mine"
    assert functionfuse.from_config(path, report).workflow_name == "from-file"
    with pytest.raises(ConfigurationError, match=r"config gives no workflow_name: pass"):
        functionfuse.from_config({}, report)


@pytest.mark.parametrize("resume", ["name", False, "fingerprint"])
def test_resume_sets_the_workflows_resume(tmp_path: Path, resume: object) -> None:
    *_, report = graph()
    text = json.dumps(resume) if resume is not False else "false"
    path = toml_file(tmp_path, f'workflow_name = "w"\nresume = {text}\n')
    assert functionfuse.load_config(path).resume == resume
    assert functionfuse.from_config(path, report).resume == resume
    # Unset: the backend's default.
    assert functionfuse.load_config({}).resume is None
    assert functionfuse.from_config({}, report, workflow_name="w").resume == "fingerprint"


def test_config_resume_name_uses_an_out_of_date_result(tmp_path: Path) -> None:
    storage = str(tmp_path / "runs")
    functionfuse.from_config({"storage": storage}, source(3), workflow_name="w").run()
    assert functionfuse.from_config(
        {"storage": storage, "resume": "name"}, source(5), workflow_name="w"
    ).run() == [0, 1, 2]
    assert functionfuse.from_config({"storage": storage}, source(5), workflow_name="w").run() == [
        0,
        1,
        2,
        3,
        4,
    ]


@pytest.mark.parametrize(
    ("resume", "says"),
    [
        ("off", "not the string 'off' (write false, without quotes)"),
        (True, "not the boolean true"),
        ("Name", "not the string 'Name'"),
        ({"mode": "name"}, "not a table"),
    ],
)
def test_resume_errors_name_the_file_key_and_what_is_allowed(
    tmp_path: Path, resume: object, says: str
) -> None:
    path = tmp_path / "fuse.json"
    path.write_text(json.dumps({"resume": resume}))
    with pytest.raises(ConfigurationError) as caught:
        functionfuse.load_config(path)
    message = str(caught.value)
    assert message.startswith(f'config file {str(path)!r}, key resume: must be "fingerprint" (')
    assert '"name" (' in message
    assert "or false (run every node)" in message
    assert message.endswith(f"{says}.")


def test_json_file_and_mapping_are_the_same_config(tmp_path: Path) -> None:
    config = {"workflow_name": "w", "storage": "memory://cfg-json", "backend": {"name": "local"}}
    path = tmp_path / "fuse.json"
    path.write_text(json.dumps(config))
    *_, report = graph()
    for source_ in (config, path, str(path)):
        wf = functionfuse.from_config(source_, report)
        assert wf.workflow_name == "w"
        assert repr(wf.storage) == "MemoryStorage('memory://cfg-json')"


def test_each_workflow_gets_its_own_plugin_instance() -> None:
    config = functionfuse.load_config(
        {"rules": [{"pattern": "train.*", "plugin": {"name": "random_state"}}]}
    )
    _, model, report = graph()
    one = config.workflow(report, workflow_name="one").settings(model)
    two = config.workflow(report, workflow_name="two").settings(model)
    assert one is not None
    assert two is not None
    assert one[PLUGIN][0].plugin is not two[PLUGIN][0].plugin


def test_rule_matching_no_node_warns_naming_the_rule() -> None:
    *_, report = graph()
    with pytest.warns(functionfuse.FunctionFuseWarning, match=r"key rules\[1\]\.pattern: 'zz'"):
        functionfuse.from_config(
            {"rules": [{"pattern": "data", "storage": False}, {"pattern": "zz", "storage": False}]},
            report,
            workflow_name="w",
        )


@pytest.mark.parametrize(
    ("config", "key", "says"),
    [
        ({"rules": [{"pattern": "x", "plugin": {"name": "nope"}}]}, "rules[0].plugin.name",
         "no node plugin named 'nope' is installed"),
        ({"rules": [{"pattern": "x", "plugin": {"options": {}}}]}, "rules[0].plugin",
         "needs a 'name'"),
        ({"rules": [{"storage": False}]}, "rules[0]", "needs a 'pattern'"),
        ({"rules": [{"pattern": "x"}]}, "rules[0]", "sets nothing"),
        ({"rules": [{"pattern": "x", "remote_args": [1]}]}, "rules[0].remote_args",
         "must be a table, e.g. {num_cpus = 2}, not an array"),
        ({"rules": [{"pattern": 3, "storage": False}]}, "rules[0].pattern",
         "must be a regular expression (a non-empty string), not the number 3"),
        ({"rules": "x"}, "rules", "must be an array of tables"),
        ({"backend": "ray"}, "backend", 'must be a table, e.g. {name = "local"}'),
        ({"backend": {"name": "local", "optoins": {}}}, "backend.optoins",
         "unknown key (did you mean 'options'?); the keys allowed in backend are name, options"),
        ({"workflow_name": ""}, "workflow_name", "must be a non-empty string"),
        ({"storage": {"url": "memory://x", "options": {"fsync": "yes"}}}, "storage.options",
         "fsync"),
        ({"storage": {}}, "storage", "needs exactly one of 'kind'"),
        ({"storage": True}, "storage", "or false, not a boolean"),  # never a storage value
    ],
)  # fmt: skip
def test_errors_name_the_key_path(config: dict[str, Any], key: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        functionfuse.load_config(config)
    assert str(caught.value).startswith(f"config, key {key}: ")
    assert says in str(caught.value)


@pytest.mark.parametrize("storage", ["", {"url": ""}, "  "])
def test_an_empty_storage_is_an_error_not_the_current_folder(storage: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        functionfuse.load_config({"storage": storage})
    message = str(caught.value)
    key = "storage.url" if isinstance(storage, dict) else "storage"
    assert message.startswith(f"config, key {key}: must be a URL or path")


def test_unknown_names_keep_their_error_type_and_name_the_file(tmp_path: Path) -> None:
    path = toml_file(tmp_path, '[backend]\nname = "nope"\n')
    with pytest.raises(UnknownComponentError) as caught:
        functionfuse.load_config(path)
    error = caught.value
    assert str(error).startswith(f"config file {str(path)!r}, key backend.name: no backend named")
    assert error.name == "nope"
    assert "local" in error.installed


def test_backend_options_are_keywords_of_its_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    dist_info = site / "ff_cfg_backend-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ff-cfg-backend\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[functionfuse.backends]\ngreeting = ff_cfg_backend_mod:GreetingWorkflow\n"
    )
    (site / "ff_cfg_backend_mod.py").write_text(
        textwrap.dedent(
            """
            from functionfuse_local import LocalWorkflow

            class GreetingWorkflow(LocalWorkflow):
                def __init__(self, *nodes, workflow_name, greeting="hi", loud=False):
                    super().__init__(*nodes, workflow_name=workflow_name)
                    self.greeting = greeting.upper() if loud else greeting
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))  # the registry rescans when sys.path changes
    try:
        *_, report = graph()
        config = {"backend": {"name": "greeting", "options": {"greeting": "hello", "loud": True}}}
        wf = functionfuse.from_config(config, report, workflow_name="w")
        assert type(wf).__name__ == "GreetingWorkflow"
        assert wf.greeting == "HELLO"  # type: ignore[attr-defined]
        with pytest.raises(ConfigurationError) as caught:
            functionfuse.load_config({"backend": {"name": "greeting", "options": {"lod": 1}}})
        assert str(caught.value) == (
            "config, key backend.options.lod: backend 'greeting' "
            "(ff_cfg_backend_mod.GreetingWorkflow) takes no option 'lod' (did you mean "
            "'loud'?); its options are: greeting, loud."
        )
    finally:
        sys.modules.pop("ff_cfg_backend_mod", None)


@pytest.mark.parametrize(
    ("options", "key", "says"),
    [
        ({"mode": "runtime"}, "backend.options", "RuntimeError: cannot start: bad mode"),
        ({"mode": "type"}, "backend.options", "TypeError: mode must be a str"),
        ({"mode": "value"}, "backend.options", "ValueError: unknown mode 'value'"),
        ({}, "backend", "RuntimeError: cannot start: no cluster"),
    ],
)
def test_backend_constructor_errors_become_configuration_errors(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    options: dict[str, Any],
    key: str,
    says: str,
) -> None:
    install_backend(
        tmp_path,
        monkeypatch,
        "refusing",
        """
        from functionfuse_local import LocalWorkflow

        class Workflow(LocalWorkflow):
            def __init__(self, *nodes, workflow_name, mode="none"):
                super().__init__(*nodes, workflow_name=workflow_name)
                if mode == "runtime":
                    raise RuntimeError("cannot start: bad mode")
                if mode == "type":
                    raise TypeError("mode must be a str")
                if mode == "value":
                    raise ValueError(f"unknown mode {mode!r}")
                raise RuntimeError("cannot start: no cluster")
        """,
    )
    path = toml_file(tmp_path, 'workflow_name = "w"\n[backend]\nname = "refusing"\n')
    data = {"workflow_name": "w", "backend": {"name": "refusing", "options": options}}
    *_, report = graph()
    for config in (data, path):
        with pytest.raises(ConfigurationError) as caught:
            functionfuse.from_config(config, report)
        if config is path and options:
            continue  # the file has no options
        where = "config" if config is data else f"config file {str(path)!r}"
        assert str(caught.value).startswith(f"{where}, key {key}: backend 'refusing' ")
        assert says in str(caught.value)
    # A graph error of the backend's own base class stays what it is.
    dup = [source(1).set_name("same"), source(2).set_name("same")]
    with pytest.raises(functionfuse.GraphError):
        functionfuse.from_config({"backend": {"name": "refusing"}}, *dup, workflow_name="w")


def install_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, code: str) -> None:
    """Install backend ``name``: class ``Workflow`` of module ``ff_<name>_mod`` (``code``)."""
    site = tmp_path / f"site-{name}"
    dist_info = site / f"ff_{name}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: ff-{name}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        f"[functionfuse.backends]\n{name} = ff_{name}_mod:Workflow\n"
    )
    (site / f"ff_{name}_mod.py").write_text(textwrap.dedent(code))
    monkeypatch.syspath_prepend(str(site))  # the registry rescans when sys.path changes
    monkeypatch.delitem(sys.modules, f"ff_{name}_mod", raising=False)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"config file '.*missing.toml' does not exist"):
        functionfuse.load_config(tmp_path / "missing.toml")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("[1, 2]")
    with pytest.raises(ConfigurationError, match=r"must hold a JSON object"):
        functionfuse.load_config(bad_json)
    bad_json.write_text("{")
    with pytest.raises(ConfigurationError, match=r"is not valid JSON"):
        functionfuse.load_config(bad_json)
    with pytest.raises(ConfigurationError, match=r"a config is the path of a TOML or JSON file"):
        functionfuse.load_config(3)  # type: ignore[arg-type]


@pytest.fixture
def no_toml(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python 3.10 without tomli: neither TOML reader can be imported."""
    monkeypatch.setitem(sys.modules, "tomllib", None)
    monkeypatch.setitem(sys.modules, "tomli", None)


@pytest.mark.usefixtures("no_toml")
def test_without_a_toml_reader_toml_files_say_what_to_install(tmp_path: Path) -> None:
    path = toml_file(tmp_path, 'workflow_name = "x"\n')
    with pytest.raises(ConfigurationError, match=r"pip install tomli"):
        functionfuse.load_config(path)
    json_path = tmp_path / "fuse.json"
    json_path.write_text('{"workflow_name": "x"}')
    assert functionfuse.load_config(json_path).workflow_name == "x"
