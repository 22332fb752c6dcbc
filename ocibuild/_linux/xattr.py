"""Extended attributes of an entry named relative to a directory fd.

``os.getxattr`` and friends take a path or an fd but no ``dir_fd``.  Going
through ``/proc/self/fd/<dir_fd>/<name>`` with ``follow_symlinks=False``
reaches exactly the entry ``name`` inside the already-opened directory, so a
symlink or a device node can be handled without opening it and without
trusting any path component above the fd.
"""

from __future__ import annotations

import errno
import os

__all__ = ["get_xattrs", "set_xattr"]

_UNSUPPORTED = (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENODATA)


def _at(dir_fd: int, name: str | bytes) -> bytes:
    return b"/proc/self/fd/%d/%s" % (dir_fd, os.fsencode(name))


def get_xattrs(dir_fd: int, name: str | bytes) -> dict[str, bytes]:
    """All readable xattrs of ``name`` in ``dir_fd`` (not following symlinks)."""
    path = _at(dir_fd, name)
    try:
        keys = os.listxattr(path, follow_symlinks=False)
    except OSError as err:
        if err.errno in _UNSUPPORTED:
            return {}
        raise
    values: dict[str, bytes] = {}
    for key in keys:
        try:
            values[key] = os.getxattr(path, key, follow_symlinks=False)
        except OSError as err:
            if err.errno not in (*_UNSUPPORTED, errno.EPERM, errno.EACCES):
                raise
    return values


def set_xattr(dir_fd: int, name: str | bytes, key: str, value: bytes) -> None:
    """Set one xattr on ``name`` in ``dir_fd`` (not following symlinks)."""
    os.setxattr(_at(dir_fd, name), key, value, follow_symlinks=False)
