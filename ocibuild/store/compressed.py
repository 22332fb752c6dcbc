"""Compressed copies of stored layers: (diff_id, compression) -> compressed blob.

The store keeps the layers it builds uncompressed; an OCI export or a push
compresses them (:mod:`ocibuild.export.compressed`) and records the result
here, so the next export or push of the same layer reuses the blob.  The
mapping lives in the ``compressed`` table of the cache database; the blob
lives in ``blobs/`` like any other.

Rules that keep the two consistent:

* the blob is committed before its row is written (a crash in between
  leaves an unreferenced blob, which gc removes);
* :meth:`CompressedCopies.keep_live` (called by ``Store.gc`` under the store
  lock) drops every row whose uncompressed layer is not live *before* the
  sweep, and returns the blobs of the rows it kept, which the sweep then
  keeps: gc never deletes a blob a row still names;
* a row whose blob is missing (deleted by hand) is only a miss: the caller
  compresses again and :meth:`put` replaces the row.

``compression`` is a format id (:func:`ocibuild.layer.compress.format_id`)
naming the algorithm, its parameters and the library version, so a copy made
by another zlib or zstd is never served where a fresh one would differ.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ocibuild._record import record
from ocibuild.oci import Descriptor, Digest

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ocibuild.store.cache import CacheDB

__all__ = ["CompressedCopies", "CompressedCopy"]

_SELECT = "SELECT diff_id, compression, media_type, digest, size, last_used FROM compressed"


@record
class CompressedCopy:
    """One row: the uncompressed layer, the format id and the compressed blob."""

    diff_id: Digest
    compression: str
    blob: Descriptor
    last_used: float = 0.0


class CompressedCopies:
    """The ``compressed`` table of ``db``."""

    def __init__(self, db: CacheDB) -> None:
        self._db = db

    def get(self, diff_id: Digest, compression: str) -> Descriptor | None:
        """The compressed blob recorded for the layer (its ``last_used`` set to now)."""
        rows = self._db.query(
            _SELECT + " WHERE diff_id=? AND compression=?", (str(diff_id), compression)
        )
        if not rows:
            return None
        with self._db.writing() as conn:
            conn.execute(
                "UPDATE compressed SET last_used=? WHERE diff_id=? AND compression=?",
                (time.time(), str(diff_id), compression),
            )
        return _from_row(rows[0]).blob

    def put(self, diff_id: Digest, compression: str, blob: Descriptor) -> None:
        """Record ``blob`` (already committed to the store) as the layer's compressed copy."""
        row = (str(diff_id), compression, blob.media_type, str(blob.digest), blob.size, time.time())
        with self._db.writing() as conn:
            conn.execute("INSERT OR REPLACE INTO compressed VALUES (?, ?, ?, ?, ?, ?)", row)

    def all(self) -> list[CompressedCopy]:
        """Every row, least recently used first."""
        rows = self._db.query(_SELECT + " ORDER BY last_used, diff_id, compression")
        return [_from_row(row) for row in rows]

    def delete(self, copies: Iterable[CompressedCopy]) -> int:
        """Drop the rows of ``copies`` (their blobs are left to gc); how many existed."""
        keys = [(str(c.diff_id), c.compression) for c in copies]
        with self._db.writing() as conn:
            cursor = conn.executemany(
                "DELETE FROM compressed WHERE diff_id=? AND compression=?", keys
            )
            return max(cursor.rowcount, 0)

    def keep_live(self, live: set[Digest]) -> set[Digest]:
        """Drop the rows whose layer is not in ``live``; the blobs of the rows kept."""
        copies = self.all()
        self.delete(c for c in copies if c.diff_id not in live)
        return {c.blob.digest for c in copies if c.diff_id in live}


def _from_row(row: tuple[Any, ...]) -> CompressedCopy:
    diff_id, compression, media_type, digest, size, last_used = row
    blob = Descriptor(media_type, Digest.parse(digest), int(size))
    return CompressedCopy(Digest.parse(diff_id), compression, blob, float(last_used or 0.0))
