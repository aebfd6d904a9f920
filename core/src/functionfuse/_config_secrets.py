"""Secrets in config data: which values are never shown, and cleaning them out of text.

Everything under ``storage`` (a URL may hold credentials, options do) and every value
whose key path looks secret (``api_key``, ``token``, ``password``...) is described by its
type only in functionfuse's messages; :func:`secret_strings` and :func:`scrub` clean such
values out of what a storage, backend or plugin says about them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from functionfuse._registry import STORAGE, entry_point

__all__ = [
    "SECRET_WORDS",
    "describe_hidden",
    "describe_value",
    "join_key",
    "redact_url",
    "scrub",
    "secret_looking",
    "secret_strings",
    "sensitive_key",
    "url_secrets",
]

#: A value whose key path holds one of these (case-insensitive) is never shown.
SECRET_WORDS: Final = (
    "key",
    "secret",
    "token",
    "password",
    "passwd",
    "credential",
    "signing_key",
    "auth",
)
_TOP_KEY: Final = re.compile(r'"([^"]*)"|([^.\[]*)')


def sensitive_key(key: str) -> bool:
    """Whether the value at key path ``key`` must not appear in a message: everything
    under ``storage`` (a URL may hold credentials, options do), and any value whose key
    path looks secret (see :func:`secret_looking`)."""
    match = _TOP_KEY.match(key)
    top = (match.group(1) or match.group(2)) if match else ""
    return top == "storage" or secret_looking(key)


def secret_looking(key: str) -> bool:
    """Whether key path ``key`` holds a word of :data:`SECRET_WORDS` (``api_key``,
    ``AWS_SECRET_ACCESS_KEY``, ``token``, ``password``...), in any case."""
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS)


def describe_hidden(value: object) -> str:
    """What ``value`` is (a string, a number, a table...), without showing it."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string" if value.strip() else "an empty string"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


def describe_value(value: object, key: str = "") -> str:
    """What a value is, in TOML's words; by its type only when ``key`` is sensitive."""
    if value is None:
        return "nothing (null)"
    if key and sensitive_key(key):
        return describe_hidden(value)
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 60 else "a long string"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"{type(value).__name__} {value!r}"


#: Strings shorter than this are not looked for in messages (they would match anywhere).
_MIN_SECRET: Final = 4
_URL_PARTS: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/@]*)@|\?(.*)$")


def secret_strings(data: object) -> tuple[tuple[str, str], ...]:
    """``(text, shown instead)``, longest first, for the strings of config ``data`` to
    remove from what a storage, backend or plugin says in an error message (it may
    quote what it was given): a storage URL is shown without its credentials and
    query; a value under a secret-looking key (:func:`secret_looking`), or a storage
    kind that is not installed (a misplaced secret?), as ``***``.

    Other values under ``storage`` (a path, an endpoint) are left in such text, where
    they help; functionfuse's own messages never quote them (see :func:`sensitive_key`).
    """
    pairs: dict[str, str] = {}

    def add(text: str, shown: str) -> None:
        if len(text) >= _MIN_SECRET and text != shown:
            pairs.setdefault(text, shown)

    def walk(value: object, key: str, hidden: bool, depth: int) -> None:
        hidden = hidden or secret_looking(key)
        if isinstance(value, str):
            if hidden:
                add(value, "***")
            elif key in ("storage", "storage.url"):
                add_url(value)
            elif key == "storage.kind" and entry_point(STORAGE, value) is None:
                add(value, "***")
        elif isinstance(value, Mapping) and depth < 20:
            for name, item in value.items():
                walk(item, join_key(key, name) if isinstance(name, str) else key, hidden, depth + 1)
        elif isinstance(value, (list, tuple)) and depth < 20:
            for index, item in enumerate(value):
                walk(item, f"{key}[{index}]", hidden, depth + 1)

    def add_url(url: str) -> None:
        add(url, redact_url(url))
        for match in _URL_PARTS.finditer(url):
            part = match.group(1) if match.group(1) is not None else match.group(2)
            if part:
                add(part, "***")
                for piece in re.split(r"[:&=]", part):
                    add(piece, "***")

    walk(data, "", False, 0)
    return tuple(sorted(pairs.items(), key=lambda pair: len(pair[0]), reverse=True))


def url_secrets(url: str) -> tuple[tuple[str, str], ...]:
    """:func:`secret_strings` of a storage URL."""
    return secret_strings({"storage": url})


def scrub(text: str, secrets: tuple[tuple[str, str], ...]) -> str:
    """``text`` with each secret string replaced by what may be shown instead."""
    for secret, shown in secrets:
        text = text.replace(secret, shown)
    return text


_USERINFO: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@")


def redact_url(url: str) -> str:
    """``url`` without what may hold credentials: ``s3://key:secret@b/p?token=t`` →
    ``s3://***@b/p?***``."""
    url = _USERINFO.sub(r"\1***@", url)
    base, sep, _ = url.partition("?")
    return base + ("?***" if sep else "")


_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")


def join_key(key: str, name: str) -> str:
    """``key.name``, quoting ``name`` as TOML does when it is not a bare key."""
    part = name if _BARE_KEY.fullmatch(name) else f'"{name}"'
    return f"{key}.{part}" if key else part
