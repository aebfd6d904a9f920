"""The conformance kit's backend checks, run against the Ray backend (the session's Ray)."""

from __future__ import annotations

from functionfuse.testing import BackendTests


class TestRayBackend(BackendTests):
    backend = "ray"
