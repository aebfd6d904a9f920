"""What a run would do, without running anything — like ``make -n``, ``dvc status`` or
Snakemake's dry run: :func:`plan` (``functionfuse.lineage.plan(wf)``) and ``fuse plan``.

The plan is the one a run makes (:class:`~functionfuse.runtime.RunPlan`: the listing,
the stamps, the class-chain rule), made with no hook listening and nothing written:
storage is listed and its headers read, never a result, and no folder is created.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, final

import pluggy

from functionfuse import hookspecs
from functionfuse._errors import FunctionFuseWarning
from functionfuse._hooks import LifecycleHooks
from functionfuse._nodes import ClassNode, MethodNode, Node
from functionfuse._plan import RunPlan
from functionfuse._resume import RerunReason

if TYPE_CHECKING:
    from functionfuse._workflow import BaseWorkflow

__all__ = ["Plan", "PlannedNode", "plan"]


@final
class PlannedNode:
    """One node of a :class:`Plan`: its name, whether it would run, and why."""

    __slots__ = ("causes", "name", "reasons", "runs")

    def __init__(self, name: str, runs: bool, reasons: tuple[str, ...]) -> None:
        self.name = name
        #: True when the node would run; False when its stored result is up to date.
        self.runs = runs
        #: Why it would run, for people (empty when it would not).
        self.reasons = reasons
        #: The same for programs; ``None`` stands for a reason that is not a rerun's
        #: (not stored yet, no storage, resume off, kept out of storage, ...).
        self.causes: tuple[RerunReason | None, ...] = tuple(_cause(r) for r in reasons)

    def __repr__(self) -> str:
        return f"PlannedNode({self.name!r}, runs={self.runs}, reasons={self.reasons!r})"

    def __str__(self) -> str:
        status = "would run" if self.runs else "up to date"
        why = f": {', '.join(self.reasons)}" if self.reasons else ""
        return f"{status:<10}  {self.name}{why}"


@final
class Plan:
    """What ``run()`` would do with each node of a workflow, in graph order."""

    __slots__ = ("mode", "nodes", "workflow_name")

    def __init__(self, workflow_name: str, mode: object, nodes: tuple[PlannedNode, ...]) -> None:
        self.workflow_name = workflow_name
        #: The resume mode it was made for: "fingerprint", "name" or False.
        self.mode = mode
        self.nodes = nodes

    @property
    def would_run(self) -> list[str]:
        """The names of the nodes that would run."""
        return [node.name for node in self.nodes if node.runs]

    @property
    def up_to_date(self) -> list[str]:
        """The names of the nodes whose stored result would be used."""
        return [node.name for node in self.nodes if not node.runs]

    def __getitem__(self, name: str) -> PlannedNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def __str__(self) -> str:
        lines = [str(node) for node in self.nodes]
        running = len(self.would_run)
        if running == 0:
            lines.append("Nothing would run: every stored result is up to date.")
        else:
            lines.append(f"{running} of {len(self.nodes)} nodes would run.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Plan of {self.workflow_name!r}: would run {self.would_run!r}>"


def plan(workflow: BaseWorkflow, resume: object = None) -> Plan:
    """What ``workflow.run(resume=resume)`` would do, without running anything.

    For each node, in graph order: whether it would run or its stored result is up to
    date, and why it would run — the reasons a run gives its ``functionfuse_node_rerun``
    hook (``code changed (helpers.scale)``, ``argument 'k' changed``, ``scikit-learn
    1.5.2 → 1.6.0``, ``upstream changed ('model')``) or ``not stored``, ``no storage``,
    ``resume is off``, ``kept out of storage``. No hook is called and nothing is written.
    """
    mode = workflow.resume_mode(resume)
    storage = workflow.storage
    listed: set[str] = set()
    if storage is not None:
        listed = set(storage.list_tasks(workflow.workflow_name))
    with warnings.catch_warnings():
        # Unfingerprintable nodes and unusable results: the plan lists them, with why.
        warnings.simplefilter("ignore", FunctionFuseWarning)
        run_plan = RunPlan(workflow, _no_hooks(), mode=mode, listed=listed)
    resume_plan = run_plan.resume
    reruns = dict(resume_plan.reruns) if resume_plan is not None else {}
    if resume_plan is not None:
        mode = resume_plan.mode  # "name" for a storage that keeps no fingerprints
    view = run_plan.view
    names = view.names
    planned = []
    for node in view.order:
        name = names[node]
        if node in run_plan.skip:
            planned.append(PlannedNode(name, False, ()))
            continue
        reasons = reruns.get(name)
        if reasons is None:
            reasons = _why(run_plan, node, listed, mode)
        planned.append(PlannedNode(name, True, tuple(reasons)))
    return Plan(workflow.workflow_name, mode, tuple(planned))


def _why(run_plan: RunPlan, node: Node, listed: set[str], mode: object) -> list[str]:
    """Why a node runs that the resume plan did not report (no rerun of a result)."""
    if run_plan.storage is None:
        return ["no storage"]
    if mode is False:
        return ["resume is off"]
    view = run_plan.view
    names = view.names
    if type(node) is ClassNode:
        if node in view.leaf_nodes:
            return ["the instance is a result of the workflow"]
        calls = [names[m] for m in view.methods(node) if m not in run_plan.skip]
        return [f"builds the instance for {_listing(calls)}"] if calls else ["never stored"]
    if not run_plan.saved(node):
        return ["kept out of storage"]
    if names[node] not in listed:
        return ["not stored"]
    if type(node) is MethodNode:
        instance = node.instance
        # Up to date, but its instance is built again for another call, and replays it.
        others = [
            names[m] for m in view.methods(instance) if m is not node and m not in run_plan.skip
        ]
        return [f"replayed on its instance {names[instance]!r} for {_listing(others)}"]
    return ["upstream changed"]


def _listing(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _cause(reason: str) -> RerunReason | None:
    if reason in _NOT_RERUNS or reason.startswith(_NOT_RERUN_PREFIXES):
        return None
    return RerunReason.of(reason)


_NOT_RERUNS = frozenset(
    {"no storage", "resume is off", "kept out of storage", "not stored", "never stored"}
)
_NOT_RERUN_PREFIXES = ("builds the instance", "the instance is", "replayed on its instance")


def _no_hooks() -> LifecycleHooks:
    """Hook callers with nobody listening: a plan reports nothing to the run's hooks."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return LifecycleHooks(manager)
