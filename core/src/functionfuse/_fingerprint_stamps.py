"""The stamp stored with a result, and the reasons a stale one gives.

A stamp is :data:`FORMAT`, the node's fingerprint, its code's and its arguments'
digests (16 bytes each), its parents (a count and the first bytes of each one's
fingerprint; count 255 for more than a few dozen), then *details*: a small JSON object
naming the parts — each function, class and constant of its code (``helpers.scale``),
each argument (by position or keyword), each installed distribution with its version —
with a short digest each. The total decides whether a stored result is used; the
details only say what changed. A stamp of another format (0.1's ``ff1:``) never
matches: its result runs once more.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from functionfuse._fingerprint_values import _SIZE

__all__ = ["FORMAT", "describe_stamp"]

#: The first bytes of every fingerprint stamp we store; a different prefix (an older or
#: newer scheme) never matches, so changing the scheme makes results stale, not wrong.
FORMAT: Final = b"ff2:"
#: The prefixes of earlier schemes (their results run once more).
OLDER_FORMATS: Final = (b"ff1:",)
STAMP_SIZE: Final = len(FORMAT) + 3 * _SIZE  # then the parents' (see Lineage.stamp)
#: A stamp names its node's parents by the first bytes of their fingerprints, for up to
#: this many parents (a wide fan-in's results would otherwise carry kilobytes).
PARENTS_KEPT: Final = 32
PARENT_PREFIX: Final = 4
#: The details keep at most this many code parts and arguments (the first ones: the
#: node's own code first): a stamp stays small however big the project.
PARTS_KEPT: Final = 200
#: The characters of a part's name kept (a qualified name, rarely long).
_NAME_KEPT: Final = 200
#: Names listed in one reason, then "and N more".
_LISTED: Final = 3

#: What the details say: ``(name or argument key, hex digest)`` pairs, distributions.
Parts = Sequence[tuple[Any, bytes]]


def details(
    code_json: bytes, arguments: Parts, dists: Iterable[tuple[str, str]], tracked: bool
) -> bytes:
    """The details of a stamp: ``code_json`` (from :func:`code_parts_json`), the
    arguments' parts, the distributions and whether their versions count."""
    kept = [[key, digest.hex()] for key, digest in arguments[:PARTS_KEPT]]
    return b"".join(
        (
            b'{"v":',
            b"1" if tracked else b"0",
            b',"c":',
            code_json,
            b',"a":',
            json.dumps(kept, separators=(",", ":")).encode(),
            b',"d":',
            json.dumps([list(dist) for dist in dists][:PARTS_KEPT], separators=(",", ":")).encode(),
            b"}",
        )
    )


def code_parts_json(parts: Parts) -> bytes:
    """The code parts of a stamp's details (made once per function or class)."""
    kept = [[name[:_NAME_KEPT], digest.hex()] for name, digest in parts[:PARTS_KEPT]]
    return json.dumps(kept, separators=(",", ":")).encode()


def ours(stamp: bytes | None) -> bool:
    """True for a whole stamp of this format (details may follow the parents)."""
    if stamp is None or len(stamp) <= STAMP_SIZE or not stamp.startswith(FORMAT):
        return False
    return len(stamp) >= _details_start(stamp)


def _details_start(stamp: bytes) -> int:
    count = stamp[STAMP_SIZE]
    return STAMP_SIZE + 1 + (0 if count == 0xFF else count * PARENT_PREFIX)


def read_details(stamp: bytes) -> dict[str, Any]:
    """The details of a stamp of ours (empty when there are none or they are unreadable:
    a stored result from elsewhere is never trusted to be well formed)."""
    try:
        found = json.loads(stamp[_details_start(stamp) :].decode())
    except (ValueError, UnicodeDecodeError):
        return {}
    return found if isinstance(found, dict) else {}


def unusable(stamp: bytes | None) -> str:
    """Why a stamp that is not :func:`ours` cannot be compared."""
    if stamp is None:
        return "stored without a fingerprint"
    if stamp.startswith(OLDER_FORMATS):
        return "stored by an older release"
    return "stored with another fingerprint format"


# -- reasons ---------------------------------------------------------------------------------


def code_reason(stored: object, now: Parts) -> str:
    """``code changed (helpers.scale)``: the parts whose digest differs, or that are
    new; else those that are gone; else no names."""
    before = _grouped(stored)
    after: dict[str, list[str]] = {}
    for name, digest in now[:PARTS_KEPT]:
        after.setdefault(name[:_NAME_KEPT], []).append(digest.hex())
    if before is None:
        return "code changed"
    changed = [name for name, digests in after.items() if before.get(name) != digests]
    if not changed:
        changed = [name for name in before if name not in after]
    return f"code changed ({_names(changed, quote=False)})" if changed else "code changed"


def argument_reason(stored: object, now: Parts, label: Callable[[Any], str]) -> str:
    """``argument 'k' changed``: the arguments whose digest differs, or that are new or
    gone (named by ``label``)."""
    before = _grouped(stored)
    if before is None:
        return "argument changed"
    after = {str(key): [digest.hex()] for key, digest in now[:PARTS_KEPT]}
    keys = {str(key): key for key, _ in now}
    if isinstance(stored, list):
        for pair in stored:
            if isinstance(pair, list) and pair:
                keys.setdefault(str(pair[0]), pair[0])
    changed = [key for key in after if before.get(key) != after[key]]
    changed += [key for key in before if key not in after]
    labels = list(dict.fromkeys(label(keys[key]) for key in changed))
    if not labels:
        return "argument changed"
    word = "argument" if len(labels) == 1 else "arguments"
    return f"{word} {_names(labels, quote=True)} changed"


def version_reasons(
    stored: dict[str, Any], now: Iterable[tuple[str, str]], tracked: bool
) -> list[str]:
    """``scikit-learn 1.5.2 → 1.6.0`` for each distribution whose version changed (or a
    word that version tracking was turned on or off)."""
    current = dict(now)
    dists = stored.get("d")
    if not isinstance(dists, list) or not current:
        return []
    was_tracked = stored.get("v") != 0
    if was_tracked != tracked:
        return ["package versions " + ("now tracked" if tracked else "no longer tracked")]
    if not tracked:
        return []
    reasons = []
    for pair in dists:
        if isinstance(pair, list) and len(pair) == 2:
            name, version = pair
            if name in current and current[name] != version:
                reasons.append(f"{name} {version} → {current[name]}")
    return reasons


def _grouped(stored: object) -> dict[str, list[str]] | None:
    """Stored ``[[name, hex], ...]`` as ``{name: [hex, ...]}`` (``None``: unreadable)."""
    if not isinstance(stored, list):
        return None
    grouped: dict[str, list[str]] = {}
    for pair in stored:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], str)):
            return None
        grouped.setdefault(str(pair[0]), []).append(pair[1])
    return grouped


def _names(names: list[str], *, quote: bool) -> str:
    shown = [repr(name) if quote else name for name in names[:_LISTED]]
    more = len(names) - _LISTED
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def describe_stamp(stamp: bytes) -> str:
    """A stored stamp for people: the node's fingerprint, what it was made of, and the
    installed distributions it counted."""
    if not ours(stamp):
        if stamp.startswith(OLDER_FORMATS) and len(stamp) > STAMP_SIZE:  # 0.1's layout
            node, code, arguments = (
                stamp[4 + i * _SIZE : 4 + (i + 1) * _SIZE].hex() for i in range(3)
            )
            return f"{node} (code {code}, arguments {arguments}; stored by 0.1)"
        return stamp.hex()
    start = len(FORMAT)
    node, code, arguments = (
        stamp[start + i * _SIZE : start + (i + 1) * _SIZE].hex() for i in range(3)
    )
    text = f"{node} (code {code}, arguments {arguments})"
    found = read_details(stamp)
    dists = found.get("d")
    if isinstance(dists, list) and dists:
        listed = ", ".join(
            f"{pair[0]} {pair[1]}" for pair in dists if isinstance(pair, list) and len(pair) == 2
        )
        text += f"; packages: {listed}"
    parts = found.get("c")
    if isinstance(parts, list) and parts:
        names = [str(pair[0]) for pair in parts if isinstance(pair, list) and pair]
        text += f"; code: {_names(names, quote=False)}"
    return text


#: The parts of each kind a run record keeps per node (see :func:`stamp_parts`).
_PARTS_SHOWN: Final = 20


def stamp_digests(stamp: bytes) -> dict[str, str]:
    """A stamp's digests for a run record: ``fingerprint``, ``code`` and ``arguments``
    (hex), cut from their fixed places. A stamp of another format gives its bytes as
    ``stamp``."""
    if not ours(stamp):
        return {"stamp": stamp.hex()}
    start = len(FORMAT)
    return {
        "fingerprint": stamp[start : start + _SIZE].hex(),
        "code": stamp[start + _SIZE : start + 2 * _SIZE].hex(),
        "arguments": stamp[start + 2 * _SIZE : start + 3 * _SIZE].hex(),
    }


def stamp_parts(stamp: bytes) -> dict[str, str]:
    """:func:`stamp_digests`, then what they were made of, from the stamp's details: up
    to 20 each of ``code NAME``, ``argument KEY`` (digests) and ``package NAME``
    (versions)."""
    parts = stamp_digests(stamp)
    if "stamp" in parts:
        return parts
    found = read_details(stamp)
    for key, prefix in (("c", "code "), ("a", "argument ")):
        listed = found.get(key)
        if isinstance(listed, list):
            for pair in listed[:_PARTS_SHOWN]:
                if isinstance(pair, list) and len(pair) == 2:
                    label = pair[0] if not isinstance(pair[0], int) else f"#{pair[0]}"
                    parts[f"{prefix}{label}"] = str(pair[1])
    dists = found.get("d")
    if isinstance(dists, list):
        for pair in dists[:_PARTS_SHOWN]:
            if isinstance(pair, list) and len(pair) == 2:
                parts[f"package {pair[0]}"] = str(pair[1])
    return parts
