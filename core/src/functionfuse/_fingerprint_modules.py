"""What a function reads of modules: ``helpers.scale(x)``, ``settings.SCALE``, and the
imports inside its body (``from helpers import scale``, ``import helpers as h``).

A name bound to a module is not code; what the function takes from it is. The bytecode
says exactly which attributes it takes, so a function reading ``helpers.scale`` depends
on ``scale``, not on all of ``helpers``. A module imported inside a function that is not
imported yet is imported here when it is the project's (the function would import it
when it runs); an installed one is not imported, and counts by its name.
"""

from __future__ import annotations

import dis
import importlib
import importlib.util
import os
import sys
import types
from collections.abc import Iterator, Mapping
from typing import Any, Final, final

from functionfuse import _fingerprint_installed as installed_module
from functionfuse._fingerprint_installed import _installed, _named_as, classify_file

__all__: list[str] = []

_IMPORT_NAME: Final = dis.opmap["IMPORT_NAME"]
_ATTRIBUTE: Final = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_LOCAL_LOAD: Final = frozenset({"LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_DEREF"})
_STORE: Final = frozenset({"STORE_FAST", "STORE_DEREF", "STORE_GLOBAL", "STORE_NAME"})
_MISSING: Final = object()


@final
class Unimported:
    """A module named by an import in a function's body and not imported (installed
    code, or a module that cannot be found): it counts by its name."""

    __slots__ = ("dist", "name")

    def __init__(self, name: str, dist: tuple[str, str] | None = None) -> None:
        self.name = name
        self.dist = dist


def reads_modules(
    codes: list[types.CodeType], names: list[str], globals_: Mapping[str, Any]
) -> bool:
    """Whether the code may read a project module's attributes or import something
    (a quick test before :func:`module_reads`, which disassembles)."""
    for code in codes:
        if _IMPORT_NAME in code.co_code[::2]:
            return True
    for name in names:
        value = globals_.get(name)
        if isinstance(value, types.ModuleType) and not _installed(value.__name__):
            return True
    return False


def module_reads(
    codes: list[types.CodeType], globals_: Mapping[str, Any]
) -> Iterator[tuple[str, Any, str]]:
    """``(text, value, module)`` for each thing the code takes from a project module or
    imports, in bytecode order, with the name of the module it comes from:
    ``("helpers.scale", <function scale>, "helpers")``, ``("h", <module h>, "h")`` for a
    module used as a value, ``("torch", Unimported("torch"), "torch")``."""
    package = globals_.get("__package__") or ""
    for code in codes:
        yield from _reads(code, globals_, package)


def _reads(
    code: types.CodeType, globals_: Mapping[str, Any], package: str
) -> Iterator[tuple[str, Any, str]]:
    # Names of this code bound to project modules by an import in it: ``import a as h``.
    local_modules: dict[str, tuple[str, Any]] = {}
    # The project module a chain of attribute reads has reached, and its text.
    chain: tuple[str, Any] | None = None
    # The module IMPORT_NAME left on the stack (until POP_TOP), and the value the next
    # store binds: that module, or what IMPORT_FROM took from it.
    from_module: tuple[str, Any, str] | None = None
    pending: tuple[str, Any, str] | None = None
    consts: tuple[Any, Any] = (None, None)
    for instruction in dis.get_instructions(code):
        op = instruction.opname
        if chain is not None:
            if op in _ATTRIBUTE:
                text = f"{chain[0]}.{instruction.argval}"
                value = _attribute(chain[1], instruction.argval)
                chain_module = chain[1].__name__
                chain = None
                if _project_module(value):
                    chain = (text, value)
                elif value is not _MISSING:
                    yield text, value, chain_module
                continue
            yield (*chain, chain[1].__name__)  # the module itself, used as a value
            chain = None
        if op == "LOAD_GLOBAL":
            value = globals_.get(instruction.argval, _MISSING)
            if _project_module(value):
                chain = (instruction.argval, value)
        elif op in _LOCAL_LOAD:
            chain = local_modules.get(instruction.argval)
        elif op == "LOAD_CONST" or op == "LOAD_SMALL_INT":
            consts = (consts[1], instruction.argval)
        elif op == "IMPORT_NAME":
            level, fromlist = consts
            text, module = _import(instruction.argval, level, fromlist, package)
            from_module = pending = (text, module, _name_of(module))
        elif op == "IMPORT_FROM" and from_module is not None:
            text, module, _ = from_module
            attribute = instruction.argval
            value = _attribute(module, attribute)
            if value is _MISSING:
                if isinstance(module, types.ModuleType):
                    value = _module(f"{module.__name__}.{attribute}")
                else:  # from an installed package not imported: by its name
                    value = Unimported(f"{module.name}.{attribute}", module.dist)
            pending = (f"{text}.{attribute}", value, _name_of(module))
        elif op in _STORE and pending is not None:
            text, value, home = pending
            if _project_module(value):
                local_modules[instruction.argval] = (instruction.argval, value)
            else:
                yield text, value, home
            if pending is from_module:  # stored itself: off the stack
                from_module = None
            pending = None
        elif op == "POP_TOP":
            from_module = pending = None
    if chain is not None:
        yield (*chain, chain[1].__name__)


def _name_of(module: Any) -> str:
    return module.name if isinstance(module, Unimported) else str(module.__name__)


def _project_module(value: object) -> bool:
    return isinstance(value, types.ModuleType) and not _installed(value.__name__)


def _attribute(module: Any, attribute: str) -> Any:
    if not isinstance(module, types.ModuleType):
        return _MISSING
    try:
        return getattr(module, attribute, _MISSING)
    except Exception:  # a module __getattr__ that raises
        return _MISSING


def _import(name: str, level: object, fromlist: object, package: str) -> tuple[str, Any]:
    """What ``IMPORT_NAME`` puts on the stack: the module itself when names are taken
    from it, else its top-level package (``import a.b`` binds ``a``). An installed one
    stands as an :class:`Unimported`, whether it is imported yet or not: what a function
    imports from a library counts by the names it imports, the same before the first
    run imported it and after."""
    absolute = name
    if isinstance(level, int) and level > 0:
        try:
            absolute = importlib.util.resolve_name("." * level + name, package)
        except (ImportError, ValueError):
            return name, Unimported(name)
    wanted = absolute if fromlist else absolute.partition(".")[0]
    installed, dist = _top_level(absolute)
    if installed:
        return wanted, Unimported(wanted, dist)
    module = _module(absolute)
    if wanted != absolute:
        module = sys.modules.get(wanted) or _module(wanted)
    return wanted, module


_tops: dict[str, tuple[bool, tuple[str, str] | None]] = {}


def _top_level(name: str) -> tuple[bool, tuple[str, str] | None]:
    """Whether the module ``name`` is installed, and its distribution, from where its
    top-level package is found (``importlib.util.find_spec`` of a top-level name
    imports nothing): the same answer before it is imported and after."""
    top = name.partition(".")[0]
    found = _tops.get(top)
    if found is None:
        found = _tops[top] = _find_top(top)
    if not installed_module._configured:
        installed_module._read_environment()
    installed, dist = found
    installed = _named_as(name, installed)
    return installed, dist if installed else None


def _find_top(top: str) -> tuple[bool, tuple[str, str] | None]:
    if top in sys.builtin_module_names:
        return True, None
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return True, None  # not to be found: counts by its name
    if spec is None:
        return True, None
    origin = spec.origin
    if origin == "frozen" or origin == "built-in":
        return True, None
    if not isinstance(origin, str) or not os.path.isabs(origin):  # a namespace package
        locations = list(spec.submodule_search_locations or ())
        if not locations:
            return True, None
        origin = os.path.join(locations[0], "__init__.py")
    return classify_file(top, origin)


def _module(name: str) -> types.ModuleType | Unimported:
    """The project's module ``name``, imported if it is not yet (the function would
    import it when it runs); an :class:`Unimported` when it cannot be."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    try:
        return importlib.import_module(name)
    except Exception:
        return Unimported(name)
