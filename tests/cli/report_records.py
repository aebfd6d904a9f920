"""Run records for the report tests and ``bench/bench_report.py``, as dicts that follow the
run-record contract (format ``functionfuse-run/1``, see functionfuse.run_records).

``sample_record()`` is a small run with every status, a class node and its method chain,
a fan-out large enough to be summarized, two workers and a failure with its traceback;
``large_record(n)`` is an n-node run that nothing summarizes (worst case for drawing).
"""

from __future__ import annotations

from typing import Any

T0 = 1_796_311_812.0  # 2026-12-03 15:30:12 UTC, as the run id says: reproducible pages

TRACEBACK = """Traceback (most recent call last):
  File "/home/ada/project/pipeline.py", line 41, in evaluate
    raise ValueError(f"no test rows left after filtering {len(rows)} rows")
ValueError: no test rows left after filtering 0 rows
"""


def node(name: str, **fields: Any) -> dict[str, Any]:
    """One node of a record: ``fields`` over the contract's defaults (a function that ran)."""
    data: dict[str, Any] = {
        "name": name,
        "kind": "function",
        "function": f"pipeline.{name}",
        "parents": [],
        "instance": None,
        "status": "ran",
        "reasons": [],
        "causes": [],
        "blocked_by": None,
        "error": None,
        "traceback": None,
        "start": None,
        "end": None,
        "worker": None,
        "retries": 0,
        "size": None,
        "fingerprint": None,
        "result_repr": None,
    }
    data.update(fields)
    return data


def record(nodes: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A whole record of ``nodes``; ``fields`` over the run-level defaults."""
    ends = [n["end"] for n in nodes if n.get("end") is not None]
    data: dict[str, Any] = {
        "format": "functionfuse-run/1",
        "run_id": "20261203T153012Z-3f2a1b",
        "workflow": "experiment",
        "backend": "processes",
        "host": "lab-node-7",
        "pid": 4100,
        "functionfuse_version": "0.1.0",
        "started": T0,
        "ended": max(ends, default=T0) + 0.05,
        "state": "finished",
        "resume": "fingerprint",
        "error": None,
        "nodes": nodes,
    }
    data.update(fields)
    return data


def _ran(start: float, seconds: float, worker: str) -> dict[str, Any]:
    return {"start": T0 + start, "end": T0 + start + seconds, "worker": worker}


def sample_record() -> dict[str, Any]:
    """A failed run of a small experiment (see the module docstring)."""
    w1, w2, w3 = "pid 4242 on lab-node-7", "pid 4243 on lab-node-7", "pid 4244 on lab-node-7"
    stamp = {
        "fingerprint": "4be0a2f19d3c7e55",
        "code": "9f2c41d0",
        "arguments": "51aa0e7b",
        "code pipeline.clean": "c03e9d12",
        "package numpy": "2.1.3",
    }
    nodes = [
        node("load", status="stored", fingerprint=stamp, result_repr="<2000 rows>"),
        node("params", status="stored", result_repr="{'lr': 0.1, 'epochs': 5}"),
        node(
            "clean",
            parents=["load"],
            status="reran",
            reasons=["code changed (pipeline.clean)"],
            causes=["code"],
            size=1_900_000,
            fingerprint=stamp,
            result_repr="<1800 rows>",
            **_ran(0.1, 1.2, w1),
        ),
        node(
            "model",
            kind="class",
            function="pipeline.Model",
            parents=["params"],
            **_ran(0.1, 0.3, w2),
        ),
        node(
            "fit",
            kind="method",
            function="pipeline.Model.fit",
            parents=["model", "clean"],  # as the core records a chain: the previous call
            instance="model",
            retries=1,
            size=9_500,
            **_ran(1.4, 2.5, w2),
        ),
        node(
            "predict",
            kind="method",
            function="pipeline.Model.predict",
            parents=["fit", "clean"],
            instance="model",
            status="not_saved",
            **_ran(4.0, 0.4, w2),
        ),
    ]
    for k in range(24):  # a fan-out: summarized as one "score" group
        nodes.append(
            node(
                f"score_{k}",
                function="pipeline.score",
                parents=["predict"],
                size=80,
                result_repr=f"{0.8 + k / 1000:.3f}",
                **_ran(4.5 + (k // 2) * 0.1, 0.1, w1 if k % 2 else w2),
            )
        )
    nodes += [
        node(
            "summary",
            parents=[f"score_{k}" for k in range(24)],
            size=300,
            result_repr="{'mean': 0.811}",
            **_ran(5.8, 0.2, w1),
        ),
        node(
            "evaluate",
            parents=["clean", "predict"],
            status="failed",
            error="ValueError: no test rows left after filtering 0 rows",
            traceback=TRACEBACK,
            reasons=["not stored yet"],
            causes=["missing"],
            **_ran(4.5, 0.6, w3),
        ),
        node("plot", parents=["evaluate", "summary"], status="blocked", blocked_by="evaluate"),
        node("publish", parents=["plot"], status="blocked", blocked_by="evaluate"),
    ]
    return record(
        nodes,
        state="failed",
        error="node 'evaluate' of workflow 'experiment' failed: ValueError: no test rows "
        "left after filtering 0 rows",
    )


def large_record(count: int, workers: int = 8) -> dict[str, Any]:
    """``count`` nodes in rows of four (prepare → fit → score → check, each row its own
    parents, so nothing is summarized), every 97th check failed, 8 workers."""
    nodes = [node("data", status="stored")]
    rows = max((count - 1) // 4, 1)
    clock = [0.0] * workers
    for row in range(rows):
        previous = "data"
        for step in ("prepare", "fit", "score", "check"):
            if len(nodes) >= count:
                break
            name = f"{step}_{row}"
            lane = (row + len(nodes)) % workers
            seconds = 0.01 + ((row * 7919 + len(nodes)) % 13) / 100
            fields = _ran(clock[lane], seconds, f"pid {5000 + lane} on lab-node-{lane % 2}")
            clock[lane] += seconds
            failed = step == "check" and row % 97 == 0
            if failed:
                fields.update(status="failed", error=f"AssertionError: row {row}")
            nodes.append(node(name, function=f"pipeline.{step}", parents=[previous], **fields))
            previous = name
    while len(nodes) < count:
        nodes.append(node(f"extra_{len(nodes)}", parents=["data"], status="stored"))
    return record(nodes, run_id="20261203T160000Z-abcdef", state="failed")
