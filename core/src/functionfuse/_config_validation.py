"""Validation of config data: every key, name and type, before anything runs.

Every error names where the config came from, the key path (``rules[1].plugin.name``)
and what is allowed; a component's own error keeps its type
(:class:`~functionfuse.UnknownComponentError`, :class:`~functionfuse.ComponentLoadError`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import Any, Final, NoReturn, final

from functionfuse._config_model import DEFAULT_BACKEND, PluginSpec, Rule, WorkflowConfig
from functionfuse._config_secrets import describe_value, join_key, scrub, secret_strings
from functionfuse._errors import (
    ComponentLoadError,
    ConfigurationError,
    FunctionFuseError,
    UnknownComponentError,
)
from functionfuse._factories import backend, storage_factory
from functionfuse._resume import ResumeMode
from functionfuse._retries import Retries
from functionfuse.hookspecs import Storage

__all__ = ["parse_config"]

_TOP_KEYS: Final = ("workflow_name", "backend", "storage", "resume", "rules")
_BACKEND_KEYS: Final = ("name", "options")
_STORAGE_KEYS: Final = ("kind", "url", "options")
_RULE_KEYS: Final = ("pattern", "remote_args", "plugin", "storage", "retries")
_RETRY_KEYS: Final = ("attempts", "exceptions", "delay")
_PLUGIN_KEYS: Final = ("name", "options")


def parse_config(data: Mapping[str, Any], *, source: str) -> WorkflowConfig:
    """Validate config ``data``; ``source`` says where it came from in error messages."""
    secrets = secret_strings(data)
    check = _Checker(source, secrets)
    check.keys(data, "", _TOP_KEYS)
    workflow_name = data.get("workflow_name")
    if workflow_name is not None and (not isinstance(workflow_name, str) or not workflow_name):
        check.fail(
            "workflow_name",
            f"must be a non-empty string, not {describe_value(workflow_name, 'workflow_name')}.",
        )
    backend_name, backend_options = check.backend(data.get("backend"))
    storage = check.storage(data.get("storage"))
    resume = check.resume(data["resume"]) if "resume" in data else None
    rules = check.rules(data.get("rules"))
    return WorkflowConfig(
        source=source,
        workflow_name=workflow_name,
        backend_name=backend_name,
        backend_options=backend_options,
        storage=storage,
        rules=rules,
        secrets=secrets,
        resume=resume,
    )


@final
class _Checker:
    """Validation of one config; every error names ``source`` and the key path."""

    __slots__ = ("secrets", "source")

    def __init__(self, source: str, secrets: tuple[tuple[str, str], ...] = ()) -> None:
        self.source = source
        self.secrets = secrets

    def fail(self, key: str, problem: str) -> NoReturn:
        raise ConfigurationError(self.message(key, problem))

    def message(self, key: str, problem: str) -> str:
        # Also what a storage or plugin said: it may quote the values it was given.
        problem = scrub(problem, self.secrets)
        return f"{self.source}, key {key}: {problem}" if key else f"{self.source}: {problem}"

    def table(self, value: object, key: str, example: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(key, f"must be a table, e.g. {example}, not {describe_value(value, key)}.")
        for name in value:
            if not isinstance(name, str):
                self.fail(key, f"has a key {name!r} that is not a string.")
        return value

    def keys(self, table: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        if not isinstance(table, Mapping):
            self.fail(key, f"must be a table, not {describe_value(table, key)}.")
        for name in table:
            if name not in allowed:
                where = join_key(key, name) if isinstance(name, str) else key
                listing = ", ".join(allowed)
                scope = f"in {key}" if key else "at the top level"
                hint = _did_you_mean(name, allowed)
                self.fail(where, f"unknown key{hint}; the keys allowed {scope} are {listing}.")

    def string(self, value: object, key: str, what: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(
                key, f"must be {what} (a non-empty string), not {describe_value(value, key)}."
            )
        return value

    def component_error(self, key: str, error: FunctionFuseError) -> NoReturn:
        """Re-raise a factory's error with the key path and file, keeping its type."""
        message = self.message(key, str(error))
        wrapped: FunctionFuseError
        if isinstance(error, UnknownComponentError):
            wrapped = UnknownComponentError(
                message, group=error.group, name=error.name, installed=error.installed
            )
        elif isinstance(error, ComponentLoadError):
            wrapped = ComponentLoadError(
                message,
                group=error.group,
                name=error.name or "",
                distribution=error.distribution,
            )
        else:
            wrapped = ConfigurationError(message)
        raise wrapped from error.__cause__ or error

    # -- sections -----------------------------------------------------------------------

    def backend(self, section: object) -> tuple[str, dict[str, Any]]:
        if section is None:
            return DEFAULT_BACKEND, {}
        table = self.table(section, "backend", '{name = "local"}')
        self.keys(table, "backend", _BACKEND_KEYS)
        name = self.string(table.get("name", DEFAULT_BACKEND), "backend.name", "a backend name")
        options = dict(self.table(table.get("options", {}), "backend.options", "{}"))
        try:
            cls = backend(name)
        except FunctionFuseError as error:
            self.component_error("backend.name", error)
        allowed = _keyword_options(cls)
        if allowed is not None:
            for option in options:
                if option not in allowed:
                    listing = ", ".join(allowed) if allowed else "none"
                    self.fail(
                        join_key("backend.options", option),
                        f"backend {name!r} ({cls.__module__}.{cls.__qualname__}) takes no "
                        f"option {option!r}{_did_you_mean(option, allowed)}; its options "
                        f"are: {listing}.",
                    )
        return name, options

    def storage(self, section: object) -> Storage | None:
        if section is None or section is False:
            return None
        if isinstance(section, str):
            # "" is not the current folder: more likely a variable that was not set.
            url = self.string(section, "storage", "a URL or path")
            return self.make_storage("storage", url, {}, False)
        if not isinstance(section, Mapping):
            self.fail(
                "storage",
                f'must be a URL or path ("./storage", "s3://bucket/prefix"), a table '
                f'such as {{kind = "file", options = {{path = "storage"}}}}, or false, '
                f"not {describe_value(section, 'storage')}.",
            )
        self.keys(section, "storage", _STORAGE_KEYS)
        options = dict(self.table(section.get("options", {}), "storage.options", "{}"))
        if ("kind" in section) == ("url" in section):
            self.fail(
                "storage",
                "needs exactly one of 'kind' (a storage name, with its options) and "
                "'url' (a URL or path, with storage options).",
            )
        if "url" in section:
            url = self.string(section["url"], "storage.url", "a URL or path")
            return self.make_storage("storage.url", url, options, bool(options))
        kind = self.string(section["kind"], "storage.kind", "a storage kind")
        config = {"kind": kind, "options": options}
        return self.make_storage("storage.kind", config, {}, bool(options))

    def make_storage(
        self, key: str, config: Any, options: dict[str, Any], has_options: bool
    ) -> Storage:
        try:
            return storage_factory(config, **options)
        except (UnknownComponentError, ComponentLoadError) as error:
            self.component_error(key, error)
        except (FunctionFuseError, TypeError, ValueError) as error:
            where = "storage.options" if has_options else key
            if not isinstance(error, FunctionFuseError):
                error = ConfigurationError(f"the storage refused it: {error}")
            self.component_error(where, error)

    def resume(self, value: object) -> ResumeMode:
        if value is False or value in ("fingerprint", "name"):
            return value
        hint = ""
        if isinstance(value, str) and value.strip().lower() in ("false", "off", "no", "none"):
            hint = " (write false, without quotes)"
        self.fail(
            "resume",
            f'must be "fingerprint" (use a stored result only if its node\'s code, '
            f'literal arguments and upstream are unchanged; the default), "name" (any '
            f"result stored under the node's name) or false (run every node), not "
            f"{describe_value(value, 'resume')}{hint}.",
        )

    def rules(self, section: object) -> tuple[Rule, ...]:
        if section is None:
            return ()
        if isinstance(section, Mapping):
            self.fail("rules", "must be an array of tables: write [[rules]], not [rules].")
        if not isinstance(section, list):
            self.fail(
                "rules",
                f"must be an array of tables ([[rules]]), not {describe_value(section, 'rules')}.",
            )
        return tuple(self.rule(item, f"rules[{index}]") for index, item in enumerate(section))

    def rule(self, item: object, key: str) -> Rule:
        table = self.table(item, key, '{pattern = "train.*", storage = false}')
        self.keys(table, key, _RULE_KEYS)
        if "pattern" not in table:
            self.fail(key, "needs a 'pattern': a regular expression on node names.")
        pattern = self.string(table["pattern"], f"{key}.pattern", "a regular expression")
        try:
            re.compile(pattern)
        except re.error as error:
            self.fail(f"{key}.pattern", f"{pattern!r} is not a valid regular expression: {error}.")
        if len(table) == 1:
            self.fail(key, "sets nothing: add remote_args, plugin, storage or retries.")
        remote_args = table.get("remote_args")
        if remote_args is not None:
            remote_args = dict(self.table(remote_args, f"{key}.remote_args", "{num_cpus = 2}"))
        storage = table.get("storage")
        if storage is not None and not isinstance(storage, bool):
            self.fail(
                f"{key}.storage", f"must be true or false, not {describe_value(storage, key)}."
            )
        spec = None
        if "plugin" in table:
            spec = self.plugin(table["plugin"], f"{key}.plugin")
        retries = None
        if "retries" in table:
            retries = self.retries(table["retries"], f"{key}.retries")
        return Rule(key, pattern, remote_args, spec, storage, retries)

    def retries(self, value: object, key: str) -> Retries:
        table = self.table(value, key, '{attempts = 3, exceptions = ["OSError"], delay = 1.0}')
        self.keys(table, key, _RETRY_KEYS)
        if "attempts" not in table:
            self.fail(key, "needs 'attempts': how many times a node may run (>= 1).")
        exceptions = table.get("exceptions", ["Exception"])
        if isinstance(exceptions, str):
            exceptions = [exceptions]
        if not isinstance(exceptions, list) or not all(isinstance(e, str) for e in exceptions):
            self.fail(
                f"{key}.exceptions",
                "must be a list of exception class names, e.g. "
                '["OSError", "package.module.Error"].',
            )
        try:
            return Retries.of(table["attempts"], exceptions, table.get("delay", 0.0))
        except ConfigurationError as error:
            self.fail(key, str(error).removeprefix("retries: "))

    def plugin(self, value: object, key: str) -> PluginSpec:
        table = self.table(value, key, '{name = "random_state", options = {seed = 0}}')
        self.keys(table, key, _PLUGIN_KEYS)
        if "name" not in table:
            self.fail(key, "needs a 'name': the entry-point name of a node plugin.")
        name = self.string(table["name"], f"{key}.name", "a node plugin name")
        options = dict(self.table(table.get("options", {}), f"{key}.options", "{seed = 0}"))
        spec = PluginSpec(name, options)
        try:
            spec.create()  # checks the name and the options now, not when a node runs
        except (UnknownComponentError, ComponentLoadError) as error:
            self.component_error(f"{key}.name", error)
        except (FunctionFuseError, TypeError, ValueError) as error:
            if not isinstance(error, FunctionFuseError):
                error = ConfigurationError(f"node plugin {name!r} refused them: {error}")
            self.component_error(f"{key}.options", error)
        return spec


def _keyword_options(cls: type) -> list[str] | None:
    """The keyword options of a backend class (None: it takes any keyword)."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return None
    names = []
    for parameter in parameters:
        if parameter.kind is parameter.VAR_KEYWORD:
            return None
        keyword = parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
        if keyword and parameter.name != "workflow_name":
            names.append(parameter.name)
    return names


def _did_you_mean(name: object, allowed: list[str] | tuple[str, ...]) -> str:
    if not isinstance(name, str):
        return ""
    import difflib

    close = difflib.get_close_matches(name, allowed, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
