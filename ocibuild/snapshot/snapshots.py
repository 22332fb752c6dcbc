"""Unpacked layers on disk, one directory per chain ID.

Owns the snapshot layout::

    <root>/<chain-id hex>/diff/     one layer, unpacked with overlay whiteouts
    <root>/tmp-<owner>-XXXX/diff/   being unpacked; renamed into place when done
                                    (see ``scratch``: swept once its owner is gone)

A chain ID names a layer *and everything below it* (OCI image spec:
``chain_id(L1) = diff_id(L1)``, ``chain_id(Ln) = sha256(chain_id(Ln-1) + " " +
diff_id(Ln))``), so the same layer over a different parent gets its own
directory.  The diff dirs hold only their own layer; they are meant to be
stacked as overlayfs lower dirs (or read with :class:`RootView`).

Unpacking goes to a temporary directory that is renamed into place, so a
snapshot directory is complete or absent.  Two processes may unpack the same
layer at once: the loser's rename fails because the name exists and it
throws its copy away.  The uncompressed stream is hashed while it is
unpacked and must match the diff_id.
"""

from __future__ import annotations

import errno
import hashlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from ocibuild._rmtree import rmtree
from ocibuild.errors import DigestMismatch, out_of_space
from ocibuild.layer.blob import LayerStore, open_layer_tar
from ocibuild.layer.extract import apply_layer
from ocibuild.oci import Descriptor, Digest
from ocibuild.store.scratch import scratch_dir

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["LayerRef", "Snapshots", "chain_ids"]


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
        tmp = scratch_dir(self.root)
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
            tmp.chmod(0o700)
            _rename_if_absent(tmp, self.root / chain_id.hex)
        finally:
            if tmp.exists():
                rmtree(tmp)


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
