"""The build's progress events: what the executor and the registry code report.

One frozen, slotted dataclass per kind of event; :data:`Event` is their
union, read with ``match``.  A *step* is what BuildKit calls a vertex and
numbers ``#N``: the FROM of an image base and each instruction that makes a
layer (RUN, COPY, ADD, WORKDIR).  Config-only instructions (ENV, LABEL...)
make no step, as in BuildKit.  Steps are numbered in the order they start,
across stages; events of one step always carry its number.

Events are produced by :mod:`ocibuild.progress.report` and consumed by
whatever callable the caller passed as ``on_event`` (a renderer of this
package, or the caller's own).  Stages built at once report from their own
threads, so a consumer must be thread-safe.  This module imports nothing.
"""

from __future__ import annotations

from typing import Literal

from ocibuild._record import record

__all__ = [
    "Event",
    "OutputLine",
    "StepCached",
    "StepDone",
    "StepFailed",
    "StepStarted",
    "Transfer",
    "TransferKind",
]

TransferKind = Literal["pull", "push", "layer"]


@record
class StepStarted:
    """Step ``step`` began: ``[stage position/total] text``, as BuildKit names it.

    ``stage`` is the stage's name (``stage-N`` when unnamed; empty when the
    build has one unnamed stage); ``total`` counts the stage's steps (0 for a
    step outside any stage, such as a push: then ``label`` is ``text`` alone).
    """

    step: int
    stage: str
    stage_index: int
    position: int
    total: int
    text: str

    @property
    def label(self) -> str:
        """``[builder 2/4] RUN make``, ``[2/4] RUN make`` or, outside a stage, ``text``."""
        if self.total == 0:
            return self.text
        where = f"{self.stage} " if self.stage else ""
        return f"[{where}{self.position}/{self.total}] {self.text}"


@record
class StepCached:
    """Step ``step`` was a build cache hit (or, for FROM, the image was in the store)."""

    step: int


@record
class StepDone:
    """Step ``step`` ran and finished after ``elapsed`` seconds."""

    step: int
    elapsed: float


@record
class StepFailed:
    """Step ``step`` failed after ``elapsed`` seconds; ``message`` is the error's first line."""

    step: int
    message: str
    elapsed: float


@record
class OutputLine:
    """One line a RUN step printed (without its newline), ``offset`` seconds after it began."""

    step: int
    line: str
    offset: float


@record
class Transfer:
    """Bytes moved: a blob pulled or pushed, or a layer being written.

    ``name`` says which (a blob's digest; ``layer`` for a layer write);
    ``total`` is None while unknown (a layer being written).  A transfer is
    finished when ``total`` is known and ``done`` has reached it.  ``step`` is
    None when the transfer belongs to no step (a library pull or push).
    """

    step: int | None
    what: TransferKind
    name: str
    done: int
    total: int | None

    @property
    def finished(self) -> bool:
        return self.total is not None and self.done >= self.total


Event = StepStarted | StepCached | StepDone | StepFailed | OutputLine | Transfer
