"""What ``fuse run`` and ``fuse graph`` run: the nodes a TARGET names.

A TARGET is ``path/to/file.py[:name]`` or ``package.module[:name]``. ``name`` (dotted
for an attribute of an attribute) is a node, a list or tuple of nodes, or a plain
function that takes no arguments and returns them. Without ``:name``, the targets are
the module's *leaf nodes*: the nodes bound to module-level names (``x = f(...)``,
``x = node[0]``, ``model = Model(...)``, also inside module-level lists, tuples and
dicts) that are not an ancestor of another of them. Only the module's own nodes count:
created while it ran, and not bound at module level in a module it imported (``from
common import node`` does not make ``node`` one of its leaves).

A file is loaded like ``python path/to/file.py`` loads it — its folder goes first on
``sys.path``, so it imports its neighbours — but under its own module name, not
``__main__``: its ``if __name__ == "__main__":`` block does not run. A file whose
name is not a module name (``my-flow.py``), or whose ``import`` would give another
module, is loaded as ``_fuse_target_my_flow``: :func:`install_target_finder` lets
``fuse show`` import it under that name, so that results of classes defined there
unpickle. A module is imported with the current folder on ``sys.path``, as
``python -m`` does.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import traceback
from collections.abc import Iterator
from types import ModuleType, TracebackType
from typing import Any, Final, final

from functionfuse import ConfigurationError, workflow
from functionfuse.runtime import ClassNode, Instance, Node, NodeItem

__all__ = ["Leaf", "Target", "TargetError", "leaf_label", "load_target", "split_target"]

Leaf = Node | NodeItem | Instance


class TargetError(ConfigurationError):
    """TARGET names no file, module or nodes; ``details`` holds the user's traceback."""

    def __init__(self, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.details = details


@final
class Target:
    """The nodes a TARGET names, and the module they came from."""

    __slots__ = ("leaves", "module", "spec")

    def __init__(self, spec: str, module: ModuleType, leaves: tuple[Leaf, ...]) -> None:
        self.spec = spec
        self.module = module
        self.leaves = leaves

    @property
    def default_workflow_name(self) -> str:
        """The workflow name when none is given: the module's own (last) name, or the
        name of its file (``my-flow``) when it was loaded under a name of ours."""
        name = self.module.__name__
        file: str | None = getattr(self.module, "__file__", None)
        if name.startswith(_PRIVATE_PREFIX) and file:
            return os.path.splitext(os.path.basename(file))[0]
        return name.rpartition(".")[2]


_PRIVATE_PREFIX = "_fuse_target_"


def split_target(spec: str) -> tuple[str, str | None]:
    """``("path/or.module", "name")`` from ``"path/or.module:name"`` (name may be None).

    The last ``:`` separates a name only when what follows is a dotted identifier, so
    a Windows path such as ``C:\\work\\flow.py`` has no name.
    """
    where, sep, name = spec.rpartition(":")
    if sep and where and all(part.isidentifier() for part in name.split(".")):
        return where, name
    return spec, None


def load_target(spec: str) -> Target:
    """Import what ``spec`` names and return its nodes (see the module docstring)."""
    where, name = split_target(spec)
    modules_before = set(sys.modules)
    # Nodes created before the module runs are not its own (see _module_leaves).
    first_seq: int | None = _creation_mark()
    if _is_file(where):
        module = _load_file(where)
    else:
        if where in sys.modules:
            first_seq = None  # already imported: its nodes were made before
        module = _import_module(where)
    if name is None:
        others = [
            sys.modules[other]
            for other in set(sys.modules) - modules_before
            if other in sys.modules and sys.modules[other] is not module
        ]
        return Target(spec, module, _module_leaves(module, where, first_seq, others))
    value: Any = module
    for part in name.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            nodes = ", ".join(_node_names(module)) or "none"
            raise TargetError(
                f"{where} has no attribute {name!r} (its module-level nodes: {nodes}). "
                f"Name a node, a list of nodes or a function returning them: "
                f"{where}:NAME, or leave out ':NAME' to run the module's leaf nodes."
            ) from None
    return Target(spec, module, _leaves_of(value, f"{where}:{name}", call=True))


def _nothing() -> None:
    """What the throw-away node of :func:`_creation_mark` calls (it never runs)."""


class _Nothing:
    """A class decorated once to learn the type ``@workflow`` gives a class."""


def _creation_mark() -> int:
    """A number below ``seq`` of every node made from now on: the core numbers nodes in
    creation order (``Node.seq``), so a throw-away node made now gives it."""
    return workflow(_nothing)().seq


def _decorated_types() -> tuple[type, type]:
    """The types of what ``@workflow`` makes of a function and of a class (private to
    the core: learnt by decorating, never imported)."""
    return type(workflow(_nothing)), type(workflow(_Nothing))


# -- loading ----------------------------------------------------------------------------


def _is_file(where: str) -> bool:
    return where.endswith(".py") or os.sep in where or "/" in where or os.path.isfile(where)


def _load_file(where: str) -> ModuleType:
    path = os.path.abspath(where)
    if not os.path.isfile(path):
        raise TargetError(
            f"no file {where!r} (looked for {path!r}). Give the path of a Python file, "
            "or a module name such as package.module."
        )
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    stem = os.path.splitext(os.path.basename(path))[0]
    # Its own name when `import stem` would give this very file, so that results
    # pickled from it (classes defined there) load again in another process; else a
    # name that install_target_finder() maps back to the file (`fuse show`).
    name = stem if stem.isidentifier() and _imports_as(stem, path) else target_module_name(stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"{where!r} cannot be loaded as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:
        sys.modules.pop(name, None)
        raise _user_error(f"running {where} failed", error) from error
    return module


def target_module_name(stem: str) -> str:
    """The module name of target file ``stem``.py when ``import stem`` would not give
    it: ``my-flow`` → ``_fuse_target_my_flow``."""
    return _PRIVATE_PREFIX + "".join(c if c.isalnum() or c == "_" else "_" for c in stem)


class _TargetFinder:
    """Finds module ``_fuse_target_NAME`` as the file of ``sys.path`` (the current folder
    first) whose target module name it is, so that results pickled by ``fuse run`` from
    a file such as ``my-flow.py`` unpickle in ``fuse show`` run from the same folder."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if path is not None or not fullname.startswith(_PRIVATE_PREFIX):
            return None
        for folder in dict.fromkeys([os.getcwd(), *sys.path]):
            folder = folder or os.getcwd()
            try:
                names = sorted(os.listdir(folder))
            except (OSError, TypeError):
                continue
            for file_name in names:
                stem, suffix = os.path.splitext(file_name)
                if suffix == ".py" and target_module_name(stem) == fullname:
                    return importlib.util.spec_from_file_location(
                        fullname, os.path.join(folder, file_name)
                    )
        return None


def install_target_finder() -> None:
    """Let ``import _fuse_target_NAME`` find a target file (see :class:`_TargetFinder`)."""
    if not any(isinstance(finder, _TargetFinder) for finder in sys.meta_path):
        sys.meta_path.append(_TargetFinder())


def _imports_as(name: str, path: str) -> bool:
    loaded = sys.modules.get(name)
    if loaded is not None:
        return False
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    origin = None if found is None else found.origin
    return origin is not None and os.path.realpath(origin) == os.path.realpath(path)


def _import_module(where: str) -> ModuleType:
    if not all(part.isidentifier() for part in where.split(".")):
        raise TargetError(
            f"{where!r} is neither a Python file nor a module name. Give "
            "path/to/file.py[:name] or package.module[:name]."
        )
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)  # as `python -m` does
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if where == missing or where.startswith(missing + "."):
            raise TargetError(
                f"no module named {missing!r} (looked in {cwd!r} and the installed "
                f"packages). Run fuse from the folder that holds it, install it, or give "
                f"a file path such as path/to/file.py."
            ) from None
        raise _user_error(f"importing module {where} failed", error) from error
    except (Exception, SystemExit) as error:
        raise _user_error(f"importing module {where} failed", error) from error


def _user_error(what: str, error: BaseException) -> TargetError:
    """An error raised by the user's code, with its traceback minus our own frames."""
    tb = error.__traceback__
    tb = _skip_frames(tb)
    details = "".join(traceback.format_exception(type(error), error, tb))
    return TargetError(f"{what}: {type(error).__name__}: {error}", details)


def _skip_frames(tb: TracebackType | None) -> TracebackType | None:
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename != __file__ and not filename.startswith("<frozen importlib"):
            break
        tb = tb.tb_next
    return tb


# -- the nodes --------------------------------------------------------------------------


def _is_leaf(value: object) -> bool:
    return isinstance(value, (Node, NodeItem, Instance)) and not isinstance(value, ClassNode)


def _leaves_of(value: object, what: str, *, call: bool) -> tuple[Leaf, ...]:
    if _is_leaf(value):
        return (value,)  # type: ignore[return-value]
    if isinstance(value, (list, tuple)):
        if not value:
            raise TargetError(f"{what} is an empty {type(value).__name__}: it names no node.")
        for index, item in enumerate(value):
            if not _is_leaf(item):
                raise TargetError(
                    f"{what} holds {_describe(item)} at index {index}; every item must be "
                    "a workflow node."
                )
        return tuple(value)
    function_type, class_type = _decorated_types()
    if isinstance(value, (function_type, class_type)):
        kind = "function" if isinstance(value, function_type) else "class"
        raise TargetError(
            f"{what} is a @workflow {kind}: calling it builds one node. Name a node, a "
            "list of nodes, or a plain function (not decorated) that builds the graph "
            "and returns its nodes."
        )
    if call and callable(value):
        try:
            result = value()
        except Exception as error:
            raise _user_error(f"calling {what}() failed", error) from error
        return _leaves_of(result, f"what {what}() returned", call=False)
    raise TargetError(
        f"{what} is {_describe(value)}, not a workflow node, a list of nodes or a "
        "function returning them."
    )


def _describe(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:80]}{'...' if len(text) > 80 else ''}"


#: How deep module-level containers are searched for nodes (``x = [[f(1)]]``: 2), and
#: how many of their items at most, per module.
_MAX_DEPTH: Final = 4
_MAX_ITEMS: Final = 100_000


def _bound_nodes(module: ModuleType) -> Iterator[Leaf | ClassNode]:
    """The nodes bound to module-level names, directly or inside lists, tuples and
    dicts (their values) nested up to _MAX_DEPTH deep, in the order they are bound."""
    budget = _MAX_ITEMS
    stack: list[tuple[object, int]] = [(value, 0) for value in reversed(vars(module).values())]
    while stack and budget > 0:
        value, depth = stack.pop()
        budget -= 1
        if isinstance(value, (Node, NodeItem, Instance)):
            yield value
        elif depth < _MAX_DEPTH and isinstance(value, (list, tuple, dict)):
            items = value.values() if isinstance(value, dict) else value
            if len(items) <= budget:
                stack.extend((item, depth + 1) for item in reversed(list(items)))


def _node_of(value: Leaf | ClassNode) -> Node:
    return value.node if isinstance(value, (NodeItem, Instance)) else value


def _module_nodes(module: ModuleType) -> dict[Node, Leaf]:
    """The module-level nodes, each once; the node itself wins over one of its items."""
    found: dict[Node, Leaf] = {}
    for value in _bound_nodes(module):
        node = _node_of(value)
        if node not in found or isinstance(value, (Node, Instance)):
            found[node] = value
    return found


def _node_names(module: ModuleType) -> list[str]:
    return [
        name for name, value in vars(module).items() if not name.startswith("_") and _is_leaf(value)
    ]


def _module_leaves(
    module: ModuleType, where: str, first_seq: int | None, others: list[ModuleType]
) -> tuple[Leaf, ...]:
    """The leaves among the module's own nodes: bound at its module level, created while
    it ran (``seq`` from ``first_seq`` on, when known), and not bound at the module level
    of ``others`` — the modules it imported — so ``from common import node`` is not one
    of its nodes."""
    found = _module_nodes(module)
    if first_seq is not None:
        found = {node: value for node, value in found.items() if node.seq > first_seq}
    if found and others:
        foreign = {_node_of(value) for other in others for value in _bound_nodes(other)}
        found = {node: value for node, value in found.items() if node not in foreign}
    if not found:
        raise TargetError(
            f"{where} defines no workflow node at module level. Build nodes there "
            f"(x = f(...)), or name a function that builds and returns them: {where}:NAME. "
            "(Nodes imported from other modules are not the module's own: name them, "
            f"{where}:NAME.)"
        )
    ancestors: set[Node] = set()
    stack: list[Node] = [parent for node in found for parent in node.parents]
    while stack:
        node = stack.pop()
        if node not in ancestors:
            ancestors.add(node)
            stack.extend(node.parents)
    leaves = [node for node in found if node not in ancestors]
    leaves.sort(key=lambda node: node.seq)
    return tuple(found[node] for node in leaves)


def leaf_label(leaf: Leaf, name: str) -> str:
    """``name``, plus the indices of a ``node[i]`` leaf: ``split[0]``."""
    if isinstance(leaf, NodeItem):
        return name + "".join(f"[{index!r}]" for index in leaf.indices)
    return name
