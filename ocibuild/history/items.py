"""Read an image's history from the store, newest entry first.

Each history entry of the image config becomes a :class:`HistoryItem`.
Entries that made a layer (not ``empty_layer``) take the manifest's layers
in order; their size is :func:`content_size` of that layer, which is what
Docker's daemon reports (``docker history`` and ``docker images`` count
the bytes of the files a layer holds, not its tar or compressed size).  As
for an image built by BuildKit, only the top entry carries the image ID;
the others are :data:`MISSING` (``<missing>``): no intermediate images
exist.  Presentation is :mod:`ocibuild.history.render`'s.
"""

from __future__ import annotations

import tarfile
from typing import TYPE_CHECKING, BinaryIO

from ocibuild._record import record

if TYPE_CHECKING:
    from ocibuild.oci import Descriptor
    from ocibuild.store import Store, StoredImage

__all__ = ["MISSING", "HistoryItem", "content_size", "image_history"]

MISSING = "<missing>"
"""The ID of a history entry that is not itself an image, as Docker writes it."""


@record
class HistoryItem:
    """One history entry: ``image_id`` is ``sha256:<hex>`` or :data:`MISSING`;
    ``created`` the entry's RFC 3339 time ("" when unset); ``size`` in bytes."""

    image_id: str
    created: str
    created_by: str
    size: int
    comment: str


def image_history(store: Store, image: StoredImage) -> tuple[HistoryItem, ...]:
    """The history of ``image`` (read from ``store``), newest entry first."""
    layers = iter(image.manifest.layers)
    items: list[HistoryItem] = []
    for entry in image.config.history:
        layer = None if entry.empty_layer else next(layers, None)
        size = 0 if layer is None else _layer_size(store, layer)
        items.append(HistoryItem(MISSING, entry.created, entry.created_by, size, entry.comment))
    items.reverse()
    if items:
        top = items[0]
        items[0] = HistoryItem(
            str(image.config_desc.digest), top.created, top.created_by, top.size, top.comment
        )
    return tuple(items)


def _layer_size(store: Store, layer: Descriptor) -> int:
    """:func:`content_size` of a stored layer; an uncompressed blob is read by
    seeking from header to header (its file contents are skipped)."""
    from ocibuild.layer import open_layer_tar

    path = store.blob_path(layer)
    with path.open("rb") as raw:
        magic = raw.read(4)
    if magic[:2] != b"\x1f\x8b" and magic != b"\x28\xb5\x2f\xfd":
        with path.open("rb") as plain:
            return content_size(plain, seekable=True)
    with open_layer_tar(store, layer) as stream:
        return content_size(stream)


def content_size(stream: BinaryIO, *, seekable: bool = False) -> int:
    """Docker's size of an uncompressed layer tar: the sizes that ``lstat`` gives
    its entries once unpacked, summed, directories left out and each hard-linked
    file counted once (regular files: their length; symlinks: their target's)."""
    total = 0
    with tarfile.open(fileobj=stream, mode="r:" if seekable else "r|") as tar:
        for member in tar:
            if member.isreg():
                total += member.size
            elif member.issym():
                total += len(member.linkname.encode())
    return total
