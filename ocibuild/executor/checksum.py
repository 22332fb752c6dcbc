"""Checksums of COPY/ADD sources, for the step's cache key (docs/design/008).

:func:`sources_checksum` owns one question: would this COPY write something
different from last time?  It selects the sources exactly as the copy does
(``copy.match_all``; ``.dockerignore`` is applied by the tree, ``--exclude``
here, as in ``copy.py``), walks them in the copy's order, and hashes one JSON
line per entry the copy would write: where it lands (relative to ``dest``),
its type, mode bits (with setuid/setgid/sticky), uid/gid as the tree reports
them, its symlink target, device number, a hard link to an earlier entry, or
its content sha256.  Times never enter, and neither does the destination or
``--chown``/``--chmod`` (those are in the instruction part of the key).

Content hashes come from a :class:`StatCache` (``store.cache.CacheDB``) keyed
by the file's absolute host path: a hit (same dev, ino, size, mtime, ctime,
mode; the cache decides) means the file is not read.  The cached hashes of a
directory source of the context come from one query (``stat_lookup``), and
new hashes are written in one transaction at the end (``stat_put_many``).  A file changed so
recently that a later change could keep the same timestamps ("racy", as git
calls it) is hashed but not cached.  Cache-key assembly is left to the
executor.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from json.encoder import encode_basestring_ascii as _quote
from typing import TYPE_CHECKING, Protocol

from ocibuild._record import field, record
from ocibuild.dockerfile.ignore import IgnoreRules
from ocibuild.executor.context import BuildContext
from ocibuild.executor.copy import match_all, target_path
from ocibuild.executor.sources import ViewTree

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from ocibuild.executor.copy import Source
    from ocibuild.executor.sources import SourceTree

__all__ = ["FORMAT", "RACY_NS", "StatCache", "sources_checksum"]

#: The first line hashed; bump it when the encoding changes.
FORMAT = "ocibuild.sources.v1"

#: Files whose ctime is this close to (or after) the start of a checksum are
#: not cached: kernel timestamps tick coarsely (4 ms here), so a later write
#: in the same tick could leave every stat field unchanged.
RACY_NS = 100_000_000

_CHUNK = 1 << 20

_Record = list[str | int]
_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))


def file_line(landing: str, mode: int, uid: int, gid: int, digest: str) -> bytes:
    """The line of a regular file, as ``_ENCODER`` writes ``["file", ...]`` (the
    same bytes, a test checks), formatted directly: a COPY of 10,000 files
    spent a third of its checksum in the encoder's Python wrapper."""
    return f'["file",{_quote(landing)},{mode},{uid},{gid},"{digest}"]\n'.encode("ascii")


class StatCache(Protocol):
    """Content sha256 (bare hex) by host path, valid while the stat matches."""

    def stat_get(self, path: str, st: os.stat_result) -> str | None:
        """The cached sha256 of ``path`` if ``st`` matches the stored stat."""
        ...

    def stat_put(self, path: str, st: os.stat_result, sha256: str) -> None:
        """Remember ``sha256`` for ``path`` as long as its stat stays ``st``."""
        ...

    def stat_lookup(self, directory: str) -> Callable[[str, os.stat_result], str | None]:
        """A ``stat_get`` for every path under ``directory``, read in one go."""
        ...

    def stat_put_many(self, entries: Iterable[tuple[str, os.stat_result, str]]) -> None:
        """``stat_put`` for each ``(path, st, sha256)``, all at once."""
        ...


def sources_checksum(
    tree: SourceTree,
    words: Sequence[str],
    *,
    exclude: Sequence[str],
    parents: bool,
    db: StatCache | None,
) -> str:
    """``sha256:<hex>`` of what COPY ``words`` would write from ``tree``.

    A literal source that is missing raises ``ContextError`` as the copy does.
    """
    host_root = str(tree.root) if isinstance(tree, BuildContext) else None
    rules = IgnoreRules.parse("\n".join(exclude))
    walker = _Walker(tree, db, rules, time.time_ns(), host_root)
    walker.emit([FORMAT])
    for source in match_all(tree, tuple(words)):
        walker.source(source, parents)
    if db is not None:
        db.stat_put_many(walker.new)
    return "sha256:" + walker.hasher.hexdigest()


@record(frozen=False)
class _Walker:
    tree: SourceTree
    db: StatCache | None
    excluded: IgnoreRules
    start_ns: int
    host_root: str | None = None
    hasher: hashlib._Hash = field(default_factory=hashlib.sha256)
    links: dict[tuple[int, int], str] = field(default_factory=dict)
    lookup: Callable[[str, os.stat_result], str | None] | None = None  # of the current source
    new: list[tuple[str, os.stat_result, str]] = field(default_factory=list)  # to cache

    def emit(self, record: _Record) -> None:
        self.hasher.update(_ENCODER.encode(record).encode("ascii") + b"\n")

    def skip(self, rel: str) -> bool:
        """Whether ``--exclude`` leaves out ``rel`` (as ``copy._Copier.skip``)."""
        return bool(self.excluded.patterns) and self.excluded.excluded(rel)

    def source(self, source: Source, parents: bool) -> None:
        """One matched source, as ``copy._copy_one`` copies it."""
        path = self.tree.resolve(source.path)
        st = self.tree.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            if not self.skip(path.rpartition("/")[2]):
                self.entry(path, target_path(source, "/", True, parents), st)
            return
        # The directory itself is not copied (its mode never lands); its
        # owner can, through --chmod on a --from copy that creates it.
        base = target_path(source, "/", False, parents)
        self.emit(["contents", base, st.st_uid, st.st_gid])
        host = self.host_path(path) if self.host_root is not None else None
        self.lookup = None if self.db is None or host is None else self.db.stat_lookup(host)
        try:
            self.contents(path, base)
        finally:
            self.lookup = None

    def contents(self, src: str, dest: str) -> None:
        """Everything under directory ``src``, depth first, names in byte order."""
        todo = self.children(src, dest, "")
        while todo:
            path, landing, rel = todo.pop()
            st = self.tree.lstat(path)
            self.entry(path, landing, st)
            if stat.S_ISDIR(st.st_mode):
                todo.extend(self.children(path, landing, rel))

    def children(self, directory: str, landing: str, rel: str) -> list[tuple[str, str, str]]:
        """The entries of ``directory`` not ``--exclude``d, last name first (a stack)."""
        found = []
        for name in sorted(self.tree.listdir(directory), key=os.fsencode, reverse=True):
            child_rel = f"{rel}/{name}".lstrip("/")
            if not self.skip(child_rel):
                path = directory.rstrip("/") + "/" + name
                found.append((path, landing.rstrip("/") + "/" + name, child_rel))
        return found

    def entry(self, path: str, landing: str, st: os.stat_result) -> None:
        """The record for one entry the copy writes at ``landing``."""
        mode, uid, gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
        if stat.S_ISDIR(st.st_mode):
            self.emit(["dir", landing, mode, uid, gid])
        elif stat.S_ISLNK(st.st_mode):
            self.emit(["symlink", landing, mode, uid, gid, self.tree.readlink(path)])
        elif stat.S_ISREG(st.st_mode):
            self.file(path, landing, st)
        else:
            kind = stat.filemode(st.st_mode)[0]
            self.emit(["special", landing, kind, mode, uid, gid, st.st_rdev])

    def file(self, path: str, landing: str, st: os.stat_result) -> None:
        """A regular file, or a hard link to one already recorded (as the copy keeps them)."""
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self.links:
            self.emit(["hardlink", landing, self.links[key]])
            return
        if st.st_nlink > 1:
            self.links[key] = landing
        digest = self.content(path, st)
        self.hasher.update(
            file_line(landing, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, digest)
        )

    def content(self, path: str, st: os.stat_result) -> str:
        """The sha256 of a regular file: from the stat cache, else read (and cached)."""
        host = self.host_path(path) if self.db is not None else None
        if self.db is not None and host is not None:
            cached = (self.lookup or self.db.stat_get)(host, st)
            if cached is not None:
                return cached
        hasher = hashlib.sha256()
        with self.tree.open(path) as stream:
            while chunk := stream.read(_CHUNK):
                hasher.update(chunk)
        digest = hasher.hexdigest()
        if host is not None and not self.racy(st):
            self.new.append((host, st, digest))
        return digest

    def host_path(self, path: str) -> str | None:
        """The absolute host path of ``path`` (its parents are no symlinks), if any."""
        if self.host_root is not None:
            rel = path.strip("/")
            return f"{self.host_root.rstrip('/')}/{rel}" if rel else self.host_root
        if isinstance(self.tree, ViewTree):
            real = self.tree.view.real_path(path)
            return None if real is None else str(real)
        return None

    def racy(self, st: os.stat_result) -> bool:
        return st.st_ctime_ns >= self.start_ns - RACY_NS
