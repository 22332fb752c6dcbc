"""What ``fsck`` reports: one :class:`Problem` per thing wrong, and how to word it.

Shared by :mod:`ocibuild.store.fsck` (layout, blobs, references, gc roots),
:mod:`ocibuild.store.fsck_cache` (the cache database) and
:mod:`ocibuild.store.fsck_scratch` (snapshots and temp files).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ocibuild._record import record

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Problem", "rel", "why"]


@record
class Problem:
    """One thing wrong with a store.

    ``area`` is where (layout, blob, ref, root, cache, snapshot, tmp,
    cache-mount), ``subject`` what (a digest, a tag, a path from the store's
    root) and ``message`` why.  ``stale`` marks the leftovers of a process
    that is gone, which the next build or ``prune`` sweeps: not damage.
    """

    area: str
    subject: str
    message: str
    stale: bool = False

    def __str__(self) -> str:
        head = f"stale {self.area}" if self.stale else self.area
        return f"{head} {self.subject}: {self.message}"

    def to_json(self) -> dict[str, object]:
        """The problem as a JSON object (``ocibuild fsck --json``)."""
        return {
            "area": self.area,
            "subject": self.subject,
            "message": self.message,
            "stale": self.stale,
        }


def why(err: BaseException) -> str:
    """The first line of an error, as a problem's message."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    text = str(err)
    return text.splitlines()[0] if text else type(err).__name__


def rel(path: Path) -> str:
    """``path`` from the store's root: ``blobs/sha256/x``, ``ocibuild/roots/y.json``."""
    parts = path.parts
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] in ("blobs", "ocibuild"):
            return "/".join(parts[index:])
    return str(path)
