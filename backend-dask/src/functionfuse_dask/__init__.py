"""Run functionfuse workflows on Dask distributed.

``DaskWorkflow(*nodes, workflow_name=..., client=None, address=None, cluster_options=None)``
runs each function node as a Dask task, with its parents' futures as arguments, and each
class node's instance on one worker, where its method calls run in order. Results stay
on the workers; storage is written from them. Also available by name:
``functionfuse.backend("dask")``.
"""

from functionfuse_dask._watch import InstanceLost
from functionfuse_dask._workflow import DaskWorkflow

__all__ = ["DaskWorkflow", "InstanceLost"]
