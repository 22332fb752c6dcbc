"""Schedule: which needed stages may start, given what is built and running."""

from __future__ import annotations

import pytest

from ocibuild.dockerfile import parse
from ocibuild.executor.schedule import Schedule
from ocibuild.plan import plan


def test_independent_stages_are_ready_together_and_join_waits_for_both() -> None:
    s = Schedule.from_deps((0, 1, 2), {2: (0, 1)})
    assert s.ready(set(), set()) == (0, 1)
    assert s.ready(set(), {0, 1}) == ()
    assert s.ready({0}, {1}) == ()
    assert s.ready({0, 1}, set()) == (2,)
    assert s.ready({0, 1, 2}, set()) == ()
    assert s.concurrent()


def test_a_stage_starts_as_soon_as_its_own_deps_are_built() -> None:
    # 0 -> 1 -> 3 and 2 alone: 1 may start while 2 still runs
    s = Schedule.from_deps((0, 1, 2, 3), {1: (0,), 3: (1, 2)})
    assert s.ready({0}, {2}) == (1,)
    assert s.ready({0, 1}, {2}) == ()
    assert s.ancestors(3) == {0, 1, 2}


def test_a_chain_is_never_concurrent() -> None:
    s = Schedule.from_deps((0, 1, 2), {1: (0,), 2: (1, 0)})
    assert not s.concurrent()
    assert s.ready(set(), set()) == (0,)
    assert not Schedule.from_deps((4,), {}).concurrent()


def test_deps_outside_the_needed_stages_are_ignored() -> None:
    s = Schedule.from_deps((1, 3), {3: (1, 2)})
    assert s.waits_for == {1: frozenset(), 3: frozenset({1})}
    assert s.ready(set(), set()) == (1,)


def test_a_cycle_is_refused() -> None:
    with pytest.raises(ValueError, match="cycle"):
        Schedule.from_deps((0, 1), {0: (1,), 1: (0,)})


def test_of_graph_uses_from_copy_from_and_mount_from() -> None:
    text = (
        "FROM scratch AS a\n"
        "FROM scratch AS b\n"
        "FROM scratch AS unused\n"
        "FROM a AS c\n"
        "COPY --from=b / /\n"
        "RUN --mount=from=a,target=/x true\n"
    )
    s = Schedule.of(plan(parse(text)))
    assert s.order == (0, 1, 3)
    assert s.waits_for[3] == {0, 1}
    assert s.ready(set(), set()) == (0, 1)
    assert s.concurrent()
