"""Node plugins for functionfuse: initializers, reproducible random state, collections.

Attach one to nodes with ``workflow.set_plugin(pattern, plugin)`` or
``workflow.query(pattern).set_plugin(plugin)``, or create one by its entry-point name
with ``functionfuse.plugin("random_state", seed=0)``. They run on every backend: the
driver side once per node in graph order, the worker side right before the node.
"""

from functionfuse_plugins._collection import PluginCollection
from functionfuse_plugins._initializer import InitializerPlugin
from functionfuse_plugins._random_state import RandomStatePlugin, seed_installed_generators

__all__ = [
    "InitializerPlugin",
    "PluginCollection",
    "RandomStatePlugin",
    "seed_installed_generators",
]
