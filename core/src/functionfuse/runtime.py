"""The toolkit for backend authors: node kinds, argument resolution, hooks, settings.

A backend is a :class:`functionfuse.BaseWorkflow` subclass published under the
``functionfuse.backends`` entry-point group. Its ``run()`` takes the hooks of
:func:`lifecycle_hooks`, reports the run with ``with self.lifecycle(hooks):``, walks
``graph_traversal()`` inside that block and, for each node:

- skips or reads it from storage (see :func:`read_stored`) unless
  ``settings(node).get(STORAGE) is False`` — only what ``resume_plan(...)`` lists as
  ``usable`` (stored and up to date);
- computes arguments with :func:`resolve_arguments` (nodes replaced by their values);
- calls ``node_initializer(...)``'s callable, if any, right before the node, where it runs;
- runs a node again while it raises, as ``settings(node).get(RETRIES)`` (a
  :class:`Retries`) says, reporting each retry to the ``node_retry`` hook;
- calls a :class:`FunctionNode` with ``node.call(args, kwargs)``, builds a
  :class:`ClassNode`'s instance with ``node.call(args, kwargs)`` and runs a
  :class:`MethodNode` with ``node.call_on(instance, args, kwargs)``;
- saves a result with :func:`save_result` and the plan's ``stamp(node)``;
- reports to the hooks of :func:`lifecycle_hooks` and wraps a node's exception in
  :class:`functionfuse.NodeExecutionError`.
"""

from functionfuse._hooks import LifecycleHooks, lifecycle_hooks
from functionfuse._nodes import (
    ClassNode,
    FunctionNode,
    Instance,
    MethodNode,
    Node,
    NodeItem,
    node_of,
    replace_references,
    resolve_arguments,
)
from functionfuse._plugins import NodePlugin, prepare_plugin
from functionfuse._resume import ResumePlan, read_fingerprints, save_result
from functionfuse._retries import RETRIES, Retries
from functionfuse._storage import MISSING, read_stored
from functionfuse._workflow import PLUGIN, REMOTE_ARGS, STORAGE

__all__ = [
    "MISSING",
    "PLUGIN",
    "REMOTE_ARGS",
    "RETRIES",
    "STORAGE",
    "ClassNode",
    "FunctionNode",
    "Instance",
    "LifecycleHooks",
    "MethodNode",
    "Node",
    "NodeItem",
    "NodePlugin",
    "ResumePlan",
    "Retries",
    "lifecycle_hooks",
    "node_of",
    "prepare_plugin",
    "read_fingerprints",
    "read_stored",
    "replace_references",
    "resolve_arguments",
    "save_result",
]
