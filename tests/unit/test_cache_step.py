"""executor.cache_step without a store: lookups, records, the running key, timestamps."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from ocibuild._record import replace
from ocibuild.dockerfile import parse
from ocibuild.executor.cache_step import StepCache, cached_step, image_created, start_stage
from ocibuild.executor.options import BuildOptions
from ocibuild.executor.state import StageState, empty_config
from ocibuild.executor.step_key import KeyInputs
from ocibuild.layer import LayerBlob
from ocibuild.oci import Descriptor, Digest, HistoryEntry, format_timestamp
from ocibuild.plan import plan

if TYPE_CHECKING:
    from ocibuild.dockerfile.instructions import Instruction
    from ocibuild.store.cache import CacheDB, CacheRecord


class FakeDB:
    def __init__(self) -> None:
        self.records: dict[str, CacheRecord] = {}
        self.gets = 0
        self.touched = 0

    def get(self, key: str, *, touch: bool = True) -> CacheRecord | None:
        self.gets += 1
        self.touched += touch
        return self.records.get(key)

    def put(self, record: CacheRecord) -> None:
        self.records[record.key] = record


class Handler:
    """Stands in for a step handler: counts calls, adds one layer (or a config change)."""

    def __init__(self, *, layer: bool = True) -> None:
        self.calls = 0
        self.layer = layer

    def __call__(self, state: StageState, created: str) -> StageState:
        self.calls += 1
        if not self.layer:
            return state.with_history(created, "ENV X=1", empty_layer=True)
        data = f"layer-{self.calls}".encode()
        blob = LayerBlob(
            Descriptor("application/x", Digest.from_bytes(data), 9), Digest.from_bytes(data)
        )
        state = state.with_config(working_dir="/w").with_layer(blob)
        return state.with_history(created, "WORKDIR /w", empty_layer=False)


def instr(line: str) -> Instruction:
    return parse(f"FROM scratch\n{line}\n").instructions[1]


INPUTS = KeyInputs(
    layers=None,  # type: ignore[arg-type]  # not read by WORKDIR or config steps
    sources=None,  # type: ignore[arg-type]
    stat_cache=None,
    network="host",
    clamp_mtime=None,
)


def start() -> StageState:
    graph = plan(parse("FROM scratch\n"))
    return start_stage(StageState(empty_config("linux", "amd64")), graph.stages[0], {})


def cache(db: FakeDB, *, lookup: bool = True, now: float = 100.0) -> StepCache:
    return StepCache(cast("CacheDB", db), lookup, None, clock=lambda: now)


def test_miss_runs_and_records_then_hit_reuses_without_running() -> None:
    db, handler = FakeDB(), Handler()
    first = cached_step(start(), instr("WORKDIR /w"), handler, INPUTS, cache(db, now=100.0))
    assert handler.calls == 1
    assert len(db.records) == 1
    second = cached_step(start(), instr("WORKDIR /w"), handler, INPUTS, cache(db, now=200.0))
    assert handler.calls == 1
    assert second.layers == first.layers
    assert second.config.config.working_dir == "/w"
    assert second.history[-1] == first.history[-1]
    assert second.history[-1].created == format_timestamp(100.0)
    assert second.cache_key == first.cache_key
    assert first.step_keys == second.step_keys == (str(first.cache_key),)


def test_no_lookup_runs_again_and_records() -> None:
    db, handler = FakeDB(), Handler()
    cached_step(start(), instr("WORKDIR /w"), handler, INPUTS, cache(db))
    cached_step(start(), instr("WORKDIR /w"), handler, INPUTS, cache(db, lookup=False))
    assert handler.calls == 2
    assert db.gets == 1


def test_config_steps_are_folded_not_looked_up() -> None:
    db, handler = FakeDB(), Handler(layer=False)
    state = start()
    after = cached_step(state, instr("ENV X=1"), handler, INPUTS, cache(db))
    assert db.gets == 0
    assert not db.records
    assert after.cache_key != state.cache_key
    other = cached_step(state, instr("ENV X=2"), handler, INPUTS, cache(db))
    assert other.cache_key != after.cache_key
    assert after.history[-1].created == ""  # filled in by image_created


def test_for_stage_honours_no_cache_and_the_filter() -> None:
    stages = plan(parse("FROM scratch AS One\nFROM scratch\n")).stages
    assert StepCache.for_stage(None, BuildOptions(), stages[0]).lookup
    assert not StepCache.for_stage(None, BuildOptions(no_cache=True), stages[1]).lookup
    filtered = BuildOptions(no_cache_filter=("one",))
    assert not StepCache.for_stage(None, filtered, stages[0]).lookup
    assert StepCache.for_stage(None, filtered, stages[1]).lookup
    assert not StepCache.for_stage(None, BuildOptions(no_cache_filter=("1",)), stages[1]).lookup


def _entry(created: str, *, empty: bool) -> HistoryEntry:
    return HistoryEntry(created=created, created_by="x", empty_layer=empty)


def test_image_created_takes_the_newest_own_layer() -> None:
    base = _entry("2000-01-01T00:00:00Z", empty=True)
    history = (
        base,
        _entry("", empty=True),
        _entry("2024-01-01T00:00:00.5Z", empty=False),
        _entry("2024-01-01T00:00:00.25Z", empty=False),
        _entry("", empty=True),
    )
    state = replace(start(), own_history=1)
    state = replace(state, config=replace(state.config, history=history))
    done = image_created(state, None)
    assert done.config.created == "2024-01-01T00:00:00.5Z"
    assert [e.created for e in done.history] == [
        "2000-01-01T00:00:00Z",
        "2024-01-01T00:00:00.5Z",
        "2024-01-01T00:00:00.5Z",
        "2024-01-01T00:00:00.25Z",
        "2024-01-01T00:00:00.5Z",
    ]
    assert image_created(state, 0).config.created == "1970-01-01T00:00:00Z"
    none = replace(state, config=replace(state.config, history=history[:2]))
    assert image_created(none, None, clock=lambda: 5.0).config.created == format_timestamp(5.0)


def test_with_a_used_list_hits_are_noted_not_touched() -> None:
    db, handler, used = FakeDB(), Handler(), list[str]()
    noted = StepCache(cast("CacheDB", db), clock=lambda: 100.0, used=used)
    first = cached_step(start(), instr("WORKDIR /w"), handler, INPUTS, noted)
    assert used == []  # a miss is recorded, not noted
    second = cached_step(start(), instr("WORKDIR /w"), handler, INPUTS, noted)
    assert handler.calls == 1
    assert used == [str(first.cache_key)] == list(second.step_keys)
    assert (db.gets, db.touched) == (2, 0)
    cached_step(start(), instr("WORKDIR /w"), handler, INPUTS, cache(db))
    assert (db.gets, db.touched) == (3, 1)
    assert (
        StepCache.for_stage(
            None, BuildOptions(), plan(parse("FROM scratch\n")).stages[0], used
        ).used
        is used
    )
