"""RayWorkflow: run a functionfuse workflow on a Ray cluster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import ray

from functionfuse import BaseWorkflow, ConfigurationError
from functionfuse.runtime import Instance, Node, NodeItem
from functionfuse_ray._remotes import remote_helpers
from functionfuse_ray._run import RunAttempt
from functionfuse_ray._startup import ensure_ray
from functionfuse_ray._storage import RayFileStorage
from functionfuse_ray._watch import Restart

__all__ = ["RayWorkflow"]

#: The share of a custom resource a storage task asks for: small, so that many storage
#: tasks fit on a node holding one unit of it.
_STORAGE_RESOURCE_SHARE = 0.001


class RayWorkflow(BaseWorkflow):
    """Run a workflow on Ray: function nodes as tasks, class nodes as actors.

    ``RayWorkflow(*nodes, workflow_name=..., ray_init_args=None, storage_resource=None)``

    - ``ray_init_args``: passed to ``ray.init`` when this process is not connected to
      Ray yet (``{"address": "auto"}`` or ``{"address": "ray://host:10001"}`` joins a
      running cluster); ignored when Ray is already initialised, which is then used as
      it is. Unless ``RAY_ENABLE_UV_RUN_RUNTIME_ENV`` is set, Ray's ``uv run`` worker
      environments are off for that ``ray.init`` (see the README).
    - ``storage_resource``: the name of a custom Ray resource held by the cluster nodes
      that can reach the storage (say, the machine whose local disk holds it). Storage
      reads and writes then run as small tasks on those nodes, while the nodes
      themselves run anywhere. Without it, each node's task saves its own result. A
      ``ray`` kind storage (:class:`~functionfuse_ray.RayFileStorage`, the original
      Function Fuse's) says the same with its ``remoteArgs``, which are then used as
      the storage tasks' options.

    Per-node options: ``query(pattern).set_remote_args({...})`` goes to the task's or
    actor's ``.options()`` (``num_cpus``, ``num_gpus``, ``resources``,
    ``max_retries``, ``retry_exceptions``, ...); ``set_plugin`` attaches node plugins,
    which run on the worker right before the node; ``query(pattern).set_storage(False)``
    keeps nodes out of storage.
    """

    backend_name: ClassVar[str] = "ray"

    def __init__(
        self,
        *nodes: Node | NodeItem | Instance,
        workflow_name: str,
        ray_init_args: Mapping[str, Any] | None = None,
        storage_resource: str | None = None,
    ) -> None:
        super().__init__(*nodes, workflow_name=workflow_name)
        if ray_init_args is not None and not isinstance(ray_init_args, Mapping):
            raise ConfigurationError(
                f"ray_init_args of workflow {workflow_name!r} must be a dict of ray.init "
                f"arguments, got {type(ray_init_args).__name__} {ray_init_args!r}."
            )
        if storage_resource is not None and (
            not isinstance(storage_resource, str) or not storage_resource
        ):
            raise ConfigurationError(
                f"storage_resource of workflow {workflow_name!r} must be the name of a "
                f"custom Ray resource, got {storage_resource!r}."
            )
        self.ray_init_args = dict(ray_init_args or {})
        self.storage_resource = storage_resource
        ensure_ray(self.ray_init_args)

    def storage_remote_args(self) -> dict[str, Any]:
        """The ``.options()`` of storage tasks: a ``ray`` kind storage's ``remote_args``,
        else a share of ``storage_resource``, else nothing (each node's task saves its
        own result)."""
        storage = self.storage
        if isinstance(storage, RayFileStorage):
            if self.storage_resource is not None:
                raise ConfigurationError(
                    f"workflow {self.workflow_name!r} has storage_resource="
                    f"{self.storage_resource!r} and a ray storage ({storage!r}), which "
                    "both say where storage calls run; keep one (the storage's "
                    f"remoteArgs {{'resources': {{{self.storage_resource!r}: 0.001}}}} "
                    "is the same as that storage_resource)."
                )
            return storage.remote_args
        if self.storage_resource is None:
            return {}
        return {"resources": {self.storage_resource: _STORAGE_RESOURCE_SHARE}}

    def run(
        self,
        return_results: bool = True,
        max_pending_tasks: int = 0,
        keep_going: bool = False,
        resume: Any = None,
    ) -> Any:
        """Run the workflow on Ray.

        :param return_results: Fetch the results of the nodes the workflow was given and
            return them — the single node's result, or a list — as the local backend
            does. With ``False`` (the original Function Fuse's default) nothing is
            fetched: ``run()`` waits until every node has finished and returns ``None``.
        :param max_pending_tasks: When positive, at most this many tasks are in flight
            at once; the driver waits for some to finish before submitting more. Use it
            for very large workflows, to bound what the driver and the object store hold.
        :param keep_going: After a node fails, still submit every other node: Ray runs
            none whose arguments failed, so the failed nodes' descendants do not run and
            everything else runs and is stored; the error lists every failed node.
        :param resume: ``"fingerprint"`` (the default: a stored result is used only when
            its node's code, literal arguments and upstream are unchanged), ``"name"``
            or ``False``, as :class:`functionfuse.BaseWorkflow` explains.
        :raises functionfuse.NodeExecutionError: a node failed; it names the workflow and
            the node and carries the remote traceback. Every node that finished was
            stored first.
        """
        if not isinstance(max_pending_tasks, int) or max_pending_tasks < 0:
            raise ConfigurationError(
                f"max_pending_tasks of workflow {self.workflow_name!r} must be an int >= 0 "
                f"(0: no bound), got {max_pending_tasks!r}."
            )
        self.resume_mode(resume)  # a bad value fails before Ray or the storage is asked
        pinned = bool(self.storage_remote_args())  # so does a storage pinned twice
        ensure_ray(self.ray_init_args)  # a Ray shut down since construction comes back
        with self.start_run(
            resume=resume,
            keep_going=keep_going,
            return_results=return_results,
            listed=self._stored_names(),
            read_stamps=self._read_stamps if pinned else None,
        ) as plan:
            untrusted: set[str] = set()
            while True:
                try:
                    return RunAttempt(self, plan, max_pending_tasks).execute()
                except Restart as restart:
                    # Unusable stored results: their nodes run again, all else resumes.
                    # Listed again: what the attempt finished (and stored) is read, not
                    # run again.
                    untrusted |= restart.names
                    plan.refresh(self._stored_names() or (), untrusted)

    def _read_stamps(self, names: list[str]) -> Any:
        """The fingerprint stamps stored with these results, read where storage tasks
        run (:meth:`storage_remote_args`)."""
        task = remote_helpers()["fingerprints"].options(**self.storage_remote_args())
        return ray.get(task.remote(self.storage, self.workflow_name, names))

    def _stored_names(self) -> set[str] | None:
        """What the storage holds for this workflow (listed at the start of each
        attempt, where storage tasks run when they are pinned); ``None`` without one."""
        storage = self.storage
        if storage is None:
            return None
        self.refuse_process_local_storage("Ray's workers")
        pinned = self.storage_remote_args()
        if not pinned:
            storage.new_workflow(self.workflow_name)
            return set(storage.list_tasks(self.workflow_name))
        setup = remote_helpers()["setup"].options(**pinned)
        return set(ray.get(setup.remote(storage, self.workflow_name)))
