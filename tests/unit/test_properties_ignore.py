""".dockerignore matching properties (hypothesis), beside test_ignore.py's.

test_ignore.py already has: clean_path idempotent, only ContextError out of
parse.  Here: ``!`` alone excludes nothing, answers do not depend on how a
path is spelled, a trailing ``**``/``!**`` decides everything, exclusion is
inherited without ``!`` patterns, and agreement with fuzz/reference.py (an
independent segment-based matcher) on the pattern language both understand.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from helpers.prereq import REPO
from hypothesis import given, settings
from hypothesis import strategies as st

from ocibuild.dockerfile.ignore import IgnoreRules

if TYPE_CHECKING:
    from types import ModuleType


def _reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_reference", REPO / "fuzz" / "reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference = _reference()

SEGMENT = st.sampled_from(["a", "b", "ab", "a.b", "x-y", "*", "?", "a*", "*b", "?b", "**"])
PATTERN = st.lists(SEGMENT, min_size=1, max_size=4).map("/".join)
LINE = st.tuples(st.booleans(), PATTERN).map(lambda t: ("!" if t[0] else "") + t[1])
NAME = st.sampled_from(["a", "b", "ab", "a.b", "x-y", "bb", "c"])
PATH = st.lists(NAME, min_size=1, max_size=5).map("/".join)
FAST = settings(max_examples=100, deadline=None)


@FAST
@given(st.lists(PATTERN, max_size=5), PATH)
def test_exclusion_patterns_alone_exclude_nothing(patterns: list[str], path: str) -> None:
    rules = IgnoreRules.parse("\n".join("!" + p for p in patterns))
    assert not rules.excluded(path)


@FAST
@given(st.lists(LINE, max_size=5), PATH)
def test_answer_does_not_depend_on_spelling(lines: list[str], path: str) -> None:
    rules = IgnoreRules.parse("\n".join(lines))
    want = rules.excluded(path)
    first = path.split("/")[0]
    for spelling in (
        "./" + path,
        "/" + path,
        path + "/",
        f"{first}/../{path}",
        f"{first}/./../{path}",
    ):
        assert rules.excluded(spelling) == want, spelling
    assert rules.excluded("c//" + path) == rules.excluded("c/" + path)


@FAST
@given(st.lists(LINE, max_size=5), PATH)
def test_a_last_double_star_decides(lines: list[str], path: str) -> None:
    assert IgnoreRules.parse("\n".join([*lines, "**"])).excluded(path)
    assert not IgnoreRules.parse("\n".join([*lines, "!**"])).excluded(path)


@FAST
@given(st.lists(PATTERN, min_size=1, max_size=5), PATH, NAME)
def test_without_exclusions_children_of_excluded_dirs_are_excluded(
    patterns: list[str], path: str, child: str
) -> None:
    rules = IgnoreRules.parse("\n".join(patterns))
    if rules.excluded(path):
        assert rules.excluded(path + "/" + child)


@settings(max_examples=300, deadline=None)
@given(st.lists(LINE, max_size=6), PATH)
def test_agrees_with_the_reference_matcher(lines: list[str], path: str) -> None:
    normalized = [n for n in map(reference.normalize, lines) if n is not None]
    assert all(reference.in_language(p) for p in normalized)
    got = IgnoreRules.parse("\n".join(lines)).excluded(path)
    assert got == reference.excluded(normalized, path), (lines, path)
