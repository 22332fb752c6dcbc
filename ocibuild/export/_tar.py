"""Deterministic tar archives of files we already know: the archive writers' sink.

Entries are added in the order given (callers sort them); every header has
mtime 0, uid/gid 0, empty uname/gname, mode 0644 for files and 0755 for
directories, PAX format.  So the same image gives the same archive bytes.
Also owns :func:`atomic_output`: a file that appears complete or not at all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Destination", "TarSink", "atomic_output"]

#: Where an archive goes: a path (``"-"`` is *not* special here) or an open stream.
Destination = str | os.PathLike[str] | BinaryIO

_COPY_CHUNK = 1 << 20


class TarSink:
    """Writes a stream-mode tar with fixed metadata; creates parent dirs once each."""

    def __init__(self, stream: BinaryIO) -> None:
        self._tar = tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self._dirs: set[str] = set()

    def __enter__(self) -> TarSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self._tar.close()

    def add_bytes(self, name: str, data: bytes) -> None:
        """Add a regular file holding ``data``."""
        import io

        self.add_stream(name, io.BytesIO(data), len(data))

    def add_stream(self, name: str, stream: IO[bytes], size: int) -> None:
        """Add a regular file of exactly ``size`` bytes read from ``stream``."""
        self._parents(name)
        info = _info(name, tarfile.REGTYPE, 0o644)
        info.size = size
        self._tar.addfile(info, stream)

    def add_dir(self, name: str) -> None:
        """Add a directory entry (once)."""
        name = name.rstrip("/")
        if name in self._dirs:
            return
        self._parents(name)
        self._dirs.add(name)
        self._tar.addfile(_info(name + "/", tarfile.DIRTYPE, 0o755))

    def _parents(self, name: str) -> None:
        parts = name.rstrip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            self.add_dir("/".join(parts[:i]))


def _info(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


@contextlib.contextmanager
def atomic_output(dest: Destination) -> Iterator[BinaryIO]:
    """A binary stream for ``dest``: a given stream as is, or a temp file next to
    the path that is renamed over it only when the block ends without error.

    Not fsynced: an output file is the user's, not part of the store's
    consistency (``docker save`` does not sync either), and on ext4 the fsync
    waited for the writeback of the whole build's new layers and snapshots,
    seconds for a 250 MB layer (docs/performance.md, round 3)."""
    if not isinstance(dest, str | os.PathLike):
        yield dest
        dest.flush()
        return
    path = Path(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            yield stream
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def copy_exact(src: BinaryIO, dst: BinaryIO) -> None:
    """Copy ``src`` to ``dst`` in bounded chunks."""
    shutil.copyfileobj(src, dst, _COPY_CHUNK)
