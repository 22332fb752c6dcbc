"""A diff directory -> a deterministic OCI layer tar, streamed.

Owns the walk and the mapping of file system facts to :class:`TarEntry`;
the header bytes are :mod:`ocibuild.layer.tarheader`'s business, compression
is :mod:`ocibuild.layer.compress`'s.

Order is BuildKit's (a depth-first walk, each directory's names sorted by
bytes), so a parent always precedes its children.  Overlay whiteouts (char
device 0/0) become empty ``.wh.NAME`` files in the device's place; a
directory with ``trusted.overlay.opaque=y`` (``user.overlay.opaque=y`` when
built rootless, in a user namespace) is followed directly by
``DIR/.wh..wh..opq``, as Docker's overlay driver writes them.  Sockets are
skipped (tar cannot hold them).  See docs/design/004-layers.md.

Small pieces (headers, small files, padding) are gathered into writes of
about :data:`_BATCH` bytes: the sink hashes and compresses per call, and a
layer of many small files would otherwise make three sink calls per file.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Protocol

from ocibuild._linux.userns import in_user_namespace
from ocibuild._linux.xattr import get_xattrs
from ocibuild.layer.errors import LayerError
from ocibuild.layer.tarheader import (
    BLKTYPE,
    CHRTYPE,
    DIRTYPE,
    END_OF_ARCHIVE,
    FIFOTYPE,
    LNKTYPE,
    REGTYPE,
    SYMTYPE,
    TarEntry,
    encode_header,
    padding,
)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = [
    "MAX_DEPTH",
    "OPAQUE_XATTR",
    "USER_OPAQUE_XATTR",
    "WHITEOUT_OPAQUE",
    "WHITEOUT_PREFIX",
    "Sink",
    "is_opaque",
    "is_whiteout",
    "keep_xattr",
    "opaque_xattr",
    "write_layer",
]

#: How deep directories may nest in a layer ocibuild writes or unpacks.  Linux
#: paths stop at 4096 bytes (so Docker stops near 2048 levels); Python's
#: recursion limit stops tree walks near 1000 frames.  Real images stay far below.
MAX_DEPTH = 256
WHITEOUT_PREFIX = b".wh."
WHITEOUT_OPAQUE = b".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
USER_OPAQUE_XATTR = "user.overlay.opaque"
"""Where overlayfs mounted with ``userxattr`` (rootless) marks an opaque directory."""
_CHUNK = 1 << 20
_BATCH = 1 << 20
_TYPES = {
    stat.S_IFREG: REGTYPE,
    stat.S_IFDIR: DIRTYPE,
    stat.S_IFLNK: SYMTYPE,
    stat.S_IFCHR: CHRTYPE,
    stat.S_IFBLK: BLKTYPE,
    stat.S_IFIFO: FIFOTYPE,
}


class Sink(Protocol):
    """Where a layer is written: a binary file, or a hashing/compressing stream."""

    def write(self, data: bytes, /) -> object: ...


def is_whiteout(st: os.stat_result) -> bool:
    """Whether ``st`` is an overlayfs whiteout (a 0/0 character device)."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def keep_xattr(key: str) -> bool:
    """Whether an xattr is image content (overlay's own and SELinux labels are not)."""
    overlay = key.startswith(("trusted.overlay.", "user.overlay."))
    return not overlay and key != "security.selinux"


def opaque_xattr() -> str:
    """The xattr this process's overlay mounts read as "opaque directory"."""
    return USER_OPAQUE_XATTR if in_user_namespace() else OPAQUE_XATTR


def is_opaque(xattrs: Mapping[str, bytes]) -> bool:
    """Whether a directory with these xattrs is opaque (either overlay mode)."""
    return xattrs.get(OPAQUE_XATTR) == b"y" or xattrs.get(USER_OPAQUE_XATTR) == b"y"


def write_layer(root: Path, sink: Sink, *, clamp_mtime: int | None) -> None:
    """Write the tar of the diff directory ``root`` to ``sink``.

    ``clamp_mtime`` (seconds), when given, caps every mtime.  Files are read
    in chunks; the layer is never held in memory.
    """
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    writer = _Writer(sink, clamp_mtime)
    try:
        writer.directory(root_fd, b"")
    finally:
        os.close(root_fd)
    writer.emit(END_OF_ARCHIVE)
    writer.flush()


class _Writer:
    """Walks directories by fd and writes one entry per name."""

    def __init__(self, sink: Sink, clamp_mtime: int | None) -> None:
        self._sink = sink
        self._clamp = clamp_mtime
        self._inodes: dict[tuple[int, int], bytes] = {}
        self._pending = bytearray()
        self._depth = 0

    def emit(self, data: bytes) -> None:
        """Queue ``data`` for the sink, passing it on once a batch is full."""
        if len(data) >= _BATCH:  # a big file's chunk: no copy into the batch
            self.flush()
            self._sink.write(data)
            return
        self._pending += data
        if len(self._pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        """Hand everything queued to the sink."""
        if self._pending:
            self._sink.write(bytes(self._pending))
            self._pending.clear()

    def directory(self, dir_fd: int, prefix: bytes) -> None:
        """Write every entry below the directory ``dir_fd`` (named ``prefix``)."""
        if self._depth >= MAX_DEPTH:
            shown = os.fsdecode(prefix[:60])
            raise LayerError(f"{shown}...: directories nested deeper than {MAX_DEPTH} levels")
        self._depth += 1
        for name in sorted(os.listdir(dir_fd)):
            name_b = os.fsencode(name)
            st = os.stat(name_b, dir_fd=dir_fd, follow_symlinks=False)
            self.entry(dir_fd, name_b, prefix + name_b, st)
        self._depth -= 1

    def entry(self, dir_fd: int, name: bytes, path: bytes, st: os.stat_result) -> None:
        """Write the entry ``name`` of ``dir_fd`` (``path`` in the layer)."""
        if stat.S_ISSOCK(st.st_mode):
            return
        if is_whiteout(st):
            head, _, base = path.rpartition(b"/")
            marker = (head + b"/" if head else b"") + WHITEOUT_PREFIX + base
            self._write(self._marker(marker, st, 0o600))
            return
        xattrs = get_xattrs(dir_fd, name)
        linkname = os.readlink(name, dir_fd=dir_fd) if stat.S_ISLNK(st.st_mode) else b""
        entry = self._plain(path, st, xattrs, linkname)
        if stat.S_ISDIR(st.st_mode):
            self._write(entry)
            if is_opaque(xattrs):
                opaque = path + b"/" + WHITEOUT_OPAQUE
                self._write(self._marker(opaque, st, st.st_mode & 0o777))
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
            try:
                self.directory(child, path + b"/")
            finally:
                os.close(child)
        elif entry.typeflag == REGTYPE:
            self._write_file(dir_fd, name, entry)
        else:
            self._write(entry)

    def _plain(
        self, path: bytes, st: os.stat_result, xattrs: dict[str, bytes], linkname: bytes
    ) -> TarEntry:
        kind = stat.S_IFMT(st.st_mode)
        typeflag = _TYPES[kind]
        key = (st.st_dev, st.st_ino)
        if kind != stat.S_IFDIR and st.st_nlink > 1:
            first = self._inodes.setdefault(key, path)
            if first != path:
                typeflag, linkname = LNKTYPE, first
        return TarEntry(
            name=path + b"/" if kind == stat.S_IFDIR else path,
            typeflag=typeflag,
            mode=st.st_mode,
            uid=st.st_uid,
            gid=st.st_gid,
            size=st.st_size if typeflag == REGTYPE else 0,
            mtime=self._mtime(st),
            linkname=linkname,
            devmajor=os.major(st.st_rdev) if kind in (stat.S_IFCHR, stat.S_IFBLK) else 0,
            devminor=os.minor(st.st_rdev) if kind in (stat.S_IFCHR, stat.S_IFBLK) else 0,
            xattrs=tuple(sorted((k, v) for k, v in xattrs.items() if keep_xattr(k))),
        )

    def _marker(self, name: bytes, st: os.stat_result, mode: int) -> TarEntry:
        """An empty whiteout file standing for ``st`` (a device or an opaque dir)."""
        return TarEntry(
            name=name,
            typeflag=REGTYPE,
            mode=mode,
            uid=st.st_uid,
            gid=st.st_gid,
            mtime=self._mtime(st),
        )

    def _mtime(self, st: os.stat_result) -> int:
        seconds = st.st_mtime_ns // 1_000_000_000
        return seconds if self._clamp is None else min(seconds, self._clamp)

    def _write(self, entry: TarEntry) -> None:
        self.emit(encode_header(entry))

    def _write_file(self, dir_fd: int, name: bytes, entry: TarEntry) -> None:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            self._write(entry)
            remaining = entry.size
            while remaining > 0:
                chunk = os.read(fd, min(_CHUNK, remaining))
                if not chunk:
                    raise OSError(f"{entry.name!r} shrank while being archived")
                self.emit(chunk)
                remaining -= len(chunk)
        finally:
            os.close(fd)
        self.emit(padding(entry.size))
