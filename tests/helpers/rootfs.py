"""Normalise an image's root filesystem into a comparable, sorted listing.

Applies layers in order with OCI whiteouts (``.wh.NAME`` and opaque
``.wh..wh..opq``) and turns the result into `FsEntry` records that leave out
what builders may legitimately differ in (mtimes, uname/gname, tar order,
compression).  Hardlinks become files that share a ``hardlink`` group name
(the smallest path in the group), so "is it the same inode" is compared too.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import tarfile
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


@dataclass(frozen=True, slots=True)
class FsEntry:
    """One path of the final root filesystem; ``mode`` is None for a
    directory that no layer recorded (an implied parent)."""

    path: str
    kind: str
    mode: int | None
    uid: int
    gid: int
    sha256: str = ""
    link: str = ""
    hardlink: str = ""

    def render(self) -> str:
        """One readable line; the unit of the diffs in failure messages."""
        mode = "----" if self.mode is None else f"{self.mode:04o}"
        parts = [f"/{self.path}", self.kind, mode, f"{self.uid}:{self.gid}"]
        if self.sha256:
            parts.append(f"sha256:{self.sha256[:16]}")
        if self.link:
            parts.append(f"-> {self.link}")
        if self.hardlink:
            parts.append(f"hardlink=/{self.hardlink}")
        return " ".join(parts)


@dataclass(slots=True)
class _Node:
    entry: FsEntry
    inode: int


_KINDS = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}


def clean_path(name: str) -> str:
    """A tar member name as a relative path without ``./`` or ``/`` ends."""
    cleaned = posixpath.normpath("/" + name).lstrip("/")
    return "" if cleaned == "." else cleaned


class _Tree:
    """The filesystem being built up, layer by layer."""

    def __init__(self) -> None:
        self.nodes: dict[str, _Node] = {}
        self._next_inode = 0

    def inode(self) -> int:
        self._next_inode += 1
        return self._next_inode

    def remove(self, path: str, *, keep: set[str], self_too: bool = True) -> None:
        """Remove path's descendants (and path) unless added by this layer."""
        prefix = path + "/" if path else ""
        doomed = [
            p
            for p in self.nodes
            if p not in keep and (p.startswith(prefix) or (self_too and p == path))
        ]
        for p in doomed:
            del self.nodes[p]

    def ensure_parents(self, path: str) -> None:
        parent = posixpath.dirname(path)
        while parent and parent not in self.nodes:
            self.nodes[parent] = _Node(FsEntry(parent, "dir", None, 0, 0), self.inode())
            parent = posixpath.dirname(parent)


def _entry(member: tarfile.TarInfo, path: str, tar: tarfile.TarFile) -> FsEntry:
    kind = _KINDS.get(member.type, f"type-{member.type!r}")
    digest = link = ""
    if member.isreg():
        handle = tar.extractfile(member)
        assert handle is not None
        digest = hashlib.sha256(handle.read()).hexdigest()
    elif member.issym():
        link = member.linkname
    elif member.ischr() or member.isblk():
        link = f"{member.devmajor},{member.devminor}"
    return FsEntry(path, kind, member.mode & 0o7777, member.uid, member.gid, digest, link)


def _apply_layer(tree: _Tree, layer: bytes) -> None:
    added: set[str] = set()
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:") as tar:
        for member in tar:
            path = clean_path(member.name)
            base, parent = posixpath.basename(path), posixpath.dirname(path)
            if base == OPAQUE_MARKER:
                tree.remove(parent, keep=added, self_too=False)
            elif base.startswith(WHITEOUT_PREFIX):
                tree.remove(posixpath.join(parent, base[len(WHITEOUT_PREFIX) :]), keep=added)
            elif path:
                _add(tree, tar, member, path)
                added.add(path)


def _add(tree: _Tree, tar: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
    old = tree.nodes.get(path)
    if member.islnk():
        target = tree.nodes[clean_path(member.linkname)]
        node = _Node(replace(target.entry, path=path), target.inode)
    else:
        node = _Node(_entry(member, path, tar), tree.inode())
    if old is not None and old.entry.kind == "dir" and node.entry.kind != "dir":
        tree.remove(path, keep=set(), self_too=False)
    tree.ensure_parents(path)
    tree.nodes[path] = node


def _with_hardlink_groups(nodes: Iterable[_Node]) -> list[FsEntry]:
    groups: dict[int, list[str]] = {}
    node_list = list(nodes)
    for node in node_list:
        if node.entry.kind == "file":
            groups.setdefault(node.inode, []).append(node.entry.path)
    entries = []
    for node in node_list:
        members = groups.get(node.inode, [])
        group = min(members) if len(members) > 1 else ""
        entries.append(replace(node.entry, hardlink=group))
    return sorted(entries, key=lambda e: e.path)


def normalise_layers(layers: Sequence[bytes]) -> list[FsEntry]:
    """The final root filesystem of uncompressed tar layers, sorted by path."""
    tree = _Tree()
    for layer in layers:
        _apply_layer(tree, layer)
    return _with_hardlink_groups(tree.nodes.values())


def render(entries: Iterable[FsEntry]) -> list[str]:
    """One line per entry, for diffs."""
    return [entry.render() for entry in entries]
