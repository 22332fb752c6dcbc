"""Layers: a diff directory -> deterministic tar -> (compressed) blob, and back.

``write_layer`` streams a diff directory as a PAX tar, ``store_layer`` puts it
in the store in one pass giving ``LayerBlob(descriptor, diff_id)``,
``open_layer_tar`` reads a stored layer back uncompressed and ``apply_layer``
unpacks it safely into a snapshot directory.  The file system views over
stacked layers live in :mod:`ocibuild.snapshot`.  See docs/design/004-layers.md.
"""

from __future__ import annotations

from ocibuild.layer.blob import (
    BlobWriter,
    LayerBlob,
    LayerSink,
    LayerStore,
    compress_blob,
    open_layer_tar,
    store_layer,
)
from ocibuild.layer.compress import Compression, compressor, decompressed
from ocibuild.layer.errors import LayerError
from ocibuild.layer.extract import apply_layer, clean_name
from ocibuild.layer.tarwriter import write_layer

__all__ = [
    "BlobWriter",
    "Compression",
    "LayerBlob",
    "LayerError",
    "LayerSink",
    "LayerStore",
    "apply_layer",
    "clean_name",
    "compress_blob",
    "compressor",
    "decompressed",
    "open_layer_tar",
    "store_layer",
    "write_layer",
]
