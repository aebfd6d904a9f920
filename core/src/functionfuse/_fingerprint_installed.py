"""Which code is the project's, walked by what it says, and which is installed, counted by
its distribution's name and version.

The rule, module by module (the first that applies):

1. a module named by :func:`configure` (or ``FUNCTIONFUSE_INSTALLED`` /
   ``FUNCTIONFUSE_PROJECT``, comma-separated) — itself or a package holding it, the
   longest name winning — is what it is named;
2. ``__main__``, and a module not in ``sys.modules`` (code ``exec``'d under a name of
   its own, a file loaded by hand) are the project's; a built-in or frozen one is not;
3. a module in a *site directory* is installed: ``site.getsitepackages()``, the user
   site, the interpreter's purelib and platlib, or any folder named ``site-packages`` or
   ``dist-packages`` (a virtual environment's, ``uv run --with``'s overlay, conda's,
   Debian's, a ``PYTHONPATH`` entry);
4. so is one in the standard library;
5. so is one that a distribution installed beside it says is its own (a ``*.dist-info``
   in the ``sys.path`` folder it was imported from whose RECORD or ``top_level.txt``
   names it: ``pip install --target``);
6. everything else is the project's: modules next to the pipeline, the user's own
   package — installed in editable mode too, since its files stay in the project —
   and notebooks.

An installed module counts as ``<distribution>`` and, unless version tracking is off,
its version; the standard library counts by name only (a new Python makes new bytecode,
which re-runs everything anyway).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import pathlib
import re
import site
import sys
import sysconfig
from collections.abc import Iterable
from typing import Final

__all__ = ["classify_file", "configure", "distribution", "track_versions"]

#: Environment variables read when this module is first used (and by ``configure()``).
INSTALLED_ENV: Final = "FUNCTIONFUSE_INSTALLED"
PROJECT_ENV: Final = "FUNCTIONFUSE_PROJECT"
VERSIONS_ENV: Final = "FUNCTIONFUSE_TRACK_VERSIONS"

_SITE_FOLDERS: Final = ("site-packages", "dist-packages")

#: Per module name: installed or not, and its distribution's (name, version).
_modules: dict[str, tuple[bool, tuple[str, str] | None]] = {}
#: Per sys.path folder: its distributions, by the top-level names they install.
_folders: dict[str, _Folder] = {}
_dist_names: dict[int, tuple[str, str]] = {}
_site_roots: tuple[str, ...] | None = None
_stdlib_roots: tuple[str, ...] = ()
#: Module or package name -> True (installed) or False (the project's).
_named: dict[str, bool] = {}
_versions = True
_configured = False


def configure(
    *,
    installed: Iterable[str] | None = None,
    project: Iterable[str] | None = None,
    versions: bool | None = None,
) -> None:
    """Set how code is counted, for this process (fingerprints made after it).

    ``installed``: modules or packages to count by name and version although they live
    in the project (a vendored library, a package on ``PYTHONPATH`` without metadata);
    ``project``: modules or packages to walk by their code although they are installed
    (a package of yours installed into a virtual environment without ``-e``). Either
    replaces what ``FUNCTIONFUSE_INSTALLED`` / ``FUNCTIONFUSE_PROJECT`` said.
    ``versions=False``: installed distributions count by name only, so upgrading one
    re-runs nothing (``FUNCTIONFUSE_TRACK_VERSIONS=0``). ``None`` leaves a setting as
    it is.
    """
    _read_environment()
    global _versions
    if installed is not None:
        for name, value in list(_named.items()):
            if value:
                del _named[name]
        _named.update(dict.fromkeys(_names(installed), True))
    if project is not None:
        for name, value in list(_named.items()):
            if not value:
                del _named[name]
        _named.update(dict.fromkeys(_names(project), False))
    if versions is not None:
        _versions = bool(versions)
    _modules.clear()


def track_versions() -> bool:
    """Whether installed distributions count by their version too (the default)."""
    if not _configured:
        _read_environment()
    return _versions


def _read_environment() -> None:
    global _configured, _versions
    if _configured:
        return
    _configured = True
    _named.update(dict.fromkeys(_names(os.environ.get(INSTALLED_ENV, "").split(",")), True))
    _named.update(dict.fromkeys(_names(os.environ.get(PROJECT_ENV, "").split(",")), False))
    _versions = os.environ.get(VERSIONS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _names(names: Iterable[str]) -> list[str]:
    if isinstance(names, str):
        names = [names]
    return [name.strip() for name in names if name.strip()]


def _installed(module_name: str | None) -> bool:
    """True for a module outside the project (see the module docstring): its code is
    counted by name and distribution, not walked."""
    if module_name is None:
        return True
    found = _modules.get(module_name)
    if found is None:
        found = _classify(module_name)
    return found[0]


def distribution(module_name: str | None) -> tuple[str, str] | None:
    """The ``(name, version)`` of the distribution an installed module comes from;
    ``None`` for the standard library, a built-in module, the project's and one whose
    distribution is not known."""
    if module_name is None:
        return None
    found = _modules.get(module_name)
    if found is None:
        found = _classify(module_name)
    return found[1]


def _classify(module_name: str) -> tuple[bool, tuple[str, str] | None]:
    if not _configured:
        _read_environment()
    module = sys.modules.get(module_name)
    if module is None:  # not remembered: it may be imported later
        return _named_as(module_name, module_name in sys.builtin_module_names), None
    file = getattr(module, "__file__", None)
    dist: tuple[str, str] | None = None
    if module_name == "__main__":
        installed = False
    elif not isinstance(file, str):  # built in, frozen, or made by hand (the project's)
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None)
        installed = module_name in sys.builtin_module_names or origin in ("built-in", "frozen")
    else:
        installed, dist = _by_file(module_name, file)
    installed = _named_as(module_name, installed)
    found = (installed, dist if installed else None)
    _modules[module_name] = found
    return found


def classify_file(module_name: str, file: str) -> tuple[bool, tuple[str, str] | None]:
    """Whether a module that is not imported, whose file is ``file``, lives where
    installed code does, and its distribution (what :func:`configure` says of it is the
    caller's to apply: this answer is cached)."""
    return _by_file(module_name, file)


def _by_file(module_name: str, file: str) -> tuple[bool, tuple[str, str] | None]:
    """Installed or not, and the distribution, from where the module's file is."""
    path = os.path.abspath(file)
    folder = _import_folder(module_name, path)
    if _in_site_directory(path):
        return True, _distribution_in(folder, module_name, path, site_folder=True)
    if _under(path, _roots()[1]):
        return True, None
    dist = _distribution_in(folder, module_name, path, site_folder=False)
    return dist is not None, dist


def _named_as(module_name: str, default: bool) -> bool:
    """What :func:`configure` says of ``module_name`` (the longest name holding it)."""
    if _named:
        name = module_name
        while True:
            said = _named.get(name)
            if said is not None:
                return said
            name, dot, _ = name.rpartition(".")
            if not dot:
                break
    return default


def _in_site_directory(path: str) -> bool:
    parts = path.split(os.sep)
    if any(folder in parts for folder in _SITE_FOLDERS):
        return True
    return _under(path, _roots()[0])


def _roots() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The site directories and the standard library's folders (found once)."""
    global _site_roots, _stdlib_roots
    if _site_roots is None:
        candidates: list[str] = []
        with contextlib.suppress(AttributeError):  # some virtualenvs' site module lacks it
            candidates += site.getsitepackages()
        candidates.append(site.getusersitepackages())
        paths = sysconfig.get_paths()
        candidates += [paths["purelib"], paths["platlib"]]
        _site_roots = _both_spellings(candidates)
        _stdlib_roots = _both_spellings([paths["stdlib"], paths["platstdlib"]])
    return _site_roots, _stdlib_roots


def _both_spellings(paths: Iterable[str]) -> tuple[str, ...]:
    """Each path as given (made absolute) and with its symbolic links resolved."""
    return tuple(sorted({os.path.abspath(p) for p in paths} | {os.path.realpath(p) for p in paths}))


def _under(path: str, roots: Iterable[str]) -> bool:
    # A folder, not a string prefix: <root>-projects/ is not under <root>.
    return any(path.startswith(os.path.join(root, "")) for root in roots)


def _import_folder(module_name: str, path: str) -> str | None:
    """The ``sys.path`` folder that ``module_name`` was imported from (``None`` when its
    file does not sit where its name says: a module loaded under a name of its own)."""
    parts = module_name.split(".")
    folder = os.path.dirname(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    depth = len(parts) if stem == "__init__" else len(parts) - 1
    if stem != "__init__" and stem != parts[-1]:
        return None
    for part in reversed(parts[:depth]):
        if os.path.basename(folder) != part:
            return None
        folder = os.path.dirname(folder)
    return folder


def _distribution_in(
    folder: str | None, module_name: str, path: str, *, site_folder: bool
) -> tuple[str, str] | None:
    """The distribution of ``folder`` that installed ``module_name``'s top-level package
    (``None``: none did). Outside site directories only ``*.dist-info`` counts: a
    ``*.egg-info`` there is a project's own, made by ``setup.py develop``."""
    if folder is None:
        return None
    found = _folders.get(folder)
    if found is None:
        found = _folders[folder] = _Folder(folder, site_folder)
    top = module_name.partition(".")[0]
    candidates = found.distributions(top)
    if not candidates:
        return None
    relative = os.path.relpath(path, folder).replace(os.sep, "/")
    for candidate in candidates:
        if _lists(candidate, relative):
            return _name_and_version(candidate)
    # Not in the RECORD of the first one found: a namespace package shared by several
    # distributions, or one that lists no files.
    for candidate in found.distributions(top, every=True):
        if _lists(candidate, relative):
            return _name_and_version(candidate)
    return _name_and_version(candidates[0])


class _Folder:
    """The distributions of one ``sys.path`` folder, read as they are asked for: those
    whose name looks like the package asked for first, so that finding scikit-learn
    or numpy reads one or two RECORDs, not every one of a big environment's."""

    __slots__ = ("by_top", "folder", "unread")

    def __init__(self, folder: str, site_folder: bool) -> None:
        self.folder = folder
        self.by_top: dict[str, list[importlib.metadata.Distribution]] = {}
        suffixes = (".dist-info", ".egg-info") if site_folder else (".dist-info",)
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            entries = []
        self.unread = [entry for entry in entries if entry.endswith(suffixes)]

    def distributions(self, top: str, every: bool = False) -> list[importlib.metadata.Distribution]:
        """The distributions installing the top-level name ``top``: from the first one
        found (reading those whose name looks like it first), or ``every`` one."""
        found = self.by_top.get(top)
        if found is not None and not every:
            return found
        key = _normalized(top)[:4]
        self.unread.sort(key=lambda entry: not _normalized(entry).startswith(key))
        while self.unread:
            entry = self.unread.pop(0)
            dist = importlib.metadata.PathDistribution(pathlib.Path(self.folder, entry))
            for name in _top_level_names(dist):
                self.by_top.setdefault(name, []).append(dist)
            if not every and top in self.by_top:
                break
        return self.by_top.get(top, [])


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "", name).lower()


# The top-level package folders and modules a RECORD lists (one match per line).
_RECORD_TOP: Final = re.compile(
    r'^"?([A-Za-z_][\w.-]*?)(?:/|\.(?:py|pyc|pyd|so|[\w.-]*\.so|[\w.-]*\.pyd)[,"])', re.M
)


def _record(dist: importlib.metadata.Distribution) -> str:
    """A distribution's RECORD (or, for an ``*.egg-info``, its installed-files list)."""
    try:
        return dist.read_text("RECORD") or dist.read_text("installed-files.txt") or ""
    except OSError:
        return ""


def _top_level_names(dist: importlib.metadata.Distribution) -> set[str]:
    try:
        text = dist.read_text("top_level.txt") or ""
    except OSError:
        text = ""
    names = {line.strip() for line in text.splitlines() if line.strip()}
    for name in _RECORD_TOP.findall(_record(dist)):
        if not name.endswith((".dist-info", ".egg-info", ".data")) and name != "__pycache__":
            names.add(name)
    return names


_records: dict[int, str] = {}


def _lists(dist: importlib.metadata.Distribution, relative: str) -> bool:
    """Whether ``dist``'s RECORD names the file ``relative`` (to its folder)."""
    text = _records.get(id(dist))
    if text is None:
        text = _records[id(dist)] = "\n" + _record(dist)
    return f"\n{relative}," in text or f'\n"{relative}",' in text


def _name_and_version(dist: importlib.metadata.Distribution) -> tuple[str, str]:
    found = _dist_names.get(id(dist))
    if found is None:
        try:
            metadata = dist.metadata
            name, version = metadata["Name"] or "", metadata["Version"] or ""
        except Exception:  # unreadable metadata: the folder's name says as much
            name, version = "", ""
        if not name:
            path = getattr(dist, "_path", None)
            stem = os.path.basename(str(path or "")).rsplit(".", 1)[0]
            name, _, version = stem.partition("-")
        found = _dist_names[id(dist)] = (name, version)
    return found
