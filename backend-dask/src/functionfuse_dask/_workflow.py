"""DaskWorkflow: run a functionfuse workflow on Dask distributed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

from distributed import Client

from functionfuse import BaseWorkflow, ConfigurationError
from functionfuse.runtime import Instance, Node, NodeItem
from functionfuse_dask._connect import connected
from functionfuse_dask._run import DaskRun

__all__ = ["DaskWorkflow"]


class DaskWorkflow(BaseWorkflow):
    """Run a workflow on Dask: function nodes as tasks, class nodes on one worker each.

    ``DaskWorkflow(*nodes, workflow_name=..., client=None, address=None, cluster_options=None)``

    - ``client``: a :class:`distributed.Client` to run on (left open after the run);
    - else ``address``: a scheduler to connect to for each run — ``"tcp://host:8786"``,
      or the path of a scheduler file (``dask scheduler --scheduler-file``, as
      dask-jobqueue and ``dask-mpi`` write);
    - else a :class:`distributed.LocalCluster` started for each run and shut down after
      it, with ``cluster_options`` (default: one single-threaded worker process per
      core, at most four, no dashboard).

    Per-node options: ``query(pattern).set_remote_args({...})`` takes Dask's
    ``resources``, ``workers``, ``allow_other_workers``, ``retries`` and ``priority``
    (see :mod:`functionfuse_dask._options`); ``set_plugin`` attaches node plugins, which
    run on the worker right before the node; ``set_storage`` results are written by the
    workers.
    """

    backend_name: ClassVar[str] = "dask"

    def __init__(
        self,
        *nodes: Node | NodeItem | Instance,
        workflow_name: str,
        client: Client | None = None,
        address: str | os.PathLike[str] | None = None,
        cluster_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(*nodes, workflow_name=workflow_name)
        if client is not None and not isinstance(client, Client):
            raise ConfigurationError(
                f"client of workflow {workflow_name!r} must be a distributed.Client, got "
                f"{type(client).__name__} {client!r}; to connect to a scheduler, give "
                "address=... instead."
            )
        if address is not None:
            if not isinstance(address, (str, os.PathLike)) or not os.fspath(address):
                raise ConfigurationError(
                    f"address of workflow {workflow_name!r} must be a scheduler address "
                    f"('tcp://host:8786') or a scheduler file's path, got {address!r}."
                )
            if client is not None:
                raise ConfigurationError(
                    f"workflow {workflow_name!r} was given both a client and an address; "
                    "give one of them."
                )
        if cluster_options is not None:
            if not isinstance(cluster_options, Mapping):
                raise ConfigurationError(
                    f"cluster_options of workflow {workflow_name!r} must be a dict of "
                    f"LocalCluster arguments, got {type(cluster_options).__name__} "
                    f"{cluster_options!r}."
                )
            if client is not None or address is not None:
                raise ConfigurationError(
                    f"cluster_options of workflow {workflow_name!r} configure the "
                    "LocalCluster it starts when it has neither a client nor an address; "
                    "with one of those they would be ignored: remove them."
                )
        self.client = client
        self.address: str | None = os.fspath(address) if address is not None else None
        self.cluster_options = dict(cluster_options) if cluster_options is not None else None

    def run(
        self,
        return_results: bool = True,
        max_pending_tasks: int = 0,
        keep_going: bool = False,
        resume: Any = None,
    ) -> Any:
        """Run the workflow on Dask.

        :param return_results: Gather the results of the nodes the workflow was given and
            return them — the single node's result, or a list — as the local backend
            does (only they reach this process). With ``False`` nothing is gathered:
            ``run()`` waits until every node has finished and returns ``None``.
        :param max_pending_tasks: When positive, at most this many tasks are in flight
            at once; the driver waits for some to finish before submitting more. Use it
            for very large workflows, to bound what the scheduler and the driver hold.
        :param keep_going: After a node fails, still run every node that does not depend
            on it (and store it); the error then lists every failed node. Without it the
            first failure stops the run: tasks not started are cancelled (running ones
            end on their workers and are saved), and the error names the node.
        :param resume: ``"fingerprint"`` (the default: a stored result is used only when
            its node's code, literal arguments and upstream are unchanged), ``"name"``
            or ``False``, as :class:`functionfuse.BaseWorkflow` explains.
        :raises functionfuse.NodeExecutionError: a node failed; it names the workflow and
            the node, chains the node's exception and shows the worker's traceback.
        """
        if (
            isinstance(max_pending_tasks, bool)
            or not isinstance(max_pending_tasks, int)
            or max_pending_tasks < 0
        ):
            raise ConfigurationError(
                f"max_pending_tasks of workflow {self.workflow_name!r} must be an int >= 0 "
                f"(0: no bound), got {max_pending_tasks!r}."
            )
        self.resume_mode(resume)  # a bad value fails before a cluster is started
        with connected(
            self.workflow_name, self.client, self.address, self.cluster_options
        ) as client:
            self._check_storage(client)
            with self.start_run(
                resume=resume, keep_going=keep_going, return_results=return_results
            ) as plan:
                return DaskRun(plan, client, max_pending_tasks).execute()

    def _check_storage(self, client: Client) -> None:
        """Refuse a memory storage that the workers cannot share with this process."""
        storage = self.storage
        if storage is None or getattr(storage, "protocol", None) != "memory":
            return
        pids = set(client.run(os.getpid).values())
        if pids and pids != {os.getpid()}:  # a LocalCluster with processes=False shares it
            self.refuse_process_local_storage(
                "the Dask workers", " (or a LocalCluster with processes=False)"
            )
