"""The storage kit's random walk: hypothesis drives a storage and a dict side by side."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

import pytest

from functionfuse.testing._storage_support import expect_raises

__all__ = ["run_state_machine"]

_MACHINE_WORKFLOWS = ("wf", "Wf", "w/f")
#: Names drawn most of the time: few, so that operations meet the same names often.
_MACHINE_NAMES = ("a", "A", "b", "a.b", "a/b", "..", "~a", "%41", "a*", "[a]", "é", "e\u0301")
_MACHINE_ALPHABET = "aA./\\\x00é~%*?[] "
_MACHINE_PATTERNS = ("*", "?", "a*", "*a", "*.*", "[aA]*", "[!a]*", "*[*]*", "*/*", "?*")


def run_state_machine(
    open_place: Callable[[], Callable[[], Any]], examples: int, steps: int
) -> None:
    """Random sequences of the storage's operations, each checked against a dict.

    ``open_place()`` makes a fresh place and returns a function opening a storage on it
    (called again to reopen it).
    """
    try:
        from hypothesis import HealthCheck, Phase, settings
        from hypothesis import strategies as st
        from hypothesis.stateful import (
            RuleBasedStateMachine,
            initialize,
            rule,
            run_state_machine_as_test,
        )
    except ImportError:  # pragma: no cover - depends on the environment
        pytest.skip('this check needs hypothesis: pip install "functionfuse[testing]"')

    workflows = st.sampled_from(_MACHINE_WORKFLOWS)
    names = st.one_of(
        st.sampled_from(_MACHINE_NAMES),
        st.sampled_from(_MACHINE_NAMES),
        st.sampled_from(_MACHINE_NAMES),
        st.text(alphabet=_MACHINE_ALPHABET, min_size=1, max_size=4),
    )
    patterns = st.one_of(
        st.sampled_from(_MACHINE_PATTERNS), st.text(alphabet="aA.*?/", min_size=1, max_size=3)
    )
    values = st.one_of(st.integers(), st.binary(max_size=8), st.text(max_size=4))

    class StorageMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.open = open_place()
            self.storage = self.open()
            for workflow in _MACHINE_WORKFLOWS:
                self.storage.new_workflow(workflow)
            self.model: dict[str, dict[str, object]] = {w: {} for w in _MACHINE_WORKFLOWS}

        @initialize(entries=st.lists(st.tuples(workflows, names, values), min_size=2, max_size=8))
        def fill(self, entries: list[tuple[str, str, object]]) -> None:
            # Every run starts with results, whichever rules it leaves out.
            for workflow, name, value in entries:
                self.save(workflow, name, value)

        @rule(workflow=workflows, name=names, value=values)
        def save(self, workflow: str, name: str, value: object) -> None:
            self.storage.save(workflow, name, value)
            self.model[workflow][name] = value

        @rule(workflow=workflows, name=names)
        def read(self, workflow: str, name: str) -> None:
            if name in self.model[workflow]:
                got = self.storage.read_task(workflow, name)
                expected = self.model[workflow][name]
                assert got == expected, f"read {workflow!r}/{name!r}: {got!r}, not {expected!r}"
            else:
                expect_raises(FileNotFoundError, self.storage.read_task, workflow, name)

        @rule(workflow=workflows, name=names)
        def exists(self, workflow: str, name: str) -> None:
            got = self.storage.file_exists(workflow, name)
            assert got == (name in self.model[workflow]), f"file_exists {name!r}: {got}"

        @rule(workflow=workflows, name=names)
        def remove(self, workflow: str, name: str) -> None:
            if name in self.model[workflow]:
                self.storage.remove_task(workflow, name)
                del self.model[workflow][name]
            else:
                expect_raises(FileNotFoundError, self.storage.remove_task, workflow, name)

        @rule(workflow=workflows, pattern=patterns, data=st.data())
        def remove_matching(self, workflow: str, pattern: str, data: st.DataObject) -> None:
            pattern = self._pattern(workflow, pattern, data)
            self.storage.remove_task(workflow, pattern=pattern)
            for name in self._matching(workflow, pattern):
                del self.model[workflow][name]

        @rule(workflow=workflows, pattern=patterns, data=st.data())
        def listing(self, workflow: str, pattern: str, data: st.DataObject) -> None:
            self._list(workflow, self._pattern(workflow, pattern, data))

        @rule(workflow=workflows)
        def remove_workflow(self, workflow: str) -> None:
            self.storage.remove_workflow(workflow)
            self.model[workflow].clear()
            self.storage.new_workflow(workflow)

        @rule()
        def reopen(self) -> None:
            self.storage = self.open()

        def teardown(self) -> None:
            # Everything the model holds, at the end of each run: what single steps
            # drawn at random miss (a read of each name, a few patterns per workflow).
            for workflow, stored in self.model.items():
                for pattern in ("*", "a*", "[!a]*", "?"):
                    self._list(workflow, pattern)
                for name, value in stored.items():
                    got = self.storage.read_task(workflow, name)
                    assert got == value, f"read {workflow!r}/{name!r}: {got!r}, not {value!r}"

        def _list(self, workflow: str, pattern: str) -> None:
            got = self.storage.list_tasks(workflow, pattern)
            expected = self._matching(workflow, pattern)
            assert got == expected, f"list_tasks({workflow!r}, {pattern!r}): {got}, not {expected}"

        def _pattern(self, workflow: str, pattern: str, data: st.DataObject) -> str:
            """``pattern``, or one matching exactly a stored name (half of the time)."""
            stored = sorted(self.model[workflow])
            if not stored or not data.draw(st.booleans()):
                return pattern
            name = data.draw(st.sampled_from(stored))
            return "".join(f"[{c}]" if c in "*?[" else c for c in name)

        def _matching(self, workflow: str, pattern: str) -> list[str]:
            return sorted(n for n in self.model[workflow] if fnmatch.fnmatchcase(n, pattern))

    run_state_machine_as_test(
        StorageMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            # No shrinking: each attempt replays steps on a fresh storage, minutes on a
            # slow one; a failing run of at most ``steps`` steps reads well as it is.
            phases=(Phase.explicit, Phase.reuse, Phase.generate),
            suppress_health_check=list(HealthCheck),
        ),
    )
