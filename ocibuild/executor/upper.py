"""A fresh *upper* directory for one new layer, written as overlayfs would.

An :class:`Upper` pairs the new diff dir with a read-only view of the layers
below it.  Writing ``/a/b/c`` first copies the existing parents ``/a`` and
``/a/b`` up from the lower layers with their metadata (mode, owner, mtime),
and creates missing ones with mode 0755 and the given owner, as BuildKit
does.  Paths are absolute image paths already resolved against the lower
layers; inside the upper dir no symlink is ever followed (a parent that is
a symlink created by this same step is refused).

Many-file copies are bounded by syscalls, so the directories known to be in
the upper dir are remembered (no lstat of every parent for every file), file
content moves in the kernel (``copy_file_range``, else ``sendfile``) and a new
file's owner, mode and mtime are set through its open descriptor.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from typing import TYPE_CHECKING, BinaryIO

from ocibuild._record import record
from ocibuild._rmtree import rmtree
from ocibuild.errors import UserError
from ocibuild.layer.tarwriter import MAX_DEPTH

if TYPE_CHECKING:
    from pathlib import Path

    from ocibuild.executor.users import Owner
    from ocibuild.snapshot import RootView

__all__ = ["Meta", "Upper"]

_AM_ROOT = os.geteuid() == 0
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 30  # per copy_file_range/sendfile call; the kernel may do less
# Errors meaning "this fd pair cannot be copied in the kernel": fall back.
_NO_KERNEL_COPY = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF}
)


@record
class Meta:
    """What to give a written entry: permission bits, owner, and mtime (ns; None: now)."""

    mode: int
    uid: int
    gid: int
    mtime_ns: int | None = None


def _apply(path: Path, meta: Meta, *, symlink: bool = False) -> None:
    if _AM_ROOT:
        os.lchown(path, meta.uid, meta.gid)
    if not symlink:
        path.chmod(stat.S_IMODE(meta.mode))
    if meta.mtime_ns is not None:
        os.utime(path, ns=(meta.mtime_ns, meta.mtime_ns), follow_symlinks=False)


def _apply_fd(fd: int, meta: Meta) -> None:
    """:func:`_apply` for an open regular file (chown before chmod: it clears set-id bits)."""
    if _AM_ROOT:
        os.fchown(fd, meta.uid, meta.gid)
    os.fchmod(fd, stat.S_IMODE(meta.mode))
    if meta.mtime_ns is not None:
        os.utime(fd, ns=(meta.mtime_ns, meta.mtime_ns))


def _source_fd(src: BinaryIO) -> int | None:
    """``src``'s descriptor if it is a fresh (unread) plain file, else None.

    Only real files qualify: a tar member's stream also has a ``fileno()``
    (the whole archive's).
    """
    if not isinstance(getattr(src, "raw", src), io.FileIO):
        return None
    try:
        fd = src.fileno()
        fresh = src.tell() == 0
    except (AttributeError, OSError, ValueError):
        return None
    return fd if fresh and stat.S_ISREG(os.fstat(fd).st_mode) else None


def _kernel_copy(src_fd: int, dest_fd: int) -> bool:
    """Copy all of ``src_fd`` into ``dest_fd`` in the kernel; False if it cannot start."""
    copy = getattr(os, "copy_file_range", None)
    offset = 0
    while True:
        try:
            if copy is not None:
                done = copy(src_fd, dest_fd, _CHUNK, offset)
            else:
                done = os.sendfile(dest_fd, src_fd, offset, _CHUNK)
        except OSError as err:
            if err.errno not in _NO_KERNEL_COPY or offset:
                raise
            if copy is None:
                return False
            copy = None  # copy_file_range refused (other fs, old kernel): try sendfile
            continue
        if done == 0:
            return True
        offset += done


def _copy_content(src: BinaryIO, dest_fd: int) -> None:
    src_fd = _source_fd(src)
    if src_fd is not None and _kernel_copy(src_fd, dest_fd):
        return
    from shutil import copyfileobj  # a stream (ADD's download): rare

    with os.fdopen(dest_fd, "wb", closefd=False) as out:
        copyfileobj(src, out, 1 << 20)


class Upper:
    """The diff dir of the layer being made, over ``lower`` (the layers below)."""

    def __init__(self, root: Path, lower: RootView) -> None:
        self.root = root
        self.lower = lower
        self._dirs: set[str] = {"/"}  # image paths that are directories in the upper dir

    def host(self, path: str) -> Path:
        """The host path in the upper dir for absolute image path ``path``."""
        rel = path.strip("/")
        return self.root / rel if rel else self.root

    def ensure_dir(self, path: str, owner: Owner) -> Path:
        """Make ``path`` a directory in the upper dir, copying up or creating parents."""
        parts = [p for p in path.split("/") if p]
        dirs = self._dirs
        if len(parts) >= MAX_DEPTH:
            shown = path[:60] + "..."
            raise UserError(f"{shown}: directories nested deeper than {MAX_DEPTH} levels")
        if "/" + "/".join(parts) not in dirs:
            for i in range(1, len(parts) + 1):
                component = "/" + "/".join(parts[:i])
                if component not in dirs:
                    self._ensure_component(component, owner)
                    dirs.add(component)
        return self.host(path)

    def _ensure_component(self, path: str, owner: Owner) -> None:
        host = self.host(path)
        st = _lstat(host)
        if st is not None:
            if not stat.S_ISDIR(st.st_mode):
                raise UserError(f"cannot copy to non-directory: {path}")
            return
        below = self.lower.lstat(path)
        host.mkdir()
        if below is not None and stat.S_ISDIR(below.st_mode):
            _apply(host, Meta(below.st_mode, below.st_uid, below.st_gid, below.st_mtime_ns))
        elif below is not None:
            raise UserError(f"cannot copy to non-directory: {path}")
        else:
            _apply(host, Meta(0o755, owner.uid, owner.gid))

    def _prepare(self, path: str, owner: Owner) -> Path:
        parent, _, _ = path.rstrip("/").rpartition("/")
        self.ensure_dir(parent or "/", owner)
        host = self.host(path)
        st = _lstat(host)
        if st is not None:
            if stat.S_ISDIR(st.st_mode):
                rmtree(host)
                self._forget(path)
            else:
                host.unlink()
        return host

    def _forget(self, path: str) -> None:
        """Drop ``path`` and everything under it from the known directories."""
        path = "/" + path.strip("/")
        self._dirs = {d for d in self._dirs if d != path and not d.startswith(path + "/")}

    def write_file(self, path: str, src: BinaryIO, meta: Meta, parents: Owner) -> Path:
        """Write regular file ``path`` with the content of ``src``."""
        parent = path.rstrip("/").rpartition("/")[0]
        self.ensure_dir(parent or "/", parents)
        host = self.host(path)
        try:  # the usual case, nothing there yet: no lstat first
            fd = os.open(host, _NEW_FILE, 0o600)
        except FileExistsError:
            host = self._prepare(path, parents)
            fd = os.open(host, _NEW_FILE, 0o600)
        try:
            _copy_content(src, fd)
            _apply_fd(fd, meta)
        finally:
            os.close(fd)
        return host

    def write_symlink(self, path: str, target: str, meta: Meta, parents: Owner) -> None:
        host = self._prepare(path, parents)
        host.symlink_to(target)
        _apply(host, meta, symlink=True)

    def write_hardlink(self, path: str, existing: Path, parents: Owner) -> None:
        host = self._prepare(path, parents)
        os.link(existing, host, follow_symlinks=False)

    def lstat_entry(self, path: str) -> os.stat_result | None:
        """``lstat`` of image path ``path`` in the upper dir, never through a symlink.

        None when it is missing or when one of its parents is not a real
        directory there (a symlink is not followed, so an archive's ``d -> /``
        cannot make ``d/etc/shadow`` name a host file).
        """
        parts = [p for p in path.split("/") if p]
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            for part in parts[:-1]:
                try:
                    child = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
                except OSError as err:
                    if err.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                        return None
                    raise
                os.close(fd)
                fd = child
            if not parts:
                return os.fstat(fd)
            try:
                return os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return None
        finally:
            os.close(fd)

    def make_dir(self, path: str, meta: Meta, parents: Owner) -> None:
        """Make directory ``path`` (kept if it is one already) and give it ``meta``.

        A non-directory below (a symlink too) is an error, as in BuildKit 20.10.
        """
        host = self.host(path)
        st = _lstat(host)
        if st is None:
            below = self.lower.lstat(path)
            if below is not None and not stat.S_ISDIR(below.st_mode):
                raise UserError(f"cannot copy to non-directory: {path}")
        if st is None or not stat.S_ISDIR(st.st_mode):
            host = self._prepare(path, parents)
            host.mkdir()
        _apply(host, meta)
        self._dirs.add("/" + path.strip("/"))

    def write_special(self, path: str, st: os.stat_result, meta: Meta, parents: Owner) -> None:
        """Recreate a fifo or device node."""
        self.write_node(path, stat.S_IFMT(st.st_mode), st.st_rdev, meta, parents)

    def write_node(self, path: str, kind: int, device: int, meta: Meta, parents: Owner) -> None:
        """Make a fifo or device node (``kind``: ``stat.S_IFIFO``, ``S_IFCHR``, ``S_IFBLK``)."""
        host = self._prepare(path, parents)
        os.mknod(host, kind | 0o600, device)
        _apply(host, meta)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except FileNotFoundError:
        return None
    except NotADirectoryError as err:
        raise UserError(f"cannot copy through a non-directory: {path}") from err
