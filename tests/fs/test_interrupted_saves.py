"""A KeyboardInterrupt (Ctrl-C) at any step of a save on local disk: the task keeps
its earlier result or has the new one, whole, and no temporary file is left.

Ctrl-C raises KeyboardInterrupt between two steps of Python code; a profile hook
raises it right after a chosen system call of the save returns, so each step is hit
every time (``tests/integration/test_interrupt.py`` sends real SIGINTs at random).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from functionfuse_fs import FileStorage

STEPS = [os.open, os.write, os.fsync, os.close, os.replace]
SIZES = {"small": 100, "large": 2 * 1024 * 1024}  # one write; pieces and a digest thread


def interrupt_after(step: Callable[..., Any]) -> Callable[[FrameType, str, Any], None]:
    def hook(frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_return" and arg is step:
            sys.setprofile(None)
            raise KeyboardInterrupt

    return hook


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("step", STEPS, ids=[step.__name__ for step in STEPS])
def test_an_interrupted_save_leaves_a_whole_result_and_no_temporary_file(
    tmp_path: Path, step: Callable[..., Any], size: int
) -> None:
    storage = FileStorage(tmp_path, fsync=True)
    storage.save("wf", "t", "before")
    new = b"n" * size
    sys.setprofile(interrupt_after(step))
    try:
        with pytest.raises(KeyboardInterrupt):
            storage.save("wf", "t", new)
    finally:
        sys.setprofile(None)
    assert storage.list_tasks("wf") == ["t"]
    assert storage.read_task("wf", "t") in ("before", new)
    assert sorted(os.listdir(tmp_path / "wf")) == ["t"]  # no .tmp-* file
