"""Reading a stored result on resume, the same way on every backend."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any, Final

from functionfuse._errors import FunctionFuseWarning, StaleResultError, StorageIntegrityError
from functionfuse.hookspecs import Storage

__all__ = ["MISSING", "missing_after", "read_each", "read_stored", "warn_unusable"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"  # unpickles as this module's singleton


MISSING: Final = _Missing()


def read_stored(
    storage: Storage, workflow_name: str, task_name: str, *, fingerprint: bytes | None = None
) -> Any:
    """The stored result of a node, or :data:`MISSING` when the node has to run.

    A result that cannot be trusted (corrupt, truncated, unsigned...) is not used: the
    node runs again and its new result replaces the bad one, with a warning. So is a
    result saved with another ``fingerprint`` than the one given (the one the run's plan
    decided on): another run replaced it since, with a value of other code or inputs.
    """
    try:
        if fingerprint is None:
            return storage.read_task(workflow_name, task_name)
        return storage.read_task(workflow_name, task_name, fingerprint=fingerprint)  # type: ignore[call-arg]
    except Exception as error:
        return missing_after(workflow_name, task_name, error, stacklevel=3)


def missing_after(
    workflow_name: str, task_name: str, error: Exception, stacklevel: int = 2
) -> _Missing:
    """What a failed read of a stored result means for its node: :data:`MISSING`
    (it runs) when the result is gone, or unusable (with a warning); any other
    ``error`` is raised. ``stacklevel`` as for :func:`warn_unusable`."""
    if isinstance(error, (StorageIntegrityError, StaleResultError)):
        warn_unusable(workflow_name, task_name, error, stacklevel + 1)
    elif not isinstance(error, FileNotFoundError):
        raise error
    return MISSING


def warn_unusable(
    workflow_name: str, task_name: str, error: Exception, stacklevel: int = 2
) -> None:
    """Warn that a stored result cannot be used (damaged, unsigned...): the node runs
    again. ``stacklevel`` as for :func:`warnings.warn`, counted from the caller."""
    warnings.warn(
        f"stored result of node {task_name!r} in workflow {workflow_name!r} is not "
        f"usable ({error}); running the node again.",
        FunctionFuseWarning,
        stacklevel=stacklevel + 1,
    )


def read_each(
    storage: Any,
    workflow_name: str,
    task_names: Iterable[str],
    fingerprints: Iterable[bytes | str | None],
) -> list[tuple[Any, Exception | None]]:
    """``storage.read_task`` of each name in turn (with its fingerprint, when not None):
    ``(value, None)``, or ``(None, error)`` with what it raised — the answer of the
    optional ``read_tasks``, for a storage that reads one result at a time."""
    found: list[tuple[Any, Exception | None]] = []
    for name, fingerprint in zip(task_names, fingerprints, strict=True):
        try:
            if fingerprint is None:
                value = storage.read_task(workflow_name, name)
            else:
                value = storage.read_task(workflow_name, name, fingerprint=fingerprint)
        except Exception as error:
            found.append((None, error))
        else:
            found.append((value, None))
    return found
