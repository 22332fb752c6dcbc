"""``Snapshots.sweep``: which unpacked layers ``ocibuild prune`` removes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocibuild.oci import Digest
from ocibuild.snapshot import Snapshots

if TYPE_CHECKING:
    from pathlib import Path


def _snapshot(snapshots: Snapshots, content: bytes, *, marked: bool = True) -> Digest:
    """A snapshot of a one-file layer whose diff_id is derived from ``content``."""
    diff_id = Digest.from_bytes(content)
    tmp = snapshots.scratch()
    (tmp / "diff").mkdir()
    (tmp / "diff" / "f").write_bytes(content)
    snapshots.adopt(tmp, diff_id, diff_id)
    if not marked:  # as snapshots were made before they named their layer
        (snapshots.root / diff_id.hex / "layer").unlink()
    return diff_id


def test_sweep_keeps_kept_layers_and_removes_the_rest(tmp_path: Path) -> None:
    snapshots = Snapshots(tmp_path / "snapshots")
    kept = _snapshot(snapshots, b"kept")
    dead = _snapshot(snapshots, b"dead" * 100)
    legacy = _snapshot(snapshots, b"old", marked=False)
    being_made = snapshots.scratch()  # a live build's temp dir: sweep_scratch's business
    stranger = snapshots.root / "notes"
    stranger.mkdir()
    assert (snapshots.root / kept.hex / "layer").read_text() == f"{kept}\n"
    freed = snapshots.sweep({kept})
    assert freed == 400 + len(f"{dead}\n") + 3  # files only, each as its size
    assert snapshots.path(kept).is_dir()
    assert not (snapshots.root / dead.hex).exists()
    assert not (snapshots.root / legacy.hex).exists()
    assert being_made.is_dir() and stranger.is_dir()
    left = sorted(path.name for path in snapshots.root.iterdir())
    assert left == sorted([kept.hex, being_made.name, "notes"])  # no half-removed leftovers


def test_sweep_of_a_missing_root_frees_nothing(tmp_path: Path) -> None:
    assert Snapshots(tmp_path / "absent").sweep(set()) == 0


def test_adopt_keeps_the_snapshot_that_got_there_first(tmp_path: Path) -> None:
    snapshots = Snapshots(tmp_path / "snapshots")
    first = _snapshot(snapshots, b"same")
    tmp = snapshots.scratch()
    (tmp / "diff").mkdir()
    (tmp / "diff" / "f").write_bytes(b"other copy")
    snapshots.adopt(tmp, first, first)
    assert (snapshots.path(first) / "f").read_bytes() == b"same"
    assert tmp.is_dir()  # the caller removes its copy
