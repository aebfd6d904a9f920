"""How workflow and task names become file names, and back.

A name made only of safe characters (``[A-Za-z0-9._-]``, not starting with ``.``, not
ending with ``.``, not a reserved Windows device name, at most :data:`MAX_FILENAME`
characters) is stored under itself, so people can browse a folder or a bucket. Any other
name is stored as ``~`` followed by its UTF-8 bytes, safe bytes kept and every other byte
written ``%XX`` (upper-case hex): ``"train model"`` becomes ``~train%20model``. An encoded
name contains no ``/``, ``\\``, NUL or ``:``, never starts with ``.`` and never equals a
safe name (a safe name never starts with ``~``), so it cannot leave its folder or
collide with another name.

An encoded name longer than :data:`MAX_FILENAME` is cut at a ``%XX`` boundary and ends
with ``~`` plus 32 hex digits of the name's SHA-256; such a name cannot be decoded from
the file name alone, so the full name is kept in the stored result's header.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import re
from collections.abc import Callable

__all__ = ["MAX_FILENAME", "decode_name", "encode_name", "glob_matcher", "is_hashed_name"]

#: Longest file name produced, leaving room under the usual 255-byte limit for the
#: temporary-file prefix and suffix.
MAX_FILENAME = 160

_SAFE_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-](?:[A-Za-z0-9._-]*[A-Za-z0-9_-])?")
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{p}{i}" for p in ("COM", "LPT") for i in range(10)]
)
_HEX = "0123456789ABCDEF"
_HASH_DIGITS = 32
_ESCAPES = [chr(b) if b in _SAFE_BYTES else f"%{b:02X}" for b in range(256)]


def _is_safe(name: str) -> bool:
    return (
        len(name) <= MAX_FILENAME
        and _SAFE_NAME.fullmatch(name) is not None
        and name.split(".", 1)[0].upper() not in _WINDOWS_DEVICES
    )


@functools.lru_cache(maxsize=4096)
def encode_name(name: str) -> str:
    """The file name that stores ``name`` (a workflow or task name)."""
    if _is_safe(name):
        return name
    raw = name.encode("utf-8", "surrogatepass")
    encoded = "~" + "".join([_ESCAPES[b] for b in raw])
    if len(encoded) <= MAX_FILENAME:
        return encoded
    digest = hashlib.sha256(raw).hexdigest()[:_HASH_DIGITS]
    cut = MAX_FILENAME - _HASH_DIGITS - 1
    # Never cut through a %XX escape: the prefix is for people, but keep it tidy.
    percent = encoded.rfind("%", cut - 2, cut)
    if percent != -1:
        cut = percent
    return f"{encoded[:cut]}~{digest}"


def is_hashed_name(filename: str) -> bool:
    """Whether ``filename`` is a cut, hash-suffixed name (full name in the header)."""
    return filename.startswith("~") and filename.find("~", 1) != -1


def decode_name(filename: str) -> str | None:
    """The name stored under ``filename``, or None when it is not one of ours.

    Hash-suffixed names return None too: use :func:`is_hashed_name` and read the
    header. A file name is ours only if encoding its decoded name gives it back
    exactly, so foreign files (``~%2f``, ``.DS_Store``) are never mistaken for results.
    """
    if not filename.startswith("~"):
        return filename if _is_safe(filename) else None
    body = filename[1:]
    if "~" in body:
        return None
    out = bytearray()
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch == "%":
            pair = body[i + 1 : i + 3]
            if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
                return None
            out.append(int(pair, 16))
            i += 3
        elif ch < "\x80":
            out.append(ord(ch))
            i += 1
        else:
            return None
    try:
        name = out.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None
    return name if encode_name(name) == filename else None


def glob_matcher(pattern: str) -> Callable[[str], bool]:
    """A test of names against the glob ``pattern``, exactly as ``fnmatchcase``, but
    compiled in time linear in the pattern.

    ``fnmatch.translate`` scans from each ``[`` to the next ``]``: ``"[" * 100_000``
    took minutes. From the first ``[`` that nothing closes on, every ``[`` is a literal
    ``[`` to fnmatch; each is written ``[[]`` (the same, closed at once) before
    translating.
    """
    cut = _first_unclosed_bracket(pattern)
    if cut != -1:
        pattern = pattern[:cut] + pattern[cut:].replace("[", "[[]")
    match = re.compile(fnmatch.translate(pattern)).match
    return lambda name: match(name) is not None


def _first_unclosed_bracket(pattern: str) -> int:
    """Where ``fnmatch.translate`` first reads ``[`` as a literal (no ``]`` closes it:
    then none after it is closed either), or -1."""
    n = len(pattern)
    i = pattern.find("[")
    while i != -1:
        j = i + 1
        if j < n and pattern[j] == "!":
            j += 1
        if j < n and pattern[j] == "]":
            j += 1  # a ``]`` first in a set is a member, not its end
        j = pattern.find("]", j)
        if j == -1:
            return i
        i = pattern.find("[", j + 1)
    return -1
