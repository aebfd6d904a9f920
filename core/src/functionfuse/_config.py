"""Config files: the backend, the storage and per-node rules, validated strictly.

A config is a TOML file (JSON for a ``.json`` file) or the same data as a mapping::

    workflow_name = "experiment"          # default name of the workflow (optional)
    resume = "fingerprint"                # optional; or "name", or false (see below)

    [backend]                             # optional; default: the "local" backend
    name = "ray"                          # entry-point name in functionfuse.backends
    options = {ray_init_args = {num_cpus = 4}}   # keywords of the backend's class

    [storage]                             # optional; default: no storage
    url = "s3://bucket/runs"              # or: kind = "file", options = {path = "runs"}
    options = {endpoint_url = "http://127.0.0.1:9000"}

    [[rules]]                             # applied in order; a later rule wins
    pattern = "train.*"                   # regular expression, full match on node names
    remote_args = {num_gpus = 1}
    plugin = {name = "random_state", options = {seed = 0}}
    storage = false

``resume`` sets the workflow's :attr:`~functionfuse.BaseWorkflow.resume`: use a stored
result only when its node's code, literal arguments and upstream are unchanged
(``"fingerprint"``, the default), any result stored under the node's name
(``"name"``), or none (``false``: run everything). ``run(resume=...)`` and
``fuse run --resume`` win over it.

Every key, name and type is checked before anything runs; an error names the file,
the key path (``rules[1].plugin.name``) and what is allowed. Reading the file is the
only part that needs anything beyond the standard library: ``tomllib`` on Python
3.11+, ``tomli`` on 3.10 (``pip install "functionfuse[cli]"``).
"""

from __future__ import annotations

import inspect
import os
import re
import warnings
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Final, NoReturn, final

from functionfuse._errors import (
    ComponentLoadError,
    ConfigurationError,
    FunctionFuseError,
    FunctionFuseWarning,
    UnknownComponentError,
)
from functionfuse._factories import backend, plugin, storage_factory
from functionfuse._nodes import Instance, Node, NodeItem
from functionfuse._registry import STORAGE, entry_point
from functionfuse._resume import ResumeMode
from functionfuse._retries import Retries
from functionfuse._workflow import BaseWorkflow, Query
from functionfuse.hookspecs import Storage

__all__ = [
    "DEFAULT_BACKEND",
    "PluginSpec",
    "Rule",
    "WorkflowConfig",
    "from_config",
    "load_config",
    "parse_config",
    "read_config_file",
    "redact_url",
    "scrub",
    "secret_strings",
    "sensitive_key",
    "toml_module",
    "url_secrets",
]

#: The backend of a config that names none.
DEFAULT_BACKEND: Final = "local"

_TOP_KEYS: Final = ("workflow_name", "backend", "storage", "resume", "rules")
_BACKEND_KEYS: Final = ("name", "options")
_STORAGE_KEYS: Final = ("kind", "url", "options")
_RULE_KEYS: Final = ("pattern", "remote_args", "plugin", "storage", "retries")
_RETRY_KEYS: Final = ("attempts", "exceptions", "delay")
_PLUGIN_KEYS: Final = ("name", "options")

ConfigSource = str | os.PathLike[str] | Mapping[str, Any]


@final
class PluginSpec:
    """A node plugin by entry-point name, created afresh for each workflow built."""

    __slots__ = ("name", "options")

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        self.name = name
        self.options = options

    def create(self) -> Any:
        return plugin(self.name, **self.options)

    def __repr__(self) -> str:
        return f"PluginSpec({self.name!r}, {self.options!r})"


@final
class Rule:
    """Settings for the nodes whose names fully match ``pattern``; ``None``: unset.

    ``key`` says where the rule was written, e.g. ``"rules[0]"``.
    """

    __slots__ = ("key", "pattern", "plugin", "remote_args", "retries", "storage")

    def __init__(
        self,
        key: str,
        pattern: str,
        remote_args: dict[str, Any] | None,
        plugin: PluginSpec | None,
        storage: bool | None,
        retries: Retries | None = None,
    ) -> None:
        self.key = key
        self.pattern = pattern
        self.remote_args = remote_args
        self.plugin = plugin
        self.storage = storage
        self.retries = retries

    def __repr__(self) -> str:
        return f"<Rule {self.key} {self.pattern!r}>"


@final
class WorkflowConfig:
    """A validated config: builds configured workflows with :meth:`workflow`.

    Every name is already resolved (the backend class imported, the storage created,
    each plugin created once with its options), so building cannot fail on the config.
    ``resume``: the workflows' resume mode, ``None`` when the config sets none.
    """

    __slots__ = (
        "backend_name",
        "backend_options",
        "resume",
        "rules",
        "secrets",
        "source",
        "storage",
        "workflow_name",
    )

    def __init__(
        self,
        *,
        source: str,
        workflow_name: str | None,
        backend_name: str,
        backend_options: dict[str, Any],
        storage: Storage | None,
        rules: tuple[Rule, ...],
        secrets: tuple[tuple[str, str], ...] = (),
        resume: ResumeMode | None = None,
    ) -> None:
        self.source = source
        #: The config's strings that no message may show (see :func:`secret_strings`).
        self.secrets = secrets
        self.workflow_name = workflow_name
        self.backend_name = backend_name
        self.backend_options = backend_options
        self.storage = storage
        self.rules = rules
        self.resume = resume

    def workflow(
        self, *leaves: Node | NodeItem | Instance, workflow_name: str | None = None
    ) -> BaseWorkflow:
        """A workflow of the configured backend for ``leaves``, storage and rules set.

        ``workflow_name`` wins over the config's ``workflow_name``; one of them is needed.
        """
        name = workflow_name if workflow_name is not None else self.workflow_name
        if name is None:
            raise ConfigurationError(
                f"{self.source} gives no workflow_name: pass workflow_name=... or add "
                'workflow_name = "..." to the config.'
            )
        cls = backend(self.backend_name)
        try:
            wf = cls(*leaves, workflow_name=name, **self.backend_options)
        except ConfigurationError as error:
            if not self.backend_options or isinstance(error, UnknownComponentError):
                raise
            raise ConfigurationError(
                f"{self.source}, key backend.options: backend {self.backend_name!r} "
                f"refused its options: {scrub(str(error), self.secrets)}"
            ) from error
        except FunctionFuseError:
            raise  # e.g. a GraphError: the nodes, not the config
        except (TypeError, ValueError, RuntimeError) as error:
            # Raised by what the backend starts (ray.init ...): a config problem to the
            # user, not a bug to show a traceback for.
            if self.backend_options:
                key, what = "backend.options", "with these options"
            else:
                key, what = "backend", "(it was given no options)"
            raise ConfigurationError(
                f"{self.source}, key {key}: backend {self.backend_name!r} could not be "
                f"created {what}: {type(error).__name__}: {scrub(str(error), self.secrets)}"
            ) from error
        if self.storage is not None:
            wf.set_storage(self.storage)
        if self.resume is not None:
            wf.resume = self.resume
        for rule in self.rules:
            nodes = wf.find_nodes(rule.pattern)
            if not nodes:
                warnings.warn(
                    f"{self.source}, key {rule.key}.pattern: {rule.pattern!r} matches no "
                    f"node of workflow {name!r}, so the rule does nothing.",
                    FunctionFuseWarning,
                    stacklevel=2,
                )
                continue
            query = Query(nodes, wf)
            if rule.remote_args is not None:
                query.set_remote_args(rule.remote_args)
            if rule.plugin is not None:
                query.set_plugin(rule.plugin.create())
            if rule.storage is not None:
                query.set_storage(rule.storage)
            if rule.retries is not None:
                query.set_retries(
                    rule.retries.attempts, rule.retries.exceptions, rule.retries.delay
                )
        return wf

    def __repr__(self) -> str:
        return (
            f"<WorkflowConfig from {self.source}: backend {self.backend_name!r}, "
            f"storage={self.storage!r}, {len(self.rules)} rules>"
        )


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


# -- reading files ----------------------------------------------------------------------


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
                f"backend, storage, resume, rules), not {_kind(data)}."
            )
        return data
    toml = toml_module()
    if toml is None:
        raise ConfigurationError(
            f"config file {path!r} is TOML, and reading TOML on Python 3.10 needs tomli: "
            'pip install "functionfuse[cli]" (or write the config as a .json file).'
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


# -- validation -------------------------------------------------------------------------


def parse_config(data: Mapping[str, Any], *, source: str) -> WorkflowConfig:
    """Validate config ``data``; ``source`` says where it came from in error messages."""
    secrets = secret_strings(data)
    check = _Checker(source, secrets)
    check.keys(data, "", _TOP_KEYS)
    workflow_name = data.get("workflow_name")
    if workflow_name is not None and (not isinstance(workflow_name, str) or not workflow_name):
        check.fail(
            "workflow_name",
            f"must be a non-empty string, not {_kind(workflow_name, 'workflow_name')}.",
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
            self.fail(key, f"must be a table, e.g. {example}, not {_kind(value, key)}.")
        for name in value:
            if not isinstance(name, str):
                self.fail(key, f"has a key {name!r} that is not a string.")
        return value

    def keys(self, table: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        if not isinstance(table, Mapping):
            self.fail(key, f"must be a table, not {_kind(table, key)}.")
        for name in table:
            if name not in allowed:
                where = _join(key, name) if isinstance(name, str) else key
                listing = ", ".join(allowed)
                scope = f"in {key}" if key else "at the top level"
                hint = _did_you_mean(name, allowed)
                self.fail(where, f"unknown key{hint}; the keys allowed {scope} are {listing}.")

    def string(self, value: object, key: str, what: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be {what} (a non-empty string), not {_kind(value, key)}.")
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
                        _join("backend.options", option),
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
                f"not {_kind(section, 'storage')}.",
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
            f"{_kind(value, 'resume')}{hint}.",
        )

    def rules(self, section: object) -> tuple[Rule, ...]:
        if section is None:
            return ()
        if isinstance(section, Mapping):
            self.fail("rules", "must be an array of tables: write [[rules]], not [rules].")
        if not isinstance(section, list):
            self.fail(
                "rules", f"must be an array of tables ([[rules]]), not {_kind(section, 'rules')}."
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
            self.fail(f"{key}.storage", f"must be true or false, not {_kind(storage, key)}.")
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


# -- secrets ----------------------------------------------------------------------------

#: A value whose key path holds one of these (case-insensitive) is never shown.
SECRET_WORDS: Final = (
    "key",
    "secret",
    "token",
    "password",
    "passwd",
    "credential",
    "signing_key",
    "auth",
)
_TOP_KEY: Final = re.compile(r'"([^"]*)"|([^.\[]*)')


def sensitive_key(key: str) -> bool:
    """Whether the value at key path ``key`` must not appear in a message: everything
    under ``storage`` (a URL may hold credentials, options do), and any value whose key
    path looks secret (see :func:`secret_looking`)."""
    match = _TOP_KEY.match(key)
    top = (match.group(1) or match.group(2)) if match else ""
    return top == "storage" or secret_looking(key)


def secret_looking(key: str) -> bool:
    """Whether key path ``key`` holds a word of :data:`SECRET_WORDS` (``api_key``,
    ``AWS_SECRET_ACCESS_KEY``, ``token``, ``password``...), in any case."""
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS)


def _type_of(value: object) -> str:
    """What a value is, without showing it."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string" if value.strip() else "an empty string"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


#: Strings shorter than this are not looked for in messages (they would match anywhere).
_MIN_SECRET: Final = 4
_URL_PARTS: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/@]*)@|\?(.*)$")


def secret_strings(data: object) -> tuple[tuple[str, str], ...]:
    """``(text, shown instead)``, longest first, for the strings of config ``data`` to
    remove from what a storage, backend or plugin says in an error message (it may
    quote what it was given): a storage URL is shown without its credentials and
    query; a value under a secret-looking key (:func:`secret_looking`), or a storage
    kind that is not installed (a misplaced secret?), as ``***``.

    Other values under ``storage`` (a path, an endpoint) are left in such text, where
    they help; functionfuse's own messages never quote them (see :func:`sensitive_key`).
    """
    pairs: dict[str, str] = {}

    def add(text: str, shown: str) -> None:
        if len(text) >= _MIN_SECRET and text != shown:
            pairs.setdefault(text, shown)

    def walk(value: object, key: str, hidden: bool, depth: int) -> None:
        hidden = hidden or secret_looking(key)
        if isinstance(value, str):
            if hidden:
                add(value, "***")
            elif key in ("storage", "storage.url"):
                add_url(value)
            elif key == "storage.kind" and entry_point(STORAGE, value) is None:
                add(value, "***")
        elif isinstance(value, Mapping) and depth < 20:
            for name, item in value.items():
                walk(item, _join(key, name) if isinstance(name, str) else key, hidden, depth + 1)
        elif isinstance(value, (list, tuple)) and depth < 20:
            for index, item in enumerate(value):
                walk(item, f"{key}[{index}]", hidden, depth + 1)

    def add_url(url: str) -> None:
        add(url, redact_url(url))
        for match in _URL_PARTS.finditer(url):
            part = match.group(1) if match.group(1) is not None else match.group(2)
            if part:
                add(part, "***")
                for piece in re.split(r"[:&=]", part):
                    add(piece, "***")

    walk(data, "", False, 0)
    return tuple(sorted(pairs.items(), key=lambda pair: len(pair[0]), reverse=True))


def url_secrets(url: str) -> tuple[tuple[str, str], ...]:
    """:func:`secret_strings` of a storage URL."""
    return secret_strings({"storage": url})


def scrub(text: str, secrets: tuple[tuple[str, str], ...]) -> str:
    """``text`` with each secret string replaced by what may be shown instead."""
    for secret, shown in secrets:
        text = text.replace(secret, shown)
    return text


# -- helpers ----------------------------------------------------------------------------


_USERINFO: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@")


def redact_url(url: str) -> str:
    """``url`` without what may hold credentials: ``s3://key:secret@b/p?token=t`` →
    ``s3://***@b/p?***``."""
    url = _USERINFO.sub(r"\1***@", url)
    base, sep, _ = url.partition("?")
    return base + ("?***" if sep else "")


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


_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")


def _join(key: str, name: str) -> str:
    """``key.name``, quoting ``name`` as TOML does when it is not a bare key."""
    part = name if _BARE_KEY.fullmatch(name) else f'"{name}"'
    return f"{key}.{part}" if key else part


def _did_you_mean(name: object, allowed: list[str] | tuple[str, ...]) -> str:
    if not isinstance(name, str):
        return ""
    import difflib

    close = difflib.get_close_matches(name, allowed, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _kind(value: object, key: str = "") -> str:
    """What a value is, in TOML's words; by its type only when ``key`` is sensitive."""
    if value is None:
        return "nothing (null)"
    if key and sensitive_key(key):
        return _type_of(value)
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 60 else "a long string"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"{type(value).__name__} {value!r}"
