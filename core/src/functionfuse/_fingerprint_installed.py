"""Which code a fingerprint walks and which it counts by name: the project's, or installed.

Code of this project is fingerprinted by what it says; a module of the standard library
or of an installed package (or a built-in one) is outside the project, and its functions
and classes count by their qualified names. :func:`_installed` draws that line.
"""

from __future__ import annotations

import os
import sys
import sysconfig

__all__: list[str] = []


_INSTALLED_ROOTS: tuple[str, ...] | None = None
_installed_modules: dict[str, bool] = {}


def _installed(module_name: str | None) -> bool:
    """True for a module of the standard library or an installed package (or a built-in
    one): code outside this project, which is counted by name, not walked. A module
    that is not in ``sys.modules`` (code ``exec``'d under a name of its own, a file
    loaded by hand) is taken for the project's, and not remembered."""
    if module_name is None:
        return True
    found = _installed_modules.get(module_name)
    if found is not None:
        return found
    global _INSTALLED_ROOTS
    if _INSTALLED_ROOTS is None:
        paths = sysconfig.get_paths()
        roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
        _INSTALLED_ROOTS = tuple(sorted(roots))
    module = sys.modules.get(module_name)
    if module is None:
        return module_name in sys.builtin_module_names
    file = getattr(module, "__file__", None)
    if module_name == "__main__":
        found = False
    elif file is None:  # built in, frozen, or made by hand (the project's)
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None)
        found = module_name in sys.builtin_module_names or origin in ("built-in", "frozen")
    else:
        path = os.path.abspath(file)
        # A folder, not a string prefix: <root>-projects/ is not under <root>.
        found = any(
            path.startswith(os.path.join(root, "")) or path == root for root in _INSTALLED_ROOTS
        )
    _installed_modules[module_name] = found
    return found
