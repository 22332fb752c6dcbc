"""COPY (and ADD's local part): sources from a tree into an :class:`Upper`.

BuildKit's rules, checked against Docker 20.10's BuildKit:

* each source word is cleaned to stay inside its tree and may hold wildcards
  (a wildcard that matches nothing copies nothing); a literal source that is
  missing is an error (``"/x" not found: not found``);
* a source named directly (or matched) is followed if it is a symlink;
  symlinks inside copied directories are copied as symlinks;
* a directory source copies its *contents*; a file goes to ``dest`` itself,
  or inside it when ``dest`` ends with ``/`` or is an existing directory;
  several sources need a ``dest`` ending with ``/``;
* files keep their mode and mtime; owner is 0:0 for context files, kept for
  other stages and images, and ``--chown`` overrides both and also owns the
  directories the copy creates; ``--chmod`` sets the mode of what is copied;
* hard links between copied files are kept;
* ``--exclude`` patterns (.dockerignore syntax) match paths relative to the
  source named (a file source: its name).
"""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from ocibuild._record import field, record
from ocibuild.dockerfile.ignore import IgnoreRules
from ocibuild.errors import ContextError, UserError
from ocibuild.executor.sources import clean_inside, has_magic, match_sources
from ocibuild.executor.upper import Meta
from ocibuild.executor.users import Owner

if TYPE_CHECKING:
    import os
    from pathlib import Path

    from ocibuild.executor.sources import SourceTree
    from ocibuild.executor.upper import Upper

__all__ = ["CopyRequest", "Source", "copy_sources", "dest_is_dir", "parse_chmod", "target_path"]

ROOT = Owner(0, 0)
MULTI_SOURCE = (
    "When using COPY with more than one source file, "
    "the destination must be a directory and end with a /"
)


@record
class CopyRequest:
    """One COPY: expanded words, ``dest`` absolute (trailing ``/`` kept)."""

    sources: tuple[str, ...]
    dest: str
    chown: Owner | None = None
    chmod: int | None = None
    keep_owner: bool = False
    parents: bool = False
    exclude: tuple[str, ...] = ()


@record
class Source:
    """A matched source: its path in the tree and the word it came from."""

    path: str
    word: str
    wildcard: bool


def parse_chmod(value: str | None) -> int | None:
    """``--chmod`` in octal (what BuildKit accepts); anything else is an error."""
    if value is None:
        return None
    try:
        mode = int(value, 8)
    except ValueError:
        raise UserError(f"invalid chmod parameter: {value!r} (expected octal)") from None
    if not 0 <= mode <= 0o7777:
        raise UserError(f"invalid chmod parameter: {value!r}")
    return mode


def dest_is_dir(dest: str, existing_dir: bool) -> bool:
    """Whether ``dest`` names a directory to copy *into*."""
    return dest.endswith(("/", "/.")) or dest == "." or existing_dir


def target_path(source: Source, dest: str, into_dir: bool, parents: bool) -> str:
    """Where a matched file source lands (absolute), per the trailing-slash rules."""
    base = clean_inside(dest)
    if parents:
        rel = _parents_rel(source)
        return clean_inside(base + "/" + rel)
    if into_dir:
        name = source.path.rstrip("/").rpartition("/")[2]
        return clean_inside(base + "/" + name)
    return base


def _parents_rel(source: Source) -> str:
    """With ``--parents``: the path kept under dest (after a ``/./`` marker if any)."""
    word = "/" + source.word
    if "/./" in word:
        prefix = word.rsplit("/./", 1)[0]
        depth = len([p for p in prefix.split("/") if p not in ("", ".")])
        return "/".join(source.path.strip("/").split("/")[depth:])
    return source.path.strip("/")


def match_all(tree: SourceTree, words: tuple[str, ...]) -> list[Source]:
    """Expand every source word; a missing literal source is a ContextError."""
    found: list[Source] = []
    for word in words:
        wildcard = any(has_magic(p) for p in word.split("/"))
        for path in match_sources(tree, word):
            if not wildcard:
                _check_exists(tree, path)
            found.append(Source(path, word, wildcard))
    return found


def _check_exists(tree: SourceTree, path: str) -> None:
    try:
        tree.lstat(tree.resolve(path))
    except (FileNotFoundError, NotADirectoryError):
        raise ContextError(f'"{path}" not found: not found') from None


@record(frozen=False)
class _Copier:
    tree: SourceTree
    upper: Upper
    request: CopyRequest
    excluded: IgnoreRules
    links: dict[tuple[int, int], Path] = field(default_factory=dict)

    @property
    def parents(self) -> Owner:
        return self.request.chown or ROOT

    def meta(self, st: os.stat_result, *, keep_mtime: bool = True) -> Meta:
        chown = self.request.chown
        if chown is not None:
            uid, gid = chown.uid, chown.gid
        elif self.request.keep_owner:
            uid, gid = st.st_uid, st.st_gid
        else:
            uid, gid = 0, 0
        mode = self.request.chmod if self.request.chmod is not None else stat.S_IMODE(st.st_mode)
        return Meta(mode, uid, gid, st.st_mtime_ns if keep_mtime else None)

    def skip(self, rel: str) -> bool:
        """Whether ``--exclude`` leaves out ``rel`` (relative to the source named)."""
        return bool(self.excluded.patterns) and self.excluded.excluded(rel)

    def copy_entry(self, src: str, dest: str, st: os.stat_result, rel: str = "") -> None:
        if stat.S_ISDIR(st.st_mode):
            self.upper.make_dir(dest, self.meta(st, keep_mtime=False), self.parents)
            self.copy_contents(src, dest, rel)
        elif stat.S_ISLNK(st.st_mode):
            meta = self.meta(st)
            self.upper.write_symlink(dest, self.tree.readlink(src), meta, self.parents)
        elif stat.S_ISREG(st.st_mode):
            self.copy_file(src, dest, st)
        else:
            self.upper.write_special(dest, st, self.meta(st), self.parents)

    def copy_file(self, src: str, dest: str, st: os.stat_result) -> None:
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self.links:
            self.upper.write_hardlink(dest, self.links[key], self.parents)
            return
        with self.tree.open(src) as stream:
            host = self.upper.write_file(dest, stream, self.meta(st), self.parents)
        if st.st_nlink > 1:
            self.links[key] = host

    def copy_contents(self, src: str, dest: str, rel: str = "") -> None:
        for name in self.tree.listdir(src):
            child, child_rel = src.rstrip("/") + "/" + name, f"{rel}/{name}".lstrip("/")
            if self.skip(child_rel):
                continue
            target = dest.rstrip("/") + "/" + name
            self.copy_entry(child, target, self.tree.lstat(child), child_rel)


def copy_sources(tree: SourceTree, upper: Upper, request: CopyRequest) -> None:
    """Copy every source of ``request`` from ``tree`` into ``upper``."""
    sources = match_all(tree, request.sources)
    resolved_dest = upper.lower.resolve(request.dest)
    into_dir = dest_is_dir(request.dest, upper.lower.is_dir(resolved_dest))
    if len(request.sources) > 1 and not into_dir:
        raise UserError(MULTI_SOURCE)
    excluded = IgnoreRules.parse("\n".join(request.exclude))
    copier = _Copier(tree, upper, request, excluded)
    dest = resolved_dest + ("/" if into_dir else "")
    for source in sources:
        _copy_one(copier, source, dest, into_dir)


def _copy_one(copier: _Copier, source: Source, dest: str, into_dir: bool) -> None:
    tree = copier.tree
    path = tree.resolve(source.path)
    st = tree.lstat(path)
    if not stat.S_ISDIR(st.st_mode) and copier.skip(path.rpartition("/")[2]):
        return
    if stat.S_ISDIR(st.st_mode):
        target = clean_inside(dest)
        if copier.request.parents:
            target = clean_inside(dest + "/" + _parents_rel(source))
        created = copier.upper.lower.lstat(target) is None
        copier.upper.ensure_dir(target, copier.parents)  # new: 0755, --chown owner
        if created and copier.request.chmod is not None:
            # Current BuildKit (moby/buildkit#4945) gives a directory it creates
            # for a directory source the --chmod mode too; 20.10 kept 0755.
            copier.upper.make_dir(target, copier.meta(st, keep_mtime=False), copier.parents)
        copier.copy_contents(path, target)
        return
    target = target_path(source, dest, into_dir, copier.request.parents)
    copier.copy_entry(path, target, st)
