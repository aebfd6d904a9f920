"""One Dask LocalCluster for the session: two single-threaded worker processes, no
dashboard, on 127.0.0.1; every worker has two units of the resource ``gadget``.

This folder goes on ``sys.path`` first, so that the worker processes (spawned with the
driver's ``sys.path``) import ``dask_nodes`` by name, as they would a user's module.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

#: Custom resources of each worker of the session's cluster.
RESOURCES = {"gadget": 2}


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[Any]:
    from dask_nodes import CLUSTER_OPTIONS
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, resources=RESOURCES, **CLUSTER_OPTIONS) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def dask_client(dask_cluster: Any) -> Iterator[Any]:
    from distributed import Client

    with Client(dask_cluster, set_as_default=False) as client:
        client.wait_for_workers(2)
        yield client


@pytest.fixture(scope="session")
def worker_pids(dask_client: Any) -> dict[str, int]:
    """The session's workers, address -> process id."""
    import os

    return dict(dask_client.run(os.getpid))
