"""Mounts: ``mount(2)``, ``umount2(2)`` and ``pivot_root(2)``.

Flag constants are the kernel's ``MS_*``/``MNT_*`` values.
"""

from __future__ import annotations

import ctypes
import os

from ocibuild._linux._libc import check, libc

__all__ = [
    "MNT_DETACH",
    "MS_BIND",
    "MS_NODEV",
    "MS_NOEXEC",
    "MS_NOSUID",
    "MS_PRIVATE",
    "MS_RDONLY",
    "MS_REC",
    "MS_RELATIME",
    "MS_REMOUNT",
    "MS_SHARED",
    "MS_SLAVE",
    "MS_STRICTATIME",
    "mount",
    "pivot_root",
    "umount2",
]

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "ppc64le": 203, "s390x": 217, "riscv64": 41}

libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _b(value: str | bytes | os.PathLike[str] | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def mount(
    source: str | bytes | os.PathLike[str] | None,
    target: str | bytes | os.PathLike[str],
    fstype: str | None,
    flags: int = 0,
    data: str | bytes | None = None,
) -> None:
    """``mount(source, target, fstype, flags, data)``."""
    target_b = os.fsencode(target)
    result = libc.mount(_b(source), target_b, _b(fstype), flags, _b(data))
    check(result, "mount", target_b)


def umount2(target: str | bytes | os.PathLike[str], flags: int = 0) -> None:
    """``umount2(target, flags)``."""
    target_b = os.fsencode(target)
    check(libc.umount2(target_b, flags), "umount2", target_b)


def pivot_root(new_root: str | bytes, put_old: str | bytes) -> None:
    """``pivot_root(new_root, put_old)`` (no libc wrapper; raw syscall)."""
    number = _SYS_PIVOT_ROOT[os.uname().machine]  # what platform.machine() returns
    new_b, old_b = os.fsencode(new_root), os.fsencode(put_old)
    check(libc.syscall(number, new_b, old_b), "pivot_root", new_b)
