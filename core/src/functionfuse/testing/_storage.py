"""StorageTests: the storage contract as pytest checks that a storage's author runs.

Subclass it in a test module (the subclass's name starts with ``Test``) and say how to
make the storage; every check then runs against it::

    class TestMyStorage(StorageTests):
        @staticmethod
        def make_storage(tmp_path):           # required
            return MyStorage(tmp_path / "store")

        @staticmethod
        def make_signed_storage(tmp_path, key):   # optional: a storage with a key
            return MyStorage(tmp_path / "store", signing_key=key)

        lacks = frozenset({"processes"})      # capabilities it does not have

``make_storage(tmp_path)`` opens the storage at a place given by ``tmp_path``: empty for
a fresh ``tmp_path``, the same place (as another run or process opens it) when called
again with the same one. ``make_signed_storage(tmp_path, key)`` opens that same place
with the signing key ``key`` (bytes). ``corrupt(storage, workflow_name, task_name)``
damages the stored bytes of one result; the default one reaches a local folder or a
``memory://`` URL given by the storage's ``url`` attribute (as FileStorage has), and
skips the damage checks with a reason otherwise. What the author may declare lacking is
in :data:`CAPABILITIES`; a storage that keeps fingerprints says so through the contract
(:class:`functionfuse.contracts.FingerprintStorage`), not here. Each check's first
docstring line is the promise it checks; a failure starts with it.

StorageTests inherits its checks from two mixins, and pytest collects them in this
order: the contract every storage keeps (:mod:`functionfuse.testing._storage_contract`),
the capabilities a storage may have (:mod:`functionfuse.testing._storage_capabilities`),
then the ones here, which race threads and processes and run random sequences of
operations. The hooks above and the capability names are in
:mod:`functionfuse.testing._storage_hooks`.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from functionfuse.testing._storage_capabilities import CapabilityChecks
from functionfuse.testing._storage_contract import ContractChecks
from functionfuse.testing._storage_hooks import (
    CAPABILITIES,
    DAMAGE,
    PROCESSES,
    RUN_RECORDS,
    SIGNING,
    WF,
)
from functionfuse.testing._storage_machine import run_state_machine
from functionfuse.testing._storage_support import check, in_other_processes, race_in_threads

__all__ = ["CAPABILITIES", "DAMAGE", "PROCESSES", "RUN_RECORDS", "SIGNING", "StorageTests"]


class StorageTests(CapabilityChecks, ContractChecks):
    """The storage contract's checks; subclass it and define :meth:`make_storage`."""

    # -- concurrency and other processes ---------------------------------------------------

    @check
    def test_concurrent_threads_leave_one_whole_result(self, tmp_path: Path) -> None:
        """Saves racing in threads leave one whole result; readers never see a partial one."""
        storage = self._open(tmp_path)
        race_in_threads(storage, WF, writers=4, rounds=5, size=256 * 1024)

    @check
    def test_concurrent_processes_leave_one_whole_result(self, tmp_path: Path) -> None:
        """Saves racing in processes leave one whole result; readers never see a partial one."""
        self._skip_lacking(PROCESSES)
        storage = self._open(tmp_path)
        in_other_processes(storage, WF, writers=2, rounds=5, size=256 * 1024)

    @check
    def test_storage_pickles_to_the_same_place(self, tmp_path: Path) -> None:
        """A pickled copy of the storage (as shipped to workers) uses the same place."""
        self._skip_lacking(PROCESSES)
        storage = self._open(tmp_path)
        storage.save(WF, "before", "saved by the original")
        try:
            copy = pickle.loads(pickle.dumps(storage))
        except Exception as exc:
            raise AssertionError(
                f"{storage!r} cannot be pickled ({type(exc).__name__}: {exc}), so no "
                f"worker process can use it; if it lives in one process, declare "
                f"lacks = {{{PROCESSES!r}}}"
            ) from exc
        assert copy.read_task(WF, "before") == "saved by the original"
        copy.save(WF, "after", "saved by the copy")
        assert storage.read_task(WF, "after") == "saved by the copy"

    # -- everything at once ----------------------------------------------------------------

    @check
    def test_state_machine_agrees_with_a_dict(self, tmp_path: Path) -> None:
        """Random sequences of save, read, list and remove agree with a dict."""
        places = iter(range(1_000_000))

        def open_place() -> Callable[[], Any]:
            place = tmp_path / f"machine-{next(places)}"
            place.mkdir()
            return lambda: self.make_storage(place)

        run_state_machine(open_place, self.machine_examples, self.machine_steps)
