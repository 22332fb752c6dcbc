"""``fsck`` of what processes leave under ``ocibuild/``: snapshots and temp files.

* ``snapshots/``: each entry is a chain-ID dir (64 hex digits) holding a
  ``diff`` dir, or a ``tmp-<owner>`` dir being filled (:mod:`ocibuild.store.
  scratch`): a live owner's is in progress and not reported, a dead owner's
  is stale.  Anything else does not belong there.
* ``tmp/``: a temp file no writer holds (a writer keeps an flock on its
  blob temp file) and older than gc's grace is stale.
* ``cache-mounts/``: a ``%new-<owner>`` dir of a dead owner is stale.

Stale leftovers are swept by the next build (snapshots, cache mounts) or by
``ocibuild prune`` (all of them).  Nothing here takes the store lock: the
owner in a name says who may still use it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import time
from typing import TYPE_CHECKING

from ocibuild.store.fsck_problem import Problem, rel
from ocibuild.store.gc import TMP_GRACE_SECONDS
from ocibuild.store.scratch import CACHE_MOUNT_PREFIX, PREFIX, owner_alive

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["check_cache_mounts", "check_snapshots", "check_tmp"]

_CHAIN = re.compile(r"[0-9a-f]{64}")
_SWEPT = "swept by the next build or prune"


def _entries(directory: Path) -> list[Path]:
    try:
        return sorted(directory.iterdir())
    except FileNotFoundError:
        return []


def check_snapshots(root: Path, found: list[Problem]) -> int:
    """Check ``root`` (the snapshots dir); returns how many snapshots it holds."""
    count = 0
    for path in _entries(root):
        name = path.name
        if name.startswith(PREFIX) and path.is_dir() and not path.is_symlink():
            if not owner_alive(name):
                found.append(
                    Problem(
                        "snapshot", rel(path), f"temp dir of a dead build ({_SWEPT})", stale=True
                    )
                )
        elif not _CHAIN.fullmatch(name) or path.is_symlink() or not path.is_dir():
            found.append(Problem("snapshot", rel(path), "not a snapshot (no chain ID dir)"))
        elif not (path / "diff").is_dir() or (path / "diff").is_symlink():
            found.append(Problem("snapshot", rel(path), "has no diff dir"))
        else:
            count += 1
    return count


def check_tmp(tmp_dir: Path, found: list[Problem]) -> None:
    """Report the temp files of writers that are gone."""
    now = time.time()
    for path in _entries(tmp_dir):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue  # gone, or not a file we made
        try:
            st = os.fstat(fd)
            young = now - st.st_mtime < TMP_GRACE_SECONDS
            if not stat.S_ISREG(st.st_mode) or young or _held(fd):
                continue
            found.append(
                Problem("tmp", rel(path), f"temp file of a dead writer ({_SWEPT})", stale=True)
            )
        finally:
            os.close(fd)


def _held(fd: int) -> bool:
    """Whether a live writer holds an flock on the file (we take none for long)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def check_cache_mounts(directory: Path, found: list[Problem]) -> None:
    """Report cache mount dirs a dead build was making."""
    for path in _entries(directory):
        if path.name.startswith(CACHE_MOUNT_PREFIX) and not owner_alive(
            path.name, CACHE_MOUNT_PREFIX
        ):
            found.append(
                Problem(
                    "cache-mount", rel(path), f"half-made by a dead build ({_SWEPT})", stale=True
                )
            )
