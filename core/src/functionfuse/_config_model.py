"""What a validated config is: the backend, the storage and the per-node rules.

:class:`WorkflowConfig` holds a config whose names are all resolved (see
:mod:`functionfuse.config` for the file format) and builds configured workflows.
"""

from __future__ import annotations

import warnings
from typing import Any, Final, final

from functionfuse._config_secrets import scrub
from functionfuse._errors import (
    ConfigurationError,
    FunctionFuseError,
    FunctionFuseWarning,
    UnknownComponentError,
)
from functionfuse._factories import backend, plugin
from functionfuse._nodes import Instance, Node, NodeItem
from functionfuse._resume import ResumeMode
from functionfuse._retries import Retries
from functionfuse._workflow import BaseWorkflow, Query
from functionfuse.hookspecs import Storage

__all__ = ["DEFAULT_BACKEND", "PluginSpec", "Rule", "WorkflowConfig"]

#: The backend of a config that names none.
DEFAULT_BACKEND: Final = "local"


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
