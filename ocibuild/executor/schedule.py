"""Which stages may be built now: the pure part of building stages in parallel.

:class:`Schedule` holds the needed stages (in the graph's build order) and,
for each, the needed stages it waits for (FROM, ``COPY --from``,
``RUN --mount from=``).  :meth:`Schedule.ready` answers "given what is built
and what is running, which stages can start?"; :meth:`Schedule.concurrent`
whether two stages could ever run at once (the executor prefixes RUN output
only then).  Running the stages, threads and errors are the executor's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocibuild._record import record

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Set

    from ocibuild.plan import BuildGraph

__all__ = ["Schedule"]


@record
class Schedule:
    """The needed stages in build order and the needed stages each one waits for."""

    order: tuple[int, ...]
    waits_for: Mapping[int, frozenset[int]]

    @classmethod
    def of(cls, graph: BuildGraph) -> Schedule:
        """The schedule of ``graph``'s target: its needed stages and their deps."""
        return cls.from_deps(graph.needed(), {i: graph.stages[i].deps for i in graph.needed()})

    @classmethod
    def from_deps(cls, order: Iterable[int], deps: Mapping[int, Iterable[int]]) -> Schedule:
        """A schedule of the stages ``order``; deps outside it are ignored."""
        stages = tuple(order)
        needed = frozenset(stages)
        waits = {i: frozenset(d for d in deps.get(i, ()) if d in needed and d != i) for i in stages}
        _check_acyclic(stages, waits)
        return cls(stages, waits)

    def ready(self, built: Set[int], started: Set[int]) -> tuple[int, ...]:
        """Stages not yet started whose deps are all built, in build order."""
        return tuple(
            i
            for i in self.order
            if i not in started and i not in built and self.waits_for[i] <= built
        )

    def ancestors(self, index: int) -> frozenset[int]:
        """Every needed stage ``index`` waits for, directly or not."""
        seen: set[int] = set()
        pending = list(self.waits_for[index])
        while pending:
            dep = pending.pop()
            if dep not in seen:
                seen.add(dep)
                pending.extend(self.waits_for[dep])
        return frozenset(seen)

    def concurrent(self) -> bool:
        """Whether some two stages are independent (neither waits for the other)."""
        above = {i: self.ancestors(i) for i in self.order}
        return any(
            a not in above[b] and b not in above[a]
            for n, a in enumerate(self.order)
            for b in self.order[n + 1 :]
        )


def _check_acyclic(order: tuple[int, ...], waits: Mapping[int, frozenset[int]]) -> None:
    """Refuse a cycle: its stages could never become ready (a bug in the plan)."""
    done: set[int] = set()
    remaining = list(order)
    while remaining:
        ready = [i for i in remaining if waits[i] <= done]
        if not ready:
            raise ValueError(f"stage dependencies form a cycle among {sorted(remaining)}")
        done.update(ready)
        remaining = [i for i in remaining if i not in done]
