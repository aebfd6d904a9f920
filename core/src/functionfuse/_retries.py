"""Retry settings of a node: how many attempts, on which exceptions, after what delay."""

from __future__ import annotations

import builtins
import importlib
from collections.abc import Iterable
from typing import Any, Final, final

from functionfuse._errors import ConfigurationError

__all__ = ["RETRIES", "Retries", "exception_class"]

#: The settings key under which ``Query.set_retries()`` stores a :class:`Retries`.
RETRIES: Final = "retries"


@final
class Retries:
    """Run a node up to ``attempts`` times while it raises one of ``exceptions``,
    waiting ``delay`` seconds between attempts.

    Backends report each failed attempt that is followed by another to the
    ``functionfuse_node_retry`` hook; the last failure is the node's error.
    """

    __slots__ = ("attempts", "delay", "exceptions")

    def __init__(
        self,
        attempts: int,
        exceptions: tuple[type[BaseException], ...] = (Exception,),
        delay: float = 0.0,
    ) -> None:
        self.attempts = attempts
        self.exceptions = exceptions
        self.delay = delay
        self._check()

    def __repr__(self) -> str:
        names = ", ".join(e.__qualname__ for e in self.exceptions)
        return f"Retries(attempts={self.attempts}, exceptions=({names}), delay={self.delay})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Retries):
            return NotImplemented
        return (self.attempts, self.exceptions, self.delay) == (
            other.attempts,
            other.exceptions,
            other.delay,
        )

    def __hash__(self) -> int:
        return hash((self.attempts, self.exceptions, self.delay))

    def _check(self) -> None:
        if not isinstance(self.attempts, int) or isinstance(self.attempts, bool):
            raise ConfigurationError(
                f"retries: attempts must be an int >= 1, got {self.attempts!r}."
            )
        if self.attempts < 1:
            raise ConfigurationError(
                f"retries: attempts must be >= 1 (1: no retry), got {self.attempts}."
            )
        if isinstance(self.delay, bool) or not isinstance(self.delay, (int, float)):
            raise ConfigurationError(f"retries: delay must be seconds >= 0, got {self.delay!r}.")
        if self.delay < 0:
            raise ConfigurationError(f"retries: delay must be >= 0 seconds, got {self.delay}.")
        if not self.exceptions:
            raise ConfigurationError("retries: give at least one exception class to retry on.")

    @classmethod
    def of(
        cls,
        attempts: int,
        exceptions: type[BaseException] | str | Iterable[type[BaseException] | str] = (Exception,),
        delay: float = 0.0,
    ) -> Retries:
        """Build from classes or their names (``"OSError"``, ``"package.module.Error"``)."""
        if isinstance(exceptions, (type, str)):
            exceptions = (exceptions,)
        return cls(attempts, tuple(exception_class(e) for e in exceptions), delay)

    def retries_on(self, error: BaseException) -> bool:
        return isinstance(error, self.exceptions)


def exception_class(spec: Any) -> type[BaseException]:
    """An exception class, given itself or its name (builtin, or ``module.Name``)."""
    if isinstance(spec, type) and issubclass(spec, BaseException):
        return spec
    if not isinstance(spec, str) or not spec:
        raise ConfigurationError(
            f"retries: {spec!r} is not an exception class nor the name of one "
            "(e.g. 'OSError' or 'package.module.Error')."
        )
    module_name, _, name = spec.rpartition(".")
    try:
        found = (
            getattr(importlib.import_module(module_name), name)
            if module_name
            else getattr(builtins, name)
        )
    except (ImportError, AttributeError) as error:
        raise ConfigurationError(
            f"retries: no exception class {spec!r} ({type(error).__name__}: {error}). "
            "Give a builtin name such as 'OSError' or a full 'package.module.Error'."
        ) from None
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        raise ConfigurationError(f"retries: {spec!r} is not an exception class.")
    return found
