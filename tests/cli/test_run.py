"""`fuse run`: targets, config files, --set, storage and resume, exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import FAILING, Fuse, write

Ran = Callable[[], list[str]]


def test_module_leaves_run_and_print_their_results(fuse: Fuse, flow: Path, ran: Ran) -> None:
    done = fuse("run", "flow.py")
    assert done.returncode == 0, done.stderr
    # `data` feeds `total`, so `total` is the only leaf; `build` is never called.
    assert done.stdout == "total = 6\n"
    assert ran() == ["load", "total"]
    assert "the __main__ block ran" not in done.stderr
    assert "total" in done.stderr  # the progress lines and the summary


def test_run_with_file_storage_then_resume(
    fuse: Fuse, flow: Path, ran: Ran, tmp_path: Path
) -> None:
    first = fuse("run", str(flow), "--storage", "results", "-q")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "total = 6\n"
    assert first.stderr == ""  # --quiet: no progress, no summary
    assert ran() == ["load", "total"]
    # The default workflow name is the module's: results/flow/<node>.
    assert sorted(
        p.name for p in (tmp_path / "results" / "flow").iterdir() if p.name != ".runs"
    ) == ["data", "total"]

    second = fuse("run", str(flow), "--storage", "results")
    assert second.returncode == 0, second.stderr
    assert second.stdout == "total = 6\n"
    assert ran() == []  # everything read from storage
    assert "from storage" in second.stderr


def test_quiet_registers_no_progress_reporter(fuse: Fuse, tmp_path: Path) -> None:
    write(
        tmp_path / "hooks.py",
        """
        import functionfuse
        from functionfuse import workflow

        @workflow
        def reporters():
            plugins = functionfuse.get_plugin_manager().get_plugins()
            return sum(type(p).__name__ == "ProgressReporter" for p in plugins)

        count = reporters().set_name("count")
        """,
    )
    assert fuse("run", "hooks.py").stdout == "count = 1\n"
    quiet = fuse("run", "hooks.py", "-q")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == "count = 0\n"  # nothing listens: Ray need not watch each task


def test_name_picks_the_storage_folder(fuse: Fuse, flow: Path, ran: Ran, tmp_path: Path) -> None:
    assert fuse("run", "flow.py", "--storage", "results", "--name", "exp1").returncode == 0
    assert fuse("run", "flow.py", "--storage", "results", "--name", "exp2").returncode == 0
    assert ran() == ["load", "total"] * 2  # another name, another workflow: runs again
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["exp1", "exp2"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("flow.py:result", "total = 6\n"),
        ("flow.py:data", "data = [0, 1, 2, 3]\n"),  # the graph runs, `data` is returned
        ("flow:result", "total = 6\n"),  # a module name, found in the current folder
    ],
)
def test_named_targets(fuse: Fuse, flow: Path, target: str, expected: str) -> None:
    done = fuse("run", target, "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected


def test_function_target_returning_a_list(fuse: Fuse, flow: Path) -> None:
    done = fuse("run", "flow.py:build", "-q")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "total = 6"
    assert lines[1].startswith("draw = ")


def test_file_in_another_folder_imports_its_neighbours(fuse: Fuse, tmp_path: Path) -> None:
    write(tmp_path / "project" / "helpers.py", "FACTOR = 7\n")
    write(
        tmp_path / "project" / "pipeline.py",
        """
        from functionfuse import workflow
        from helpers import FACTOR

        @workflow
        def scaled(x):
            return x * FACTOR

        out = scaled(6).set_name("out")
        """,
    )
    done = fuse("run", "project/pipeline.py", "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "out = 42\n"


def test_nodes_in_module_level_lists_tuples_and_dicts_are_leaves(
    fuse: Fuse, tmp_path: Path
) -> None:
    write(
        tmp_path / "fan.py",
        """
        from functionfuse import workflow

        @workflow
        def g(i):
            return i * 2

        @workflow
        def add(a, b):
            return a + b

        outs = [g(i).set_name(f"g{i}") for i in range(2)]
        pair = (g(5).set_name("g5"), 3)
        named = {"sum": add(outs[0], outs[1]).set_name("sum"), "n": None}
        deep = {"a": [(g(7).set_name("g7"),)]}
        """,
    )
    done = fuse("run", "fan.py", "-q")
    assert done.returncode == 0, done.stderr
    # g0 and g1 feed `sum`, so they are not leaves.
    assert done.stdout == "g5 = 10\nsum = 2\ng7 = 14\n"


def test_nodes_imported_from_another_module_are_not_leaves(
    fuse: Fuse, tmp_path: Path, ran: Ran
) -> None:
    write(
        tmp_path / "common.py",
        """
        from functionfuse import workflow
        from flow import log

        @workflow
        def side():
            log("side")
            return "side"

        @workflow
        def one():
            log("one")
            return 1

        side_node = side().set_name("side")
        one_node = one().set_name("one")
        side_nodes = [side().set_name("side2")]

        def make():
            return one().set_name("made")
        """,
    )
    write(
        tmp_path / "flow.py",
        """
        import os

        def log(name):
            with open(os.environ["FLOW_LOG"], "a") as file:
                file.write(name + "\\n")
        """,
    )
    write(
        tmp_path / "imp.py",
        """
        from functionfuse import workflow
        from common import make, one_node, side_node, side_nodes
        import common

        @workflow
        def inc(x):
            return x + 1

        out = inc(one_node).set_name("out")
        made = make()
        """,
    )
    done = fuse("run", "imp.py", "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "out = 2\nmade = 1\n"
    assert sorted(ran()) == ["one", "one"]  # `one` for out, and `made`; no side node


def test_config_file_backend_storage_rules(
    fuse: Fuse, flow: Path, ran: Ran, tmp_path: Path
) -> None:
    write(
        tmp_path / "fuse.toml",
        """
        workflow_name = "from-config"

        [backend]
        name = "local"

        [storage]
        kind = "file"
        options = {path = "stored"}

        [[rules]]
        pattern = "tot.*"
        storage = false
        """,
    )
    for _ in range(2):
        done = fuse("run", "flow.py", "--config", "fuse.toml", "-q")
        assert done.returncode == 0, done.stderr
        assert done.stdout == "total = 6\n"
    # `total` is never stored, so it runs every time; `data` only the first time.
    assert ran() == ["load", "total", "total"]
    assert [
        p.name for p in (tmp_path / "stored" / "from-config").iterdir() if p.name != ".runs"
    ] == ["data"]


def test_json_config_and_node_plugin_rule(fuse: Fuse, flow: Path, tmp_path: Path) -> None:
    config = {
        "rules": [{"pattern": "draw", "plugin": {"name": "random_state", "options": {"seed": 5}}}]
    }
    (tmp_path / "fuse.json").write_text(json.dumps(config))
    outputs = set()
    for _ in range(2):
        done = fuse("run", "flow.py:build", "--config", "fuse.json", "-q")
        assert done.returncode == 0, done.stderr
        outputs.add(done.stdout)
    assert len(outputs) == 1  # seeded: the same draw every time
    other = fuse(
        "run", "flow.py:build", "--config", "fuse.json", "-q",
        "--set", "rules[0].plugin.options.seed=6",
    )  # fmt: skip
    assert other.returncode == 0, other.stderr
    assert other.stdout not in outputs


def test_set_overrides_config_keys(fuse: Fuse, flow: Path, ran: Ran, tmp_path: Path) -> None:
    write(tmp_path / "fuse.toml", 'workflow_name = "a"\nstorage = "results"\n')
    done = fuse(
        "run", "flow.py", "--config", "fuse.toml", "-q",
        "--set", "workflow_name=b",
        "--set", 'rules[0] = {pattern = "data", storage = false}',
        "--set", "backend.name=local",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["b"]
    assert [p.name for p in (tmp_path / "results" / "b").iterdir() if p.name != ".runs"] == [
        "total"
    ]
    # null removes a key: no storage at all.
    done = fuse("run", "flow.py", "--config", "fuse.toml", "-q", "--set", "storage=null")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "results" / "a").exists()


def test_backend_local_replaces_the_configs_backend(fuse: Fuse, flow: Path, tmp_path: Path) -> None:
    write(
        tmp_path / "ray.toml",
        """
        [backend]
        name = "ray"
        options = {ray_init_args = {num_cpus = 1}}
        """,
    )
    done = fuse("run", "flow.py", "--config", "ray.toml", "--backend", "local")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "total = 6\n"
    assert "on local" in done.stderr
    assert "ray_init_args" not in done.stderr


def test_rule_matching_nothing_warns(fuse: Fuse, flow: Path) -> None:
    done = fuse(
        "run", "flow.py", "-q", "--set", 'rules[0] = {pattern = "nothing", storage = false}'
    )
    assert done.returncode == 0, done.stderr
    assert "fuse: warning: the command-line config, key rules[0].pattern: 'nothing'" in done.stderr


# -- exit code 1: a node failed ----------------------------------------------------------


def test_failing_node_exits_1_with_its_message_and_no_traceback(fuse: Fuse, tmp_path: Path) -> None:
    write(tmp_path / "failing.py", FAILING)
    done = fuse("run", "failing.py", "--storage", "results")
    assert done.returncode == 1
    assert (
        "fuse run: error: node 'broken' of workflow 'failing' failed with ValueError: boom 1"
        in (done.stderr)
    )
    assert "Traceback" not in done.stderr
    assert "broken" in done.stderr.split("fuse run: error:")[0]  # the summary came first
    # What finished before the failure is stored.
    assert [p.name for p in (tmp_path / "results" / "failing").iterdir() if p.name != ".runs"] == [
        "first"
    ]

    with_traceback = fuse("run", "failing.py", "-q", "--traceback")
    assert with_traceback.returncode == 1
    assert "Traceback" in with_traceback.stderr
    assert 'raise ValueError(f"boom {x}")' in with_traceback.stderr


QUITS = """
import sys

from functionfuse import workflow


@workflow
def first():
    return 1


@workflow
def quits(x):
    sys.exit(0)


@workflow
def after(x):
    return x


end = after(quits(first().set_name("first")).set_name("quits")).set_name("after")
"""


def test_a_node_calling_sys_exit_fails_the_run(fuse: Fuse, tmp_path: Path) -> None:
    write(tmp_path / "quits.py", QUITS)
    done = fuse("run", "quits.py")
    assert done.returncode == 1, done.stderr
    assert "fuse run: error: node 'quits' exited (SystemExit: 0)" in done.stderr
    assert done.stdout == ""  # no result printed
    assert "Traceback" not in done.stderr
    quiet = fuse("run", "quits.py", "-q")
    assert quiet.returncode == 1, quiet.stderr
    assert "fuse run: error: a node exited (SystemExit: 0)" in quiet.stderr  # no reporter


def test_a_keyboard_interrupt_in_a_node_exits_130(fuse: Fuse, tmp_path: Path) -> None:
    write(tmp_path / "stops.py", QUITS.replace("sys.exit(0)", "raise KeyboardInterrupt"))
    done = fuse("run", "stops.py", "-q")
    assert done.returncode == 130, done.stderr
    assert done.stderr == "fuse run: error: interrupted.\n"


# -- exit code 2: usage and configuration errors -----------------------------------------


@pytest.mark.parametrize(
    ("config", "key", "says"),
    [
        ('[[rules]]\npattern = "x"\nplugin = {name = "nope"}\n', "rules[0].plugin.name",
         "(installed: 'collection', 'initializer', 'random_state'"),
        ('[[rules]]\npattern = "x"\nstorage = true\n[[rules]]\npattern = "y"\nstorage = "no"\n',
         "rules[1].storage", "must be true or false, not the string 'no'"),
        ('[[rules]]\npattern = "x"\nplugin = {name = "random_state", options = {sede = 1}}\n',
         "rules[0].plugin.options", "unexpected keyword argument 'sede'"),
        ("[backend]\nname = 'nope'\n", "backend.name", "(installed: 'dask', 'local'"),
        ("[backend]\nname = 'local'\noptions = {x = 1}\n", "backend.options.x",
         "takes no option 'x'"),
        ("[storage]\nkind = 'nope'\n", "storage.kind", "installed: 'file'"),
        ("[storage]\nkind = 'file'\nurl = 'x'\n", "storage", "exactly one of 'kind'"),
        ("storage = 3\n", "storage", "not a number"),
        ("[rules]\npattern = 'x'\n", "rules", "write [[rules]], not [rules]"),
        ("[[rules]]\npattern = '('\nstorage = false\n", "rules[0].pattern",
         "not a valid regular expression"),
        ("workflow = 'x'\n", "workflow", "did you mean 'workflow_name'?"),
    ],
)  # fmt: skip
def test_config_errors_name_the_file_and_key(
    fuse: Fuse, flow: Path, tmp_path: Path, config: str, key: str, says: str
) -> None:
    (tmp_path / "bad.toml").write_text(config)
    done = fuse("run", "flow.py", "--config", "bad.toml")
    assert done.returncode == 2, done.stderr
    assert f"fuse run: error: config file 'bad.toml', key {key}: " in done.stderr
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_invalid_toml_names_the_file_and_line(fuse: Fuse, flow: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('workflow_name = "x"\n[backend\n')
    done = fuse("run", "flow.py", "--config", "bad.toml")
    assert done.returncode == 2
    assert "config file 'bad.toml' is not valid TOML" in done.stderr
    assert "line 2" in done.stderr


def test_set_errors_exit_2(fuse: Fuse, flow: Path) -> None:
    done = fuse("run", "flow.py", "--set", "rules[3].storage=false")
    assert done.returncode == 2
    assert "rules has 0 item(s), so [3] is out of range" in done.stderr
    done = fuse("run", "flow.py", "--set", "novalue")
    assert done.returncode == 2
    assert "--set takes key=value" in done.stderr
    done = fuse("run", "flow.py", "--set", "backend.nme=local")
    assert done.returncode == 2
    assert "key backend.nme: unknown key (did you mean 'name'?)" in done.stderr
    assert "the command-line config" in done.stderr


@pytest.mark.parametrize(
    "arguments", [("--storage", ""), ("--set", "storage="), ("--config", "empty.toml")]
)
def test_an_empty_storage_exits_2(
    fuse: Fuse, flow: Path, tmp_path: Path, arguments: tuple[str, str]
) -> None:
    (tmp_path / "empty.toml").write_text('storage = ""\n')
    done = fuse("run", "flow.py", *arguments)
    assert done.returncode == 2, done.stderr
    assert "key storage: must be a URL or path" in done.stderr
    assert not (tmp_path / "flow").exists()  # nothing stored in the current folder


def test_unknown_backend_flag_exits_2_with_a_hint(fuse: Fuse, flow: Path) -> None:
    done = fuse("run", "flow.py", "--backend", "nosuch")
    assert done.returncode == 2
    assert "key backend.name: no backend named 'nosuch' is installed" in done.stderr


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("missing.py", "no file 'missing.py'"),
        ("no_such_module", "no module named 'no_such_module'"),
        ("flow.py:nothing", "has no attribute 'nothing' (its module-level nodes: data, result)"),
        ("flow.py:total", "is a @workflow function"),
        ("flow.py:os", "not a workflow node"),
        ("not a target!", "neither a Python file nor a module name"),
    ],
)  # fmt: skip
def test_bad_targets_exit_2(fuse: Fuse, flow: Path, target: str, says: str) -> None:
    done = fuse("run", target)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_target_that_raises_shows_the_users_traceback(fuse: Fuse, tmp_path: Path) -> None:
    write(tmp_path / "oops.py", "import functionfuse\n\n1 / 0\n")
    done = fuse("run", "oops.py")
    assert done.returncode == 2
    assert "running oops.py failed: ZeroDivisionError: division by zero" in done.stderr
    assert 'oops.py", line 3' in done.stderr
    assert "importlib" not in done.stderr
    assert "_target.py" not in done.stderr


def test_module_without_nodes_exits_2(fuse: Fuse, tmp_path: Path) -> None:
    write(tmp_path / "empty.py", "X = 1\n")
    done = fuse("run", "empty.py")
    assert done.returncode == 2
    assert "defines no workflow node at module level" in done.stderr


def test_usage_errors_exit_2(fuse: Fuse) -> None:
    assert fuse().returncode == 2
    done = fuse("run")
    assert done.returncode == 2
    assert "TARGET" in done.stderr
    assert fuse("run", "x.py", "--nope").returncode == 2
    assert fuse("graph", "x.py", "--format", "gif").returncode == 2
    helped = fuse("--help")
    assert helped.returncode == 0
    assert "Exit codes" in helped.stdout


def test_the_fuse_script_is_installed(tmp_path: Path, flow: Path) -> None:
    script = Path(sys.executable).with_name("fuse")
    if not script.exists():
        script = Path(sys.executable).with_name("fuse.exe")
    assert script.exists(), "the fuse console script is not installed next to python"
    import subprocess

    done = subprocess.run(
        [str(script), "run", "flow.py", "-q"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "total = 6\n"


@pytest.mark.slow
def test_run_on_ray(fuse: Fuse, flow: Path, ran: Ran, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    write(
        tmp_path / "ray.toml",
        """
        [backend]
        name = "ray"
        options = {ray_init_args = {num_cpus = 1, include_dashboard = false}}
        """,
    )
    done = fuse(
        "run", "flow.py", "--config", "ray.toml", "--storage", "results", "-q",
        env={"RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"},
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "total = 6"
    assert sorted(
        p.name for p in (tmp_path / "results" / "flow").iterdir() if p.name != ".runs"
    ) == ["data", "total"]
