"""A read-only union view of stacked overlay lower dirs, without mounting.

Owns path lookup over ``lowers`` (topmost first) with overlayfs's rules:

* a whiteout (char device 0/0) hides the name in every lower layer;
* a non-directory hides everything below it in lower layers;
* a directory with ``trusted.overlay.opaque=y`` (``user.`` rootless) hides lower layers' entries
  of that directory (its own layer still counts);
* directories that are not hidden merge their entries.

Paths are as seen inside the image: ``/etc/passwd`` and ``etc/passwd`` are
the same.  Symlinks are resolved *inside* the root: absolute targets start at
the view's root and ``..`` never climbs above ``/``.  The view never writes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ocibuild._record import record
from ocibuild.errors import UserError
from ocibuild.layer.tarwriter import is_whiteout, opaque_xattr

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["MAX_SYMLINKS", "RootView", "SymlinkLoopError"]

#: Symlinks followed in one lookup before giving up, as Linux's ELOOP limit.
MAX_SYMLINKS = 40


class SymlinkLoopError(UserError):
    """A path inside an image goes through too many symbolic links."""


@record
class _Hit:
    """One layer's entry for a path."""

    real: Path
    st: os.stat_result


class RootView:
    """The merged root of ``lowers`` (topmost first), read-only."""

    def __init__(self, lowers: Sequence[Path]) -> None:
        self._lowers = tuple(Path(p) for p in lowers)

    # -- public queries ----------------------------------------------------

    def lstat(self, path: str) -> os.stat_result | None:
        """The stat of ``path`` (its last component not followed), or ``None``."""
        hits = self._hits(self._parts(self.resolve(path, follow_last=False)))
        return hits[0].st if hits else None

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` (following symlinks) is a directory."""
        hits = self._hits(self._parts(self.resolve(path)))
        return bool(hits) and stat.S_ISDIR(hits[0].st.st_mode)

    def real_path(self, path: str) -> Path | None:
        """The file in the lower dir that provides ``path`` (last component not followed)."""
        hits = self._hits(self._parts(self.resolve(path, follow_last=False)))
        return hits[0].real if hits else None

    def listdir(self, path: str) -> list[str]:
        """The sorted names in the directory ``path`` (following symlinks).

        Raises ``FileNotFoundError`` or ``NotADirectoryError``.
        """
        resolved = self.resolve(path)
        hits = self._hits(self._parts(resolved))
        if not hits:
            raise FileNotFoundError(resolved)
        if not stat.S_ISDIR(hits[0].st.st_mode):
            raise NotADirectoryError(resolved)
        seen: dict[str, bool] = {}
        for hit in hits:
            with os.scandir(hit.real) as entries:
                for entry in entries:
                    if entry.name not in seen:
                        st = entry.stat(follow_symlinks=False)
                        seen[entry.name] = not is_whiteout(st)
        return sorted(name for name, visible in seen.items() if visible)

    def open(self, path: str) -> BinaryIO:
        """Open the regular file ``path`` (following symlinks) for reading.

        Raises ``FileNotFoundError`` or ``IsADirectoryError`` like ``open``.
        """
        resolved = self.resolve(path)
        hits = self._hits(self._parts(resolved))
        if not hits:
            raise FileNotFoundError(resolved)
        if stat.S_ISDIR(hits[0].st.st_mode):
            raise IsADirectoryError(resolved)
        fd = os.open(hits[0].real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        return os.fdopen(fd, "rb")

    def read_text(self, path: str) -> str | None:
        """The text of ``path`` (UTF-8, undecodable bytes kept as surrogates), or ``None``."""
        try:
            with self.open(path) as f:
                return f.read().decode("utf-8", "surrogateescape")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def resolve(self, path: str, follow_last: bool = True) -> str:
        """``path`` with every symlink replaced by its target, inside the root.

        Missing components are kept as they are.  Raises
        :class:`SymlinkLoopError` after :data:`MAX_SYMLINKS` links.
        """
        done: list[str] = []
        todo = list(reversed(path.split("/")))
        links = 0
        while todo:
            part = todo.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            hits = self._hits((*done, part))
            is_link = bool(hits) and stat.S_ISLNK(hits[0].st.st_mode)
            if not is_link or (not follow_last and not _more(todo)):
                done.append(part)
                continue
            links += 1
            if links > MAX_SYMLINKS:
                raise SymlinkLoopError(f"{path}: too many levels of symbolic links")
            target = str(hits[0].real.readlink())
            if target.startswith("/"):
                done = []
            todo.extend(reversed(target.split("/")))
        return "/" + "/".join(done)

    # -- lookup --------------------------------------------------------------

    @staticmethod
    def _parts(path: str) -> tuple[str, ...]:
        return tuple(p for p in path.split("/") if p not in ("", "."))

    def _hits(self, parts: tuple[str, ...]) -> list[_Hit]:
        """The entries for the literal path ``parts`` that make up the union, topmost first.

        Empty when the path does not exist.  More than one hit only for a
        directory, whose entries merge.
        """
        hits: list[_Hit] = []
        for lower in self._lowers:
            hit, stop = _probe(lower, parts)
            if hit is not None:
                if hits and not stat.S_ISDIR(hit.st.st_mode):
                    break  # a lower non-directory under an upper directory
                hits.append(hit)
                if not stat.S_ISDIR(hit.st.st_mode):
                    break
            if stop:
                break
        return hits


def _more(todo: list[str]) -> bool:
    """Whether a real component remains to be walked."""
    return any(p not in ("", ".") for p in todo)


def _probe(lower: Path, parts: tuple[str, ...]) -> tuple[_Hit | None, bool]:
    """``parts`` in one layer: ``(hit or None, whether lower layers are hidden)``."""
    opaque = False
    current = lower
    for index, part in enumerate((None, *parts)):
        if part is not None:
            current = current / part
        st = _lstat(current)
        if st is None:
            return None, opaque
        last = index == len(parts)
        if is_whiteout(st):
            return None, True
        if not stat.S_ISDIR(st.st_mode):
            return (_Hit(current, st), True) if last else (None, True)
        opaque = opaque or _is_opaque(current)
        if last:
            return _Hit(current, st), opaque
    raise AssertionError("unreachable")  # pragma: no cover


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _is_opaque(path: Path) -> bool:
    try:  # trusted.overlay.opaque as root, user.overlay.opaque rootless (userxattr)
        return os.getxattr(path, opaque_xattr(), follow_symlinks=False) == b"y"
    except OSError:
        return False
