"""functionfuse-local: run functionfuse workflows in the current process.

Registered as the ``local`` backend: ``functionfuse.backend("local")``.
"""

from functionfuse_local._workflow import LocalWorkflow

__all__ = ["LocalWorkflow"]
