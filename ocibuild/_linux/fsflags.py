"""Inode flags (``chattr``): ``FS_IOC_GETFLAGS`` and ``FS_IOC_SETFLAGS`` on an open fd.

No policy: ``ocibuild.snapshot`` decides which directory gets which flag and
what to do when a file system has no such flags (``ENOTTY``, ``EOPNOTSUPP``).
The kernel reads and writes a C ``int`` despite the ``long`` in the ioctl's
definition.
"""

from __future__ import annotations

import fcntl
import struct

__all__ = ["FS_TOPDIR_FL", "get_flags", "set_flags"]

FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_TOPDIR_FL = 0x00020000
"""``chattr +T``: ext2/3/4's Orlov allocator treats the directory as the top of
a hierarchy and spreads its subdirectories over the disk (``chattr(1)``)."""


def get_flags(fd: int) -> int:
    """The inode flags of the open file ``fd``."""
    raw = fcntl.ioctl(fd, FS_IOC_GETFLAGS, bytes(8))
    return int(struct.unpack_from("=I", raw)[0])


def set_flags(fd: int, flags: int) -> None:
    """Replace the inode flags of the open file ``fd`` with ``flags``."""
    fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("=I4x", flags))
