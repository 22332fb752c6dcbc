"""Durable file updates: temp file in the same directory tree, fsync, rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ocibuild.errors import out_of_space

__all__ = ["FILE_MODE", "fsync_dir", "write_atomic"]

#: Blobs and metadata are world-readable like other OCI layouts.
FILE_MODE = 0o644


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, tmp_dir: Path, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never half.

    ``tmp_dir`` must be on the same filesystem as ``path``.  ``durable=False``
    skips both fsyncs: for files that mean nothing after a crash (a running
    build's gc pin), where two journal commits a write were most of the cost.
    """
    with out_of_space(f"writing {path}"):
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix=f".{path.name}-")
    try:
        with out_of_space(f"writing {path}"), os.fdopen(fd, "wb") as tmp:
            os.fchmod(tmp.fileno(), FILE_MODE)
            tmp.write(data)
            tmp.flush()
            if durable:
                os.fsync(tmp.fileno())
        Path(tmp_name).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp_name).unlink()
        raise
    if durable:
        fsync_dir(path.parent)
