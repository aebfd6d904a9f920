"""The toolkit for backend authors: a backend schedules, the core does the rest.

A backend is a :class:`functionfuse.BaseWorkflow` subclass published under the
``functionfuse.backends`` entry-point group. Its ``run()`` opens a run and schedules::

    def run(self, *, return_results=True, keep_going=False, resume=None):
        with self.start_run(resume=resume, keep_going=keep_going) as plan:
            values = {}
            for node in plan.view.order:           # GraphView: the graph, read-only
                task = plan.prepare(node)          # None: stored, or blocked by a failure
                if task is None:
                    continue
                args, kwargs = resolve_arguments(node, values.__getitem__)  # + plan.read()
                call = plan.view.callable_of(node, values.get(getattr(node, "instance", None)))
                plan.start(node)
                try:
                    values[node] = task.execute(call, args, kwargs, plan.on_retry(node))
                except Exception as error:
                    raise plan.fail(node, error) from error
                plan.finish(node, values[node], duration)
            return plan.results(values.__getitem__) if return_results else None

- :class:`RunPlan` (the driver half, one per run): resume decisions and their reasons,
  the class-chain rule (``plan.skip``), fingerprint stamps, node plugins' driver side
  (in graph order, stored nodes too), ``keep_going`` bookkeeping (``plan.block``,
  ``plan.error()``), the lifecycle hooks, errors naming the node (:func:`node_failure`).
  Stored results are read with :meth:`RunPlan.read` here, or with :func:`read_result`
  wherever the storage is (it refuses a result replaced since the plan was made).
- :class:`NodeTask` (the worker half, picklable): node plugins' worker side, the call,
  retries (reported through ``on_retry``, or carried on the error), the save with its
  stamp and the ``always_read`` re-read. Run elsewhere, :meth:`NodeTask.execute_reported`
  also returns a :class:`NodeRun` (where and when it ran, the stored size): pass it,
  unread, to ``plan.finish(..., ran=...)`` for the run record (a failure carries its
  own). ``plan.recording`` says whether the record goes to storage. Its arguments come
  ready, or as the parents' values with an :class:`ArgumentsTemplate`
  (:func:`template_of`, :func:`inputs_of`) when the node runs elsewhere;
  :func:`portable_error` and :func:`failed_node` carry a failure back to the driver
  with its node's name.
- :class:`GraphView`: order, names, consumers (:meth:`GraphView.consumer_counts`),
  settings, a class node's method calls.
"""

from functionfuse._arguments import (
    ArgumentsTemplate,
    call_with,
    inputs_of,
    is_direct,
    referenced_nodes,
    replace_whole,
    template_of,
)
from functionfuse._failures import node_failure
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
from functionfuse._pickling import dumps
from functionfuse._plan import RunPlan
from functionfuse._plugins import NodePlugin, prepare_plugin
from functionfuse._resume import ResumePlan, read_fingerprints, save_result
from functionfuse._retries import RETRIES, Retries
from functionfuse._storage import MISSING, read_each, read_stored
from functionfuse._task import (
    ATTEMPTS_ATTRIBUTE,
    NODE_ATTRIBUTE,
    RAN_ATTRIBUTE,
    TRACEBACK_ATTRIBUTE,
    NodeRun,
    NodeTask,
    SaveTo,
    UnpicklableNodeError,
    UnusableResult,
    failed_node,
    portable_error,
    read_result,
    worker_label,
)
from functionfuse._view import GraphView
from functionfuse._workflow import PLUGIN, REMOTE_ARGS, STORAGE

__all__ = [
    "ATTEMPTS_ATTRIBUTE",
    "MISSING",
    "NODE_ATTRIBUTE",
    "PLUGIN",
    "RAN_ATTRIBUTE",
    "REMOTE_ARGS",
    "RETRIES",
    "STORAGE",
    "TRACEBACK_ATTRIBUTE",
    "ArgumentsTemplate",
    "ClassNode",
    "FunctionNode",
    "GraphView",
    "Instance",
    "LifecycleHooks",
    "MethodNode",
    "Node",
    "NodeItem",
    "NodePlugin",
    "NodeRun",
    "NodeTask",
    "ResumePlan",
    "Retries",
    "RunPlan",
    "SaveTo",
    "UnpicklableNodeError",
    "UnusableResult",
    "call_with",
    "dumps",
    "failed_node",
    "inputs_of",
    "is_direct",
    "lifecycle_hooks",
    "node_failure",
    "node_of",
    "portable_error",
    "prepare_plugin",
    "read_each",
    "read_fingerprints",
    "read_result",
    "read_stored",
    "referenced_nodes",
    "replace_references",
    "replace_whole",
    "resolve_arguments",
    "save_result",
    "template_of",
    "worker_label",
]
