"""Scratch dirs name their owner; the sweep removes only those whose owner is gone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ocibuild.store import Store
from ocibuild.store.scratch import (
    CACHE_MOUNT_PREFIX,
    PIN_PREFIX,
    owned_name,
    owner_alive,
    scratch_dir,
    sweep_scratch,
)


def _pidns() -> int:
    return Path("/proc/self/ns/pid").stat().st_ino


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


def test_name_says_who_owns_it(tmp_path: Path) -> None:
    path = scratch_dir(tmp_path)
    assert path.parent == tmp_path
    assert path.is_dir() and not any(path.iterdir())
    assert path.stat().st_mode & 0o777 == 0o700
    match = re.fullmatch(r"tmp-(\d+)-(\d+)-(\d+)-[0-9a-f]{8}", path.name)
    assert match is not None
    assert (int(match[1]), int(match[2])) == (_pidns(), os.getpid())
    assert owner_alive(path.name)
    assert scratch_dir(tmp_path) != path


def test_dead_or_reused_pid_is_not_alive(tmp_path: Path) -> None:
    mine = scratch_dir(tmp_path).name
    _, ns, pid, start, rand = mine.split("-")
    assert not owner_alive(f"tmp-{ns}-{_dead_pid()}-{start}-{rand}")
    assert not owner_alive(f"tmp-{ns}-{pid}-{int(start) + 1}-{rand}")  # pid reused


def test_foreign_or_unknown_names_are_left_alone() -> None:
    assert owner_alive(f"tmp-{_pidns() + 1}-{_dead_pid()}-1-ab")  # another PID namespace
    assert owner_alive("tmp-abcd1234")
    assert owner_alive("tmp-1-2-x-ab")


def test_sweep_removes_only_abandoned_dirs(tmp_path: Path) -> None:
    live = scratch_dir(tmp_path)
    (live / "diff").mkdir()
    _, ns, _pid, start, _ = live.name.split("-")
    dead = tmp_path / f"tmp-{ns}-{_dead_pid()}-{start}-00ff"
    (dead / "diff" / "deep").mkdir(parents=True)
    (dead / "diff" / "deep" / "file").write_text("x")
    (dead / "diff" / "link").symlink_to("/etc")
    unknown = tmp_path / "tmp-abcd1234"
    unknown.mkdir()
    snapshot = tmp_path / ("0" * 64)
    snapshot.mkdir()
    assert sweep_scratch(tmp_path) == [dead.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, unknown.name, snapshot.name]
    )
    assert Path("/etc").is_dir()
    assert sweep_scratch(tmp_path) == []


def test_sweep_of_a_missing_root_is_empty(tmp_path: Path) -> None:
    assert sweep_scratch(tmp_path / "absent") == []


def test_gc_drops_dead_builds_pins_and_scratch_dirs(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    live_pin = owned_name(PIN_PREFIX)
    _, ns, _pid, start, _ = live_pin.split("-")
    dead_pin = f"{PIN_PREFIX}{ns}-{_dead_pid()}-{start}-00ff"
    store.set_root(live_pin, [])
    store.set_root(dead_pin, [])
    store.set_root("cache-export", [])  # not a build's pin: never judged
    store.snapshots_dir.mkdir(parents=True, exist_ok=True)
    dead_dir = store.snapshots_dir / f"tmp-{ns}-{_dead_pid()}-{start}-00ff"
    dead_dir.mkdir()
    live_dir = scratch_dir(store.snapshots_dir)
    store.gc()
    pins = sorted(p.stem for p in store.roots_dir.glob("*.json"))
    assert pins == sorted([live_pin, "cache-export"])
    assert not dead_dir.exists()
    assert live_dir.is_dir()


def test_gc_sweeps_half_made_cache_mount_dirs_of_dead_builds(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store.cache_mounts_dir.mkdir()
    live = store.cache_mounts_dir / owned_name(CACHE_MOUNT_PREFIX)
    live.mkdir()
    _, ns, _pid, start, _ = live.name.split("-")
    dead = store.cache_mounts_dir / f"{CACHE_MOUNT_PREFIX}{ns}-{_dead_pid()}-{start}-00ff"
    (dead / "sub").mkdir(parents=True)
    kept = store.cache_mounts_dir / "tmp-1-2-3-ab"  # a cache id that looks like scratch
    kept.mkdir()
    store.gc()
    assert sorted(p.name for p in store.cache_mounts_dir.iterdir()) == sorted(
        [live.name, kept.name]
    )
