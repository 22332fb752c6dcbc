"""Namespaces: ``unshare(2)``, ``setns(2)`` and ``sethostname(2)``.

Python 3.11 has no ``os.unshare``/``os.setns``; these call libc directly.
"""

from __future__ import annotations

from ocibuild._linux._libc import check, libc

__all__ = [
    "CLONE_NEWCGROUP",
    "CLONE_NEWIPC",
    "CLONE_NEWNET",
    "CLONE_NEWNS",
    "CLONE_NEWPID",
    "CLONE_NEWUTS",
    "sethostname",
    "setns",
    "unshare",
]

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces (``CLONE_NEW*`` flags)."""
    check(libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace that ``fd`` (an open ``/proc/PID/ns/*`` file) names."""
    check(libc.setns(fd, nstype), "setns")


def sethostname(name: str) -> None:
    """Set the host name of the calling process's UTS namespace."""
    data = name.encode()
    check(libc.sethostname(data, len(data)), "sethostname")
