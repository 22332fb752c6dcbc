"""The C library, loaded once, with errno turned into ``OSError``.

Shared by the syscall wrappers in this package; holds no policy.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["check", "libc"]

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def check(result: int, what: str, *paths: str | bytes) -> int:
    """Raise ``OSError`` from errno when a libc call returned -1."""
    if result == -1:
        err = ctypes.get_errno()
        names = [os.fsdecode(p) for p in paths]
        raise OSError(err, f"{what}: {os.strerror(err)}", *names[:1])
    return result
