"""`--set key=value`: parsing a value and applying it to a config's data by key path."""

from __future__ import annotations

import datetime
import sys
from typing import Any

import pytest

import functionfuse
from functionfuse import ConfigurationError
from functionfuse_cli._overrides import apply_override, parse_value


def test_without_a_toml_reader_values_are_read_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tomllib", None)  # Python 3.10 without tomli
    monkeypatch.setitem(sys.modules, "tomli", None)
    assert parse_value('{"a": 1}') == {"a": 1}
    assert parse_value("{a = 1}") == "{a = 1}"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("2.5", 2.5),
        ("true", True),
        ('"quoted"', "quoted"),
        ("ray", "ray"),
        ("s3://bucket/x", "s3://bucket/x"),
        ("[1, 2]", [1, 2]),
        ("{num_cpus = 1}", {"num_cpus": 1}),
        ('{"num_cpus": 1}', {"num_cpus": 1}),
        ("null", None),
        ("", ""),
    ],
)
def test_parse_value(text: str, value: object) -> None:
    assert parse_value(text) == value


def test_apply_override_paths() -> None:
    data: dict[str, Any] = {"rules": [{"pattern": "a", "storage": True}], "storage": "x"}
    apply_override(data, "backend.options.ray_init_args.num_cpus=2")
    apply_override(data, "rules[0].storage=false")
    apply_override(data, 'rules.1 = {pattern = "b", storage = false}')
    apply_override(data, 'backend.options."odd.key"=1')
    apply_override(data, "storage=null")
    assert data == {
        "rules": [{"pattern": "a", "storage": False}, {"pattern": "b", "storage": False}],
        "backend": {"options": {"ray_init_args": {"num_cpus": 2}, "odd.key": 1}},
    }


@pytest.mark.parametrize(
    ("assignment", "key", "value"),
    [
        ("workflow_name=2024-01-01", "workflow_name", "2024-01-01"),  # not a TOML date
        ("workflow_name=123", "workflow_name", "123"),
        ('workflow_name="007"', "workflow_name", "007"),
        ("storage=2024-01-01T10:00:00", "storage", "2024-01-01T10:00:00"),
        ("storage=false", "storage", False),  # storage = false is allowed
        ("storage.url=07:30:00", "storage.url", "07:30:00"),
        ("storage.kind=1", "storage.kind", "1"),
        ("backend.name=true", "backend.name", "true"),
        ("rules[0].pattern=1.5", "rules[0].pattern", "1.5"),
        ("rules[0].plugin.name=2e3", "rules[0].plugin.name", "2e3"),
        ("backend.options.x=2024-01-01", "backend.options.x", datetime.date(2024, 1, 1)),
        ("rules[0].storage=true", "rules[0].storage", True),
    ],
)
def test_set_keeps_the_text_of_keys_that_take_a_string(
    assignment: str, key: str, value: object
) -> None:
    data: dict[str, Any] = {"rules": [{"pattern": "a"}], "storage": {}}
    if key == "storage":
        del data["storage"]
    apply_override(data, assignment)
    found: Any = data
    for part in key.replace("[0]", ".0").split("."):
        found = found[int(part)] if part.isdigit() else found[part]
    assert found == value
    assert type(found) is type(value)


def test_set_workflow_name_to_a_date() -> None:
    data: dict[str, Any] = {}
    apply_override(data, "workflow_name=2024-01-01")
    assert functionfuse.load_config(data).workflow_name == "2024-01-01"
    apply_override(data, "workflow_name=null")
    assert data == {}


@pytest.mark.parametrize(
    ("assignment", "says"),
    [
        ("novalue", "--set takes key=value"),
        ("=1", "--set takes key=value"),
        ("a..b=1", "is not a key path"),
        ("[0]=1", "is not a key path"),
        ("rules[5].storage=false", "rules has 1 item(s), so [5] is out of range"),
        ("rules.pattern=x", "rules is an array; give an index"),
        ("storage.url=x", "storage is a value (a string), not a table"),  # never shown
        ("backend.name.x=1", "backend.name is a value ('local'), not a table"),
        ("backend[0]=x", "backend is a table; give a key name"),
    ],
)
def test_apply_override_errors(assignment: str, says: str) -> None:
    data: dict[str, Any] = {
        "rules": [{"pattern": "a"}],
        "storage": "x",
        "backend": {"name": "local"},
    }
    with pytest.raises(ConfigurationError) as caught:
        apply_override(data, assignment)
    assert says in str(caught.value)
