"""Network links: bring an interface up with ``ioctl(SIOCSIFFLAGS)``."""

from __future__ import annotations

import fcntl
import socket
import struct

__all__ = ["set_link_up"]

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = "16sh22x"


def set_link_up(name: str) -> None:
    """Set ``IFF_UP`` on interface ``name`` (e.g. ``lo`` in a new netns)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        req = struct.pack(_IFREQ, name.encode(), 0)
        flags = struct.unpack(_IFREQ, fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, req))[1]
        req = struct.pack(_IFREQ, name.encode(), flags | _IFF_UP)
        fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, req)
