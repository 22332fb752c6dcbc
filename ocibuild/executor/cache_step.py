"""The build cache around each step: key, lookup, reuse or run, record.

Each stage carries a running key (``StageState.cache_key``): it starts from
the stage's base (:func:`start_stage`) and every instruction is folded into
it (:func:`cached_step`).  A step that makes a layer is looked up in the
:class:`~ocibuild.store.cache.CacheDB` first; on a hit the recorded layer is
stacked and its history entry (``created``, ``created_by``) reused, and
nothing runs; on a miss the handler runs and its layer is recorded.
Config-only steps are pure and cheap: never looked up, only folded in.  A
step whose result cannot be known beforehand (ADD of a URL without
``--checksum``) always runs, and its layer's diff_id is folded in instead.

Timestamps (:func:`image_created`): config-only history entries are written
with no ``created`` and, with the image's ``created``, take the newest
``created`` of the build's own layer entries at the end (now if it made
none), so an unchanged rebuild gives the same image; SOURCE_DATE_EPOCH
overrides everything.  Key parts are :mod:`ocibuild.executor.step_key`'s.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ocibuild._record import field, record, replace
from ocibuild.dockerfile.instructions import Workdir
from ocibuild.executor.step_key import layer_step, stage_base, step_parts, workdir_path
from ocibuild.layer import LayerBlob
from ocibuild.oci import format_timestamp
from ocibuild.plan.cachekey import base_key, canonical_instruction, key_for
from ocibuild.store.cache import CacheRecord

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ocibuild.dockerfile.instructions import Instruction
    from ocibuild.executor.options import BuildOptions
    from ocibuild.executor.state import StageState
    from ocibuild.executor.step_key import KeyInputs
    from ocibuild.plan import Stage
    from ocibuild.plan.cachekey import CacheKey
    from ocibuild.store.cache import CacheDB

__all__ = ["StepCache", "cached_step", "created_from_clock", "image_created", "start_stage"]


def _now() -> float:
    return time.time()


@record
class StepCache:
    """How one stage uses the cache: the db, whether to look up, the time source.

    ``lookup`` is False under ``--no-cache`` and for stages named by
    ``--no-cache-filter``; their steps still run and are recorded.  With a
    ``used`` list, a hit's key is appended to it instead of its record's
    ``last_used`` being written at once (the caller touches them all in one
    transaction: ``CacheDB.touch``).
    """

    db: CacheDB | None
    lookup: bool = True
    epoch: int | None = None
    clock: Callable[[], float] = field(default=_now)
    used: list[str] | None = field(default=None, compare=False)

    @classmethod
    def for_stage(
        cls,
        db: CacheDB | None,
        options: BuildOptions,
        stage: Stage,
        used: list[str] | None = None,
    ) -> StepCache:
        filtered = {name.lower() for name in options.no_cache_filter}
        names = {str(stage.index), *([stage.name.lower()] if stage.name else [])}
        lookup = not options.no_cache and not (filtered & names)
        return cls(db, lookup, options.source_date_epoch, used=used)

    def get(self, key: str) -> CacheRecord | None:
        """The record of ``key`` when looking up (else None); touched now or noted in ``used``."""
        if not self.lookup or self.db is None:
            return None
        if self.used is None:
            return self.db.get(key)
        record = self.db.get(key, touch=False)
        if record is not None:
            self.used.append(key)
        return record

    def now(self) -> str:
        """A layer step's ``created``: SOURCE_DATE_EPOCH, else the clock."""
        return format_timestamp(self.epoch if self.epoch is not None else self.clock())

    def config_created(self) -> str:
        """A config-only step's ``created``: SOURCE_DATE_EPOCH, else unset until the end."""
        return "" if self.epoch is None else format_timestamp(self.epoch)


def start_stage(state: StageState, stage: Stage, built: Mapping[int, StageState]) -> StageState:
    """``state`` (the stage's base) with its starting key and where its own history begins."""
    if stage.base_stage is not None:
        parent = built[stage.base_stage]
        start = stage_base(stage, state, str(parent.cache_key))
        return replace(state, cache_key=base_key(start), own_history=parent.own_history)
    key = base_key(stage_base(stage, state, None))
    return replace(state, cache_key=key, own_history=len(state.history))


def cached_step(
    state: StageState,
    instr: Instruction,
    handler: Callable[[StageState, str], StageState],
    inputs: KeyInputs,
    cache: StepCache,
) -> StageState:
    """Run one expanded ``instr`` through the cache; ``handler(state, created)`` runs it."""
    parent = state.cache_key if state.cache_key is not None else base_key("")
    parts = step_parts(state, instr, inputs)
    if parts is None:  # unknowable before it runs: run, then fold in what it made
        new = handler(state, cache.now())
        return replace(new, cache_key=key_for(parent, _result_parts(instr, new)), volatile=True)
    key = key_for(parent, parts)
    if not layer_step(state, instr):
        return replace(handler(state, cache.config_created()), cache_key=key)
    record = cache.get(str(key))
    if record is not None and record.layer is not None and record.diff_id is not None:
        return _reuse(state, instr, record, key, cache)
    new = handler(state, cache.now())
    if cache.db is None:
        return replace(new, cache_key=key)
    cache.db.put(_record(key, new))
    return replace(new, cache_key=key).with_step_key(str(key))


def _result_parts(instr: Instruction, new: StageState) -> tuple[tuple[str, str], ...]:
    diff_id = str(new.layers[-1].diff_id) if new.layers else ""
    return (("instruction", canonical_instruction(instr)), ("result", diff_id))


def _reuse(
    state: StageState, instr: Instruction, record: CacheRecord, key: CacheKey, cache: StepCache
) -> StageState:
    assert record.layer is not None
    assert record.diff_id is not None
    if isinstance(instr, Workdir):
        state = state.with_config(working_dir=workdir_path(state, instr.path))
    created = record.created if cache.epoch is None else format_timestamp(cache.epoch)
    state = state.with_layer(LayerBlob(record.layer, record.diff_id))
    state = state.with_history(created, record.created_by, empty_layer=False)
    return replace(state, cache_key=key).with_step_key(str(key))


def _record(key: CacheKey, new: StageState) -> CacheRecord:
    blob, entry = new.layers[-1], new.history[-1]
    return CacheRecord(
        key=str(key),
        layer_digest=blob.descriptor.digest,
        diff_id=blob.diff_id,
        layer_size=blob.descriptor.size,
        media_type=blob.descriptor.media_type,
        created=entry.created,
        created_by=entry.created_by,
        empty_layer=False,
        size=blob.descriptor.size,
    )


def _order(created: str) -> tuple[str, int]:
    """A sort key for an RFC 3339 UTC time as ``format_timestamp`` writes it (fixed
    width up to the seconds, then an optional fraction): to the microsecond."""
    head, dot, frac = created.removesuffix("Z").partition(".")
    return head, int(frac[:6].ljust(6, "0")) if dot else 0


def _own_layer_times(state: StageState) -> list[str]:
    own = state.history[state.own_history :]
    return [e.created for e in own if not e.empty_layer and e.created]


def created_from_clock(state: StageState, epoch: int | None) -> bool:
    """Whether :func:`image_created` takes the image's ``created`` from the clock
    (no SOURCE_DATE_EPOCH and no layer of the build's own), so that a rebuild
    of the same inputs gives another image."""
    return epoch is None and not _own_layer_times(state)


def image_created(
    state: StageState, epoch: int | None, clock: Callable[[], float] = _now
) -> StageState:
    """Give the config and the build's own config-only history entries their ``created``:
    SOURCE_DATE_EPOCH, else the newest own layer entry's (now if there is none)."""
    if epoch is not None:
        stamp = format_timestamp(epoch)
    else:
        layered = _own_layer_times(state)
        stamp = max(layered, key=_order) if layered else format_timestamp(clock())
    history = tuple(
        replace(e, created=stamp) if i >= state.own_history and e.empty_layer else e
        for i, e in enumerate(state.history)
    )
    config = replace(state.config, created=stamp, history=history)
    return replace(state, config=config)
