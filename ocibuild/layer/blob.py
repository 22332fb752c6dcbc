"""Layer blobs in the store: tar -> (compressed) blob with its diff_id, and back.

Owns the one streaming pass that hashes the uncompressed tar (the diff_id),
compresses it and feeds the store's blob writer, and the reverse path from a
stored blob to an uncompressed tar stream.  The store itself (temp files,
fsync, rename, verifying reads) is ``ocibuild.store``'s business; this module
only needs the two methods described by :class:`LayerStore`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, BinaryIO, Protocol

from ocibuild._record import record
from ocibuild.layer.compress import Compression, compressor, decompressed
from ocibuild.layer.tarwriter import write_layer
from ocibuild.oci import Descriptor, Digest

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from pathlib import Path

__all__ = [
    "BlobWriter",
    "LayerBlob",
    "LayerSink",
    "LayerStore",
    "compress_blob",
    "open_layer_tar",
    "store_layer",
]

_CHUNK = 1 << 20


class BlobWriter(Protocol):
    """What ``store.writer(media_type)`` yields (see ``ocibuild.store``)."""

    def write(self, data: bytes, /) -> object: ...

    def commit(self, expected: Digest | None = None) -> Descriptor: ...


class LayerStore(Protocol):
    """The part of ``ocibuild.store.Store`` this package uses."""

    def writer(
        self, media_type: str, *, verify: bool = True
    ) -> AbstractContextManager[BlobWriter]: ...

    def open_blob(self, digest: Digest) -> BinaryIO: ...


@record
class LayerBlob:
    """A stored layer: its blob descriptor and the digest of its uncompressed tar."""

    descriptor: Descriptor
    diff_id: Digest


class LayerSink:
    """A write-only stream: tar bytes in, compressed bytes out to ``sink``.

    Hashes both sides on the way through; after :meth:`finish`, ``diff_id``,
    ``digest`` and ``size`` describe the uncompressed tar and the blob.
    """

    def __init__(self, sink: BlobWriter | BinaryIO, compression: Compression) -> None:
        self._sink = sink
        self._compressor = compressor(compression)
        self._tar_hash = hashlib.sha256()
        # Uncompressed, the blob is the tar: one hash serves as both.
        self._blob_hash = None if compression is Compression.NONE else hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        """Take ``data`` (uncompressed tar bytes)."""
        self._tar_hash.update(data)
        self._emit(self._compressor.compress(data))
        return len(data)

    def finish(self) -> None:
        """Flush the compressor; the hashes are final afterwards."""
        self._emit(self._compressor.flush())

    @property
    def diff_id(self) -> Digest:
        """The sha256 digest of the uncompressed tar written so far."""
        return Digest("sha256", self._tar_hash.hexdigest())

    @property
    def digest(self) -> Digest:
        """The sha256 digest of the blob bytes written so far."""
        if self._blob_hash is None:
            return self.diff_id
        return Digest("sha256", self._blob_hash.hexdigest())

    def _emit(self, data: bytes) -> None:
        if data:
            if self._blob_hash is not None:
                self._blob_hash.update(data)
            self.size += len(data)
            self._sink.write(data)


def compress_blob(src: BinaryIO, sink: BinaryIO, compression: Compression) -> tuple[Digest, int]:
    """Compress the tar ``src`` into ``sink``; returns the blob's digest and size."""
    layer = LayerSink(sink, compression)
    while chunk := src.read(_CHUNK):
        layer.write(chunk)
    layer.finish()
    return layer.digest, layer.size


def store_layer(
    store: LayerStore,
    root: Path,
    *,
    clamp_mtime: int | None,
    compression: Compression = Compression.NONE,
) -> LayerBlob:
    """Archive the diff directory ``root`` into ``store`` in one streaming pass."""
    with store.writer(compression.media_type, verify=False) as writer:
        layer = LayerSink(writer, compression)  # hashes every byte: the writer need not
        write_layer(root, layer, clamp_mtime=clamp_mtime)
        layer.finish()
        descriptor = writer.commit(layer.digest)
    return LayerBlob(descriptor, layer.diff_id)


def open_layer_tar(store: LayerStore, descriptor: Descriptor) -> BinaryIO:
    """The uncompressed tar of a stored layer blob (any supported compression)."""
    return decompressed(store.open_blob(descriptor.digest))
