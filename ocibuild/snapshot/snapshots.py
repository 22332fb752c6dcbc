"""Unpacked layers on disk, one directory per chain ID.

Owns the snapshot layout::

    <root>/<chain-id hex>/diff/     one layer, unpacked with overlay whiteouts
    <root>/<chain-id hex>/layer     that layer's diff_id (what keeps it: ``sweep``)
    <root>/tmp-<owner>-XXXX/diff/   being unpacked; renamed into place when done
                                    (see ``scratch``: swept once its owner is gone)

A chain ID names a layer *and everything below it* (OCI image spec:
``chain_id(L1) = diff_id(L1)``, ``chain_id(Ln) = sha256(chain_id(Ln-1) + " " +
diff_id(Ln))``), so the same layer over a different parent gets its own
directory.  The diff dirs hold only their own layer; they are meant to be
stacked as overlayfs lower dirs (or read with :class:`RootView`).

Unpacking goes to a temporary directory that is renamed into place, so a
snapshot directory is complete or absent.  New layers' upper dirs are made
the same way (:meth:`Snapshots.scratch`).  The root is marked ``chattr +T``
(``FS_TOPDIR_FL``) before the first one: each snapshot is a hierarchy of its
own, and on ext2/3/4 the flag makes the Orlov allocator place each new
scratch dir, and so the inodes of its files, in a lightly used block group
instead of next to the root.  Next to the root are the inodes of snapshots
deleted minutes ago (a gc, a pruned store), and ext4 without a journal scans
past every recently deleted inode of the group on each file creation: a
many-file COPY there spent most of its time in that scan (see
docs/design/004-layers.md, "Where snapshot inodes go").  Other file systems
have no such flag; nothing changes there.

Two processes may unpack the same layer at once: the loser's rename fails
because the name exists and it throws its copy away.  The uncompressed
stream is hashed while it is unpacked and must match the diff_id.

A snapshot is a copy of its layer blob, never the only one, so removing it
is always safe (the next build that needs it unpacks the blob again).
:meth:`Snapshots.sweep` (``ocibuild prune``) removes those whose layer no
image or cache record keeps, which their ``layer`` file tells.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from ocibuild._linux.fsflags import FS_TOPDIR_FL, get_flags, set_flags
from ocibuild._rmtree import rmtree
from ocibuild.errors import DigestMismatch, out_of_space
from ocibuild.layer.blob import LayerStore, open_layer_tar
from ocibuild.layer.extract import apply_layer
from ocibuild.oci import Descriptor, Digest
from ocibuild.store.scratch import PREFIX, owned_name, scratch_dir

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

__all__ = ["LayerRef", "Snapshots", "chain_ids", "mark_topdir"]

#: A snapshot dir's name: the hex of its chain ID.
_CHAIN = re.compile(r"[0-9a-f]{64}")


class LayerRef(Protocol):
    """A layer as ``LayerBlob`` describes it: its blob and its diff_id."""

    @property
    def descriptor(self) -> Descriptor: ...

    @property
    def diff_id(self) -> Digest: ...


def chain_ids(diff_ids: Sequence[Digest]) -> list[Digest]:
    """The chain ID of each layer in ``diff_ids`` (bottom layer first)."""
    chain: list[Digest] = []
    for diff_id in diff_ids:
        if not chain:
            chain.append(diff_id)
        else:
            text = f"{chain[-1]} {diff_id}".encode()
            chain.append(Digest.from_bytes(text))
    return chain


class Snapshots:
    """The unpacked layers under ``root`` (usually the store's ``snapshots/``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._marked = False

    def scratch(self) -> Path:
        """A new scratch dir under the root (``store.scratch``), for files of one layer."""
        if not self._marked:
            self.root.mkdir(parents=True, exist_ok=True)
            mark_topdir(self.root)
            self._marked = True
        return scratch_dir(self.root)

    def path(self, chain_id: Digest) -> Path:
        """The diff dir of ``chain_id`` (whether or not it exists yet)."""
        return self.root / chain_id.hex / "diff"

    def ensure(self, store: LayerStore, layers: Sequence[LayerRef]) -> list[Path]:
        """Unpack every missing layer of ``layers`` (bottom first).

        Returns the diff dirs topmost first, ready as overlay ``lowerdir``s.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        diffs: list[Path] = []
        chains = chain_ids([layer.diff_id for layer in layers])
        for layer, chain_id in zip(layers, chains, strict=True):
            diff = self.path(chain_id)
            if not diff.is_dir():
                self._unpack(store, layer, chain_id)
            diffs.append(diff)
        return diffs[::-1]

    def _unpack(self, store: LayerStore, layer: LayerRef, chain_id: Digest) -> None:
        tmp = self.scratch()
        try:
            (tmp / "diff").mkdir()
            unpacking = f"unpacking layer {layer.descriptor.digest} into {self.root}"
            with out_of_space(unpacking), open_layer_tar(store, layer.descriptor) as raw:
                hashing = _HashingReader(raw)
                stream = io.BufferedReader(hashing)
                apply_layer(stream, tmp / "diff", label=f"layer {layer.descriptor.digest}")
                while stream.read(1 << 20):
                    pass  # hash what the tar reader left unread (zero padding)
            digest = hashing.digest()
            if digest != layer.diff_id:
                raise DigestMismatch(
                    f"layer {layer.descriptor.digest}: uncompressed content is "
                    f"{digest}, expected diff_id {layer.diff_id}"
                )
            self.adopt(tmp, chain_id, layer.diff_id)
        finally:
            if tmp.exists():
                rmtree(tmp)

    def adopt(self, tmp: Path, chain_id: Digest, diff_id: Digest) -> None:
        """Make ``tmp`` (a :meth:`scratch` dir holding ``diff/``) the snapshot
        ``chain_id`` of layer ``diff_id``; if another process got there first,
        theirs stays and ``tmp`` is left for the caller to remove."""
        dest = self.root / chain_id.hex
        if dest.exists():
            return
        (tmp / "layer").write_text(f"{diff_id}\n")
        tmp.chmod(0o700)
        _rename_if_absent(tmp, dest)

    def sweep(self, keep: Collection[Digest]) -> int:
        """Remove every snapshot whose layer is not in ``keep`` (diff_ids), or
        that does not say which layer it is (made before snapshots did); bytes
        freed.

        Only call it when no build runs (``Store.gc_lock``): a build's stage
        may stand on a snapshot whose layer nothing keeps yet.
        """
        wanted = {str(diff_id) for diff_id in keep}
        freed = 0
        try:
            paths = sorted(self.root.iterdir())
        except FileNotFoundError:
            return 0
        for path in paths:
            if not _CHAIN.fullmatch(path.name) or path.is_symlink() or not path.is_dir():
                continue  # not a snapshot (temp dirs are sweep_scratch's)
            try:
                layer = (path / "layer").read_text().strip()
            except OSError:
                layer = ""
            if layer not in wanted:
                # Renamed first: a half-removed snapshot must never be found
                # under its chain ID; a temp dir left half-removed (out of
                # fds, a file only the user namespace may remove) is swept
                # like any other whose owner is gone.
                doomed = self.root / owned_name(PREFIX)
                path.rename(doomed)
                freed += rmtree(doomed, ignore_errors=True)
        return freed


def mark_topdir(path: Path) -> bool:
    """Set ``FS_TOPDIR_FL`` on the directory ``path``; False where there is no such flag.

    Only a placement hint: any error (another file system, no permission)
    leaves the directory as it was.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        flags = get_flags(fd)
        if not flags & FS_TOPDIR_FL:
            set_flags(fd, flags | FS_TOPDIR_FL)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _rename_if_absent(src: Path, dest: Path) -> None:
    """Move ``src`` to ``dest``; if another process got there first, keep theirs."""
    try:
        src.rename(dest)
    except OSError as err:
        if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise


class _HashingReader(io.RawIOBase):
    """A reader that hashes everything read through it."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        self._hash.update(data)
        buffer[: len(data)] = data
        return len(data)

    def digest(self) -> Digest:
        return Digest("sha256", self._hash.hexdigest())
