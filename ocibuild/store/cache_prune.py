"""Trimming the build cache for ``ocibuild prune``, and the flag values it takes.

Owns the policy: ``until`` drops records unused for longer than a duration,
``keep_storage`` then drops least-recently-used records until the layers the
remaining records name fit in a byte budget (a blob shared by several
records counts once).  Compressed copies of layers (made by exports and
pushes, :mod:`ocibuild.store.compressed`) follow the same rules and go
first: ``until`` drops those unused for longer, and they count towards
``keep_storage``, least recently used dropped before any record (they are
remade by compressing, records only by building).  Deleting the blobs is
left to ``Store.gc``.  Also
parses ``--keep-storage 10GB`` (docker's binary units: 1KB = 1024 bytes) and
``--filter until=24h`` (Go durations).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import TYPE_CHECKING

from ocibuild._record import record
from ocibuild.errors import UserError

if TYPE_CHECKING:
    from ocibuild.oci import Digest
    from ocibuild.store.cache import CacheDB, CacheRecord
    from ocibuild.store.compressed import CompressedCopy

__all__ = ["PruneError", "PruneReport", "TrimResult", "parse_duration", "parse_size", "trim"]

_SIZE = re.compile(r"(\d+(?:\.\d+)?) ?([kmgtp]?)i?b?", re.IGNORECASE)
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,  # Go accepts both micro signs
    "\u03bcs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


class PruneError(UserError):
    """A malformed ``--keep-storage`` or ``--filter`` value."""


@record
class TrimResult:
    """What :func:`trim` dropped: the records' keys, and how many compressed copies."""

    dropped: tuple[str, ...]
    copies: int = 0

    @property
    def count(self) -> int:
        """How many records were dropped."""
        return len(self.dropped)


@record
class PruneReport:
    """What ``ocibuild prune`` did: the cache records it dropped and the bytes gc freed."""

    records: tuple[str, ...]
    freed: int


def parse_size(text: str) -> int:
    """Bytes in ``10GB``, ``500MB``, ``1.5g``, ``1024`` (powers of 1024, as docker)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise PruneError(f"invalid size {text!r}: expected a number with an optional unit (10GB)")
    number, unit = match.groups()
    return int(float(number) * 1024 ** " kmgtp".index(unit.lower() or " "))


def parse_duration(text: str) -> float:
    """Seconds in a Go duration (``24h``, ``1h30m``, ``90s``, ``0``); never negative."""
    body = text.strip()
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    while pos < len(body):
        part = _DURATION_PART.match(body, pos)
        if part is None:
            break
        total += float(part.group(1)) * _UNIT_SECONDS[part.group(2)]
        pos = part.end()
    if not body or pos != len(body):
        raise PruneError(f"invalid duration {text!r}: expected a Go duration such as 24h or 30m")
    return total


def trim(
    db: CacheDB,
    *,
    keep_storage: int | None = None,
    until: float | None = None,
    now: float | None = None,
) -> TrimResult:
    """Drop records and compressed copies unused for more than ``until`` seconds, then
    least recently used copies and records over ``keep_storage``."""
    now = time.time() if now is None else now
    records = list(db.records())  # least recently used first
    copies = db.compressed.all()  # least recently used first
    doomed: list[str] = []
    old_copies: list[CompressedCopy] = []
    if until is not None:
        doomed += [r.key for r in records if now - r.last_used > until]
        records = [r for r in records if now - r.last_used <= until]
        old_copies = [c for c in copies if now - c.last_used > until]
        copies = [c for c in copies if now - c.last_used <= until]
    if keep_storage is not None:
        kept = _copies_within(copies, keep_storage - _layers_size(records))
        old_copies += copies[: len(copies) - len(kept)]
        doomed += _over_budget(records, keep_storage - sum(c.blob.size for c in kept))
    db.delete(doomed)
    db.compressed.delete(old_copies)
    return TrimResult(tuple(doomed), len(old_copies))


def _layers_size(records: list[CacheRecord]) -> int:
    """Bytes of the distinct layers the records name."""
    return sum({r.layer_digest: r.layer_size or 0 for r in records if r.layer_digest}.values())


def _copies_within(copies: list[CompressedCopy], budget: int) -> list[CompressedCopy]:
    """The most recently used copies (a suffix of ``copies``) that fit in ``budget`` bytes."""
    total = sum(c.blob.size for c in copies)
    start = 0
    while start < len(copies) and total > budget:
        total -= copies[start].blob.size
        start += 1
    return copies[start:]


def _over_budget(records: list[CacheRecord], budget: int) -> list[str]:
    """Keys of the oldest records to drop so the remaining layers fit in ``budget`` bytes."""
    users: Counter[Digest] = Counter(r.layer_digest for r in records if r.layer_digest)
    sizes = {r.layer_digest: r.layer_size or 0 for r in records if r.layer_digest}
    total = sum(sizes.values())
    dropped: list[str] = []
    for rec in records:
        if total <= budget:
            break
        dropped.append(rec.key)
        digest = rec.layer_digest
        if digest is not None:
            users[digest] -= 1
            if users[digest] == 0:
                total -= sizes[digest]
    return dropped
