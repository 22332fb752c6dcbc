"""Time sources_checksum cold (every file read) and warm (every file a stat hit).

Usage: ``python benchmarks/checksum_bench.py [--files 20000] [--size 10240]``.
Builds a context of ``--files`` files (100 per directory) in a temp dir, then
checksums ``COPY . /`` with an in-memory stat cache and, if
``ocibuild.store.cache`` is importable, with the real sqlite CacheDB.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ocibuild.executor.checksum import RACY_NS, sources_checksum
from ocibuild.executor.context import BuildContext

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ocibuild.executor.checksum import StatCache

StatKey = tuple[int, int, int, int, int, int]


class DictStatCache:
    """The stat cache as a dict: the floor under any real database."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[StatKey, str]] = {}

    @staticmethod
    def key(st: os.stat_result) -> StatKey:
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)

    def stat_get(self, path: str, st: os.stat_result) -> str | None:
        row = self.rows.get(path)
        return row[1] if row is not None and row[0] == self.key(st) else None

    def stat_put(self, path: str, st: os.stat_result, sha256: str) -> None:
        self.rows[path] = (self.key(st), sha256)

    def stat_lookup(self, directory: str) -> Callable[[str, os.stat_result], str | None]:
        del directory  # everything is in memory already
        return self.stat_get

    def stat_put_many(self, entries: Iterable[tuple[str, os.stat_result, str]]) -> None:
        for path, st, sha256 in entries:
            self.stat_put(path, st, sha256)


def make_context(root: Path, files: int, size: int) -> None:
    for index in range(files):
        directory = root / f"d{index // 100:04d}"
        if index % 100 == 0:
            directory.mkdir()
        (directory / f"f{index:05d}").write_bytes(os.urandom(size))
    time.sleep(RACY_NS / 1e9 + 0.05)  # let the files leave the racy window


def timed(context: BuildContext, db: StatCache) -> tuple[float, str]:
    start = time.perf_counter()
    digest = sources_checksum(context, (".",), exclude=(), parents=False, db=db)
    return time.perf_counter() - start, digest


def run(label: str, context: BuildContext, db: StatCache) -> None:
    cold, first = timed(context, db)
    warm, second = timed(context, db)
    assert first == second
    print(f"{label:>10}: cold {cold:6.3f} s   warm {warm:6.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=10 * 1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ocibuild-bench-") as tmp:
        root = Path(tmp) / "ctx"
        root.mkdir()
        make_context(root, args.files, args.size)
        context = BuildContext.from_dir(root)
        print(f"{args.files} files of {args.size} bytes")
        run("dict", context, DictStatCache())
        if importlib.util.find_spec("ocibuild.store.cache") is not None:
            from ocibuild.store.cache import CacheDB

            db = CacheDB(Path(tmp) / "cache.db")
            try:
                run("CacheDB", context, db)
            finally:
                db.close()


if __name__ == "__main__":
    main()
