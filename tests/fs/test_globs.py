"""Hostile glob patterns in ``list_tasks`` and ``remove_task(pattern=...)``: matched
against the stored names only (never a filesystem glob), as ``fnmatchcase`` would, in
time linear in the pattern."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functionfuse_fs import FileStorage
from functionfuse_fs._names import glob_matcher

NAMES = ["a", "b/c", "../x", "[", "]", "*", "!", "a" * 300, "ü", "fit_1"]
HOSTILE = [
    "[",
    "]",
    "[]",
    "[!]",
    "[!",
    "[z-a]",
    "[a-",
    "\\",
    "\x00",
    "**/../*",
    "*/*",
    "../*",
    "../other/*",
    "/*",
    "..",
    "../..",
    "~*",
]
#: Long patterns and the names they match (fnmatch alone takes minutes on some).
LONG = {
    "*" * 10_000: NAMES,
    "*a" * 5_000: [],
    "[" * 30_000: [],
    "[!" * 15_000: [],
    "[a" * 15_000 + "]": ["[", "a"],  # one set: any one of "[" and "a"
    "?" * 30_000: [],
}


@pytest.mark.parametrize(
    "pattern", ["[][", "[!][", "[]]", "[!]]", "[]a][", "x[]" + "[" * 5, "[a][", "[!", "[!]"]
)
def test_glob_matcher_with_brackets_that_do_not_close(pattern: str) -> None:
    """A ``]`` first in a set (``[]`` or ``[!]``) is a member: it closes nothing."""
    names = ["[][", "[!][", "]", "[]]", "a", "[", "x[][[[[[", "[a][", "[!", "[!]", "]][", "a]["]
    assert [glob_matcher(pattern)(n) for n in names] == [fnmatchcase(n, pattern) for n in names]


@given(
    pattern=st.text(alphabet="ab[]!-*?\\^/.", max_size=14),
    name=st.text(alphabet="ab[]!-*?\\^/.", max_size=8),
)
@settings(max_examples=5000, deadline=None)
def test_glob_matcher_is_fnmatchcase(pattern: str, name: str) -> None:
    assert glob_matcher(pattern)(name) == fnmatchcase(name, pattern)


@pytest.mark.parametrize("pattern", HOSTILE + list(LONG), ids=lambda p: repr(p[:12]) + f"x{len(p)}")
def test_hostile_patterns_list_only_the_workflows_own_names(
    storage: FileStorage, place: Any, pattern: str
) -> None:
    for name in NAMES:
        storage.save("wf", name, name)
    storage.save("other", "secret", 1)
    storage.save("wf/../other", "secret2", 1)
    listed = storage.list_tasks("wf", pattern)
    expected = LONG[pattern] if pattern in LONG else [n for n in NAMES if fnmatchcase(n, pattern)]
    assert listed == sorted(expected)
    storage.remove_task("wf", pattern=pattern)
    assert storage.list_tasks("wf") == sorted(set(NAMES) - set(listed))
    assert storage.list_tasks("other") == ["secret"]  # untouched
    assert storage.list_tasks("wf/../other") == ["secret2"]


def test_a_long_unclosed_pattern_is_matched_in_linear_time() -> None:
    """``[`` * 50,000 took a minute in fnmatch alone; with the rewrite it is instant."""
    match = glob_matcher("[" * 50_000)
    assert match("[" * 50_000)
    assert not match("[" * 49_999)
