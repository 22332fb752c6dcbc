"""User namespaces: the ``CLONE_NEWUSER`` flag and whether we are inside one.

No policy: :mod:`ocibuild.rootless` decides when to make one, and the
overlay code asks :func:`in_user_namespace` to pick overlayfs' ``userxattr``
mode (the kernel refuses ``trusted.*`` xattrs to a namespace's root).
"""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["CLONE_NEWUSER", "in_user_namespace"]

CLONE_NEWUSER = 0x10000000
_INITIAL_MAP = ["0", "0", "4294967295"]


@functools.cache
def in_user_namespace() -> bool:
    """True when this process is not in the initial user namespace (cached)."""
    try:
        text = Path("/proc/self/uid_map").read_text()
    except OSError:
        return False
    return text.split() != _INITIAL_MAP
