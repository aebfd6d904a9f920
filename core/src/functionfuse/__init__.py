"""functionfuse: write a workflow as plain Python, choose how and where it runs.

Work in progress: the frontend, workflows and discovery land in the next commits.
"""

from functionfuse._errors import (
    ComponentLoadError,
    ConfigurationError,
    FunctionFuseError,
    FunctionFuseWarning,
    GraphError,
    NodeExecutionError,
    StorageError,
    StorageIntegrityError,
    UnknownComponentError,
)
from functionfuse.hookspecs import hookimpl

__all__ = [
    "ComponentLoadError",
    "ConfigurationError",
    "FunctionFuseError",
    "FunctionFuseWarning",
    "GraphError",
    "NodeExecutionError",
    "StorageError",
    "StorageIntegrityError",
    "UnknownComponentError",
    "hookimpl",
]
