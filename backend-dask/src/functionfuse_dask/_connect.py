"""The Dask cluster a run uses: a given Client, a scheduler address or file, or a
LocalCluster started for the run and shut down after it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any, Final

import distributed

from functionfuse import ConfigurationError

__all__ = ["DEFAULT_CLUSTER_OPTIONS", "connected", "default_cluster_options", "scheduler_file"]

# distributed's constructors are untyped: called through Any.
Client: Any = distributed.Client
LocalCluster: Any = distributed.LocalCluster

#: What a LocalCluster started by a run gets unless ``cluster_options`` says otherwise:
#: one thread per worker process (Python nodes hold the GIL; seeded generators stay one
#: node's at a time), no dashboard (no port to collide with), Dask's log level.
DEFAULT_CLUSTER_OPTIONS: Final[Mapping[str, Any]] = {
    "processes": True,
    "threads_per_worker": 1,
    "dashboard_address": None,
}


def default_cluster_options() -> dict[str, Any]:
    """The LocalCluster defaults, with one worker per core, at most four."""
    return {"n_workers": max(1, min(os.cpu_count() or 1, 4)), **DEFAULT_CLUSTER_OPTIONS}


@contextlib.contextmanager
def connected(
    workflow_name: str,
    client: distributed.Client | None,
    address: str | None,
    cluster_options: Mapping[str, Any] | None,
) -> Iterator[Any]:
    """The client of one run; what it opened is closed when the run ends."""
    if client is not None:
        if client.status in ("closing", "closed"):
            raise ConfigurationError(
                f"the Dask client given to workflow {workflow_name!r} is closed; give an "
                "open distributed.Client, or an address instead."
            )
        yield client
        return
    if address is not None:
        with _client_for(workflow_name, address) as opened:
            yield opened
        return
    options = {**default_cluster_options(), **(cluster_options or {})}
    if options.get("dashboard_address") is None:
        # Without a dashboard Dask's scheduler still serves HTTP (health, metrics), on
        # port 8787 unless told otherwise — taken by any other cluster on the machine,
        # which makes it warn: a free port on the loopback interface instead.
        scheduler_kwargs = dict(options.get("scheduler_kwargs") or {})
        scheduler_kwargs.setdefault("dashboard_address", "127.0.0.1:0")
        options["scheduler_kwargs"] = scheduler_kwargs
    try:
        cluster = LocalCluster(**options)
    except TypeError as error:  # an unknown keyword
        raise ConfigurationError(
            f"cluster_options of workflow {workflow_name!r} are not options of Dask's "
            f"LocalCluster: {error}. Given: {dict(cluster_options or {})!r}."
        ) from error
    try:
        with Client(cluster, set_as_default=False) as opened:
            yield opened
    finally:
        cluster.close()


def scheduler_file(address: str) -> bool:
    """Whether ``address`` names a scheduler file (``dask scheduler --scheduler-file``)
    rather than an address (``tcp://host:8786``, ``host:8786``)."""
    if "://" in address:
        return False
    return os.path.isfile(address) or address.endswith(".json")


@contextlib.contextmanager
def _client_for(workflow_name: str, address: str) -> Iterator[Any]:
    by_file = scheduler_file(address)
    if by_file and not os.path.isfile(address):
        raise ConfigurationError(
            f"the scheduler file {address!r} of workflow {workflow_name!r} does not exist; "
            "start the scheduler with --scheduler-file pointing there, or give its address."
        )
    what = "scheduler file" if by_file else "scheduler address"
    try:
        if by_file:
            opened = Client(scheduler_file=address, set_as_default=False)
        else:
            opened = Client(address, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        raise ConfigurationError(
            f"workflow {workflow_name!r} could not connect to the Dask {what} "
            f"{address!r}: {error}. Check that the scheduler is running and reachable."
        ) from error
    with opened:
        yield opened
