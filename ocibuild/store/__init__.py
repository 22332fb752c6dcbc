"""The local image store: an OCI image layout with refs, a lock and gc.

Owns ``ROOT/{oci-layout,index.json,blobs/}`` and ``ROOT/ocibuild/{lock,tmp,
roots}``; ``ROOT/ocibuild/snapshots`` belongs to ``ocibuild.snapshot``.
Uses only ``ocibuild.oci`` and ``ocibuild.errors``.
"""

from __future__ import annotations

from ocibuild.store.blobs import BlobWriter
from ocibuild.store.lock import StoreLockedError
from ocibuild.store.refs import AmbiguousReferenceError
from ocibuild.store.store import ImageNotFoundError, Store, StoredImage

__all__ = [
    "AmbiguousReferenceError",
    "BlobWriter",
    "ImageNotFoundError",
    "Store",
    "StoreLockedError",
    "StoredImage",
]
