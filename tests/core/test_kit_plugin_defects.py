"""The kit's node-plugin checks catch plugins with a single defect (issue 14).

``Seeds`` below is a healthy seeding plugin; each other plugin is ``Seeds`` with one
mistake a hurried author could make. The ``Kit*`` classes run the kit on them; their
names do not start with ``Test``, so this suite never collects them itself: one fresh
pytest process (the suite's own configuration, collecting ``Kit*``) runs them all, and
each defect must fail exactly the check that describes it, with a message saying so,
while the healthy plugins pass.
"""

from __future__ import annotations

import functools
import random
import subprocess
import sys
import threading
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

import functionfuse as ff
from functionfuse import ConfigurationError
from functionfuse.testing import NodePluginTests

ROOT = Path(__file__).resolve().parents[2]


class Seeder:
    """The worker side of ``Seeds``: seeds the worker's own generator with a value."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __call__(self) -> None:
        random.seed(self.seed)


class Seeds:
    """Healthy: each node keeps the seed it was first given; seeded where it runs."""

    def __init__(self, seed: int = 0, min: int = 0, max: int = 2**31 - 1) -> None:
        if not min <= seed <= max:
            raise ConfigurationError(f"Seeds needs min <= seed <= max, got {min}, {seed}, {max}")
        self.seed, self.min, self.max = seed, min, max
        self.given: dict[tuple[str, str], int] = {}

    def functionfuse_local_initialize(self, workflow_name: str, node_name: str) -> None:
        key = (workflow_name, node_name)
        if key not in self.given:
            self.seed = self.min if self.seed >= self.max else self.seed + 1
            self.given[key] = self.seed

    def functionfuse_remote_initialize(self, workflow_name: str, node_name: str) -> Any:
        return Seeder(self.given[(workflow_name, node_name)])


class UncheckedSeeds(Seeds):
    """Defect: its options are not checked, so min > max is accepted."""

    def __init__(self, seed: int = 0, min: int = 0, max: int = 2**31 - 1) -> None:
        self.seed, self.min, self.max = seed, min, max
        self.given = {}


class SeedReturned(Seeds):
    """Defect: remote_initialize returns the seed, not a callable that uses it."""

    def functionfuse_remote_initialize(self, workflow_name: str, node_name: str) -> Any:
        return self.given[(workflow_name, node_name)]


class DriverSeeds(Seeds):
    """Defect: seeds in local_initialize, that is on the driver, not where the node runs."""

    def functionfuse_local_initialize(self, workflow_name: str, node_name: str) -> None:
        super().functionfuse_local_initialize(workflow_name, node_name)
        random.seed(self.given[(workflow_name, node_name)])

    def functionfuse_remote_initialize(self, workflow_name: str, node_name: str) -> Any:
        return None


class ForgetfulSeeds(Seeds):
    """Defect: the seed moves on with every call, so a second run draws other numbers."""

    def functionfuse_local_initialize(self, workflow_name: str, node_name: str) -> None:
        self.seed = self.min if self.seed >= self.max else self.seed + 1
        self.given[(workflow_name, node_name)] = self.seed


class LockedSeeds(Seeds):
    """Defect: the worker side is a closure over a lock, which does not pickle."""

    def __init__(self, seed: int = 0, min: int = 0, max: int = 2**31 - 1) -> None:
        super().__init__(seed, min, max)
        self.lock = threading.Lock()

    def functionfuse_remote_initialize(self, workflow_name: str, node_name: str) -> Any:
        seed, lock = self.given[(workflow_name, node_name)], self.lock

        def seed_random() -> None:
            with lock:
                random.seed(seed)

        return seed_random


class CopySeeds(Seeds):
    """Defect: ``random.seed`` is a method of random's hidden Random instance; pickled to
    a worker, it seeds a copy of that instance, not the worker's generator."""

    def functionfuse_remote_initialize(self, workflow_name: str, node_name: str) -> Any:
        return functools.partial(random.seed, self.given[(workflow_name, node_name)])


class SelfRegistering(Seeds):
    """Defect: registers itself as a hook plugin, so it runs around every node."""

    def __init__(self, seed: int = 0, min: int = 0, max: int = 2**31 - 1) -> None:
        super().__init__(seed, min, max)
        ff.get_plugin_manager().register(self)

    @ff.hookimpl
    def functionfuse_local_initialize(self, workflow_name: str, node_name: str) -> None:
        super().functionfuse_local_initialize(workflow_name, node_name)

    @ff.hookimpl
    def functionfuse_remote_initialize(self, workflow_name: str, node_name: str) -> Any:
        return super().functionfuse_remote_initialize(workflow_name, node_name)


class CountsNodes:
    """Healthy, driver side only: counts the nodes it is attached to."""

    def __init__(self) -> None:
        self.count = 0

    def local_initialize(self) -> None:
        self.count += 1


class SeedsKit(NodePluginTests):
    options: ClassVar[Mapping[str, Any]] = {"seed": 7}
    invalid_options: ClassVar[Sequence[Mapping[str, Any]]] = [{"min": 5, "max": 1}]
    capabilities = frozenset({NodePluginTests.SEEDS})


class KitSeeds(SeedsKit):
    plugin = Seeds


class KitCountsNodes(NodePluginTests):
    plugin = CountsNodes
    lacks = frozenset({NodePluginTests.WORKER_SIDE})


class KitUncheckedSeeds(SeedsKit):
    plugin = UncheckedSeeds


class KitSeedReturned(SeedsKit):
    plugin = SeedReturned


class KitDriverSeeds(SeedsKit):
    plugin = DriverSeeds


class KitForgetfulSeeds(SeedsKit):
    plugin = ForgetfulSeeds


class KitLockedSeeds(SeedsKit):
    plugin = LockedSeeds


class KitCopySeeds(SeedsKit):
    plugin = CopySeeds


class KitSelfRegistering(SeedsKit):
    plugin = SelfRegistering


#: Each defect: the one check that fails, and what its message says.
CAUGHT_BY = {
    "KitUncheckedSeeds": ("test_invalid_options_are_refused", "accepted {'min': 5, 'max': 1}"),
    "KitSeedReturned": ("test_is_a_node_plugin", "from remote_initialize"),
    "KitDriverSeeds": ("test_worker_side_runs_before_each_attempt", "gave no worker side"),
    "KitForgetfulSeeds": ("test_same_behaviour_when_run_again", "when the same workflow ran"),
    "KitLockedSeeds": ("test_worker_side_pickles", "does not survive pickle"),
    "KitCopySeeds": ("test_worker_side_pickles", "pickled copy of some state"),
    "KitSelfRegistering": ("test_only_the_nodes_it_is_attached_to", "plugin manager"),
}
HEALTHY = ("KitSeeds", "KitCountsNodes")
CHECKS = sorted(name for name in dir(NodePluginTests) if name.startswith("test_"))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, tuple[str, str]]]:
    """class -> check -> (outcome, message), from one pytest run of every ``Kit*`` class
    with the suite's configuration (importlib imports, FunctionFuseWarning as errors)."""
    report = tmp_path_factory.mktemp("kit_plugin_defects") / "report.xml"
    this = Path(__file__).resolve()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *(f"{this}::{name}" for name in [*HEALTHY, *CAUGHT_BY]),
            *("-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT)),
            *("-o", "python_classes=Kit", "-p", "no:cacheprovider", "-q", "--tb=line"),
            f"--junitxml={report}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert report.exists(), done.stdout + done.stderr
    found: dict[str, dict[str, tuple[str, str]]] = {}
    for case in ElementTree.parse(report).iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = "failed" if child.tag != "skipped" else "skipped"
                message = child.get("message", "")
        cls = case.get("classname", "").rsplit(".", 1)[-1]
        found.setdefault(cls, {})[case.get("name", "")] = (outcome, message)
    return found


def _failed(checks: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    return {name: message for name, (outcome, message) in checks.items() if outcome == "failed"}


@pytest.mark.parametrize("defect", sorted(CAUGHT_BY))
def test_each_defect_fails_exactly_its_check(
    outcomes: dict[str, dict[str, tuple[str, str]]], defect: str
) -> None:
    check, says = CAUGHT_BY[defect]
    checks = outcomes[defect]
    assert sorted(checks) == CHECKS
    failed = _failed(checks)
    assert list(failed) == [check], failed
    assert says in failed[check], failed[check]


def test_healthy_plugins_pass(outcomes: dict[str, dict[str, tuple[str, str]]]) -> None:
    for healthy in HEALTHY:
        assert sorted(outcomes[healthy]) == CHECKS
        assert not _failed(outcomes[healthy]), (healthy, _failed(outcomes[healthy]))
    skipped = {name for name, (outcome, _) in outcomes["KitSeeds"].items() if outcome != "passed"}
    assert not skipped, skipped  # every check applies to a seeding plugin


def test_unknown_declarations_are_refused() -> None:
    with pytest.raises(TypeError, match="does not know"):
        type("KitTypo", (NodePluginTests,), {"capabilities": frozenset({"seed"})})
    with pytest.raises(TypeError, match="needs a worker side"):
        type(
            "KitContradiction",
            (NodePluginTests,),
            {"capabilities": {"seeds"}, "lacks": {"worker_side"}},
        )
