"""Layers: a diff directory -> deterministic tar -> (compressed) blob, and back.

``write_layer`` streams a diff directory as a PAX tar, ``store_layer`` puts it
in the store in one pass giving ``LayerBlob(descriptor, diff_id)``,
``open_layer_tar`` reads a stored layer back uncompressed and ``apply_layer``
unpacks it safely into a snapshot directory.  The file system views over
stacked layers live in :mod:`ocibuild.snapshot`.  See docs/design/004-layers.md.
"""

from __future__ import annotations

import typing as _typing

from ocibuild._lazy import lazy_names as _lazy_names

if _typing.TYPE_CHECKING:
    from ocibuild.layer.blob import (
        BlobWriter,
        LayerBlob,
        LayerSink,
        LayerStore,
        compress_blob,
        open_layer_tar,
        store_layer,
    )
    from ocibuild.layer.compress import (
        Compression,
        compressor,
        decompressed,
    )
    from ocibuild.layer.errors import LayerError
    from ocibuild.layer.extract import (
        apply_layer,
        clean_name,
    )
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

# Names are imported on first use, so a cache hit that needs only LayerBlob
# does not load zstandard, tarfile and the extractor.
_MODULES = {
    "BlobWriter": "ocibuild.layer.blob",
    "Compression": "ocibuild.layer.compress",
    "LayerBlob": "ocibuild.layer.blob",
    "LayerError": "ocibuild.layer.errors",
    "LayerSink": "ocibuild.layer.blob",
    "LayerStore": "ocibuild.layer.blob",
    "apply_layer": "ocibuild.layer.extract",
    "clean_name": "ocibuild.layer.extract",
    "compress_blob": "ocibuild.layer.blob",
    "compressor": "ocibuild.layer.compress",
    "decompressed": "ocibuild.layer.compress",
    "open_layer_tar": "ocibuild.layer.blob",
    "store_layer": "ocibuild.layer.blob",
    "write_layer": "ocibuild.layer.tarwriter",
}

__getattr__, __dir__ = _lazy_names(__name__, _MODULES, __all__)
