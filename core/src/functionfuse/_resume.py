"""Which stored results a run may use: resume by fingerprint, by name, or not at all.

Every backend makes one :class:`ResumePlan` at the start of a run that has a storage.
By default a stored result is used only when the fingerprint saved with it (see
:mod:`functionfuse._fingerprint`) matches the node as it is now; a node whose result is
out of date runs again — and so does everything downstream of it, whose fingerprints
change with it — and the run says why through the ``functionfuse_node_rerun`` hook.
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal

from functionfuse._errors import ConfigurationError, FunctionFuseWarning, StaleResultError
from functionfuse._nodes import ClassNode, MethodNode, Node
from functionfuse._storage import warn_unusable
from functionfuse.contracts import FingerprintStorage, Storage, keeps_fingerprints

if TYPE_CHECKING:
    from functionfuse._fingerprint import Lineage
    from functionfuse._hooks import LifecycleHooks
    from functionfuse._workflow import BaseWorkflow

__all__ = [
    "RESUME_MODES",
    "RerunReason",
    "ResumeMode",
    "ResumePlan",
    "check_resume",
    "read_fingerprints",
    "save_result",
    "save_sized",
]

ResumeMode = Literal["fingerprint", "name", False]
#: What ``run(resume=...)`` takes (``True`` is ``"fingerprint"``).
RESUME_MODES: Final = ("fingerprint", "name", False)


class RerunReason(enum.Enum):
    """Why a node runs although a result is stored under its name — what the
    ``functionfuse_node_rerun`` hook receives as ``causes``, beside the text (which
    names the culprit: ``code changed (helpers.scale)``, ``argument 'k' changed``,
    ``scikit-learn 1.5.2 → 1.6.0``, ``upstream changed ('model')``)."""

    CODE_CHANGED = "code changed"
    ARGUMENT_CHANGED = "argument changed"
    PACKAGE_CHANGED = "installed package changed"
    UPSTREAM_CHANGED = "upstream changed"
    NO_FINGERPRINT = "stored without a fingerprint"
    OTHER_FORMAT = "stored with another fingerprint format"
    DAMAGED = "stored result is damaged"
    UNFINGERPRINTABLE = "cannot be fingerprinted"
    UPSTREAM_UNFINGERPRINTABLE = "upstream cannot be fingerprinted"

    @classmethod
    def of(cls, reason: str) -> RerunReason:
        """The cause a reason's text states (texts add details after these words)."""
        if reason.startswith("upstream node"):
            return cls.UPSTREAM_UNFINGERPRINTABLE
        if reason.startswith("argument"):  # argument 'k' changed, arguments 'a', 'b' ...
            return cls.ARGUMENT_CHANGED
        if reason.startswith(("stored by an older release", "stored with another")):
            return cls.OTHER_FORMAT
        if " → " in reason or reason.startswith("package versions"):
            return cls.PACKAGE_CHANGED
        for cause in cls:
            if reason.startswith(cause.value):
                return cause
        return cls.UPSTREAM_CHANGED


def check_resume(value: object, where: str) -> ResumeMode:
    """``value`` as a resume mode, or a ConfigurationError naming ``where``."""
    if value is True:
        return "fingerprint"
    if value is False or value == "fingerprint" or value == "name":
        return value
    raise ConfigurationError(
        f"resume of {where} must be 'fingerprint' (use a stored result only if its "
        "code, arguments and upstream are unchanged; the default), 'name' (use any "
        f"result stored under the node's name) or False (run everything), got {value!r}."
    )


def read_fingerprints(
    storage: FingerprintStorage, workflow_name: str, task_names: Iterable[str]
) -> dict[str, bytes | Exception | None]:
    """The stamps stored with these tasks' results: names with nothing stored are left
    out; ``None``: stored without one; an exception (not raised): the stored result
    cannot be trusted. One batched ``read_fingerprints`` call."""
    return dict(storage.read_fingerprints(workflow_name, list(task_names)))


def save_result(
    storage: Storage, workflow_name: str, task_name: str, result: Any, stamp: bytes | None
) -> Any:
    """``storage.save``, with the node's stamp when there is one (a storage that keeps
    no fingerprints never gets the keyword); returns the value consumers get: ``result``,
    or with ``storage.always_read`` the result as read back — checked to be the one just
    saved (if another run replaced it in between, this one is saved and read again).
    """
    return save_sized(storage, workflow_name, task_name, result, stamp)[0]


def save_sized(
    storage: Storage, workflow_name: str, task_name: str, result: Any, stamp: bytes | None
) -> tuple[Any, int | None]:
    """:func:`save_result`, and the stored size in bytes when ``storage.save`` returns
    it (an int; ``None`` otherwise) — for the run record, at no extra request."""
    size = _save(storage, workflow_name, task_name, result, stamp)
    if not storage.always_read:
        return result, size
    if stamp is None:
        return storage.read_task(workflow_name, task_name), size
    read: Callable[..., Any] = storage.read_task
    try:
        return read(workflow_name, task_name, fingerprint=stamp), size
    except StaleResultError:
        # Replaced between the save and the read: this run's result is the right one
        # for it. A second replacement in that window fails the node (StaleResultError).
        size = _save(storage, workflow_name, task_name, result, stamp)
        return read(workflow_name, task_name, fingerprint=stamp), size


def _save(
    storage: Storage, workflow_name: str, task_name: str, result: Any, stamp: bytes | None
) -> int | None:
    if stamp is None:
        size = storage.save(workflow_name, task_name, result)
    else:
        size = storage.save(workflow_name, task_name, result, fingerprint=stamp)  # type: ignore[call-arg]
    return size if type(size) is int else None


class ResumePlan:
    """The stored results a run may use, and the stamp to save with each new result.

    :attr:`usable` holds the names whose stored result may be read instead of running
    the node; a backend treats it as the listing of what is stored. :meth:`stamp` is
    ``None`` when the storage keeps no fingerprints or the node cannot be fingerprinted.
    """

    def __init__(
        self,
        workflow: BaseWorkflow,
        storage: Storage,
        stored: Collection[str],
        mode: ResumeMode,
        hooks: LifecycleHooks,
        read: Callable[[list[str]], Mapping[str, bytes | Exception | None]] | None = None,
    ) -> None:
        self.workflow = workflow
        self.mode = mode
        self._read = read or (
            lambda names: read_fingerprints(storage, workflow.workflow_name, names)  # type: ignore[arg-type]
        )
        # As stored, for the names read (or _DAMAGED, _GONE).
        self._stamps: dict[str, bytes | _Mark | None] = {}
        self.lineage: Lineage | None = None
        if keeps_fingerprints(storage):
            from functionfuse._fingerprint import Lineage

            self.lineage = Lineage(workflow._order)
        elif mode == "fingerprint":
            warnings.warn(
                f"storage {storage!r} of workflow {workflow.workflow_name!r} keeps no "
                "fingerprints (see functionfuse.contracts.FingerprintStorage), so stored "
                "results are used by node name alone and may "
                "be out of date. Use a storage of functionfuse-fs, or pass "
                "resume='name' to say that this is what you want.",
                FunctionFuseWarning,
                stacklevel=4,
            )
            mode = self.mode = "name"
        self.usable: set[str] = set()
        #: ``(name, reasons)`` of each node that runs although a result is stored under
        #: its name, or that cannot be fingerprinted, in graph order.
        self.reruns: list[tuple[str, list[str]]] = []
        self._explained = False
        self.refresh(stored)
        if self.reruns and hooks.node_rerun is not None:
            workflow_name = workflow.workflow_name
            for name, reasons in self.reruns:
                hooks.node_rerun(
                    workflow_name=workflow_name,
                    node_name=name,
                    reasons=reasons,
                    causes=[RerunReason.of(reason) for reason in reasons],
                )
        self._warn_unknown()

    def refresh(self, stored: Collection[str]) -> None:
        """Decide from a listing of what is stored (Ray lists again when a run starts
        over): results stored since are used if they match; reasons are found once."""
        mode = self.mode
        if mode is False:
            return
        if mode == "name" or self.lineage is None:
            self.usable = set(stored)
            return
        lineage = self.lineage
        fingerprints = lineage.fingerprints
        names = self.workflow._names
        explain = not self._explained
        self._explained = True
        candidates: list[tuple[Node, str]] = []
        reruns: list[tuple[str, list[str]]] = []
        for node in self.workflow._order:
            if type(node) is ClassNode:
                continue  # never stored; its method calls carry its fingerprint
            name = names[node]
            if fingerprints[node] is None:
                if explain:
                    reruns.append((name, [lineage.unknown_reason(node, names.__getitem__)]))
            elif name in stored:
                candidates.append((node, name))
        # Read once; read again only what was not up to date (a run that started over
        # may have stored it since).
        unread = [name for _, name in candidates if name not in self.usable]
        if unread:
            found = self._read(unread)
            for name in unread:
                if name not in found:
                    self._stamps[name] = _GONE  # removed since it was listed: not stored
                    continue
                read = found[name]
                if isinstance(read, Exception):
                    # Damaged or planted: warned about as a read would be, then re-run.
                    warn_unusable(self.workflow.workflow_name, name, read, stacklevel=5)
                    self._stamps[name] = _DAMAGED
                else:
                    self._stamps[name] = read
        usable: set[str] = set()
        stale: set[Node] = set()
        for node, name in candidates:
            stamp: bytes | _Mark | None = self._stamps[name]
            if stamp is _GONE:
                continue
            if not isinstance(stamp, _Mark) and lineage.matches(node, stamp):
                usable.add(name)
                continue
            stale.add(node)
            if explain:
                if isinstance(stamp, _Mark):
                    reasons, parents = ["stored result is damaged"], None
                else:
                    reasons = lineage.explain(node, stamp)
                    parents = lineage.changed_parents(node, stamp)
                if parents is None:  # the stamp does not say: those run again, at least
                    parents = [parent for parent in node.parents if parent in stale]
                code_changed = any(reason.startswith("code changed") for reason in reasons)
                if code_changed and isinstance(node, MethodNode):
                    # Its class's code changed, and so did its instance: one cause.
                    parents = [parent for parent in parents if parent is not node.instance]
                changed = [names[parent] for parent in parents]
                if not changed and not reasons:
                    # The change came through a parent with no stored result to compare
                    # (a class node, never stored; a node kept out of storage): name it
                    # when there is only one such parent.
                    unsure = [
                        names[parent] for parent in node.parents if names[parent] not in usable
                    ]
                    if len(unsure) == 1:
                        changed = unsure
                if changed:
                    reasons.append(f"upstream changed ({_listing(changed)})")
                elif not reasons:
                    reasons.append("upstream changed")
                reruns.append((name, reasons))
        self.usable = usable
        if explain:
            if stale and len(reruns) > len(stale):
                # Unknown nodes and stale ones were found in two passes: graph order.
                order = {names[node]: i for i, node in enumerate(self.workflow._order)}
                reruns.sort(key=lambda entry: order[entry[0]])
            self.reruns = reruns

    def stamp(self, node: Node) -> bytes | None:
        """What to save with ``node``'s result (``None``: save without a fingerprint)."""
        lineage = self.lineage
        return lineage.stamp(node) if lineage is not None else None

    def expected(self, node: Node) -> bytes | None:
        """The fingerprint a stored result of ``node`` must have to be used when it is
        read (``read_stored(..., fingerprint=)``): the one this plan decided on, so that
        a result another run replaced since is never used. ``None``: any result will do
        (resume by name, or a storage that keeps no fingerprints)."""
        return self.stamp(node) if self.mode != "name" else None

    def _warn_unknown(self) -> None:
        lineage = self.lineage
        if lineage is None or self.mode != "fingerprint":
            return
        names = self.workflow._names
        own = [
            node
            for node in self.workflow._order
            if lineage.fingerprints[node] is None and not isinstance(lineage._problems[node], Node)
        ]
        if own:
            listing = "; ".join(
                f"{names[node]!r}: {lineage.unknown_reason(node, names.__getitem__)}"
                for node in own[:3]
            )
            warnings.warn(
                f"{len(own)} node(s) of workflow {self.workflow.workflow_name!r} cannot "
                f"be fingerprinted, so they and their descendants run on every run "
                f"({listing}). Give the value a __functionfuse_fingerprint__ method, pass "
                "it another way, or pin the code with @workflow(version=...).",
                FunctionFuseWarning,
                stacklevel=4,
            )


class _Mark:
    """What stands for a stamp that could not be read."""

    __slots__ = ()


#: The stamp of a stored result whose header cannot be read or trusted.
_DAMAGED: Final = _Mark()
#: The stamp of a listed result that was gone when its header was read.
_GONE: Final = _Mark()


def _listing(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(repr(name) for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
