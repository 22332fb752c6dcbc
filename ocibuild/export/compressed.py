"""Compressed layers for OCI exports and pushes, made once per layer and compression.

The store keeps built layers uncompressed.  :func:`open_compressed` gives the
compressed blob of one: the copy recorded in the store
(:mod:`ocibuild.store.compressed`) when there is one and its file is still
there with the recorded size, else a fresh one, compressed
(:mod:`ocibuild.layer`) straight into the store's blobs and then recorded.
So a layer is compressed only when an output or a push needs it, and only
the first time.

The new blob is committed, recorded and opened while holding the store
lock, which ``gc`` holds for its whole run: gc sees either no blob (a temp
file it leaves alone) or a blob with its row, and the open file stays
readable even if a later gc removes it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, BinaryIO

from ocibuild.oci import Descriptor

if TYPE_CHECKING:
    from ocibuild.layer.compress import Compression
    from ocibuild.store import Store

__all__ = ["open_compressed"]

_CHUNK = 1 << 20


def open_compressed(
    store: Store, layer: Descriptor, compression: Compression
) -> tuple[Descriptor, BinaryIO]:
    """The compressed blob of the stored uncompressed ``layer`` and a reader at its start.

    The descriptor keeps ``layer``'s annotations.  The caller closes the reader.
    """
    from ocibuild.layer.compress import format_id

    copies = store.cache.compressed
    key = format_id(compression)
    blob = copies.get(layer.digest, key)
    reader = _open_exact(store, blob) if blob is not None else None
    if blob is None or reader is None:
        blob, reader = _compress(store, layer, compression, key)
    desc = Descriptor(blob.media_type, blob.digest, blob.size, annotations=layer.annotations)
    return desc, reader


def _open_exact(store: Store, blob: Descriptor) -> BinaryIO | None:
    """The blob's file, if it exists with the recorded size (else it is compressed again).

    A file of another size cannot hold the content its name hashes to: it is
    removed, so the fresh copy can take its place.
    """
    path = store.blob_path(blob)
    try:
        reader = path.open("rb")
    except FileNotFoundError:
        return None
    if os.fstat(reader.fileno()).st_size != blob.size:
        reader.close()
        path.unlink(missing_ok=True)
        return None
    return reader


def _compress(
    store: Store, layer: Descriptor, compression: Compression, key: str
) -> tuple[Descriptor, BinaryIO]:
    from ocibuild.layer.blob import LayerSink

    with store.writer(compression.media_type) as writer:
        sink = LayerSink(writer, compression)
        with store.open_blob(layer) as src:  # verified: DigestMismatch at the end
            while chunk := src.read(_CHUNK):
                sink.write(chunk)
        sink.finish()
        with store.lock():
            blob = writer.commit(sink.digest)
            store.cache.compressed.put(layer.digest, key, blob)
            reader = store.blob_path(blob).open("rb")
    return blob, reader
