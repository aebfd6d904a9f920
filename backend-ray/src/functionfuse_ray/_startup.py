"""Connecting to Ray, and not hanging when Ray's `uv run` support cannot start workers.

Ray >= 2.43 notices a driver started by ``uv run`` and, while the environment variable
``RAY_ENABLE_UV_RUN_RUNTIME_ENV`` is on (Ray's default), starts every worker with
``uv run`` in a copy of the project. Under ``uv run --no-sync``, or wherever that copy
cannot build an environment, the workers die as they start and the driver waits
forever without a word. A Ray started by ``ray.init`` from a workflow runs its workers
on this machine with this interpreter, so that machinery buys nothing: unless the user
set the variable, it is switched off for that ``ray.init``. When the user turned it on,
the first task is given a deadline and a warning, then an error, says what is wrong.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, Final

import ray

from functionfuse import ConfigurationError, FunctionFuseWarning

__all__ = ["UV_RUN_ENV", "ensure_ray"]

UV_RUN_ENV: Final = "RAY_ENABLE_UV_RUN_RUNTIME_ENV"

#: Seconds to wait for the first task when Ray starts workers through `uv run`, before
#: a warning, and before giving up with an error.
_WARN_AFTER: Final = 30.0
_GIVE_UP_AFTER: Final = 600.0


def ensure_ray(init_args: Mapping[str, Any] | None) -> None:
    """Use the Ray this process is connected to, or ``ray.init(**init_args)``."""
    if ray.is_initialized():
        return
    args = dict(init_args or {})
    user_choice = os.environ.get(UV_RUN_ENV)
    if user_choice is None:
        with _uv_run_workers_off():
            ray.init(**args)
        return
    ray.init(**args)
    if _uv_run_workers_active():
        _wait_for_workers()


@contextlib.contextmanager
def _uv_run_workers_off() -> Iterator[None]:
    # Ray reads the variable once, at import, into this constant; ray.init consults the
    # constant. Switch it off for this call only and leave the environment untouched.
    try:
        from ray._private import ray_constants
    except ImportError:  # pragma: no cover - a Ray without the module
        yield
        return
    old = getattr(ray_constants, UV_RUN_ENV, None)
    if old is None:  # a Ray older than 2.43: nothing to switch off
        yield
        return
    setattr(ray_constants, UV_RUN_ENV, False)
    try:
        yield
    finally:
        setattr(ray_constants, UV_RUN_ENV, old)


def _uv_run_workers_active() -> bool:
    try:
        from ray._private import ray_constants
        from ray._private.runtime_env.uv_runtime_env_hook import _get_uv_run_cmdline
    except ImportError:  # pragma: no cover - a Ray without the feature
        return False
    return bool(getattr(ray_constants, UV_RUN_ENV, False)) and bool(_get_uv_run_cmdline())


@ray.remote(num_cpus=0)
def _probe() -> None:
    """A task that does nothing: it returns once a worker could start."""


def _wait_for_workers() -> None:
    ref = _probe.remote()
    started = time.monotonic()
    ready, _ = ray.wait([ref], timeout=_WARN_AFTER)
    if ready:
        return
    warnings.warn(
        f"no Ray worker has started after {_WARN_AFTER:.0f} s. This driver runs under "
        f"`uv run` with {UV_RUN_ENV} on, so Ray starts its workers with `uv run` in a copy "
        "of your project; if that copy cannot build an environment (e.g. under "
        f"`uv run --no-sync`), the workers never start. Set {UV_RUN_ENV}=0 to have Ray "
        "use this interpreter. Still waiting.",
        FunctionFuseWarning,
        stacklevel=4,
    )
    ready, _ = ray.wait([ref], timeout=_GIVE_UP_AFTER - (time.monotonic() - started))
    if not ready:
        raise ConfigurationError(
            f"no Ray worker started within {_GIVE_UP_AFTER:.0f} s. This driver runs under "
            f"`uv run` with {UV_RUN_ENV} on, so Ray starts its workers with `uv run` in a "
            "copy of your project, and they keep dying: see the worker logs in Ray's "
            f"session folder. Set {UV_RUN_ENV}=0 to have Ray use this interpreter, or fix "
            "the project so that `uv run` can build its environment on every node."
        )
