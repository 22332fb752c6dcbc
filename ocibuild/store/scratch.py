"""Temp dirs under the snapshots root that say who owns them, and their sweep.

A process that dies by SIGKILL cannot remove its temp dirs, so each one
carries its owner in its name: ``tmp-<pidns>-<pid>-<start>-<random>``, where
``pidns`` is the inode of the owner's PID namespace, ``pid`` its process id
and ``start`` its start time (``/proc/<pid>/stat`` field 22, clock ticks
since boot; with the pid it names one process for the life of the machine).

``scratch_dir(root)`` makes such a dir (mode 0700) for the calling process.
``sweep_scratch(root)`` removes every ``tmp-*`` dir whose owner is gone and
returns their names.  ``owned_name(prefix)`` gives other per-process files
(a build's gc pin, ``build-<owner>-<random>``) the same kind of name, and
``owner_alive(name, prefix)`` judges them; ``Store.gc`` sweeps both.
A ``RUN --mount=type=cache`` dir is made as ``cache-mounts/%new-<owner>``
and renamed into place (:data:`CACHE_MOUNT_PREFIX`: ``%n`` never appears in
a quoted cache id, so no cache dir can look like one); builds and gc sweep
those with ``sweep_scratch(root, CACHE_MOUNT_PREFIX)``.
A dir is left alone when its owner is alive, when it
was made in another PID namespace (its pid means nothing here), or when its
name does not follow the pattern (not ours to judge).  The check and the
removal are not atomic, but they need not be: a dead owner never comes back,
and a live pid with another start time is another process.

Nothing here is mounted in the host's mount table (RUN overlays live in the
sandbox helper's private mount namespace, see ``ocibuild.sandbox.init``), so
removing an abandoned dir is a plain rmtree (ours: any depth).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from ocibuild._rmtree import rmtree

__all__ = [
    "CACHE_MOUNT_PREFIX",
    "PIN_PREFIX",
    "PREFIX",
    "owned_name",
    "owner_alive",
    "scratch_dir",
    "sweep_scratch",
]

PREFIX = "tmp-"
PIN_PREFIX = "build-"  # a running build's gc pin: roots/build-<owner>-<random>.json
CACHE_MOUNT_PREFIX = "%new-"  # a cache mount dir being made: cache-mounts/%new-<owner>
_OWNER = r"(\d+)-(\d+)-(\d+)-[0-9a-f]+"


def _pid_namespace() -> int:
    return Path("/proc/self/ns/pid").stat().st_ino


def _start_time(pid: int) -> int | None:
    """Field 22 of ``/proc/<pid>/stat``; None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    if fields[0] in ("Z", "X"):  # exited, not yet reaped: gone all the same
        return None
    return int(fields[19])


def owned_name(prefix: str) -> str:
    """``<prefix><pidns>-<pid>-<start>-<random>`` naming this process as owner."""
    pid = os.getpid()
    start = _start_time(pid)
    assert start is not None  # this process is alive
    return f"{prefix}{_pid_namespace()}-{pid}-{start}-{os.urandom(4).hex()}"


def scratch_dir(root: Path) -> Path:
    """A new, empty dir ``root/tmp-<owner>-<random>`` owned by this process."""
    path = root / owned_name(PREFIX)
    path.mkdir(mode=0o700)
    return path


def owner_alive(name: str, prefix: str = PREFIX) -> bool:
    """Whether the process that made ``name`` (``<prefix><owner>``) may still use it."""
    match = re.fullmatch(re.escape(prefix) + _OWNER, name)
    if match is None:
        return True  # not our naming: never judged abandoned
    pidns, pid, start = (int(group) for group in match.groups())
    if pidns != _pid_namespace():
        return True
    return _start_time(pid) == start


def sweep_scratch(root: Path, prefix: str = PREFIX) -> list[str]:
    """Remove the ``<prefix>*`` dirs under ``root`` whose owner is gone; their names."""
    removed: list[str] = []
    with contextlib.suppress(FileNotFoundError):
        for path in sorted(root.glob(f"{prefix}*")):
            if owner_alive(path.name, prefix) or not path.is_dir() or path.is_symlink():
                continue
            rmtree(path, ignore_errors=True)
            if not path.exists():
                removed.append(path.name)
    return removed
