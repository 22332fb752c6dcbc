"""Snapshots.scratch marks the snapshots root ``chattr +T`` (an ext4 placement hint)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from helpers.fsflags import flags_of

from ocibuild._linux.fsflags import FS_TOPDIR_FL
from ocibuild.snapshot.snapshots import Snapshots, mark_topdir
from ocibuild.store.scratch import PREFIX


def _needs_topdir(path: Path) -> None:
    if not mark_topdir(path):
        pytest.skip(f"the file system of {path} has no FS_TOPDIR_FL")


def test_scratch_marks_the_root_once_and_not_its_children(tmp_path: Path) -> None:
    _needs_topdir(tmp_path)  # the root's file system supports the flag
    snapshots = Snapshots(tmp_path / "snapshots")
    first = snapshots.scratch()
    assert first.parent == snapshots.root
    assert first.name.startswith(PREFIX)
    assert flags_of(snapshots.root) & FS_TOPDIR_FL
    assert not flags_of(first) & FS_TOPDIR_FL  # not inherited: only the root spreads
    second = snapshots.scratch()
    assert second != first
    assert second.is_dir()


def test_mark_topdir_keeps_the_otherflags_of(tmp_path: Path) -> None:
    _needs_topdir(tmp_path)
    target = tmp_path / "d"
    target.mkdir()
    before = flags_of(target)
    assert mark_topdir(target)
    assert flags_of(target) == before | FS_TOPDIR_FL
    assert mark_topdir(target)  # already set: still fine
    assert flags_of(target) == before | FS_TOPDIR_FL


def test_mark_topdir_is_only_a_hint(tmp_path: Path) -> None:
    assert not mark_topdir(tmp_path / "missing")
    regular = tmp_path / "file"
    regular.write_bytes(b"")
    assert not mark_topdir(regular)  # not a directory: nothing set, no error


def test_tmpfs_has_no_topdir_flag_and_nothing_breaks() -> None:
    shm = "/dev/shm"  # a tmpfs, to try the unsupported case on
    if not os.path.isdir(shm) or not os.access(shm, os.W_OK):
        pytest.skip("no writable /dev/shm")
    with tempfile.TemporaryDirectory(dir=shm) as tmp:
        snapshots = Snapshots(Path(tmp) / "snapshots")
        made = snapshots.scratch()  # works whether or not the flag exists there
        assert made.is_dir()
