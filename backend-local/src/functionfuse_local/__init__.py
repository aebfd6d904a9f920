"""functionfuse-local: run functionfuse workflows on this machine.

Registered as two backends: ``local`` (every node in the current process, in graph
order: ``functionfuse.backend("local")``) and ``processes`` (independent nodes at the
same time in worker processes: ``functionfuse.backend("processes")``).
"""

from functionfuse_local._processes import ProcessWorkflow
from functionfuse_local._workflow import LocalWorkflow

__all__ = ["LocalWorkflow", "ProcessWorkflow"]
