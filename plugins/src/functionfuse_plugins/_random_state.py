"""RandomStatePlugin: reproducible random numbers on every backend.

The driver hands each node a seed in graph order; the worker seeds its generators with
it right before the node runs. A seeded workflow therefore draws the same numbers on the
local backend and on Ray, and run after run.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import random
import types
from collections.abc import Callable
from typing import Any, final

from functionfuse import ConfigurationError, Plugin

__all__ = ["RandomStatePlugin"]

#: numpy's legacy global generator takes seeds below 2**32.
_NUMPY_SEEDS = 2**32


@final
class RandomStatePlugin(Plugin):
    """Seed the random generators right before each node it is attached to.

    On the driver, the seed advances by one for every node the plugin is attached to,
    in graph order, wrapping from ``max`` back to ``min`` (the first node gets
    ``seed + 1``, as in the original Function Fuse). A node keeps the seed it was given
    the first time, so running a workflow again — and resuming it from storage — gives
    every node the same seed. On the worker, ``seed_func(seed)`` runs right before the
    node.

    Without ``seed_func`` the plugin seeds Python's :mod:`random` and, where they are
    installed on the worker, numpy's global generator (``numpy.random.seed``, with the
    seed taken modulo 2**32) and torch (``torch.manual_seed``). numpy and torch are
    imported on the worker the first time a node is seeded there, never on the driver.

    ``seed_func`` runs on a worker, so it must act on the worker's own state: a
    module-level function such as ``numpy.random.seed`` or ``torch.manual_seed``, or one
    of your own that calls them. A method of a generator object, such as ``random.seed``
    (a method of the :mod:`random` module's hidden ``Random`` instance), is refused:
    pickled to a worker it seeds a copy of that generator, and the node would silently
    draw unseeded numbers.
    """

    __slots__ = ("_given", "max", "min", "seed", "seed_func")

    def __init__(
        self,
        min: int = 0,
        max: int = 2**32 - 1,
        seed: int = 0,
        seed_func: Callable[[int], object] | None = None,
    ) -> None:
        for option, value in (("min", min), ("max", max), ("seed", seed)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigurationError(
                    f"RandomStatePlugin option {option!r} must be an int, got "
                    f"{type(value).__name__} {value!r}."
                )
        if not min <= max:
            raise ConfigurationError(
                f"RandomStatePlugin needs min <= max, got min={min} and max={max}."
            )
        if not min <= seed <= max:
            raise ConfigurationError(
                f"RandomStatePlugin seed={seed} lies outside [min, max] = [{min}, {max}]."
            )
        if seed_func is not None:
            _check_seed_func(seed_func)
        self.min = min
        self.max = max
        self.seed = seed
        self.seed_func = seed_func
        # (workflow, node) -> the seed it was given, so that re-runs repeat it.
        self._given: dict[tuple[str, str], int] = {}

    def _advance(self) -> int:
        seed = self.seed + 1
        if seed > self.max:
            seed = self.min
        self.seed = seed
        return seed

    def _seeder(self, seed: int) -> Callable[[], object]:
        return _Seeder(seed, self.seed_func)

    # The hooks the backends call (see functionfuse.hookspecs), once per node. The names
    # default to None only to keep the signatures of functionfuse.Plugin; without them
    # the plugin behaves as the original one (advance on every call).
    def functionfuse_local_initialize(
        self, workflow_name: str | None = None, node_name: str | None = None
    ) -> None:
        """Give the node its seed: the next one, or the one it had in an earlier run."""
        if workflow_name is None or node_name is None:
            self._advance()
            return
        key = (workflow_name, node_name)
        if key not in self._given:
            self._given[key] = self._advance()

    def functionfuse_remote_initialize(
        self, workflow_name: str | None = None, node_name: str | None = None
    ) -> Callable[[], object]:
        """What runs on the worker: seed with the node's seed."""
        seed = None
        if workflow_name is not None and node_name is not None:
            seed = self._given.get((workflow_name, node_name))
        return self._seeder(self.seed if seed is None else seed)

    # The original Function Fuse interface, for code that drives plugins by hand.
    def local_initialize(self) -> None:
        """Advance the seed by one, wrapping from ``max`` to ``min``."""
        self._advance()

    def remote_initialize(self) -> Callable[[], object]:
        """A callable that seeds with the current seed."""
        return self._seeder(self.seed)

    def __repr__(self) -> str:
        func = "" if self.seed_func is None else f", seed_func={self.seed_func!r}"
        return f"RandomStatePlugin(min={self.min}, max={self.max}, seed={self.seed}{func})"


@final
class _Seeder:
    """The worker side: ``seed_func(seed)``, or every generator that is installed."""

    __slots__ = ("seed", "seed_func")

    def __init__(self, seed: int, seed_func: Callable[[int], object] | None) -> None:
        self.seed = seed
        self.seed_func = seed_func

    def __call__(self) -> None:
        if self.seed_func is not None:
            self.seed_func(self.seed)
        else:
            seed_installed_generators(self.seed)

    def __reduce__(self) -> tuple[type[_Seeder], tuple[int, Callable[[int], object] | None]]:
        return (_Seeder, (self.seed, self.seed_func))

    def __repr__(self) -> str:
        return f"_Seeder({self.seed!r}, {self.seed_func!r})"


def seed_installed_generators(seed: int) -> None:
    """Seed :mod:`random` and, where installed, numpy's global generator and torch."""
    random.seed(seed)
    for seed_module in _module_seeders():
        seed_module(seed)


@functools.lru_cache(maxsize=1)
def _module_seeders() -> tuple[Callable[[int], object], ...]:
    # Looked up once per worker process; numpy and torch are imported here, lazily, so
    # that neither the driver nor a worker that never seeds pays for them.
    seeders: list[Callable[[int], object]] = []
    if importlib.util.find_spec("numpy") is not None:
        numpy_random: Any = importlib.import_module("numpy.random")
        seeders.append(lambda seed: numpy_random.seed(seed % _NUMPY_SEEDS))
    if importlib.util.find_spec("torch") is not None:
        torch: Any = importlib.import_module("torch")
        seeders.append(torch.manual_seed)
    return tuple(seeders)


def _check_seed_func(seed_func: object) -> None:
    """Refuse a seed function that would seed a pickled copy of a generator."""
    if not callable(seed_func):
        raise ConfigurationError(
            f"RandomStatePlugin seed_func must be callable with the seed, got "
            f"{type(seed_func).__name__} {seed_func!r}."
        )
    target: Any = seed_func
    while isinstance(target, functools.partial):
        target = target.func
    owner = getattr(target, "__self__", None)
    if owner is None or isinstance(owner, (type, types.ModuleType)):
        return  # a plain function, a classmethod or a module's builtin: all fine
    if not _is_generator(owner):
        return
    if owner is getattr(random, "_inst", None):
        described = "random.seed, a method of the random module's hidden Random instance"
    else:
        described = f"{seed_func!r}, a method of the generator object {owner!r}"
    raise ConfigurationError(
        f"RandomStatePlugin cannot use seed_func={described}: pickled to a worker, it "
        "seeds a copy of that generator, not the worker's own, and the node would draw "
        "unseeded numbers. Leave seed_func out (the plugin then seeds random, numpy and "
        "torch on the worker itself), or pass a module-level function that seeds on the "
        "worker, e.g. `def seed(s): random.seed(s)`."
    )


def _is_generator(obj: object) -> bool:
    if isinstance(obj, random.Random):
        return True
    module = type(obj).__module__ or ""
    # numpy's RandomState, Generator and bit generators; torch.Generator.
    return module.startswith("numpy.random") or (
        module.split(".")[0] == "torch" and type(obj).__name__ == "Generator"
    )
