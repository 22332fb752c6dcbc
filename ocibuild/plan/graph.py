"""The build graph: stages, their dependencies and the order to build them.

Pure data: :mod:`ocibuild.plan.stages` builds it from a Dockerfile; the
executor (``ocibuild.executor``) walks :meth:`BuildGraph.needed`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocibuild._record import record
from ocibuild.plan.args import PROXY_ARGS, resolve_arg

if TYPE_CHECKING:
    from ocibuild.dockerfile.instructions import Instruction
    from ocibuild.errors import SourceSpan
    from ocibuild.oci import Platform

__all__ = ["BuildGraph", "Stage"]


@record
class Stage:
    """One ``FROM`` and the instructions up to the next one.

    ``base`` is the FROM image word after global-ARG expansion (``scratch``,
    an image reference, or an earlier stage's name); ``base_stage`` is that
    stage's index when it names one.  ``platform`` is the expanded
    ``--platform`` (None when not given).  ``deps`` are the indices of the
    stages this one needs (FROM, COPY --from, RUN --mount from=), ascending.
    ``instructions`` excludes the FROM itself and keeps raw words.
    """

    index: int
    name: str | None
    base: str
    platform: Platform | None
    instructions: tuple[Instruction, ...]
    span: SourceSpan
    deps: tuple[int, ...] = ()
    base_stage: int | None = None


@record
class BuildGraph:
    """All stages of a Dockerfile, the target, and the argument values.

    ``global_args`` is the scope of FROM lines (predefined ARGs and ARGs
    declared before the first FROM, after ``--build-arg``); ``build_args`` are
    the ``--build-arg`` values as given.  Both are sorted ``(name, value)``
    pairs.  ``escape`` is the Dockerfile's escape character.
    """

    stages: tuple[Stage, ...]
    target: int
    global_args: tuple[tuple[str, str], ...]
    build_args: tuple[tuple[str, str], ...]
    escape: str = "\\"
    target_platform: Platform | None = None

    def needed(self) -> tuple[int, ...]:
        """Indices of the stages the target needs (itself included), in build order."""
        seen: set[int] = set()
        pending = [self.target]
        while pending:
            index = pending.pop()
            if index not in seen:
                seen.add(index)
                pending.extend(self.stages[index].deps)
        return tuple(sorted(seen))

    def find(self, name: str) -> Stage | None:
        """The stage called ``name`` (case-insensitive), if any."""
        lowered = name.lower()
        return next((s for s in self.stages if s.name == lowered), None)

    def resolve_arg(self, name: str, default: str | None) -> str | None:
        """The value of a stage's ``ARG name[=default]`` (``default`` already expanded)."""
        return resolve_arg(
            name, default, build_args=dict(self.build_args), outer=dict(self.global_args)
        )

    def proxy_env(self) -> dict[str, str]:
        """Proxy build args: given to RUN without an ARG, kept out of the image."""
        return {k: v for k, v in self.build_args if k in PROXY_ARGS}
