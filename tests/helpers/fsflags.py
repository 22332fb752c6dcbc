"""Reading a directory's inode flags (``lsattr -d``) in tests."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ocibuild._linux.fsflags import get_flags

if TYPE_CHECKING:
    from pathlib import Path


def flags_of(path: Path) -> int:
    """The inode flags of the directory ``path``."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return get_flags(fd)
    finally:
        os.close(fd)
