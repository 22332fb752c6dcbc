"""The C library, loaded once, with errno turned into ``OSError``.

Shared by the syscall wrappers in this package; holds no policy.
"""

from __future__ import annotations

import ctypes
import os

__all__ = ["check", "libc"]


def _load() -> ctypes.CDLL:
    # glibc's soname first: ctypes.util.find_library runs `ldconfig -p` in a
    # subprocess (milliseconds on every start-up), so it is only the fallback.
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes.util import find_library

        return ctypes.CDLL(find_library("c"), use_errno=True)


libc = _load()


def check(result: int, what: str, *paths: str | bytes) -> int:
    """Raise ``OSError`` from errno when a libc call returned -1."""
    if result == -1:
        err = ctypes.get_errno()
        names = [os.fsdecode(p) for p in paths]
        raise OSError(err, f"{what}: {os.strerror(err)}", *names[:1])
    return result
