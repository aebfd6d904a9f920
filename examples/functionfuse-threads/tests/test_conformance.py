"""functionfuse's conformance kit, run against this backend: every promise a backend makes."""

from typing import ClassVar

from functionfuse.testing import SEEDED_DRAWS, BackendTests


class TestThreadWorkflow(BackendTests):
    backend = "threads"  # found by its entry-point name, as users find it
    options: ClassVar = {"max_workers": 4}
    # Nodes running at once share the process's random generators (see the README).
    lacks = frozenset({SEEDED_DRAWS})


class TestOneThread(BackendTests):
    backend = "threads"
    options: ClassVar = {"max_workers": 1}  # one node at a time: seeded draws as local
