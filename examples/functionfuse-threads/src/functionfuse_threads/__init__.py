"""functionfuse-threads: run the independent nodes of a workflow at the same time.

Registered as the ``threads`` backend: ``functionfuse.backend("threads")``.
"""

from functionfuse_threads._workflow import ThreadWorkflow

__all__ = ["ThreadWorkflow"]
