"""Reading a config: a TOML or JSON file, or a mapping, validated into a WorkflowConfig."""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from functionfuse._config_model import WorkflowConfig
from functionfuse._config_secrets import describe_value
from functionfuse._config_validation import parse_config
from functionfuse._errors import ConfigurationError
from functionfuse._nodes import Instance, Node, NodeItem
from functionfuse._workflow import BaseWorkflow

__all__ = ["ConfigSource", "from_config", "load_config", "read_config_file", "toml_module"]

ConfigSource = str | os.PathLike[str] | Mapping[str, Any]


def from_config(
    config: ConfigSource, /, *leaves: Node | NodeItem | Instance, workflow_name: str | None = None
) -> BaseWorkflow:
    """A configured, ready-to-run workflow for ``leaves``, from a config file or mapping.

    ``config`` is the path of a TOML file (``.json``: JSON) or the same data as a dict;
    see :func:`load_config`. ``workflow_name`` wins over the config's own::

        wf = functionfuse.from_config("fuse.toml", model, workflow_name="experiment")
        result = wf.run()
    """
    return load_config(config).workflow(*leaves, workflow_name=workflow_name)


def load_config(config: ConfigSource, /) -> WorkflowConfig:
    """Read and validate a config (a file path or a mapping) without building a workflow.

    Raises :class:`functionfuse.ConfigurationError` naming the file, the key path and
    what is allowed (:class:`~functionfuse.UnknownComponentError` for a name that is not
    installed, :class:`~functionfuse.ComponentLoadError` for one that fails to import).
    """
    if isinstance(config, Mapping):
        return parse_config(config, source="config")
    if isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
        return parse_config(read_config_file(path), source=f"config file {path!r}")
    raise ConfigurationError(
        f"a config is the path of a TOML or JSON file or a dict, not "
        f"{type(config).__name__} {config!r}."
    )


def toml_module() -> ModuleType | None:
    """``tomllib`` (Python 3.11+) or ``tomli``, whichever is importable, else None."""
    import importlib

    for name in ("tomllib", "tomli"):  # tomli is tomllib's backport, for Python 3.10
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    return None


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The data of a TOML config file, or of a JSON one when its name ends in ``.json``."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as file:
            raw = file.read()
    except FileNotFoundError:
        raise ConfigurationError(
            f"config file {path!r} does not exist (relative paths start from {os.getcwd()!r})."
        ) from None
    except OSError as error:
        raise ConfigurationError(f"config file {path!r} cannot be read: {error}.") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigurationError(f"config file {path!r} is not UTF-8 text: {error}.") from None
    data: object
    if path.lower().endswith(".json"):
        import json

        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigurationError(f"config file {path!r} is not valid JSON: {error}.") from None
        if not isinstance(data, dict):
            raise ConfigurationError(
                f"config file {path!r} must hold a JSON object (keys workflow_name, "
                f"backend, storage, resume, rules), not {describe_value(data)}."
            )
        return data
    toml = toml_module()
    if toml is None:
        raise ConfigurationError(
            f"config file {path!r} is TOML, and reading TOML on Python 3.10 needs tomli: "
            "pip install tomli (or write the config as a .json file)."
        )
    try:
        data = toml.loads(text)
    except toml.TOMLDecodeError as error:
        raise ConfigurationError(
            f"config file {path!r} is not valid TOML: {error}. (A file whose name ends "
            "in .json is read as JSON.)"
        ) from None
    assert isinstance(data, dict)
    return data
