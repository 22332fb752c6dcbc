"""Read-only trees that COPY/ADD take sources from, and source-path matching.

A :class:`SourceTree` is what the copy engine reads: the build context (a
directory, with .dockerignore applied), or another stage's or image's rootfs
(a ``snapshot.RootView``).  Paths are ``/``-separated and relative to the
tree's root; :meth:`SourceTree.resolve` keeps symlinks inside the root.

:func:`match_sources` expands one COPY source word the way BuildKit does:
the word is cleaned to stay inside the root (``../x`` is ``x``), each path
component may be a Go ``filepath.Match`` pattern, and a pattern that matches
nothing yields nothing (BuildKit allows empty wildcards for COPY).
"""

from __future__ import annotations

import re
import stat
from typing import TYPE_CHECKING, BinaryIO, Protocol

from ocibuild.dockerfile.ignore import clean_path
from ocibuild.errors import ContextError

if TYPE_CHECKING:
    import os

    from ocibuild.snapshot import RootView

__all__ = ["SourceTree", "ViewTree", "clean_inside", "go_match", "has_magic", "match_sources"]


class SourceTree(Protocol):
    """A read-only filesystem tree (context or rootfs) seen from its root."""

    def lstat(self, path: str) -> os.stat_result:
        """Metadata of ``path`` without following a final symlink (FileNotFoundError)."""
        ...

    def listdir(self, path: str) -> list[str]:
        """Names in directory ``path`` (visible ones only)."""
        ...

    def open(self, path: str) -> BinaryIO:
        """The content of regular file ``path``."""
        ...

    def readlink(self, path: str) -> str:
        """The target of symlink ``path``."""
        ...

    def resolve(self, path: str, follow_last: bool = True) -> str:
        """``path`` with symlinks resolved inside the root (absolute, ``/``-rooted)."""
        ...


class ViewTree:
    """A :class:`SourceTree` over a rootfs (``snapshot.RootView``): a stage or an image."""

    def __init__(self, view: RootView) -> None:
        self.view = view

    def lstat(self, path: str) -> os.stat_result:
        st = self.view.lstat(path)
        if st is None:
            raise FileNotFoundError(path)
        return st

    def listdir(self, path: str) -> list[str]:
        return self.view.listdir(path)

    def open(self, path: str) -> BinaryIO:
        return self.view.open(path)

    def readlink(self, path: str) -> str:
        real = self.view.real_path(path)
        if real is None:
            raise FileNotFoundError(path)
        return str(real.readlink())

    def resolve(self, path: str, follow_last: bool = True) -> str:
        return self.view.resolve(path, follow_last)


def clean_inside(path: str) -> str:
    """Clean ``path`` as if rooted at ``/``: ``../x`` -> ``/x``; never escapes."""
    return clean_path("/" + path)


def has_magic(component: str) -> bool:
    """Whether a path component is a wildcard pattern."""
    return any(ch in component for ch in "*?[")


def _class(pattern: str, i: int) -> tuple[str, int]:
    j = i + 1
    out = "["
    if j < len(pattern) and pattern[j] == "^":
        out += "^"
        j += 1
    start = j
    while j < len(pattern) and (pattern[j] != "]" or j == start):
        ch = pattern[j]
        if ch == "\\" and j + 1 < len(pattern):
            j += 1
            ch = pattern[j]
        out += "\\" + ch if ch in "\\^[]" else ch
        j += 1
    if j >= len(pattern):
        raise ContextError(f"syntax error in pattern: {pattern}")
    return out + "]", j + 1


def _compile(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out, i = out + "[^/]*", i + 1
        elif ch == "?":
            out, i = out + "[^/]", i + 1
        elif ch == "[":
            piece, i = _class(pattern, i)
            out += piece
        elif ch == "\\" and i + 1 < len(pattern):
            out, i = out + re.escape(pattern[i + 1]), i + 2
        else:
            out, i = out + re.escape(ch), i + 1
    return re.compile(out, re.DOTALL)


def go_match(pattern: str, name: str) -> bool:
    """Go's ``filepath.Match`` for one path component (``*``, ``?``, ``[...]``, ``\\``)."""
    return _compile(pattern).fullmatch(name) is not None


def _is_dir(tree: SourceTree, path: str) -> bool:
    try:
        return stat.S_ISDIR(tree.lstat(tree.resolve(path)).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


def match_sources(tree: SourceTree, word: str) -> list[str]:
    """The paths (``/``-rooted, sorted per component) that source ``word`` names.

    A literal path is returned even if missing (the copy reports it); a
    wildcard component matches only existing entries.
    """
    parts = [p for p in clean_inside(word).split("/") if p]
    found = ["/"]
    for part in parts:
        if not has_magic(part):
            found = [_join(base, part) for base in found]
            continue
        pattern = _compile(part)
        found = [
            _join(base, name)
            for base in found
            if _is_dir(tree, base)
            for name in sorted(tree.listdir(tree.resolve(base)))
            if pattern.fullmatch(name)
        ]
    return found


def _join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name
