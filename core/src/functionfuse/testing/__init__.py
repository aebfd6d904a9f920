"""The conformance kit: the promises a backend, a storage or a node plugin makes, as tests.

A component author subclasses one base class in their own test suite, names the
component once and declares what it lacks; pytest then runs every check against it::

    from functionfuse.testing import BackendTests, NodePluginTests, StorageTests

    class TestThreads(BackendTests):
        backend = "threads"              # an entry-point name, or the class itself
        options = {"max_workers": 2}     # passed to the constructor

    class TestMyStorage(StorageTests):
        @staticmethod
        def make_storage(tmp_path):      # a fresh, empty storage for each test
            return MyStorage(tmp_path / "store")

    class TestSeeds(NodePluginTests):
        plugin = "random_state"          # an entry-point name, or the class itself
        options = {"seed": 7}

Each check's docstring says, in its first line, the promise it checks; a failure names
it. ``python -m functionfuse.testing backend NAME`` (or ``storage TARGET``, ``plugin
NAME``) runs the whole kit against an installed component without writing a test file.
Importing this package needs pytest (``pip install "functionfuse[testing]"``);
``import functionfuse`` never imports it.
"""

from __future__ import annotations

try:
    import pytest  # noqa: F401  (the kit is pytest test classes)
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        'functionfuse.testing needs pytest: pip install "functionfuse[testing]"'
    ) from error

from functionfuse.testing._backend import (
    CLASS_NODES,
    KEEP_GOING,
    PLUGINS,
    RETRIES,
    SEEDED_DRAWS,
    BackendTests,
)
from functionfuse.testing._plugin import NodePluginTests
from functionfuse.testing._storage import DAMAGE, PROCESSES, RUN_RECORDS, SIGNING, StorageTests

__all__ = [
    "CLASS_NODES",
    "DAMAGE",
    "KEEP_GOING",
    "PLUGINS",
    "PROCESSES",
    "RETRIES",
    "RUN_RECORDS",
    "SEEDED_DRAWS",
    "SIGNING",
    "BackendTests",
    "NodePluginTests",
    "StorageTests",
]
