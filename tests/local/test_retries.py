"""query(pattern).set_retries(attempts, exceptions, delay) on the local backend."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

import functionfuse as ff
from functionfuse import ConfigurationError, NodeExecutionError, workflow
from functionfuse.runtime import Retries
from functionfuse_local import LocalWorkflow

attempts: Counter[str] = Counter()
#: node tag -> how many of its first attempts raise, and what.
flaky: dict[str, tuple[int, type[Exception]]] = {}


@workflow
def fetch(tag: str) -> str:
    attempts[tag] += 1
    failures, kind = flaky.get(tag, (0, OSError))
    if attempts[tag] <= failures:
        raise kind(f"{tag}: attempt {attempts[tag]} failed")
    return tag


@workflow
class Client:
    def __init__(self) -> None:
        self.calls = 0

    def get(self, tag: str) -> str:
        self.calls += 1
        return fetch.__wrapped__(tag)  # the plain function: counted and flaky alike


class Retried:
    def __init__(self) -> None:
        self.events: list[tuple[str, int, str, float]] = []

    @ff.hookimpl
    def functionfuse_node_retry(
        self, node_name: str, attempt: int, error: BaseException, delay: float
    ) -> None:
        self.events.append((node_name, attempt, type(error).__name__, delay))


@pytest.fixture
def retried() -> Any:
    recorder = Retried()
    ff.get_plugin_manager().register(recorder)
    yield recorder
    ff.get_plugin_manager().unregister(recorder)


@pytest.fixture(autouse=True)
def fresh() -> None:
    attempts.clear()
    flaky.clear()


def test_a_flaky_node_succeeds_on_a_later_attempt(retried: Retried, tmp_path: Any) -> None:
    flaky["a"] = (2, OSError)
    wf = LocalWorkflow(fetch("a").set_name("a"), fetch("b").set_name("b"), workflow_name="r")
    wf.set_storage(str(tmp_path))
    wf.query("a").set_retries(3, delay=0.01)
    assert wf.run() == ["a", "b"]
    assert attempts == Counter(a=3, b=1)
    assert retried.events == [("a", 1, "OSError", 0.01), ("a", 2, "OSError", 0.01)]
    assert wf.storage is not None
    assert wf.storage.read_task("r", "a") == "a"  # saved once it succeeded


def test_retries_run_out_and_the_last_error_is_the_nodes(retried: Retried) -> None:
    flaky["a"] = (5, OSError)
    wf = LocalWorkflow(fetch("a").set_name("a"), workflow_name="r")
    wf.query("a").set_retries(3)
    with pytest.raises(NodeExecutionError, match=r"'a'.*attempt 3 failed") as caught:
        wf.run()
    assert isinstance(caught.value.__cause__, OSError)
    assert attempts["a"] == 3
    assert [event[1] for event in retried.events] == [1, 2]


def test_only_the_listed_exceptions_are_retried(retried: Retried) -> None:
    flaky["a"] = (1, ValueError)
    wf = LocalWorkflow(fetch("a").set_name("a"), workflow_name="r")
    wf.query("a").set_retries(3, exceptions=["OSError", TimeoutError])
    with pytest.raises(NodeExecutionError):
        wf.run()
    assert attempts["a"] == 1
    assert retried.events == []


def test_the_delay_is_waited(retried: Retried) -> None:
    flaky["a"] = (1, OSError)
    wf = LocalWorkflow(fetch("a").set_name("a"), workflow_name="r")
    wf.query("a").set_retries(2, delay=0.2)
    start = time.monotonic()
    assert wf.run() == "a"
    assert time.monotonic() - start >= 0.2  # a lower bound, not a timing assertion
    assert retried.events == [("a", 1, "OSError", 0.2)]


def test_a_method_call_is_retried_on_the_same_instance() -> None:
    flaky["m"] = (1, OSError)
    client = Client().set_name("client")
    call = client.get("m").set_name("get")
    wf = LocalWorkflow(call, workflow_name="r")
    wf.query("get").set_retries(2)
    assert wf.run() == "m"
    assert attempts["m"] == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"attempts": 0}, "attempts must be >= 1"),
        ({"attempts": "3"}, "attempts must be an int"),
        ({"attempts": 2, "delay": -1}, "delay must be >= 0"),
        ({"attempts": 2, "exceptions": ["NoSuchError"]}, "no exception class 'NoSuchError'"),
        ({"attempts": 2, "exceptions": ["functionfuse.workflow"]}, "is not an exception class"),
        ({"attempts": 2, "exceptions": []}, "at least one exception"),
    ],
)
def test_bad_retry_settings_are_refused(options: dict[str, Any], message: str) -> None:
    wf = LocalWorkflow(fetch("a").set_name("a"), workflow_name="r")
    with pytest.raises(ConfigurationError, match=message):
        wf.query("a").set_retries(**options)


def test_exception_names_resolve_to_classes() -> None:
    retries = Retries.of(2, ["OSError", "json.JSONDecodeError", KeyError])
    import json

    assert retries.exceptions == (OSError, json.JSONDecodeError, KeyError)
