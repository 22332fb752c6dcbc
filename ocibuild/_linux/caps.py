"""Capabilities and process flags: ``capset(2)`` and ``prctl(2)`` options.

Capabilities are given as sets of numbers (``CAPABILITIES`` maps the
``CAP_*`` names used in OCI configs to them).
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import TYPE_CHECKING

from ocibuild._linux._libc import check, libc

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "CAPABILITIES",
    "capset",
    "drop_bounding",
    "last_cap",
    "set_keepcaps",
    "set_no_new_privs",
    "set_pdeathsig",
]

_NAMES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
]
CAPABILITIES: dict[str, int] = {f"CAP_{name}": i for i, name in enumerate(_NAMES)}

PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


class _Header(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _Data(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def _prctl(option: int, arg: int) -> None:
    check(libc.prctl(option, arg, 0, 0, 0), "prctl")


def last_cap() -> int:
    """The highest capability number this kernel knows."""
    return int(Path("/proc/sys/kernel/cap_last_cap").read_text())


def drop_bounding(cap: int) -> None:
    """``prctl(PR_CAPBSET_DROP, cap)``."""
    _prctl(PR_CAPBSET_DROP, cap)


def set_no_new_privs() -> None:
    """``prctl(PR_SET_NO_NEW_PRIVS, 1)``."""
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_pdeathsig(signal: int) -> None:
    """``prctl(PR_SET_PDEATHSIG, signal)``: signal sent when the parent dies."""
    _prctl(PR_SET_PDEATHSIG, signal)


def set_keepcaps(keep: bool) -> None:
    """``prctl(PR_SET_KEEPCAPS, keep)``: keep permitted caps across setuid."""
    _prctl(PR_SET_KEEPCAPS, int(keep))


def _mask(caps: Iterable[int], word: int) -> int:
    return sum(1 << (c - 32 * word) for c in caps if 32 * word <= c < 32 * (word + 1))


def capset(effective: Iterable[int], permitted: Iterable[int], inheritable: Iterable[int]) -> None:
    """``capset(2)`` for the calling thread (version 3: two 32-bit words)."""
    eff, perm, inh = set(effective), set(permitted), set(inheritable)
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)(*(_Data(_mask(eff, w), _mask(perm, w), _mask(inh, w)) for w in (0, 1)))
    check(libc.capset(ctypes.byref(header), data), "capset")
