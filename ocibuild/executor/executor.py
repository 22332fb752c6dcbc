"""The executor: walks the planned stages and turns each step into state.

:func:`execute` reads like its table of contents: the needed stages are
built in threads, each as soon as the stages it waits for are built
(:mod:`ocibuild.executor.schedule`; at most ``BuildOptions.jobs`` at once;
the first error cancels the rest, :mod:`ocibuild.executor.cancel`).  For
each stage: find the base, run the base's ONBUILD triggers and then the stage's own
instructions, one handler per step kind (config-only, WORKDIR, COPY/ADD,
RUN); then apply ``--label``s and store the image.
Each step runs inside ``errors.at(span)`` so a user error names its line.
With ``BuildOptions.on_event`` each step is reported as it starts, runs,
hits the cache or fails (:mod:`ocibuild.executor.step_progress`,
:mod:`ocibuild.progress`); without it nothing is made for that.
While it runs, the build's layers are pinned as an extra gc root
(``ocibuild/roots/build-<pid>-<random>.json``, every running stage's
layers) so a concurrent ``gc`` keeps them; the pin is removed when
``execute`` returns.  See docs/design/008, "Parallel stages".
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from typing import TYPE_CHECKING

from ocibuild._record import field, record, replace
from ocibuild.dockerfile.expand import expand_instruction
from ocibuild.dockerfile.instructions import Add, Copy, From, Instruction, Run, Workdir
from ocibuild.errors import DockerfileError, StoreError, UserError, at
from ocibuild.executor.base import base_state, onbuild_triggers
from ocibuild.executor.cache_step import (
    StepCache,
    cached_step,
    created_from_clock,
    image_created,
    start_stage,
)
from ocibuild.executor.cancel import CancelScope
from ocibuild.executor.config_steps import apply_config_step
from ocibuild.executor.copy_step import Sources, copy_step, workdir_step
from ocibuild.executor.layers import Layers
from ocibuild.executor.options import BuildResult
from ocibuild.executor.schedule import Schedule
from ocibuild.executor.stage_output import SharedSink, StepOutput, step_label
from ocibuild.executor.stage_threads import StageThreads
from ocibuild.executor.state import set_labels
from ocibuild.executor.step_key import KeyInputs
from ocibuild.executor.step_progress import StageSteps, tee
from ocibuild.progress.report import NO_STEP, Reporter
from ocibuild.store.scratch import PIN_PREFIX, owned_name

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from ocibuild.executor.context import BuildContext
    from ocibuild.executor.options import BuildOptions
    from ocibuild.executor.run_step import RunContext
    from ocibuild.executor.state import StageState
    from ocibuild.oci import Descriptor
    from ocibuild.plan import BuildGraph, Stage
    from ocibuild.progress.report import StepProgress
    from ocibuild.store import Store

__all__ = ["execute"]


def execute(
    graph: BuildGraph, context: BuildContext, store: Store, options: BuildOptions
) -> BuildResult:
    """Build ``graph``'s target from ``context`` into ``store``; the image is not tagged."""
    layers = Layers.for_store(store, options.source_date_epoch)
    schedule = Schedule.of(graph)
    _ = store.cache  # opened here, not raced for by the stage threads
    with _pinned(store) as pin, _touching(store) as used:
        report = Reporter.of(options.on_event)
        walk = _Walk(graph, layers, context, options, pin, schedule, used, report=report)
        built = walk.run(_jobs(options.jobs))
        final = _finish(built[graph.target], options)
        result = _store_image(store, final)
        states = [built[i] for i in schedule.order]
        every = tuple(dict.fromkeys(k for state in states for k in state.step_keys))
        repeatable = not any(state.volatile for state in states) and not created_from_clock(
            built[graph.target], options.source_date_epoch
        )
        return replace(
            result,
            cache_keys=every,
            final_stage_cache_keys=tuple(final.step_keys),
            repeatable=repeatable,
        )


def _jobs(jobs: int | None) -> int:
    if jobs is None:
        return os.cpu_count() or 1
    if jobs < 1:
        raise UserError(f"invalid jobs value {jobs}: expected at least 1")
    return jobs


class _Pin:
    """Keeps the layers of every stage being built from ``store.gc()`` (an extra gc root).

    Stage threads call it with their latest state; when a stage's layers
    changed, it rewrites the root with the union of every stage's latest
    layers, under a lock, without fsync (a pin means nothing after a crash).
    """

    def __init__(self, store: Store, name: str) -> None:
        self._store, self._name = store, name
        self._lock = threading.Lock()
        self._held: dict[int, tuple[Descriptor, ...]] = {}

    def __call__(self, index: int, state: StageState) -> None:
        held = tuple(blob.descriptor for blob in state.layers)
        with self._lock:
            if self._held.get(index) == held:
                return  # a config-only step or a hit: the pin already holds these
            self._held[index] = held
            every = dict.fromkeys(d for i in sorted(self._held) for d in self._held[i])
            self._store.set_root(self._name, list(every), durable=False)


@contextlib.contextmanager
def _pinned(store: Store) -> Iterator[_Pin]:
    """The build's gc pin, removed when the build ends."""
    name = owned_name(PIN_PREFIX)  # a SIGKILLed build's pin is swept by gc
    try:
        yield _Pin(store, name)
    finally:
        store.remove_root(name)


@contextlib.contextmanager
def _touching(store: Store) -> Iterator[list[str]]:
    """The keys of the cache hits of the build, whose records' ``last_used``
    are written in one transaction when it ends (also when it fails)."""
    used: list[str] = []
    try:
        yield used
    except BaseException:
        with contextlib.suppress(StoreError):  # keep the build's own error
            store.cache.touch(used)
        raise
    store.cache.touch(used)


@record
class _Walk:
    """The needed stages, built in threads as soon as their deps are.

    Only the coordinating thread (the caller's) updates ``built``; each stage
    thread gets a copy holding the stages it waits for; stage threads add
    their cache hits' keys to ``used``.  The first error
    cancels the rest (:mod:`ocibuild.executor.cancel`), waits for every
    stage thread to unwind, and is raised.
    """

    graph: BuildGraph
    layers: Layers
    context: BuildContext
    options: BuildOptions
    pin: _Pin
    schedule: Schedule
    used: list[str]
    scope: CancelScope = field(default_factory=CancelScope)
    report: Reporter | None = None

    def run(self, jobs: int) -> dict[int, StageState]:
        shared = None
        if self.options.run_output is not None and jobs > 1 and self.schedule.concurrent():
            shared = SharedSink(self.options.run_output)
        built: dict[int, StageState] = {}
        threads: StageThreads[StageState] = StageThreads()
        try:
            while len(built) < len(self.schedule.order):
                for index in self.schedule.ready(built.keys(), threads.running()):
                    if len(threads.running()) >= jobs:
                        break
                    deps = {i: built[i] for i in self.schedule.waits_for[index]}
                    threads.start(index, functools.partial(self._stage, index, deps, shared))
                index, state = threads.next()
                built[index] = state
        except BaseException:
            self.scope.cancel()
            threads.join(_STOP_POLL, self.scope.stop_runs)
            raise
        return built

    def _stage(
        self, index: int, deps: dict[int, StageState], shared: SharedSink | None
    ) -> StageState:
        stage = self.graph.stages[index]
        with at(stage.span):
            return _run_stage(self, stage, deps, shared)


_STOP_POLL = 0.1


def _run_stage(
    walk: _Walk, stage: Stage, built: dict[int, StageState], shared: SharedSink | None
) -> StageState:
    graph, layers, options = walk.graph, walk.layers, walk.options
    platform = stage.platform or graph.target_platform or options.target_platform
    shown = StageSteps(walk.report, graph, stage)
    with shown.base() as base:
        state = base_state(
            stage,
            built,
            layers.store,
            options.build_contexts,
            platform,
            pull=options.pull,
            insecure=options.insecure_registries,
            on_event=base.event_sink,
        )
        state = start_stage(state, stage, built)
        state, triggers = onbuild_triggers(state, graph.escape, stage.span)
    sources = Sources(walk.context, _stage_names(graph, built), options.build_contexts, platform)
    run = _StageRun(options, sources, layers, walk.scope)
    inputs = KeyInputs(layers, sources, layers.store.cache, options.network, layers.clamp_mtime)
    cache = StepCache.for_stage(layers.store.cache, options, stage, walk.used)
    steps = (*triggers, *stage.instructions)
    shown.add_triggers(triggers)
    for number, instr in enumerate(steps, 1):
        walk.scope.check()
        before = len(state.layers)
        progress = shown.step(instr, state)
        with at(instr.span), _step_output(shared, stage, number, len(steps)) as out, progress:
            state = _step(graph, state, instr, inputs, run.bind(out, progress), cache, progress)
        if len(state.layers) != before:
            walk.pin(stage.index, state)
    walk.pin(stage.index, state)
    return state


@contextlib.contextmanager
def _step_output(
    shared: SharedSink | None, stage: Stage, number: int, steps: int
) -> Iterator[StepOutput | None]:
    """The step's output, prefixed with the step, when stages run at once (else None)."""
    if shared is None:
        yield None
        return
    out = StepOutput(shared, step_label(stage.name, stage.index, number, steps))
    try:
        yield out
    finally:
        out.close()


class _StageRun:
    """A stage's :class:`RunContext`, made when its first RUN misses the cache.

    A build whose RUNs are all cache hits never imports the RUN machinery,
    makes a runtime or the ``RUN --mount`` inputs.  Used by one stage thread.
    """

    __slots__ = ("_layers", "_made", "_options", "_scope", "_sources")

    def __init__(
        self, options: BuildOptions, sources: Sources, layers: Layers, scope: CancelScope
    ) -> None:
        self._options, self._sources, self._layers, self._scope = options, sources, layers, scope
        self._made: RunContext | None = None

    def bind(self, out: StepOutput | None, progress: StepProgress) -> Callable[[], RunContext]:
        """What a RUN step calls for its context: output to ``out`` (stages at once) or
        the caller's ``run_output``, and to the step's progress when someone listens."""

        def context() -> RunContext:
            run = self._context()
            sink = tee(out if out is not None else self._options.run_output, progress.output_sink)
            return run if sink is None else replace(run, output=sink)

        return context

    def _context(self) -> RunContext:
        if self._made is None:
            self._made = _run_context(self._options, self._sources, self._layers, self._scope)
        return self._made


def _run_context(
    options: BuildOptions, sources: Sources, layers: Layers, scope: CancelScope
) -> RunContext:
    from ocibuild.executor.mount_setup import MountInputs
    from ocibuild.executor.run_step import RunContext, runtime_named

    runtime = scope.runtime(runtime_named(options.runtime))
    mounts = MountInputs(
        functools.partial(sources.tree, layers), layers.store.meta_dir, options.secrets
    )
    return RunContext(runtime, options.network, options.build_args, mounts=mounts)


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
    inputs: KeyInputs,
    run: Callable[[], RunContext],
    cache: StepCache,
    progress: StepProgress = NO_STEP,
) -> StageState:
    """One instruction: expand its words, then run it through the build cache
    (:mod:`ocibuild.executor.cache_step`) with its kind's handler.  The step
    is reported as having run (not CACHED) when the handler is called."""
    expanded = expand_instruction(instr, state.expansion_env, graph.escape)
    layers, sources = inputs.layers, inputs.sources
    if progress is not NO_STEP:
        layers = replace(layers, progress=progress)

    def handler(state: StageState, created: str) -> StageState:
        progress.ran()
        match expanded:
            case Run():
                from ocibuild.executor.run_step import run_step

                return run_step(layers, state, expanded, run(), created)
            case From():
                raise DockerfileError("FROM inside a stage")
            case Copy() | Add():
                return copy_step(layers, state, expanded, sources, created)
            case Workdir():
                return workdir_step(layers, state, expanded.path, created)
            case _:
                return apply_config_step(state, expanded, created, graph.resolve_arg)

    return cached_step(state, expanded, handler, inputs, cache)


def _finish(state: StageState, options: BuildOptions) -> StageState:
    """Apply ``--label``s (last, without history) and the image's ``created``
    (SOURCE_DATE_EPOCH, else the newest layer the build made: see cache_step)."""
    if options.labels:
        state = state.with_config(
            labels=set_labels(state.config.config.labels, options.labels.items())
        )
    return image_created(state, options.source_date_epoch)


def _store_image(store: Store, state: StageState) -> BuildResult:
    with store.lock():
        manifest = store.put_image(state.config, [blob.descriptor for blob in state.layers])
    image = store.image(manifest)
    return BuildResult(manifest=manifest, config=image.config_desc, image=image)
