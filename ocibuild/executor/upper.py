"""A fresh *upper* directory for one new layer, written as overlayfs would.

An :class:`Upper` pairs the new diff dir with a read-only view of the layers
below it.  Writing ``/a/b/c`` first copies the existing parents ``/a`` and
``/a/b`` up from the lower layers with their metadata (mode, owner, mtime),
and creates missing ones with mode 0755 and the given owner, as BuildKit
does.  Paths are absolute image paths already resolved against the lower
layers; inside the upper dir no symlink is ever followed (a parent that is
a symlink created by this same step is refused).
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from ocibuild.errors import UserError

if TYPE_CHECKING:
    from pathlib import Path

    from ocibuild.executor.users import Owner
    from ocibuild.snapshot import RootView

__all__ = ["Meta", "Upper"]

_AM_ROOT = os.geteuid() == 0


@dataclass(frozen=True, slots=True)
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


class Upper:
    """The diff dir of the layer being made, over ``lower`` (the layers below)."""

    def __init__(self, root: Path, lower: RootView) -> None:
        self.root = root
        self.lower = lower

    def host(self, path: str) -> Path:
        """The host path in the upper dir for absolute image path ``path``."""
        rel = path.strip("/")
        return self.root / rel if rel else self.root

    def ensure_dir(self, path: str, owner: Owner) -> Path:
        """Make ``path`` a directory in the upper dir, copying up or creating parents."""
        parts = [p for p in path.split("/") if p]
        for i in range(1, len(parts) + 1):
            self._ensure_component("/" + "/".join(parts[:i]), owner)
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
                shutil.rmtree(host)
            else:
                host.unlink()
        return host

    def write_file(self, path: str, src: BinaryIO, meta: Meta, parents: Owner) -> Path:
        """Write regular file ``path`` with the content of ``src``."""
        host = self._prepare(path, parents)
        fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        _apply(host, meta)
        return host

    def write_symlink(self, path: str, target: str, meta: Meta, parents: Owner) -> None:
        host = self._prepare(path, parents)
        host.symlink_to(target)
        _apply(host, meta, symlink=True)

    def write_hardlink(self, path: str, existing: Path, parents: Owner) -> None:
        host = self._prepare(path, parents)
        os.link(existing, host)

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

    def write_special(self, path: str, st: os.stat_result, meta: Meta, parents: Owner) -> None:
        """Recreate a fifo or device node."""
        host = self._prepare(path, parents)
        os.mknod(host, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev)
        _apply(host, meta)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except FileNotFoundError:
        return None
    except NotADirectoryError as err:
        raise UserError(f"cannot copy through a non-directory: {path}") from err
