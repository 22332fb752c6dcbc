"""The build cache's records and the source stat cache, in ``ROOT/ocibuild/cache.db``.

Owns the sqlite3 file (schema versioned by ``PRAGMA user_version``, migrated
forward on open): the ``records`` table (cache key -> the layer a step made,
with its history fields), the ``stat_cache`` table (a file's stat -> its
content sha256) and the ``compressed`` table (an uncompressed layer and a
compression -> the compressed blob made from it; read and written by
:mod:`ocibuild.store.compressed` through :meth:`CacheDB.compressed`).
Keys are computed elsewhere (``ocibuild.plan.cachekey``); which blobs exist
is asked of the store through ``has_blob``.  See docs/design/008-build-cache.md.

The database runs in WAL mode with ``synchronous=NORMAL``; every write is an
``IMMEDIATE`` transaction with a busy timeout, so concurrent builders queue
instead of failing with "database is locked", and a crash loses at most the
last transaction.  Each thread (and each process after ``fork``) gets its
own connection.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocibuild._record import record, replace
from ocibuild.errors import StoreError
from ocibuild.oci import Descriptor, Digest, mediatypes

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from ocibuild.store.compressed import CompressedCopies

__all__ = ["SCHEMA_VERSION", "CacheDB", "CacheRecord"]

#: ``PRAGMA user_version`` of the schema this module writes.
SCHEMA_VERSION = 2
#: Seconds a writer waits for another one before giving up.
BUSY_TIMEOUT = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records(
    key TEXT PRIMARY KEY, layer_digest TEXT NULL, diff_id TEXT NULL,
    layer_size INT NULL, media_type TEXT NULL, created TEXT,
    created_by TEXT, empty_layer INT, last_used REAL, size INT);
CREATE INDEX IF NOT EXISTS records_last_used ON records(last_used);
CREATE TABLE IF NOT EXISTS stat_cache(
    path TEXT PRIMARY KEY, dev INT, ino INT, size INT,
    mtime_ns INT, ctime_ns INT, mode INT, sha256 TEXT);
"""
_SCHEMA_V2 = """
CREATE TABLE IF NOT EXISTS compressed(
    diff_id TEXT, compression TEXT, media_type TEXT, digest TEXT,
    size INT, last_used REAL, PRIMARY KEY(diff_id, compression));
"""
#: ``_MIGRATIONS[n]`` takes a database from ``user_version`` n to n + 1.
_MIGRATIONS = (_SCHEMA, _SCHEMA_V2)
_SELECT = (
    "SELECT key, layer_digest, diff_id, layer_size, media_type, created, created_by,"
    " empty_layer, last_used, size FROM records"
)
_INSERT = (
    "INSERT OR REPLACE INTO records(key, layer_digest, diff_id, layer_size, media_type,"
    " created, created_by, empty_layer, last_used, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_Row = tuple[str, str | None, str | None, int | None, str | None, str, str, int, float, int]


@record
class CacheRecord:
    """What one cached step produced.

    ``key`` is the step's cache key (``str(CacheKey.digest)``).  A layer step
    has ``layer_digest``, ``diff_id``, ``layer_size`` and ``media_type`` (the
    stored blob); a step that made no layer has them ``None`` and
    ``empty_layer`` True.  ``created``/``created_by`` are the history entry's
    (RFC 3339 text).  ``size`` is the layer's uncompressed (diff) size in
    bytes, 0 if unknown.  ``last_used`` is a Unix time; :meth:`CacheDB.put`
    stores "now" when it is 0.
    """

    key: str
    layer_digest: Digest | None = None
    diff_id: Digest | None = None
    layer_size: int | None = None
    media_type: str | None = None
    created: str = ""
    created_by: str = ""
    empty_layer: bool = False
    last_used: float = 0.0
    size: int = 0

    @property
    def layer(self) -> Descriptor | None:
        """The layer blob's descriptor, or ``None`` for a step without a layer."""
        if self.layer_digest is None:
            return None
        media_type = self.media_type or mediatypes.OCI_LAYER_GZIP
        return Descriptor(media_type, self.layer_digest, self.layer_size or 0)

    def _row(self) -> _Row:
        return (
            self.key,
            _text(self.layer_digest),
            _text(self.diff_id),
            self.layer_size,
            self.media_type,
            self.created,
            self.created_by,
            int(self.empty_layer),
            self.last_used or time.time(),
            self.size,
        )

    @classmethod
    def _from_row(cls, row: _Row) -> CacheRecord:
        key, layer, diff_id, layer_size, media_type, created, by, empty, used, size = row
        return cls(
            key=key,
            layer_digest=Digest.parse(layer) if layer else None,
            diff_id=Digest.parse(diff_id) if diff_id else None,
            layer_size=layer_size,
            media_type=media_type,
            created=created or "",
            created_by=by or "",
            empty_layer=bool(empty),
            last_used=float(used or 0.0),
            size=int(size or 0),
        )


def _text(digest: Digest | None) -> str | None:
    return None if digest is None else str(digest)


class _Local(threading.local):
    conn: sqlite3.Connection | None = None
    pid: int = 0


@contextlib.contextmanager
def _opening(path: Path) -> Iterator[None]:
    """An exclusive flock on ``<db>.open-lock`` while a connection is set up."""
    fd = os.open(f"{path}.open-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class CacheDB:
    """The cache database at ``path`` (created on first use).

    ``has_blob`` tells whether the store still holds a layer; a record whose
    layer is gone is dropped by :meth:`get` and reported as a miss.  Without
    it every record's layer is assumed present.
    """

    def __init__(self, path: Path | str, *, has_blob: Callable[[Digest], bool] | None = None):
        self.path = Path(path)
        self._has_blob = has_blob
        self._local = _Local()
        self._all: list[sqlite3.Connection] = []
        self._guard = threading.Lock()

    # -- connections ---------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        local = self._local
        if local.conn is None or local.pid != os.getpid():
            local.conn, local.pid = self._open(), os.getpid()
        return local.conn

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One opener at a time, threads and processes: two opening a new file
        # at once race to switch it to WAL, and sqlite answers the loser
        # "database is locked" at once, without waiting (seen with parallel
        # stages on a fresh store, and with two processes: 1 run in 15).
        with self._guard, _errors(self.path), _opening(self.path):
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            self._all.append(conn)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate(conn)
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: cache schema {version} is newer than this ocibuild")
        with _transaction(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # another may have won
            if version >= SCHEMA_VERSION:
                return
            for script in _MIGRATIONS[version:]:
                for statement in filter(str.strip, script.split(";")):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        """Close every connection this object opened (in this process)."""
        with self._guard:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = _Local()

    @contextlib.contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection inside one ``IMMEDIATE`` transaction (for table modules)."""
        conn = self._conn()
        with _errors(self.path), _transaction(conn):
            yield conn

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """All rows of one read-only statement (sqlite errors become StoreError)."""
        with _errors(self.path):
            return list(self._conn().execute(sql, params).fetchall())

    @property
    def compressed(self) -> CompressedCopies:
        """The compressed copies of layers (the ``compressed`` table)."""
        from ocibuild.store.compressed import CompressedCopies

        return CompressedCopies(self)

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check``'s verdict (``"ok"`` when sound)."""
        with _errors(self.path):
            return str(self._conn().execute("PRAGMA integrity_check").fetchone()[0])

    # -- records ---------------------------------------------------------------

    def get(self, key: str | Digest, *, touch: bool = True) -> CacheRecord | None:
        """The record for ``key`` (its ``last_used`` set to now), or ``None``.

        A record whose layer blob is missing from the store is deleted and
        is a miss.  With ``touch=False`` the record is returned as stored and
        the caller is to :meth:`touch` it later (a build does all its hits
        in one transaction at the end).
        """
        conn = self._conn()
        with _errors(self.path):
            row = conn.execute(_SELECT + " WHERE key=?", (str(key),))
            found = row.fetchone()
        if found is None:
            return None
        record = CacheRecord._from_row(found)
        if record.layer_digest is not None and not self._blob_present(record.layer_digest):
            self.delete((record.key,))
            return None
        if not touch:
            return record
        now = self.touch((record.key,))
        return replace(record, last_used=now)

    def touch(self, keys: Iterable[str | Digest]) -> float:
        """Set the ``last_used`` of the records of ``keys`` to now, in one transaction.

        Returns the time written; keys without a record are ignored.
        """
        now = time.time()
        rows = [(now, str(key)) for key in dict.fromkeys(keys)]
        if not rows:
            return now
        conn = self._conn()
        with _errors(self.path), _transaction(conn):
            conn.executemany("UPDATE records SET last_used=? WHERE key=?", rows)
        return now

    def _blob_present(self, digest: Digest) -> bool:
        return self._has_blob is None or self._has_blob(digest)

    def put(self, record: CacheRecord) -> None:
        """Insert or replace ``record`` (``last_used`` 0 means now)."""
        self.put_many((record,))

    def put_many(self, records: Iterable[CacheRecord]) -> None:
        """Insert or replace several records in one transaction."""
        rows = [r._row() for r in records]
        conn = self._conn()
        with _errors(self.path), _transaction(conn):
            conn.executemany(_INSERT, rows)

    def delete(self, keys: Iterable[str | Digest]) -> int:
        """Delete the records of ``keys``; returns how many existed."""
        conn = self._conn()
        with _errors(self.path), _transaction(conn):
            cursor = conn.executemany("DELETE FROM records WHERE key=?", [(str(k),) for k in keys])
            return max(cursor.rowcount, 0)

    def records(self) -> Iterator[CacheRecord]:
        """Every record, least recently used first (a snapshot; touches nothing)."""
        with _errors(self.path):
            rows = self._conn().execute(_SELECT + " ORDER BY last_used, key")
            found = rows.fetchall()
        return (CacheRecord._from_row(row) for row in found)

    def find(self, keys: Iterable[str | Digest]) -> list[CacheRecord]:
        """The records of those ``keys`` that exist (in the given order; touches nothing)."""
        conn = self._conn()
        found: list[CacheRecord] = []
        with _errors(self.path):
            for key in keys:
                row = conn.execute(_SELECT + " WHERE key=?", (str(key),))
                hit = row.fetchone()
                if hit is not None:
                    found.append(CacheRecord._from_row(hit))
        return found

    def layers(self) -> list[Descriptor]:
        """The layer blobs the records name (the cache's gc roots)."""
        return [layer for record in self.records() if (layer := record.layer) is not None]

    # -- stat cache --------------------------------------------------------------

    def stat_get(self, path: str | os.PathLike[str], st: os.stat_result) -> str | None:
        """The sha256 recorded for ``path`` if dev, ino, size, mtime_ns, ctime_ns and mode match."""
        with _errors(self.path):
            row = self._conn().execute(
                "SELECT dev, ino, size, mtime_ns, ctime_ns, mode, sha256"
                " FROM stat_cache WHERE path=?",
                (os.fspath(path),),
            )
            found = row.fetchone()
        if found is None or tuple(found[:6]) != _stat_tuple(st):
            return None
        return str(found[6])

    def stat_put(self, path: str | os.PathLike[str], st: os.stat_result, sha256: str) -> None:
        """Remember that the file at ``path`` with stat ``st`` hashes to ``sha256``."""
        conn = self._conn()
        with _errors(self.path), _transaction(conn):
            conn.execute(
                "INSERT OR REPLACE INTO stat_cache VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (os.fspath(path), *_stat_tuple(st), sha256),
            )

    def stat_lookup(
        self, directory: str | os.PathLike[str]
    ) -> Callable[[str, os.stat_result], str | None]:
        """A :meth:`stat_get` for the files under ``directory``, from one query.

        The rows are read once (a range scan of the primary key); the returned
        function answers from memory.  Rows written later are not seen.
        """
        prefix = os.fspath(directory).rstrip("/") + "/"
        with _errors(self.path):
            rows = self._conn().execute(
                "SELECT path, dev, ino, size, mtime_ns, ctime_ns, mode, sha256"
                " FROM stat_cache WHERE path >= ? AND path < ?",
                (prefix, prefix[:-1] + "0"),  # "0" sorts right after "/"
            )
            found = {row[0]: (tuple(row[1:7]), str(row[7])) for row in rows.fetchall()}

        def lookup(path: str, st: os.stat_result) -> str | None:
            hit = found.get(path)
            return hit[1] if hit is not None and hit[0] == _stat_tuple(st) else None

        return lookup

    def stat_put_many(self, entries: Iterable[tuple[str, os.stat_result, str]]) -> None:
        """:meth:`stat_put` for several files, in one transaction."""
        rows = [(os.fspath(path), *_stat_tuple(st), sha256) for path, st, sha256 in entries]
        if not rows:
            return
        conn = self._conn()
        with _errors(self.path), _transaction(conn):
            conn.executemany(
                "INSERT OR REPLACE INTO stat_cache VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
            )


def _stat_tuple(st: os.stat_result) -> tuple[int, int, int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any error)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextlib.contextmanager
def _errors(path: Path) -> Iterator[None]:
    """sqlite3 failures (corrupt file, disk full, timeout) become :class:`StoreError`."""
    try:
        yield
    except sqlite3.Error as err:
        raise StoreError(f"cache database {path}: {err}") from None
