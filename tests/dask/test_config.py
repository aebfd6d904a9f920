"""The Dask backend by name: in a config (with its options) and `fuse run --backend dask`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import dask_nodes as n

import functionfuse as ff
from functionfuse_dask import DaskWorkflow


def test_a_config_names_the_backend_and_its_address(dask_cluster: Any, dask_client: Any) -> None:
    config = {"backend": {"name": "dask", "options": {"address": dask_cluster.scheduler_address}}}
    wf = ff.from_config(config, n.where(), workflow_name="configured")
    assert isinstance(wf, DaskWorkflow)
    pid, _ = wf.run()
    assert pid in dask_client.run(os.getpid).values()


def test_a_toml_config_with_cluster_options(tmp_path: Path) -> None:
    path = tmp_path / "fuse.toml"
    path.write_text(
        textwrap.dedent(
            """
            [backend]
            name = "dask"
            options = {cluster_options = {n_workers = 1, processes = false}}
            """
        )
    )
    wf = ff.from_config(str(path), n.logged(str(tmp_path / "ran.log"), "x", 5), workflow_name="t")
    assert isinstance(wf, DaskWorkflow)
    assert wf.cluster_options == {"n_workers": 1, "processes": False}
    assert wf.run() == 5


FLOW = """
from functionfuse import workflow


@workflow
def load(n):
    return list(range(n))


@workflow
def total(numbers):
    return sum(numbers)


result = total(load(4).set_name("data")).set_name("total")
"""


def test_fuse_run_backend_dask(tmp_path: Path) -> None:
    (tmp_path / "flow.py").write_text(FLOW)
    env = {k: v for k, v in os.environ.items() if k != "FUNCTIONFUSE_DISABLE_PLUGIN_AUTOLOAD"}
    args = [sys.executable, "-m", "functionfuse_cli", "run", "flow.py", "--backend", "dask"]
    # Worker threads of the fuse process itself: the same LocalCluster path, started fast.
    args += ["--set", "backend.options.cluster_options={n_workers = 1, processes = false}"]
    args += ["--storage", "results", "-q"]
    for _ in range(2):  # the second run reads the stored results
        done = subprocess.run(
            args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == "total = 6\n"
    assert sorted(
        p.name for p in (tmp_path / "results" / "flow").iterdir() if p.name != ".runs"
    ) == ["data", "total"]
