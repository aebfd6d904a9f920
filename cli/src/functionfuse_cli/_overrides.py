"""``--set key=value``: change a config's data by dotted key path before it is checked."""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any, Final

from functionfuse import ConfigurationError
from functionfuse.config import describe_hidden, sensitive_key

__all__ = ["apply_override", "parse_value"]

_PART: Final = re.compile(r'([^.\[\]"]+)|"([^"]*)"|\[(\d+)\]|(\.)')


def parse_value(text: str) -> Any:
    """A TOML value (``1``, ``true``, ``"s"``, ``[1, 2]``, ``{a = 1}``), else a JSON value
    (``{"a": 1}``, ``null``), else the text itself as a string."""
    toml = _toml()
    if toml is not None:
        try:
            return toml.loads(f"value = {text}")["value"]
        except toml.TOMLDecodeError:
            pass
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def _toml() -> ModuleType | None:
    """``tomllib`` (Python 3.11+) or ``tomli`` (3.10, a dependency), else None."""
    import importlib

    for name in ("tomllib", "tomli"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    return None


def _parse_key(key: str) -> list[str | int]:
    """``rules[0].plugin.name`` or ``rules.0.plugin.name`` → ``["rules", 0, "plugin", "name"]``."""
    parts: list[str | int] = []
    position = 0
    expect_name = True
    while position < len(key):
        match = _PART.match(key, position)
        if match is None:
            break
        bare, quoted, index, dot = match.groups()
        if dot is not None:
            if expect_name:
                break
            expect_name = True
        elif index is not None:
            if expect_name and parts:
                break
            parts.append(int(index))
            expect_name = False
        else:
            if not expect_name:
                break
            name = quoted if quoted is not None else bare
            parts.append(int(name) if name.isdigit() else name)
            expect_name = False
        position = match.end()
    if position != len(key) or expect_name or not parts or not isinstance(parts[0], str):
        raise ConfigurationError(
            f"--set {key}=...: {key!r} is not a key path; write keys separated by dots, "
            'e.g. backend.name, storage.url, rules[0].storage or backend.options."odd.key".'
        )
    return parts


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply ``key=value`` to ``data``: tables on the way are created, ``rules[n]`` with
    ``n`` one past the last rule adds a rule, and a ``null`` value removes the key."""
    key, sep, text = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        shown = f"{key}=..." if sep else assignment  # never the value: it may be a secret
        raise ConfigurationError(
            f"--set takes key=value (e.g. --set backend.name=ray), not {shown!r}."
        )
    parts = _parse_key(key)
    value = _as_schema_wants(parts, text.strip(), parse_value(text.strip()))
    container: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = _path(parts[:depth]) or "the config"
        if isinstance(container, dict):
            if not isinstance(part, str):
                raise ConfigurationError(
                    f"--set {key}: {where} is a table; give a key name, not [{part}]."
                )
            if last:
                if value is None:
                    container.pop(part, None)
                else:
                    container[part] = value
                return
            if part not in container:
                container[part] = [] if isinstance(parts[depth + 1], int) else {}
            container = container[part]
        elif isinstance(container, list):
            if not isinstance(part, int):
                raise ConfigurationError(
                    f"--set {key}: {where} is an array; give an index such as {where}[0]."
                )
            if part == len(container) and value is not None:
                container.append(value if last else {})
                if last:
                    return
            if not 0 <= part < len(container):
                raise ConfigurationError(
                    f"--set {key}: {where} has {len(container)} item(s), so [{part}] is out "
                    f"of range (use [{len(container)}] to add one)."
                )
            if last:
                if value is None:
                    del container[part]
                else:
                    container[part] = value
                return
            container = container[part]
        else:
            # Never a secret's value (see sensitive_key): only its type.
            shown = describe_hidden(container) if sensitive_key(where) else repr(container)
            raise ConfigurationError(
                f"--set {key}: {where} is a value ({shown}), not a table; it has no key {part!r}."
            )


#: The key paths whose value is a string (``int``: any index). ``storage`` takes a
#: string too, or a table, or false.
_STRING_KEYS: Final = frozenset(
    {
        ("workflow_name",),
        ("backend", "name"),
        ("storage", "url"),
        ("storage", "kind"),
        ("rules", int, "pattern"),
        ("rules", int, "plugin", "name"),
    }
)


def _as_schema_wants(parts: list[str | int], text: str, value: Any) -> Any:
    """The text itself where the config wants a string and the text read as another
    scalar: ``workflow_name=2024-01-01`` (a TOML date), ``rules[0].pattern=1.5``."""
    if value is None or isinstance(value, (str, list, dict)):
        return value
    shape = tuple(int if isinstance(part, int) else part for part in parts)
    if shape in _STRING_KEYS or (shape == ("storage",) and not isinstance(value, bool)):
        return text
    return value


def _path(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text
