"""functionfuse: write a workflow as plain Python, choose how and where it runs.

Calling a function or class decorated with :func:`workflow` builds a node of a graph;
a backend (``functionfuse.backend("local")``, ``"ray"``, ...) runs it, a storage
(:func:`storage_factory`) keeps results so that a re-run resumes, and node plugins
(:func:`plugin`) run around nodes. Backends, storages and plugins are separate
distributions found through entry points; :func:`components` lists what is installed.
:func:`from_config` builds a configured workflow from a TOML/JSON config file.
Backend authors find their toolkit in :mod:`functionfuse.runtime`. The ``fuse``
command and the progress display live in ``functionfuse-cli``
(``pip install "functionfuse[cli]"``), which this package never imports.
"""

from functionfuse._decorator import task, workflow
from functionfuse._errors import (
    ComponentLoadError,
    ConfigurationError,
    FunctionFuseError,
    FunctionFuseWarning,
    GraphError,
    NodeExecutionError,
    StaleResultError,
    StorageError,
    StorageIntegrityError,
    UnknownComponentError,
)
from functionfuse._factories import backend, plugin, storage_factory
from functionfuse._hooks import get_plugin_manager
from functionfuse._plugins import Plugin
from functionfuse._registry import Component, components
from functionfuse._resume import RerunReason
from functionfuse._workflow import BaseWorkflow, Query
from functionfuse.config import WorkflowConfig, from_config, load_config
from functionfuse.hookspecs import Storage, hookimpl

__version__ = "0.1.0"

__all__ = [
    "BaseWorkflow",
    "Component",
    "ComponentLoadError",
    "ConfigurationError",
    "FunctionFuseError",
    "FunctionFuseWarning",
    "GraphError",
    "NodeExecutionError",
    "Plugin",
    "Query",
    "RerunReason",
    "StaleResultError",
    "Storage",
    "StorageError",
    "StorageIntegrityError",
    "UnknownComponentError",
    "WorkflowConfig",
    "__version__",
    "backend",
    "components",
    "from_config",
    "get_plugin_manager",
    "hookimpl",
    "load_config",
    "plugin",
    "storage_factory",
    "task",
    "workflow",
]
