"""Run functionfuse workflows on a Ray cluster.

``RayWorkflow(*nodes, workflow_name=..., ray_init_args=...)`` runs each function node as
a Ray task and each class node as a Ray actor whose method nodes run on it in order.
Results stay in Ray's object store; storage is written from the workers. Also available
by name: ``functionfuse.backend("ray")``. :class:`RayFileStorage` is the ``ray``
storage kind: results in a folder on the machines a storage's remote args select.
``UnpicklableNodeError`` is the core's (:mod:`functionfuse.runtime`), named here too
for code that caught it from here.
"""

from functionfuse.runtime import UnpicklableNodeError
from functionfuse_ray._storage import RayFileStorage
from functionfuse_ray._workflow import RayWorkflow

__all__ = ["RayFileStorage", "RayWorkflow", "UnpicklableNodeError"]
