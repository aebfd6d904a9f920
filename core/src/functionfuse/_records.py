"""The run recorder: what one run did with each node, written beside its results.

A :class:`RunRecorder` is made by every :class:`~functionfuse.runtime.RunPlan` and hears
what the plan hears — nodes stored, started, finished, retried, failed, blocked — keyed
by name, in a few dicts (no per-node storage request, no per-node object). It builds the
record of ``functionfuse-run/1`` (see :mod:`functionfuse.run_records`) on demand: a
daemon thread writes a snapshot every few seconds while something changed, so a killed
run leaves a record in state ``running``; :meth:`RunRecorder.close` writes the last one.
A storage without run records (see :class:`functionfuse.contracts.RunRecordStorage`)
gets nothing; the workflow keeps the last record in memory either way.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import warnings
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Final

from functionfuse._errors import FunctionFuseWarning, NodeExecutionError, error_line
from functionfuse._fingerprint_stamps import stamp_parts
from functionfuse._nodes import ClassNode, FunctionNode, MethodNode, Node
from functionfuse._record_format import (
    FORMAT,
    INTERVAL_ENV,
    blocked_by_column,
    cause_of,
    dump_record,
    expand_record,
    new_run_id,
    paused_collector,
    short_repr,
    snapshot_interval,
)
from functionfuse._storage import MISSING
from functionfuse._task import (
    RAN_ATTRIBUTE,
    TRACEBACK_ATTRIBUTE,
    NodeRun,
    failed_node,
    worker_label,
)
from functionfuse.contracts import RunRecordStorage, keeps_run_records

if TYPE_CHECKING:
    from functionfuse._plan import RunPlan
    from functionfuse._task import NodeTask

__all__ = ["INTERVAL_ENV", "RunRecorder"]

_KINDS: Final = {FunctionNode: "function", ClassNode: "class", MethodNode: "method"}


def _function_of(node: Node) -> str:
    kind = type(node)
    if kind is FunctionNode:
        what: Any = node.func  # type: ignore[attr-defined]
    elif kind is ClassNode:
        what = node.cls  # type: ignore[attr-defined]
    else:
        cls = node.instance.cls  # type: ignore[attr-defined]
        return f"{getattr(cls, '__module__', '?')}.{node.qualname}"
    return f"{getattr(what, '__module__', '?')}.{node.qualname}"


def _traceback_of(error: BaseException) -> str | None:
    found = getattr(error, TRACEBACK_ATTRIBUTE, None)
    if isinstance(found, str):
        return found
    if error.__traceback__ is None:
        return None
    import traceback

    return "".join(traceback.format_exception(error))


class RunRecorder:
    """The record of one run, kept up to date by its plan (driver side).

    The plan calls :meth:`stored`, :meth:`started`, :meth:`finished`, :meth:`retried`,
    :meth:`failed` and :meth:`blocked` with node names; :meth:`record` builds the
    record; :meth:`close` ends the run (and writes the record); :meth:`final` is the
    record of the ended run.
    """

    def __init__(
        self,
        plan: RunPlan,
        *,
        backend: str,
        resume: object,
        listed: Collection[str] | None,
        interval: float | None = None,
    ) -> None:
        self.plan = plan
        self.run_started = time.time()
        self.run_id = new_run_id(self.run_started)
        self.backend = backend
        self.resume = "off" if resume is False else str(resume)
        self.listed: Collection[str] = listed if listed is not None else ()
        storage = plan.storage
        self.storage: RunRecordStorage | None = (
            storage if storage is not None and keeps_run_records(storage) else None  # type: ignore[assignment]
        )
        self.status: dict[str, str] = {}
        self.start: dict[str, float] = {}
        self.end: dict[str, float] = {}
        self.worker: dict[str, str] = {}
        self.size: dict[str, int] = {}
        self.retries: dict[str, int] = {}
        #: Failed nodes' error (one line) and traceback, as text: a traceback's frames
        #: would keep the failed node's locals alive for as long as the record.
        self.errors: dict[str, tuple[str, str | None]] = {}
        self.blocked_by: dict[str, str | None] = {}
        self.stamps: dict[str, bytes] = {}
        self.reprs: dict[str, str] = {}
        self.unusable: set[str] = set()
        #: The tasks run in this process that save: their stored size, once run.
        self.tasks: dict[str, NodeTask] = {}
        #: Bumped by every event; the snapshot thread writes when it moved.
        self.changes = 0
        self._static: dict[str, Any] | None = None
        #: Once the run ended: its state, its error in one line, when it ended.
        self.state = "running"
        self.summary: str | None = None
        self.ended: float | None = None
        self._final: dict[str, Any] | None = None
        self._full: dict[str, Any] | None = None
        self._warned = False
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one write at a time
        self._thread: threading.Thread | None = None
        self.interval = snapshot_interval(interval) if self.storage is not None else 0.0

    def begin(self) -> None:
        """The run starts: a first snapshot now (every node ``pending``: a run killed
        at once still leaves a record), then one every :attr:`interval` seconds (a plan
        made only to look, as ``fuse plan`` does, never begins)."""
        if self.interval > 0 and self._thread is None:
            try:
                self._write(self.record())
            except Exception as problem:
                self._warn("make", problem)
            self._thread = threading.Thread(
                target=self._snapshots, name="functionfuse-run-record", daemon=True
            )
            self._thread.start()

    # -- events (driver side) --------------------------------------------------------------

    def stored(self, name: str) -> None:
        self.status[name] = "stored"
        self.changes += 1

    def started(self, name: str) -> None:
        self.start[name] = time.time()
        self.status.pop(name, None)  # a stored node that runs after all
        self.changes += 1

    def placed(self, name: str, ran: NodeRun) -> None:
        self.start[name] = ran.start
        self.end[name] = ran.end
        self.worker[name] = ran.worker
        if ran.size is not None:
            self.size[name] = ran.size
        self.changes += 1

    def finished(self, node: Node | None, name: str, result: Any, ran: NodeRun | None) -> None:
        task = self.tasks.pop(name, None)
        if ran is not None:
            self.placed(name, ran)
        else:
            self.end[name] = time.time()
            if task is not None and task.saved_size is not None:
                self.size[name] = task.saved_size
        self.status[name] = self._ran_status(node, name)
        if result is not MISSING:
            text = short_repr(result, ran is None)
            if text is not None:
                self.reprs[name] = text
        self.changes += 1

    def _ran_status(self, node: Node | None, name: str) -> str:
        plan = self.plan
        if plan.storage is None:
            return "ran"
        if node is None:
            node = plan.node_named(name)
        if node is not None and type(node) is not ClassNode and not plan.saved(node):
            return "not_saved"
        if name in self.listed or name in self.unusable:
            return "reran"
        return "ran"

    def retried(self, name: str) -> None:
        self.retries[name] = self.retries.get(name, 0) + 1
        self.changes += 1

    def failed(self, name: str, error: BaseException) -> None:
        origin = failed_node(error)
        if origin is not None and origin != name and self.plan.node_named(origin) is not None:
            # It did not run: a parent's failure reached it (Ray, Dask pass them on).
            if origin not in self.errors:
                self._failed(origin, error)
            self.blocked(name, origin)
            return
        self._failed(name, error)

    def _failed(self, name: str, error: BaseException) -> None:
        self.errors[name] = (error_line(error), _traceback_of(error))
        self.status[name] = "failed"
        self.blocked_by.pop(name, None)
        self.tasks.pop(name, None)
        ran = getattr(error, RAN_ATTRIBUTE, None)
        if isinstance(ran, NodeRun):
            self.placed(name, ran)
        else:
            self.end[name] = time.time()
            self.changes += 1

    def blocked(self, name: str, by: str | None = None) -> None:
        if self.status.get(name) == "failed":
            return
        self.status[name] = "blocked"
        self.blocked_by[name] = by
        self.changes += 1

    # -- the record ------------------------------------------------------------------------

    def _columns(self) -> dict[str, Any]:
        """What does not change in a run, by column: each node's name, kind, code and
        parents, and the class node each method call is called on."""
        static = self._static
        if static is None:
            view = self.plan.view
            names = view.names
            order = view.order
            # A fan-out calls one function many times (by id: a callable may be
            # unhashable; the graph keeps it alive).
            functions: dict[int, str] = {}
            function_column = []
            for node in order:
                code = id(node.func) if isinstance(node, FunctionNode) else id(node)
                function = functions.get(code)
                if function is None:
                    function = functions[code] = _function_of(node)
                function_column.append(function)
            static = {
                "name": [names[node] for node in order],
                "kind": [_KINDS[type(node)] for node in order],
                "function": function_column,
                "parents": [[names[p] for p in node.parents] for node in order],
                "instance": {
                    names[node]: names[node.instance]
                    for node in order
                    if isinstance(node, MethodNode)
                },
            }
            self._static = static
        return static

    def _reasons(self) -> dict[str, list[str]]:
        resume = self.plan.resume
        reasons = {n: list(r) for n, r in resume.reruns} if resume is not None else {}
        if self.resume == "off":
            for name in self.listed:
                reasons.setdefault(name, ["resume is off: run(resume=False) runs every node"])
        for name in set(self.unusable):
            reasons.setdefault(name, []).append("stored result could not be used")
        return reasons

    def record(
        self, state: str = "running", error: str | None = None, pause: bool = True
    ) -> dict[str, Any]:
        """The record as it stands, in its stored form (by column: see
        :mod:`functionfuse._record_format`). The dicts are copied first: the snapshot
        thread builds it while the driver goes on — without ``pause``-ing the garbage
        collector, which is process-wide state the user's code may be changing."""
        if not pause:
            return self._record(state, error)
        with paused_collector():
            return self._record(state, error)

    def _record(self, state: str, error: str | None) -> dict[str, Any]:
        status = self.status.copy()
        start, end, worker = self.start.copy(), self.end.copy(), self.worker.copy()
        size, retries, errors = self.size.copy(), self.retries.copy(), self.errors.copy()
        blocked_by, reprs = self.blocked_by.copy(), self.reprs.copy()
        stamps = self.stamps.copy()
        reasons = self._reasons()
        resume = self.plan.resume
        lineage = resume.lineage if resume is not None else None
        static = self._columns()
        names: list[str] = static["name"]
        order = self.plan.view.order
        origin = self.run_started
        # Nodes that ran without saying where: in this process, on a backend whose
        # nodes run here; else unknown (a remote run that is not recorded to storage).
        here = worker_label() if self.plan.nodes_run_here else None
        statuses = [status.get(name, "pending") for name in names]

        def offsets(times: dict[str, float]) -> list[int | None]:
            # Integer µs from the run's start: a third of the time floats take to write.
            return [
                round((times[name] - origin) * 1e6) if name in times else None for name in names
            ]

        if lineage is not None:
            found = lineage.fingerprints
            fingerprints = [None if (f := found.get(node)) is None else f.hex() for node in order]
        else:
            fingerprints = [None] * len(names)
        sparse_reasons: dict[str, list[str]] = {}
        parts: dict[str, dict[str, str]] = {}
        explained = ("ran", "reran", "not_saved", "failed")
        for node, name, state_of, kind in zip(order, names, statuses, static["kind"], strict=True):
            if state_of not in explained:
                continue
            why = reasons.get(name)
            if state_of == "reran" and not why and kind != "function":
                why = ["its class node's chain runs again"]
            if why:
                sparse_reasons[name] = why
            if state_of == "reran" or state_of == "failed":
                # What the digests were made of, where it explains something (reading
                # every stamp's details would cost each node of a big run microseconds).
                stamp = stamps.get(name)
                if stamp is None and lineage is not None:
                    stamp = lineage.stamp(node)  # a failed node's (few), made again
                if stamp is not None:
                    parts[name] = stamp_parts(stamp)
        from functionfuse import __version__

        record = {
            "format": FORMAT,
            "run_id": self.run_id,
            "workflow": self.plan.workflow_name,
            "backend": self.backend,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "functionfuse_version": __version__,
            "started": origin,
            "ended": None if state == "running" else self.ended,
            "state": state,
            "resume": self.resume,
            "error": error,
            "time_origin": origin,
            "columns": {
                "name": names,
                "kind": static["kind"],
                "function": static["function"],
                "parents": static["parents"],
                "status": statuses,
                "start": offsets(start),
                "end": offsets(end),
                "worker": [worker.get(name, here) if name in start else None for name in names],
                "size": [size.get(name) for name in names],
                "fingerprint": fingerprints,
                "result_repr": [reprs.get(name) for name in names],
            },
            "sparse": {
                "instance": static["instance"],
                "reasons": sparse_reasons,
                "causes": {
                    name: [cause_of(reason) for reason in why]
                    for name, why in sparse_reasons.items()
                },
                "blocked_by": blocked_by_column(names, statuses, static["parents"], blocked_by),
                "error": {name: found[0] for name, found in errors.items()},
                "traceback": {name: found[1] for name, found in errors.items() if found[1]},
                "retries": retries,
                "fingerprint": parts,
            },
        }
        return record

    # -- writing ---------------------------------------------------------------------------

    def _snapshots(self) -> None:
        written = self.changes  # begin() wrote that one
        while not self._stop.wait(self.interval):
            changes = self.changes
            if changes != written:
                try:
                    record = self.record(pause=False)
                except Exception:  # a race with the driver: next time
                    continue
                self._write(record)
                written = changes

    def _write(self, record: dict[str, Any]) -> None:
        storage = self.storage
        if storage is None:
            return
        try:
            data = dump_record(record)
            with self._lock:
                storage.save_run_record(self.plan.workflow_name, self.run_id, data)
        except Exception as error:
            self._warn("save", error)

    def close(self, error: BaseException | None) -> None:
        """The run ended (``error``: the exception that ended it): stop the snapshots,
        and write the record once more when it goes to storage. Without a storage the
        record is built only when asked for (:meth:`final`): a run pays nothing per
        node for a record nobody reads."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.ended = time.time()
        if error is not None:
            self.state = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
            self.summary = error_line(error)
        else:
            self.state = "finished"
        try:  # a record that cannot be made never fails a run, nor hides its error
            if error is not None:
                self._settle_failed(error)
            if self.storage is not None:
                self._write(self.final())
        except Exception as problem:
            self._warn("make", problem)

    def _warn(self, what: str, error: Exception) -> None:
        if not self._warned:
            self._warned = True
            saving = what == "save"
            warnings.warn(
                f"could not {what} the run record of workflow {self.plan.workflow_name!r} "
                f"(run {self.run_id}){f' to {self.storage!r}' if saving else ''}: "
                f"{type(error).__name__}: {error}. The run goes on"
                + ("; its record is in wf.last_run_record." if saving else ", unrecorded."),
                FunctionFuseWarning,
                stacklevel=3,
            )

    def final(self) -> dict[str, Any]:
        """The record of the run, once it ended (made once)."""
        found = self._final
        if found is None:
            if self.state == "finished":
                self._settle_finished()
            found = self._final = self.record(self.state, self.summary)
        return found

    def full(self) -> dict[str, Any]:
        """:meth:`final` as readers get it (``wf.last_run_record``): a ``"nodes"`` list,
        every node with every key."""
        found = self._full
        if found is None:
            found = self._full = expand_record(self.final())
        return found

    def _settle_finished(self) -> None:
        """Nodes nobody reported in a run that finished ran without events (a backend's
        plain path, or a node that finished unwatched)."""
        status = self.status
        names = self.plan.view.names
        for node in self.plan.view.order:
            name = names[node]
            if name not in status:
                status[name] = self._ran_status(node, name)

    def _settle_failed(self, error: BaseException) -> None:
        """A run that failed without any node reported (a backend's plain path): the
        error names the node that failed; the nodes before it ran, the rest are pending."""
        if self.status or self.start or not isinstance(error, NodeExecutionError):
            return
        plan = self.plan
        names = plan.view.names
        failing = error.node_name
        for node in plan.view.order:
            name = names[node]
            if name == failing:
                cause = error.__cause__
                self.failed(name, cause if cause is not None else error)
                break
            self.status[name] = self._ran_status(node, name)
