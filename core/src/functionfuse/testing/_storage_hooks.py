"""What a storage's test class defines for the storage kit, and what all its checks share.

:class:`StorageHooks` holds the author's hooks (``make_storage``, ``make_signed_storage``,
``corrupt``, ``lacks`` and the sizes the checks use) and opens the storage for a check;
the constants name the capabilities a storage may declare it lacks. The checks inherit
it, and :class:`functionfuse.testing.StorageTests` inherits the checks: how an author
uses the kit is in :mod:`functionfuse.testing._storage`. Nothing here is public but
what that module re-exports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from functionfuse.testing._storage_support import corrupt_files

__all__ = ["CAPABILITIES", "DAMAGE", "PROCESSES", "RUN_RECORDS", "SIGNING", "WF", "StorageHooks"]

#: The storage has no signing keys: the signed / unsigned checks are skipped.
SIGNING = "signing"
#: The storage lives in one process (e.g. ``memory://``): it is not pickled, and the
#: checks with other processes are skipped.
PROCESSES = "processes"
#: The kit cannot reach a stored result's bytes to damage them: the integrity checks
#: are skipped (define ``corrupt`` instead when you can).
DAMAGE = "damage"
#: The storage keeps no run records (it is no
#: :class:`functionfuse.contracts.RunRecordStorage`): runs record nothing in it.
RUN_RECORDS = "run_records"
#: Everything a storage may declare in ``lacks``.
CAPABILITIES = frozenset({SIGNING, PROCESSES, DAMAGE, RUN_RECORDS})

#: The workflow the checks save in.
WF = "kit-wf"


class StorageHooks:
    """The hooks a storage's test class defines, and opening the storage for a check."""

    #: Capabilities (from :data:`CAPABILITIES`) this storage does not have.
    lacks: ClassVar[frozenset[str]] = frozenset()
    #: Size of the large results, larger than any buffer a write path may use.
    large_size: ClassVar[int] = 20 * 2**20
    #: Runs of the random sequences of operations, and operations in each.
    machine_examples: ClassVar[int] = 20
    machine_steps: ClassVar[int] = 20

    # -- the author's hooks ---------------------------------------------------------------

    def make_storage(self, tmp_path: Path) -> Any:
        """The storage at the place ``tmp_path`` gives (required; see :class:`StorageTests`)."""
        raise NotImplementedError(
            f"{type(self).__name__} must define make_storage(tmp_path), returning the "
            "storage to check, e.g. MyStorage(tmp_path / 'store')"
        )

    def make_signed_storage(self, tmp_path: Path, key: bytes) -> Any:
        """The storage at the place ``tmp_path`` gives, signing with ``key`` (optional)."""
        raise NotImplementedError

    def corrupt(self, storage: Any, workflow_name: str, task_name: str) -> None:
        """Damage the stored bytes of one result, as a disk or a network could."""
        if not corrupt_files(storage, workflow_name, task_name):
            pytest.skip(
                f"the kit cannot reach the stored bytes of {storage!r}: define "
                "corrupt(storage, workflow_name, task_name) on the test class, or declare "
                f"lacks = {{{DAMAGE!r}}}"
            )

    # -- helpers -----------------------------------------------------------------------

    def _open(self, tmp_path: Path, *workflows: str) -> Any:
        storage = self.make_storage(tmp_path)
        assert storage is not None, "make_storage(tmp_path) returned None"
        for name in workflows or (WF,):
            storage.new_workflow(name)
        return storage

    def _has_signing_hook(self) -> bool:
        return type(self).make_signed_storage is not StorageHooks.make_signed_storage

    def _skip_lacking(self, capability: str) -> None:
        if capability in self.lacks:
            pytest.skip(f"the storage declares it lacks {capability!r}")
