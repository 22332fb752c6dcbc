"""``fsck`` of the build cache database (``ocibuild/cache.db``).

The file must pass ``PRAGMA integrity_check``; every record must parse (its
digests well formed) and the layer blob it names must exist with the
record's size.  The database is opened read-write without creating it (so
that sqlite can roll a killed writer's journal back, as any open would), and
only read; reads in WAL mode wait for no writer.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from typing import TYPE_CHECKING

from ocibuild.errors import UserError
from ocibuild.oci import Digest
from ocibuild.store.cache import BUSY_TIMEOUT, SCHEMA_VERSION
from ocibuild.store.fsck_problem import Problem, rel, why

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["check_cache"]

_ROWS = "SELECT key, layer_digest, diff_id, layer_size FROM records ORDER BY key"


def check_cache(path: Path, size_of: Callable[[Digest], int | None], found: list[Problem]) -> int:
    """Check ``path``; ``size_of(digest)`` is a blob's size or None. Returns records seen."""
    if not path.exists():
        return 0
    subject = rel(path)
    try:
        conn = sqlite3.connect(
            f"file:{urllib.parse.quote(str(path))}?mode=rw", uri=True, timeout=BUSY_TIMEOUT
        )
    except sqlite3.Error as err:
        found.append(Problem("cache", subject, f"cannot open: {why(err)}"))
        return 0
    try:
        return _check(conn, subject, size_of, found)
    except sqlite3.Error as err:
        found.append(Problem("cache", subject, why(err)))
        return 0
    finally:
        conn.close()


def _check(
    conn: sqlite3.Connection,
    subject: str,
    size_of: Callable[[Digest], int | None],
    found: list[Problem],
) -> int:
    verdict = [str(row[0]) for row in conn.execute("PRAGMA integrity_check").fetchall()]
    if verdict != ["ok"]:
        found.append(Problem("cache", subject, "integrity_check: " + "; ".join(verdict[:3])))
        return 0
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == 0:
        return 0  # created, never written
    if version > SCHEMA_VERSION:
        found.append(Problem("cache", subject, f"schema {version} is newer than this ocibuild"))
        return 0
    rows = conn.execute(_ROWS).fetchall()
    for key, layer, diff_id, size in rows:
        problem = _record_problem(layer, diff_id, size, size_of)
        if problem is not None:
            found.append(Problem("cache", f"record {key}", problem))
    return len(rows)


def _record_problem(
    layer: object, diff_id: object, size: object, size_of: Callable[[Digest], int | None]
) -> str | None:
    """What is wrong with one record's layer columns, or None."""
    if layer is None:
        return None if diff_id is None else "has a diff_id but no layer"
    try:
        digest = Digest.parse(str(layer))
        if diff_id is not None:
            Digest.parse(str(diff_id))
    except UserError as err:
        return f"malformed: {why(err)}"
    if size is not None and not isinstance(size, int):
        return f"malformed: layer size {size!r}"
    actual = size_of(digest)
    if actual is None:
        return f"layer {digest} is missing"
    if size is not None and actual != size:
        return f"layer {digest} has {actual} bytes, the record says {size}"
    return None
