"""Turning what users write — paths, URLs, option dicts — into storage settings."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, final

from functionfuse import ConfigurationError

__all__ = [
    "DEFAULT_WRITE_BEHIND_BYTES",
    "KEY_ENV",
    "LOCAL_PROTOCOLS",
    "Options",
    "check_url_credentials",
    "display_url",
    "get_protocol",
    "is_s3",
    "parse_config",
    "parse_url_options",
    "resolve_key",
]

#: Bytes of results a storage may hold waiting for upload, unless configured.
DEFAULT_WRITE_BEHIND_BYTES: Final = 64 * 1024 * 1024
#: Environment variable holding the signing key when no ``signing_key`` option is given.
KEY_ENV: Final = "FUNCTIONFUSE_STORAGE_KEY"
LOCAL_PROTOCOLS: Final = frozenset(["file", "local"])
_S3_PROTOCOLS: Final = frozenset(["s3", "s3a"])
_CONFIG_ONLY: Final = frozenset(["path", "storage_options", "s3fs"])
_PROTOCOL_SPLIT: Final = re.compile(r"(::|://)")
#: ``user:password@`` in an s3:// URL, alone or in a chain (``simplecache::s3://...``).
_S3_USERINFO: Final = re.compile(r"(?:^|::)s3a?://[^/@]*@", re.IGNORECASE)
_OPTION_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "path": (str, os.PathLike),
    "storage_options": (Mapping,),
    "s3fs": (Mapping,),
    "signing_key": (str, bytes, type(None)),
    "always_read": (bool,),
    "fsync": (bool,),
    "write_behind_bytes": (int,),
}


@final
@dataclass(frozen=True)
class Options:
    """Validated storage options (everything but the path)."""

    storage_options: dict[str, Any] = field(default_factory=dict)
    signing_key: str | bytes | None = None
    always_read: bool = False
    fsync: bool = False
    write_behind_bytes: int | None = None


def get_protocol(url: str) -> str:
    """The fsspec protocol of ``url`` (``"file"`` for a plain path), as fsspec reads it."""
    parts = _PROTOCOL_SPLIT.split(url, maxsplit=1)
    return parts[0].lower() if len(parts) > 1 else "file"


def is_s3(protocol: str) -> bool:
    return protocol in _S3_PROTOCOLS


def display_url(url: str) -> str:
    """``url`` without credentials (``user:password@``) or a query string."""
    url = re.sub(r"://[^/@]*@", "://", url)
    return url.split("?", 1)[0]


def check_url_credentials(url: str) -> None:
    """Refuse ``s3://key:secret@bucket``: s3fs never reads credentials from a URL (it
    would take ``key:secret@bucket`` for the bucket name, and botocore's errors would
    then repeat the secret)."""
    if _S3_USERINFO.search(url):
        raise ConfigurationError(
            f"the S3 URL {display_url(url)!r} holds credentials before '@', which s3fs "
            "does not read (it would take them for part of the bucket name). To fix: "
            "remove them from the URL and give them as storage options (key=..., "
            "secret=...), as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
            "environment, or in an AWS credentials file"
        )


def parse_config(kind: str, options: Mapping[str, Any]) -> tuple[str, Options, bool]:
    """Check a config's ``options``; return the path, the options and whether the
    original Function Fuse name ``s3fs`` was used for the storage options."""
    _check_mapping(kind, options)
    for name, value in options.items():
        if name not in _OPTION_TYPES:
            raise ConfigurationError(
                f"unknown {kind} option {name!r}; allowed options: {', '.join(_OPTION_TYPES)}"
            )
        _check_type(kind, name, value)
    if "path" not in options:
        raise ConfigurationError(
            f"{kind} options need 'path' (a folder, bucket/prefix or URL); "
            f"got options {', '.join(map(repr, options)) or 'none'}"
        )
    if "s3fs" in options and "storage_options" in options:
        raise ConfigurationError(
            f"{kind} options 's3fs' and 'storage_options' are the same thing; give one"
        )
    storage_options = options.get("storage_options", options.get("s3fs", {}))
    return (
        os.fspath(options["path"]),
        Options(
            storage_options=dict(storage_options),
            signing_key=options.get("signing_key"),
            always_read=options.get("always_read", False),
            fsync=options.get("fsync", False),
            write_behind_bytes=options.get("write_behind_bytes"),
        ),
        "s3fs" in options,
    )


def parse_url_options(kind: str, options: Mapping[str, Any]) -> Options:
    """Check the options given with a URL: functionfuse's own (``signing_key``,
    ``always_read``, ``fsync``, ``write_behind_bytes``); everything else is a storage
    option for fsspec."""
    _check_mapping(kind, options)
    storage_options = {}
    for name, value in options.items():
        if name in _CONFIG_ONLY:
            raise ConfigurationError(
                f"{kind} option {name!r} belongs in a config dict; with a URL, pass "
                "storage options (endpoint_url=..., key=..., ...) directly as keywords"
            )
        if name in _OPTION_TYPES:
            _check_type(kind, name, value)
        else:
            storage_options[name] = value
    return Options(
        storage_options=storage_options,
        signing_key=options.get("signing_key"),
        always_read=options.get("always_read", False),
        fsync=options.get("fsync", False),
        write_behind_bytes=options.get("write_behind_bytes"),
    )


def _check_mapping(kind: str, options: object) -> None:
    if not isinstance(options, Mapping):
        raise ConfigurationError(
            f"{kind} options must be a mapping such as {{'path': 'storage'}}, "
            f"got {type(options).__name__}"
        )


def _check_type(kind: str, name: str, value: object) -> None:
    types = _OPTION_TYPES[name]
    if not isinstance(value, types):
        expected = " or ".join("None" if t is type(None) else t.__name__ for t in types)
        raise ConfigurationError(
            f"{kind} option {name!r} must be {expected}, got {type(value).__name__}"
        )


def resolve_key(key: str | bytes | None) -> bytes | None:
    """The signing key: ``key`` if given, else ``$FUNCTIONFUSE_STORAGE_KEY``, else None.

    A blank key (empty or whitespace only), given or in the environment, is refused:
    an unset CI secret expanded into the variable must not turn signing off silently.
    """
    if key is None:
        env = os.environ.get(KEY_ENV)
        if env is None:
            return None
        if not env.strip():
            raise ConfigurationError(
                f"the environment variable {KEY_ENV} is set but "
                f"{'empty' if not env else 'blank (whitespace only)'}, so results would "
                f"be stored and read unsigned. To fix: unset it (`unset {KEY_ENV}`) to "
                "store unsigned results, or set it to a long random key, e.g. the output "
                "of `python -c 'import secrets; print(secrets.token_hex(32))'`"
            )
        return env.encode()
    if not key.strip():
        raise ConfigurationError(
            "the storage signing_key is empty (or whitespace only); give a long random "
            f"key, or none (and no {KEY_ENV})"
        )
    return key.encode() if isinstance(key, str) else bytes(key)
