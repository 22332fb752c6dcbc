"""Which steps of a stage are reported, and how BuildKit would name them.

A stage's reported steps are the FROM of an image base (or of a named
context) and each RUN, COPY, ADD and WORKDIR (ONBUILD triggers included);
config-only instructions make no step, as in BuildKit.  :class:`StageSteps`
numbers them ``position/total`` within the stage and names the stage as
BuildKit does: its name, ``stage-N`` when unnamed, nothing when the
Dockerfile has a single unnamed stage.  The events themselves are
:mod:`ocibuild.progress`'s; with no listener every step is
:data:`~ocibuild.progress.report.NO_STEP`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ocibuild.dockerfile.instructions import Add, Copy, Run, Workdir
from ocibuild.progress.report import NO_STEP

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from ocibuild.dockerfile.instructions import Instruction
    from ocibuild.executor.state import StageState
    from ocibuild.plan import BuildGraph, Stage
    from ocibuild.progress.report import Reporter, StepProgress

__all__ = ["StageSteps", "has_from_step", "tee"]

_STEP_KINDS = (Run, Copy, Add, Workdir)


def has_from_step(stage: Stage) -> bool:
    """Whether the stage's FROM is a step of its own (an image or named context)."""
    return stage.base_stage is None and stage.base.lower() != "scratch"


class StageSteps:
    """Hands out the reported steps of one stage, in order (used by one thread)."""

    __slots__ = ("_from", "_name", "_position", "_report", "_stage", "_total")

    def __init__(self, report: Reporter | None, graph: BuildGraph, stage: Stage) -> None:
        self._report, self._stage = report, stage
        self._position, self._total, self._name, self._from = 0, 0, "", False
        if report is not None:
            self._from = has_from_step(stage)
            self._total = self._from + _count(stage.instructions)
            single = len(graph.stages) == 1 and not stage.name
            self._name = "" if single else stage.name or f"stage-{stage.index}"

    def add_triggers(self, triggers: Sequence[Instruction]) -> None:
        """Count the base's ONBUILD triggers too (known once the FROM step is over,
        so that step's total leaves them out)."""
        if self._report is not None:
            self._total += _count(triggers)

    def base(self) -> StepProgress:
        """The FROM step (NO_STEP when the base is scratch or a stage)."""
        if self._report is None or not self._from:
            return NO_STEP
        return self._next(f"FROM {_full_name(self._stage.base)}")

    def step(self, instr: Instruction, state: StageState) -> StepProgress:
        """The step of ``instr`` (NO_STEP for a config-only instruction); its text
        has the variables ``state`` sees substituted, as BuildKit shows it."""
        if self._report is None or not isinstance(instr, _STEP_KINDS):
            return NO_STEP
        return self._next(shown_text(instr.original, state.expansion_env))

    def _next(self, text: str) -> StepProgress:
        assert self._report is not None
        self._position += 1
        return self._report.step(self._name, self._stage.index, self._position, self._total, text)


def _count(instructions: Sequence[Instruction]) -> int:
    return sum(isinstance(i, _STEP_KINDS) for i in instructions)


def _full_name(base: str) -> str:
    """``busybox`` as BuildKit shows it: ``docker.io/library/busybox:latest``."""
    from ocibuild.errors import UserError
    from ocibuild.oci import Reference

    try:
        return str(Reference.parse(base))
    except UserError:
        return base


def shown_text(original: str, env: Mapping[str, str]) -> str:
    """The instruction's first source line as BuildKit shows it: keyword in upper
    case, ``$NAME`` and ``${NAME}`` of ``env`` substituted outside single quotes
    (quotes kept; other ``${...}`` forms and unknown names left as written)."""
    first = original.strip().splitlines()[0] if original.strip() else original
    keyword, _, rest = first.partition(" ")
    parts = re.split(r"('[^']*')", rest.strip())  # odd parts: single-quoted
    rest = "".join(
        part if n % 2 else _VARIABLE.sub(lambda m: _value(m, env), part)
        for n, part in enumerate(parts)
    )
    return f"{keyword.upper()} {rest}".rstrip()


_VARIABLE = re.compile(r"(?<!\\)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def _value(match: re.Match[str], env: Mapping[str, str]) -> str:
    name = match.group(1) or match.group(2)
    return env.get(name, match.group(0))


def tee(
    first: Callable[[bytes], None] | None, second: Callable[[bytes], None] | None
) -> Callable[[bytes], None] | None:
    """One output sink feeding both (None when neither is given)."""
    if first is None or second is None:
        return first if second is None else second

    def both(chunk: bytes) -> None:
        first(chunk)
        second(chunk)

    return both
