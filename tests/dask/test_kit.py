"""The conformance kit's backend checks, run against the Dask backend on the session's
LocalCluster (its client given through the backend's options)."""

from __future__ import annotations

from typing import Any

import pytest

from functionfuse.testing import BackendTests


class TestDask(BackendTests):
    backend = "dask"

    @pytest.fixture(autouse=True)
    def _on_the_session_cluster(self, dask_client: Any) -> None:
        type(self).options = {"client": dask_client}
