"""The error hierarchy shared by the core and every plugin distribution.

Every message names the thing at fault (node, workflow, plugin, config key) and says
what to do about it. Catch :class:`FunctionFuseError` to catch them all.
"""

from __future__ import annotations

__all__ = [
    "ComponentLoadError",
    "ConfigurationError",
    "FunctionFuseError",
    "FunctionFuseWarning",
    "GraphError",
    "NodeExecutionError",
    "StaleResultError",
    "StorageError",
    "StorageIntegrityError",
    "UnknownComponentError",
    "error_line",
]

#: The characters :func:`error_line` keeps.
ERROR_LINE_LIMIT = 500


def error_line(error: BaseException, limit: int = ERROR_LINE_LIMIT) -> str:
    """``"ValueError: bad input"``: an error's type and the first line of its message,
    cut to ``limit`` characters (a message may hold a whole dataset's repr) — for error
    messages that name it and for run records."""
    lines = str(error).strip().splitlines()
    first = lines[0].strip() if lines else ""
    text = f"{type(error).__name__}: {first}" if first else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class FunctionFuseError(Exception):
    """Base class of every error functionfuse raises on purpose."""


class ConfigurationError(FunctionFuseError, ValueError):
    """A configuration value, option or name is wrong; nothing has run yet."""


class UnknownComponentError(ConfigurationError, LookupError):
    """No installed backend, storage kind or plugin has the requested name."""

    def __init__(self, message: str, *, group: str, name: str, installed: list[str]) -> None:
        super().__init__(message)
        self.group = group
        self.name = name
        self.installed = installed


class ComponentLoadError(FunctionFuseError, ImportError):
    """An installed component was found but importing it failed (cause chained)."""

    def __init__(self, message: str, *, group: str, name: str, distribution: str | None) -> None:
        super().__init__(message)
        self.group = group
        self.name = name
        self.distribution = distribution


class GraphError(FunctionFuseError, ValueError):
    """The workflow graph is malformed (e.g. two nodes share a name)."""


class NodeExecutionError(FunctionFuseError):
    """A node raised; the user's exception is chained as ``__cause__``.

    ``failed`` maps every failed node's name to its exception (more than one when a
    backend kept going past the first failure).
    """

    def __init__(
        self,
        message: str,
        *,
        workflow_name: str,
        node_name: str,
        failed: dict[str, BaseException] | None = None,
    ) -> None:
        super().__init__(message)
        self.workflow_name = workflow_name
        self.node_name = node_name
        self.failed = failed if failed is not None else {}


class StorageError(FunctionFuseError):
    """A storage could not save, find or read a result."""


class StorageIntegrityError(StorageError):
    """A stored result is corrupt, truncated, of an unknown format or not signed."""


class StaleResultError(StorageError):
    """A stored result was saved with another fingerprint than the reader expects.

    Raised by ``read_task(..., fingerprint=...)`` when another run (other code, other
    arguments) replaced the result after this run decided to use it: the node runs
    again rather than use a value of another version.
    """


class FunctionFuseWarning(UserWarning):
    """Warnings functionfuse emits (a broken hook plugin, a duplicate entry point...)."""
