"""What the build cache would do with each step, without building: ``--print graph``.

:func:`forecast` walks the stages the target needs as
:mod:`ocibuild.executor.executor` does (the same base state, ONBUILD
triggers, word expansion and key parts, folded as
:mod:`ocibuild.executor.cache_step` folds them) but runs nothing and writes
nothing to the store: records are read with ``CacheDB.find`` (no
``last_used`` touched; a record whose layer blob is gone is a miss, not
dropped), the stat cache is read but not written, no base is pulled and no
named context is imported.

A step's key cannot be known before building, and the step is marked
``unknown`` with the reason, when the stage's base image is not in the store
(it would be pulled) or ``--pull`` is given; when a named context is an
archive or an OCI layout (the build imports it into the store first); for
``ADD`` of a URL without ``--checksum`` (its key folds in what was
downloaded); for ``COPY --from`` an image not in the store; and for every
step after an unknown one, or that reads an unknown stage.  A miss does not
make the following keys unknown: a key depends on the one before it, not on
the layer the step makes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ocibuild._record import record, replace
from ocibuild.dockerfile.expand import expand_instruction
from ocibuild.dockerfile.instructions import Add, Copy, From, Run, Workdir
from ocibuild.errors import DockerfileError, at
from ocibuild.executor.base import base_state, onbuild_triggers
from ocibuild.executor.cache_step import StepCache, start_stage
from ocibuild.executor.config_steps import apply_config_step
from ocibuild.executor.copy_step import Sources
from ocibuild.executor.layers import Layers
from ocibuild.executor.step_key import KeyInputs, layer_step, step_parts, workdir_path
from ocibuild.plan import mount_from, step_refs
from ocibuild.plan.cachekey import base_key, key_for
from ocibuild.plan.render import GraphStep, one_line
from ocibuild.snapshot import Snapshots
from ocibuild.store import ImageNotFoundError

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable

    from ocibuild.dockerfile.instructions import Instruction
    from ocibuild.executor.context import BuildContext
    from ocibuild.executor.options import BuildOptions
    from ocibuild.executor.state import StageState
    from ocibuild.oci import Platform
    from ocibuild.plan import BuildGraph, Stage
    from ocibuild.plan.cachekey import CacheKey
    from ocibuild.store import Store
    from ocibuild.store.cache import CacheDB

__all__ = ["forecast"]

_AFTER_UNKNOWN = "follows an unknown step"


class _Unknown(Exception):
    """The key of this step cannot be known before building; ``note`` says why."""

    def __init__(self, note: str) -> None:
        super().__init__(note)
        self.note = note


@record
class _ReadOnlyStats:
    """The store's stat cache, read but never written (a StatCache)."""

    db: CacheDB

    def stat_get(self, path: str, st: os.stat_result) -> str | None:
        return self.db.stat_get(path, st)

    def stat_put(self, path: str, st: os.stat_result, sha256: str) -> None:
        return None

    def stat_lookup(self, directory: str) -> Callable[[str, os.stat_result], str | None]:
        return self.db.stat_lookup(directory)

    def stat_put_many(self, entries: Iterable[tuple[str, os.stat_result, str]]) -> None:
        return None


def forecast(
    graph: BuildGraph, context: BuildContext, store: Store, options: BuildOptions
) -> tuple[GraphStep, ...]:
    """Every step of the stages ``graph``'s target needs, marked ``hit``, ``miss``,
    ``config`` or ``unknown`` as a build with ``options`` into ``store`` would find it."""
    db = store.cache if store.cache_path.exists() else None
    walk = _Forecast(graph, context, store, options, db, {})
    steps: list[GraphStep] = []
    for index in graph.needed():
        stage = graph.stages[index]
        with at(stage.span):
            own, final = walk.stage(stage)
        walk.built[index] = final
        steps.extend(own)
    return tuple(steps)


@record
class _Forecast:
    """The walk's inputs, and each forecast stage's final state (None: unknown)."""

    graph: BuildGraph
    context: BuildContext
    store: Store
    options: BuildOptions
    db: CacheDB | None
    built: dict[int, StageState | None]

    def stage(self, stage: Stage) -> tuple[list[GraphStep], StageState | None]:
        refs = step_refs(self.graph, stage)
        plain = list(zip(stage.instructions, refs, strict=True))
        try:
            state = self.start(stage)
        except _Unknown as unknown:
            return _all_unknown(stage, plain, unknown.note), None
        state, triggers = onbuild_triggers(state, self.graph.escape, stage.span)
        inputs = self.inputs(stage)
        lookup = StepCache.for_stage(self.db, self.options, stage).lookup
        steps: list[GraphStep] = []
        note = ""
        for number, (instr, used) in enumerate([*((t, ()) for t in triggers), *plain], 1):
            text = one_line(instr.original) + (" (ONBUILD)" if number <= len(triggers) else "")
            step = GraphStep(stage.index, number, text, instr.span.first_line, used)
            if note:
                steps.append(replace(step, mark="unknown", note=_AFTER_UNKNOWN))
                continue
            try:
                with at(instr.span):
                    state, mark = self.step(state, instr, used, inputs, lookup)
            except _Unknown as unknown:
                note = unknown.note
                steps.append(replace(step, mark="unknown", note=note))
                continue
            steps.append(replace(step, mark=mark))
        return steps, None if note else state

    def known(self) -> dict[int, StageState]:
        return {i: s for i, s in self.built.items() if s is not None}

    def start(self, stage: Stage) -> StageState:
        """The stage's base state and starting key, as the executor makes them."""
        platform = stage.platform or self.graph.target_platform or self.options.target_platform
        contexts = self.options.build_contexts
        if stage.base_stage is not None:
            if self.built.get(stage.base_stage) is None:
                raise _Unknown(f"its base, stage {stage.base_stage}, is unknown")
        elif stage.base.lower() == "scratch":
            pass
        elif stage.base in contexts:
            if not contexts[stage.base].startswith("docker-image://"):
                raise _Unknown(f"named context {stage.base!r} is imported when building")
        elif self.options.pull:
            raise _Unknown("--pull resolves the base image against its registry")
        else:
            self.stored_base(stage.base, platform)  # base_state would pull a missing one
        try:
            state = base_state(stage, self.known(), self.store, contexts, platform)
        except ImageNotFoundError:
            raise _Unknown(f"base image {stage.base} is not in the store") from None
        return start_stage(state, stage, self.known())

    def stored_base(self, name: str, platform: Platform | None) -> None:
        try:
            self.store.image(name, platform)
        except ImageNotFoundError:
            raise _Unknown(f"base image {name} is not in the store (a build pulls it)") from None

    def inputs(self, stage: Stage) -> KeyInputs:
        platform = stage.platform or self.graph.target_platform or self.options.target_platform
        names: dict[str, StageState] = {}
        for index, state in self.known().items():
            names[str(index)] = state
            if self.graph.stages[index].name:
                names[str(self.graph.stages[index].name)] = state
        named = {k: v for k, v in self.options.build_contexts.items() if _readable(v)}
        sources = Sources(self.context, names, named, platform)
        layers = Layers(
            self.store, Snapshots(self.store.snapshots_dir), self.options.source_date_epoch
        )
        stats = None if self.db is None else _ReadOnlyStats(self.db)
        return KeyInputs(layers, sources, stats, self.options.network, layers.clamp_mtime)

    def step(
        self,
        state: StageState,
        instr: Instruction,
        refs: tuple[int, ...],
        inputs: KeyInputs,
        lookup: bool,
    ) -> tuple[StageState, str]:
        """The state after ``instr`` (for the keys after it) and its mark."""
        for ref in refs:
            if self.built.get(ref) is None:
                raise _Unknown(f"reads stage {ref}, which is unknown")
        expanded = expand_instruction(instr, state.expansion_env, self.graph.escape)
        self.check_named(expanded)
        parent = state.cache_key if state.cache_key is not None else base_key("")
        try:
            parts = step_parts(state, expanded, inputs)
        except ImageNotFoundError as err:
            raise _Unknown(f"{err.message} (a build pulls it)") from None
        if parts is None:
            raise _Unknown("ADD of a URL without --checksum: known once downloaded")
        key = key_for(parent, parts)
        if not layer_step(state, expanded):
            return replace(_config_step(state, expanded, self.graph), cache_key=key), "config"
        if isinstance(expanded, Workdir):
            state = state.with_config(working_dir=workdir_path(state, expanded.path))
        mark = "hit" if lookup and self.recorded(key) else "miss"
        return replace(state, cache_key=key), mark

    def check_named(self, instr: Instruction) -> None:
        """A named context the build imports first (archive, OCI layout) is unknown."""
        names: list[str] = []
        if isinstance(instr, Copy) and instr.from_stage is not None:
            names.append(instr.from_stage)
        if isinstance(instr, Run):
            names.extend(n for spec in instr.mounts if (n := mount_from(spec)) is not None)
        contexts = self.options.build_contexts
        for name in names:
            stage = name.lower() in self.graph_names()
            if not stage and name in contexts and not _readable(contexts[name]):
                raise _Unknown(f"named context {name!r} is imported when building")

    def graph_names(self) -> set[str]:
        return {s.name for s in self.graph.stages if s.name} | {
            str(s.index) for s in self.graph.stages
        }

    def recorded(self, key: CacheKey) -> bool:
        """Whether the cache holds a layer record for ``key`` whose blob is present."""
        if self.db is None:
            return False
        for found in self.db.find([str(key)]):
            layer = found.layer
            if layer is not None and found.diff_id is not None and self.store.has_blob(layer):
                return True
        return False


def _readable(value: str) -> bool:
    """Whether a named context can be read without importing it (image or directory)."""
    return value.startswith("docker-image://") or Path(value).is_dir()


def _config_step(state: StageState, instr: Instruction, graph: BuildGraph) -> StageState:
    """A step that makes no layer, applied as the executor's handler applies it."""
    match instr:
        case Workdir():
            return state.with_config(working_dir=workdir_path(state, instr.path))
        case From():
            raise DockerfileError("FROM inside a stage")
        case Run() | Copy() | Add():  # pragma: no cover - these always make a layer
            raise AssertionError(type(instr).__name__)
        case _:
            return apply_config_step(state, instr, "", graph.resolve_arg)


def _all_unknown(
    stage: Stage, plain: list[tuple[Instruction, tuple[int, ...]]], note: str
) -> list[GraphStep]:
    return [
        GraphStep(
            stage.index,
            number,
            one_line(instr.original),
            instr.span.first_line,
            refs,
            "unknown",
            note if number == 1 else _AFTER_UNKNOWN,
        )
        for number, (instr, refs) in enumerate(plain, 1)
    ]
