"""One local Ray for the whole session (starting one takes several seconds).

Set before Ray is imported: its workers start with this interpreter rather than through
``uv run`` (see functionfuse-ray's README), and every Ray address is on 127.0.0.1.
"""

from __future__ import annotations

import os
import secrets

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
# On Linux this makes Ray use the loopback address for every node instead of the
# machine's own network address.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
# Token authentication with a token of this session's own, so that Ray writes none to
# ~/.ray (which it does when it generates one).
if "RAY_AUTH_MODE" not in os.environ:
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))

from collections.abc import Iterator
from typing import Any

import pytest
import ray

from . import graphs

#: Custom resources of the session's single node, for the remote-args tests.
RESOURCES = {"storage_disk": 1.0, "gadget": 2.0}


@pytest.fixture(scope="session", autouse=True)
def ray_session() -> Iterator[Any]:
    """The session's Ray: 2 CPUs, no dashboard, on 127.0.0.1."""
    started = not ray.is_initialized()
    if started:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            resources=RESOURCES,
            logging_level="WARNING",
        )
    # Test helpers live in modules the workers cannot import: ship them by value.
    ray.cloudpickle.register_pickle_by_value(graphs)
    addresses = {node["NodeManagerAddress"] for node in ray.nodes()}
    assert addresses == {"127.0.0.1"}, f"Ray must listen on 127.0.0.1 only, got {addresses}"
    yield ray
    if started:
        ray.shutdown()
