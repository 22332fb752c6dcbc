"""Network links: bring an interface up with ``ioctl(SIOCSIFFLAGS)``."""

from __future__ import annotations

import fcntl
import os
import struct

from ocibuild._linux._libc import check, libc

__all__ = ["set_link_up"]

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = "16sh22x"
_AF_INET = 2
_SOCK_DGRAM = 2
_SOCK_CLOEXEC = 0o2000000


def set_link_up(name: str) -> None:
    """Set ``IFF_UP`` on interface ``name`` (e.g. ``lo`` in a new netns)."""
    # socket(2) through libc: the socket module (with selectors) cost 3.5 ms
    # of every RUN's start-up for one ioctl.
    sock = check(libc.socket(_AF_INET, _SOCK_DGRAM | _SOCK_CLOEXEC, 0), "socket")
    try:
        req = struct.pack(_IFREQ, name.encode(), 0)
        flags = struct.unpack(_IFREQ, fcntl.ioctl(sock, _SIOCGIFFLAGS, req))[1]
        req = struct.pack(_IFREQ, name.encode(), flags | _IFF_UP)
        fcntl.ioctl(sock, _SIOCSIFFLAGS, req)
    finally:
        os.close(sock)
