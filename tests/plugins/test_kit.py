"""The node-plugin conformance kit against the three first-party plugins, by name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from functionfuse.testing import NodePluginTests
from functionfuse_plugins import InitializerPlugin, RandomStatePlugin

_ARMED: list[bool] = []


def arm() -> None:
    """What the initializer runs before each node: leaves a mark for the node to find."""
    _ARMED.append(True)


def disarm() -> bool:
    """The probe: whether the initializer ran since the probe last looked."""
    armed = bool(_ARMED)
    _ARMED.clear()
    return armed


class TestInitializer(NodePluginTests):
    plugin = "initializer"
    options: ClassVar[Mapping[str, Any]] = {"func": arm}
    invalid_options: ClassVar[Sequence[Mapping[str, Any]]] = [{"func": 42}]
    probe = disarm


class TestRandomState(NodePluginTests):
    plugin = "random_state"
    options: ClassVar[Mapping[str, Any]] = {"seed": 7, "min": 0, "max": 1000}
    invalid_options: ClassVar[Sequence[Mapping[str, Any]]] = [
        {"min": 5, "max": 1},
        {"seed": 10, "max": 5},
        {"seed": "7"},
    ]
    capabilities = frozenset({NodePluginTests.SEEDS})


class TestCollection(NodePluginTests):
    plugin = "collection"
    options: ClassVar[Mapping[str, Any]] = {
        "plugins": [InitializerPlugin(arm), RandomStatePlugin(seed=3)]
    }
    invalid_options: ClassVar[Sequence[Mapping[str, Any]]] = [{"plugins": "random_state"}]
    capabilities = frozenset({NodePluginTests.SEEDS})
