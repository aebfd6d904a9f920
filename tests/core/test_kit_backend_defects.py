"""The kit's backend checks catch backends with a single defect (issue 14).

Each backend below is the local backend with one mistake a hurried author could make.
The kit runs on all of them in one fresh pytest process; each must fail exactly where
its defect shows, and the healthy backend must pass everything. One defect also goes
through ``python -m functionfuse.testing``, whose output names the broken promise.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DEFECTS = '''
import contextlib

from functionfuse_local import LocalWorkflow
from functionfuse.runtime import NodeItem, node_of


def _patched(start_run, patch):
    """A start_run whose plan is altered by ``patch(plan)``."""

    @contextlib.contextmanager
    def start(self, **options):
        with start_run(self, **options) as plan:
            patch(plan)
            yield plan

    return start


def _tasks(plan, change):
    prepare = plan.prepare

    def prepared(node):
        task = prepare(node)
        if task is not None:
            change(task)
        return task

    plan.prepare = prepared


class Healthy(LocalWorkflow):
    pass


class RunsTwice(LocalWorkflow):
    def run(self, **options):
        super().run(**options)
        return super().run(**options)


class ReportsStoredAsRun(LocalWorkflow):
    def _fake(plan):
        finish = plan.finish
        plan.finish = lambda node, result, duration, from_storage=False: finish(
            node, result, duration, False
        )

    start_run = _patched(LocalWorkflow.start_run, _fake)


class IgnoresRetries(LocalWorkflow):
    start_run = _patched(
        LocalWorkflow.start_run, lambda plan: _tasks(plan, lambda t: setattr(t, "retries", None))
    )


class SkipsPlugins(LocalWorkflow):
    start_run = _patched(
        LocalWorkflow.start_run,
        lambda plan: _tasks(plan, lambda t: setattr(t, "initialize", None)),
    )


class NeverSaves(LocalWorkflow):
    start_run = _patched(
        LocalWorkflow.start_run, lambda plan: _tasks(plan, lambda t: setattr(t, "save", None))
    )


class ResultsReversed(LocalWorkflow):
    def run(self, **options):
        results = super().run(**options)
        return results[::-1] if isinstance(results, list) and len(self.leaves) > 1 else results


class UnnamedErrors(LocalWorkflow):
    def run(self, **options):
        try:
            return super().run(**options)
        except Exception as error:
            raise error.__cause__ from None


class StopsDespiteKeepGoing(LocalWorkflow):
    def run(self, *, keep_going=False, **options):
        return super().run(**options)


class WholeValuesForItems(LocalWorkflow):
    def _whole(plan):
        plan.results = lambda value_of: (
            lambda values: values[0] if len(values) == 1 else values
        )([value_of(node_of(leaf)) for leaf in plan.view.leaves])

    start_run = _patched(LocalWorkflow.start_run, _whole)


class SilentErrors(LocalWorkflow):
    def _silent(plan):
        plan.hooks.node_error = None

    start_run = _patched(LocalWorkflow.start_run, _silent)
'''

QUIET = ["-p", "no:cacheprovider", "--tb=no", "-rf"]

#: Each defect, and checks that must fail because of it (others may fail too).
CAUGHT_BY = {
    "RunsTwice": ["test_runs_the_whole_graph_of_the_nodes_given"],
    "ReportsStoredAsRun": ["test_hooks_report_from_storage_exactly"],
    "IgnoresRetries": ["test_retries_run_a_node_again_and_report_each_retry"],
    "SkipsPlugins": ["test_node_plugins_run_right_before_their_node_where_it_runs"],
    "NeverSaves": ["test_a_second_run_resumes_everything"],
    "ResultsReversed": ["test_returns_a_list_for_several_nodes_in_their_order"],
    "UnnamedErrors": ["test_a_failing_node_is_named_and_finished_work_is_stored"],
    "StopsDespiteKeepGoing": ["test_keep_going_runs_everything_not_downstream_of_a_failure"],
    "WholeValuesForItems": ["test_items_of_a_result_are_selected"],
    "SilentErrors": ["test_a_failing_node_is_named_and_finished_work_is_stored"],
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kit_defects")
    (root / "kit_defects.py").write_text(DEFECTS, encoding="utf-8")
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    classes = "\n".join(
        f"class Test{name}(BackendTests):\n    backend = 'kit_defects:{name}'\n"
        for name in ["Healthy", *CAUGHT_BY]
    )
    (root / "test_defects.py").write_text(
        f"from functionfuse.testing import BackendTests\n\n{classes}", encoding="utf-8"
    )
    return root


def _environment(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH")]))
    return env


def test_each_defect_is_caught_by_its_check(folder: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "test_defects.py", "-c", "pytest.ini", "-q", *QUIET],
        cwd=folder,
        env=_environment(folder),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    failed = {
        line.split(" ", 1)[1].split(" ", 1)[0]
        for line in done.stdout.splitlines()
        if line.startswith("FAILED ")
    }
    by_class: dict[str, set[str]] = {}
    for nodeid in failed:
        _, cls, check = nodeid.split("::")
        by_class.setdefault(cls.removeprefix("Test"), set()).add(check)
    assert "Healthy" not in by_class, (by_class.get("Healthy"), done.stdout[-3000:])
    for defect, checks in CAUGHT_BY.items():
        caught = by_class.get(defect, set())
        assert set(checks) <= caught, (defect, sorted(caught), done.stdout[-2000:])


def test_the_command_names_the_broken_promise(folder: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "functionfuse.testing", "backend", "kit_defects:NeverSaves"],
        cwd=folder,
        env=_environment(folder),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "FAILED test_a_second_run_resumes_everything: expected: With a storage, a second run "
        "of unchanged nodes runs nothing, same results." in done.stdout
    ), done.stdout
    healthy = subprocess.run(
        [sys.executable, "-m", "functionfuse.testing", "backend", "kit_defects:Healthy"],
        cwd=folder,
        env=_environment(folder),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "every check passed" in healthy.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "functionfuse.testing", "backend", "no-such-backend"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert missing.returncode == 2
    assert "no backend named 'no-such-backend'" in missing.stdout


def test_the_command_runs_the_storage_kit_on_a_kind() -> None:
    """``python -m functionfuse.testing storage memory``: a storage living in one
    process is tested as such (its cross-process checks are skipped, not failed)."""
    done = subprocess.run(
        [sys.executable, "-m", "functionfuse.testing", "storage", "memory"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every check passed for storage 'memory'" in done.stdout
