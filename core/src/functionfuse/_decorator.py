"""``@workflow`` (alias ``@task``): decorated functions and classes, whose calls build
nodes, and the ``version=`` that stands for their code in fingerprints.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

from functionfuse._errors import ConfigurationError
from functionfuse._nodes import ClassNode, FunctionNode, Instance, _qualname

__all__ = ["task", "version_of", "workflow"]

T = TypeVar("T")


class _FunctionFactory(Generic[T]):
    """A decorated function: calling it records a :class:`FunctionNode`."""

    def __init__(self, func: Callable[..., T]) -> None:
        self.func = func
        functools.update_wrapper(self, func)  # __name__, __doc__, __wrapped__, ...

    def __call__(self, *args: Any, **kwargs: Any) -> FunctionNode:
        return FunctionNode(self.func, args, kwargs)

    def __repr__(self) -> str:
        return f"<workflow function {_qualname(self.func)}>"

    def __reduce__(self) -> str:
        # By reference, like an undecorated function: the module attribute of this name.
        return _qualname(self.func)


class _ClassFactory:
    """A decorated class: calling it records a :class:`ClassNode` and returns its handle."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        functools.update_wrapper(self, cls, updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Instance:
        return Instance(ClassNode(self.cls, args, kwargs))

    def __repr__(self) -> str:
        return f"<workflow class {_qualname(self.cls)}>"

    def __reduce__(self) -> str:
        return _qualname(self.cls)


# ``@workflow(version=...)``: the version that stands for a function's or class's code
# in fingerprints. Kept here rather than on the object (or on every node).
_versions: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
# For callables that take no weak reference or are unhashable: by id(), held.
_strong_versions: dict[int, tuple[Any, str]] = {}


def version_of(obj: Any) -> str | None:
    """The ``version=`` given to ``@workflow`` for ``obj``, or ``None``."""
    try:
        return _versions.get(obj)
    except TypeError:
        found = _strong_versions.get(id(obj))
        return found[1] if found is not None else None


def _set_version(obj: Any, version: object) -> None:
    if isinstance(version, bool) or not isinstance(version, (str, int)):
        raise ConfigurationError(
            f"version= of @workflow for {_qualname(obj)!r} must be a string or an int, "
            f"got {version!r}; bump it when the code changes in a way fingerprints do "
            "not see."
        )
    try:
        _versions[obj] = str(version)
    except TypeError:
        _strong_versions[id(obj)] = (obj, str(version))


@overload
def workflow(func: type, /) -> _ClassFactory: ...  # type: ignore[overload-overlap]
@overload
def workflow(func: Callable[..., T], /) -> _FunctionFactory[T]: ...
@overload
def workflow(*, version: str | int) -> Callable[[Any], Any]: ...
def workflow(func: Any = None, /, *, version: str | int | None = None) -> Any:
    """Decorate a function or class so that calling it builds a node of the graph.

    ::

        @workflow
        def load(n): ...

        data = load(1000).set_name("data")   # a node; nothing runs yet

    ``@workflow(version="2")`` pins the code fingerprint: stored results stay valid
    whatever the code says until the version changes (bump it for changes that
    fingerprints cannot see, e.g. in an installed package the function relies on).
    The original function or class stays reachable as ``__wrapped__``.
    """
    if func is None:
        if version is None:
            raise ConfigurationError(
                "@workflow() needs a function or class, or version=: write @workflow "
                'or @workflow(version="1").'
            )
        return functools.partial(workflow, version=version)
    if isinstance(func, type):
        factory: Any = _ClassFactory(func)
    elif not callable(func):
        raise ConfigurationError(
            f"@workflow decorates functions and classes, not {type(func).__name__} {func!r}."
        )
    else:
        factory = _FunctionFactory(func)
    if version is not None:
        _set_version(func, version)
    return factory


task = workflow
