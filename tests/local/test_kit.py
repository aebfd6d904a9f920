"""The conformance kit's backend checks, run against the local backend."""

from __future__ import annotations

from functionfuse.testing import BackendTests


class TestLocalBackend(BackendTests):
    backend = "local"
