"""The executor: walks the planned stages and turns each step into state.

:func:`execute` reads like its table of contents: for each needed stage,
find the base, run the base's ONBUILD triggers and then the stage's own
instructions, one handler per step kind (config-only, WORKDIR, COPY/ADD,
RUN); then apply ``--label``s and store the image.
Each step runs inside ``errors.at(span)`` so a user error names its line.
While it runs, the build's layers are pinned as an extra gc root
(``ocibuild/roots/build-<pid>-<random>.json``) so a concurrent ``gc`` keeps
them; the pin is removed when ``execute`` returns.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from ocibuild.dockerfile.expand import expand_instruction
from ocibuild.dockerfile.instructions import Add, Copy, From, Instruction, Run, Workdir
from ocibuild.errors import DockerfileError, at
from ocibuild.executor.base import base_state, onbuild_triggers
from ocibuild.executor.cache_step import StepCache, cached_step, image_created, start_stage
from ocibuild.executor.config_steps import apply_config_step
from ocibuild.executor.copy_step import Sources, copy_step, workdir_step
from ocibuild.executor.layers import Layers
from ocibuild.executor.mount_setup import MountInputs
from ocibuild.executor.options import BuildResult
from ocibuild.executor.run_step import RunContext, run_step, runtime_named
from ocibuild.executor.step_key import KeyInputs

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ocibuild.executor.context import BuildContext
    from ocibuild.executor.options import BuildOptions
    from ocibuild.executor.state import StageState
    from ocibuild.plan import BuildGraph, Stage
    from ocibuild.store import Store

__all__ = ["execute"]


def execute(
    graph: BuildGraph, context: BuildContext, store: Store, options: BuildOptions
) -> BuildResult:
    """Build ``graph``'s target from ``context`` into ``store``; the image is not tagged."""
    layers = Layers.for_store(store, options.source_date_epoch)
    built: dict[int, StageState] = {}
    with _pinned(store) as pin:
        for index in graph.needed():
            stage = graph.stages[index]
            with at(stage.span):
                built[index] = _run_stage(graph, stage, built, layers, context, options, pin)
        final = _finish(built[graph.target], options)
        result = _store_image(store, final)
        every = tuple(dict.fromkeys(k for state in built.values() for k in state.step_keys))
        return replace(result, cache_keys=every, final_stage_cache_keys=final.step_keys)


Pin = Callable[[Iterable["StageState"]], None]


@contextlib.contextmanager
def _pinned(store: Store) -> Iterator[Pin]:
    """Keep the layers of a running build from ``store.gc()`` (an extra gc root)."""
    name = f"build-{os.getpid()}-{secrets.token_hex(4)}"

    def pin(states: Iterable[StageState]) -> None:
        store.set_root(name, [blob.descriptor for s in states for blob in s.layers])

    try:
        yield pin
    finally:
        store.remove_root(name)


def _run_stage(
    graph: BuildGraph,
    stage: Stage,
    built: dict[int, StageState],
    layers: Layers,
    context: BuildContext,
    options: BuildOptions,
    pin: Pin,
) -> StageState:
    platform = stage.platform or graph.target_platform or options.target_platform
    state = base_state(stage, built, layers.store, options.build_contexts, platform)
    state = start_stage(state, stage, built)
    state, triggers = onbuild_triggers(state, graph.escape, stage.span)
    sources = Sources(context, _stage_names(graph, built), options.build_contexts, platform)
    run = _run_context(options, sources, layers)
    cache = StepCache.for_stage(layers.store.cache, options, stage)
    for instr in (*triggers, *stage.instructions):
        with at(instr.span):
            before = len(state.layers)
            state = _step(graph, state, instr, layers, sources, run, cache)
        if len(state.layers) != before:
            pin([*built.values(), state])
    return state


def _run_context(options: BuildOptions, sources: Sources, layers: Layers) -> RunContext:
    runtime = runtime_named(options.runtime)
    mounts = MountInputs(
        functools.partial(sources.tree, layers), layers.store.meta_dir, options.secrets
    )
    run = RunContext(runtime, options.network, options.build_args, mounts=mounts)
    if options.run_output is None:
        return run
    return replace(run, output=options.run_output)


def _stage_names(graph: BuildGraph, built: dict[int, StageState]) -> dict[str, StageState]:
    names: dict[str, StageState] = {}
    for index, state in built.items():
        names[str(index)] = state
        name = graph.stages[index].name
        if name:
            names[name.lower()] = state
    return names


def _step(
    graph: BuildGraph,
    state: StageState,
    instr: Instruction,
    layers: Layers,
    sources: Sources,
    run: RunContext,
    cache: StepCache,
) -> StageState:
    """One instruction: expand its words, then run it through the build cache
    (:mod:`ocibuild.executor.cache_step`) with its kind's handler."""
    expanded = expand_instruction(instr, state.expansion_env, graph.escape)

    def handler(state: StageState, created: str) -> StageState:
        match expanded:
            case Run():
                return run_step(layers, state, expanded, run, created)
            case From():
                raise DockerfileError("FROM inside a stage")
            case Copy() | Add():
                return copy_step(layers, state, expanded, sources, created)
            case Workdir():
                return workdir_step(layers, state, expanded.path, created)
            case _:
                return apply_config_step(state, expanded, created, graph.resolve_arg)

    inputs = KeyInputs(layers, sources, layers.store.cache, run.network, layers.clamp_mtime)
    return cached_step(state, expanded, handler, inputs, cache)


def _finish(state: StageState, options: BuildOptions) -> StageState:
    """Apply ``--label``s (last, without history) and the image's ``created``
    (SOURCE_DATE_EPOCH, else the newest layer the build made: see cache_step)."""
    if options.labels:
        labels = dict(state.config.config.labels)
        labels.update(options.labels)
        state = state.with_config(labels=tuple(sorted(labels.items())))
    return image_created(state, options.source_date_epoch)


def _store_image(store: Store, state: StageState) -> BuildResult:
    with store.lock():
        manifest = store.put_image(state.config, [blob.descriptor for blob in state.layers])
    image = store.image(manifest)
    return BuildResult(manifest=manifest, config=image.config_desc, image=image)
