"""The conformance kit's backend checks, run against both backends of functionfuse-local."""

from __future__ import annotations

from typing import ClassVar

from functionfuse.testing import BackendTests


class TestLocalBackend(BackendTests):
    backend = "local"


class TestProcessesBackend(BackendTests):
    backend = "processes"
    options: ClassVar = {"max_workers": 2}
