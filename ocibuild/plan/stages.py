"""Split a Dockerfile into stages and find what each stage depends on.

This module owns stage naming (case-insensitive, unique), the scope of global
ARGs (usable in FROM lines only), and stage references: ``FROM <stage>``,
``COPY --from=<name|index>`` and ``RUN --mount=...,from=<stage>``.  A
reference that names no stage is an image; references must point to an
earlier stage (naming a later one is an error).  Values are expanded here
only where the graph needs them (FROM image and platform, ``--from``);
everything else is left raw for the executor.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ocibuild._record import field, record
from ocibuild.dockerfile.expand import process_word
from ocibuild.dockerfile.instructions import Arg, Copy, Dockerfile, From, Instruction, Run
from ocibuild.errors import DockerfileError, UserError, at
from ocibuild.oci import Platform
from ocibuild.plan.args import global_scope, predefined_args, resolve_arg
from ocibuild.plan.graph import BuildGraph, Stage

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["mount_from", "plan", "step_refs"]

_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")


def plan(
    dockerfile: Dockerfile,
    *,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    target_platform: Platform | None = None,
    build_platform: Platform | None = None,
) -> BuildGraph:
    """Turn a parsed Dockerfile into a :class:`BuildGraph` for ``target``."""
    args = dict(build_args or {})
    build_platform = build_platform or Platform.host()
    target_platform = target_platform or build_platform
    global_args, groups = _split(dockerfile)
    predefined = predefined_args(target_platform, build_platform)
    scope = global_scope(
        global_args, build_args=args, predefined=predefined, escape=dockerfile.escape
    )
    names = frozenset(f.stage_name.lower() for f, _ in groups if f.stage_name is not None)
    planner = _Planner(scope, args, dockerfile.escape, names)
    for from_instr, body in groups:
        with at(from_instr.span):
            planner.add(from_instr, body)
    return BuildGraph(
        stages=tuple(planner.stages),
        target=_target_index(planner.stages, target),
        global_args=tuple(sorted(scope.items())),
        build_args=tuple(sorted(args.items())),
        escape=dockerfile.escape,
        target_platform=target_platform,
    )


def _split(dockerfile: Dockerfile) -> tuple[list[Arg], list[tuple[From, list[Instruction]]]]:
    """Global ARGs, then each FROM with the instructions that follow it."""
    global_args: list[Arg] = []
    groups: list[tuple[From, list[Instruction]]] = []
    for instr in dockerfile.instructions:
        if isinstance(instr, From):
            groups.append((instr, []))
        elif groups:
            groups[-1][1].append(instr)
        elif isinstance(instr, Arg):
            global_args.append(instr)
        else:
            raise DockerfileError("no build stage in current context", instr.span)
    if not groups:
        raise DockerfileError(f"{dockerfile.path}: dockerfile contains no stages to build")
    return global_args, groups


def _target_index(stages: Sequence[Stage], target: str | None) -> int:
    if target is None:
        return len(stages) - 1
    lowered = target.lower()
    for stage in stages:
        if stage.name == lowered:
            return stage.index
    raise DockerfileError(f'target stage "{target}" could not be found')


@record(frozen=False)
class _Planner:
    """Accumulates stages in order; each new stage may only see earlier ones."""

    scope: dict[str, str]
    build_args: dict[str, str]
    escape: str
    all_names: frozenset[str]
    stages: list[Stage] = field(default_factory=list)

    def add(self, instr: From, body: list[Instruction]) -> None:
        name = self._check_name(instr.stage_name)
        base = process_word(instr.image, self.scope, self.escape)
        platform = None
        if instr.platform is not None:
            platform = _parse_platform(process_word(instr.platform, self.scope, self.escape))
        base_stage = self._stage_ref(base, name) if base.lower() != "scratch" else None
        deps = {base_stage} if base_stage is not None else set()
        deps |= self._body_deps(body, name)
        stage = Stage(
            index=len(self.stages),
            name=name,
            base=base,
            platform=platform,
            instructions=tuple(body),
            span=instr.span,
            deps=tuple(sorted(deps)),
            base_stage=base_stage,
        )
        self.stages.append(stage)

    def _check_name(self, raw: str | None) -> str | None:
        if raw is None:
            return None
        name = raw.lower()
        if not _STAGE_NAME.fullmatch(name):
            raise DockerfileError(
                f'invalid name for build stage: "{raw}", '
                "name can't start with a number or contain symbols"
            )
        if any(s.name == name for s in self.stages):
            raise DockerfileError(f'duplicate stage name "{raw}"')
        return name

    def _stage_ref(self, ref: str, current: str | None) -> int | None:
        """The index of the earlier stage ``ref`` names, or None for an image."""
        here = len(self.stages)
        if ref.isascii() and ref.isdigit():
            index = int(ref)
            if index >= here:
                raise DockerfileError(f"invalid stage index {index}: not an earlier stage")
            return index
        lowered = ref.lower()
        if current is not None and lowered == current:
            raise DockerfileError(f"circular dependency detected on stage: {lowered}")
        for stage in self.stages:
            if stage.name == lowered:
                return stage.index
        if lowered in self.all_names:
            raise DockerfileError(f"stage {lowered} is used before it is defined")
        return None

    def _body_deps(self, body: list[Instruction], current: str | None) -> set[int]:
        """Stages referenced by COPY --from and RUN --mount from=, in stage-ARG scope."""
        stage_args: dict[str, str] = {}
        deps: set[int] = set()
        for instr in body:
            with at(instr.span):
                if isinstance(instr, Arg):
                    self._declare(instr, stage_args)
                for ref in _refs(instr):
                    index = self._stage_ref(process_word(ref, stage_args, self.escape), current)
                    if index is not None:
                        deps.add(index)
        return deps

    def _declare(self, instr: Arg, stage_args: dict[str, str]) -> None:
        for decl in instr.args:
            default = None
            if decl.default is not None:
                default = process_word(decl.default, stage_args, self.escape)
            value = resolve_arg(decl.name, default, build_args=self.build_args, outer=self.scope)
            if value is None:
                stage_args.pop(decl.name, None)
            else:
                stage_args[decl.name] = value


def step_refs(graph: BuildGraph, stage: Stage) -> tuple[tuple[int, ...], ...]:
    """For each of ``stage``'s instructions, the earlier stages it names with
    ``COPY --from`` or ``RUN --mount from=`` (expanded in the stage's ARG scope,
    as :func:`plan` found ``deps``); image references are left out."""
    stage_args: dict[str, str] = {}
    found: list[tuple[int, ...]] = []
    for instr in stage.instructions:
        if isinstance(instr, Arg):
            for decl in instr.args:
                default = None
                if decl.default is not None:
                    default = process_word(decl.default, stage_args, graph.escape)
                value = graph.resolve_arg(decl.name, default)
                if value is None:
                    stage_args.pop(decl.name, None)
                else:
                    stage_args[decl.name] = value
        words = (process_word(ref, stage_args, graph.escape) for ref in _refs(instr))
        indices = (_earlier(graph, word, stage.index) for word in words)
        found.append(tuple(i for i in indices if i is not None))
    return tuple(found)


def _earlier(graph: BuildGraph, ref: str, here: int) -> int | None:
    if ref.isascii() and ref.isdigit():
        return int(ref) if int(ref) < here else None
    named = graph.find(ref)
    return named.index if named is not None and named.index < here else None


def _refs(instr: Instruction) -> list[str]:
    """Raw stage references of one instruction."""
    if isinstance(instr, Copy) and instr.from_stage is not None:
        return [instr.from_stage]
    if isinstance(instr, Run):
        return [ref for spec in instr.mounts if (ref := mount_from(spec)) is not None]
    return []


def mount_from(spec: str) -> str | None:
    """The raw ``from=`` value of a ``--mount`` spec, if it has one."""
    import csv  # only RUN --mount needs it: not imported by every build

    for item in next(csv.reader([spec]), []):
        key, sep, value = item.partition("=")
        if sep and key.strip().lower() == "from":
            return value
    return None


def _parse_platform(text: str) -> Platform:
    try:
        return Platform.parse(text)
    except UserError as err:
        raise DockerfileError(f"failed to parse platform {text}: {err.message}") from None
