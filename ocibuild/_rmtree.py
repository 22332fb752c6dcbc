"""Remove a directory tree of any depth: ``shutil.rmtree`` without its recursion.

Python 3.11's ``shutil.rmtree`` recurses once per directory level, so a tree
nested deeper than about 990 directories (a RUN can make one with a shell
loop) raises ``RecursionError``, and a temp dir left that way could never be
swept.  :func:`rmtree` walks with an explicit stack of directory fds instead,
never follows a symlink (a symlink is unlinked, not entered), and removes
what it can when ``ignore_errors`` is set.  Open fds are bounded by the depth
of the tree plus one.  It returns the bytes of the files it removed (their
sizes, each link counted), for callers that report reclaimed space.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["rmtree"]

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def rmtree(path: str | Path, *, ignore_errors: bool = False) -> int:
    """Remove ``path`` and everything below it (a symlink ``path`` is unlinked);
    the bytes of the files removed (with ``ignore_errors``, up to the error)."""
    freed = [0]
    try:
        _remove(Path(path), freed)
    except OSError:
        if not ignore_errors:
            raise
    return freed[0]


def _remove(path: Path, freed: list[int]) -> None:
    try:
        fd = os.open(path, _DIR)
    except OSError as err:
        if err.errno in (errno.ENOTDIR, errno.ELOOP):
            freed[0] += path.lstat().st_size
            path.unlink()
            return
        raise
    # The entries not yet looked at, one list per directory level; only the
    # current directory is open, and ".." (never a symlink) climbs back.
    pending: list[list[str]] = [_names(fd)]
    try:
        while pending:
            names = pending[-1]
            if names:
                child, size = _open_dir(fd, names[-1])
                if child is None:
                    os.unlink(names.pop(), dir_fd=fd)
                    freed[0] += size
                else:
                    os.close(fd)
                    fd = child
                    pending.append(_names(fd))
                continue
            pending.pop()
            if pending:  # the directory is empty now: remove it from its parent
                parent = os.open("..", _DIR, dir_fd=fd)
                os.close(fd)
                fd = parent
                os.rmdir(pending[-1].pop(), dir_fd=fd)
    finally:
        os.close(fd)
    path.rmdir()


def _names(fd: int) -> list[str]:
    with os.scandir(fd) as entries:
        return [entry.name for entry in entries]


def _open_dir(parent: int, name: str) -> tuple[int | None, int]:
    """An fd for directory ``name`` of ``parent``, or None and its size when
    it is not a directory."""
    st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        return None, st.st_size
    return os.open(name, _DIR, dir_fd=parent), 0
