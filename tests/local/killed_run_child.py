"""A run that stalls at its fourth node until it is killed: ``python killed_run_child.py
STORAGE MARKER [INTERVAL]`` (seconds between snapshots; 0.05 by default). The test
SIGKILLs it once the marker file exists."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from functionfuse import workflow
from functionfuse_local import LocalWorkflow

WORKFLOW_NAME = "killed"


@workflow
def step(x: int) -> int:
    return x + 1


@workflow
def stall(x: int, marker: str) -> int:
    Path(marker).write_text("stalled")
    time.sleep(120)  # until killed
    return x


if __name__ == "__main__":
    storage, marker = sys.argv[1:3]
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.05
    node = step(0).set_name("step_0")
    for i in range(1, 3):
        node = step(node).set_name(f"step_{i}")
    node = stall(node, marker).set_name("stall")
    node = step(node).set_name("after")
    wf = LocalWorkflow(node, workflow_name=WORKFLOW_NAME)
    wf.set_storage(storage)
    wf.run_record_interval = interval
    wf.run()
