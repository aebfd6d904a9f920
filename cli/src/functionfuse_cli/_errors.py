"""Exit codes of ``fuse``, and the failure a command raises to exit with one."""

from __future__ import annotations

from typing import Final

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "Failure"]

EXIT_OK: Final = 0
#: A node failed, or something else failed while working (a storage, Graphviz).
EXIT_FAILED: Final = 1
#: Bad arguments, a bad config, a TARGET that names no nodes, a missing component.
EXIT_USAGE: Final = 2


class Failure(Exception):
    """A command failed in a way the user can act on: print ``message``, exit ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code
