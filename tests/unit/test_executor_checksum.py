"""sources_checksum: changes exactly when what COPY would write changes (design 008)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, BinaryIO

import pytest

from ocibuild.dockerfile.ignore import IgnoreRules
from ocibuild.errors import ContextError
from ocibuild.executor.checksum import RACY_NS, file_line, sources_checksum
from ocibuild.executor.context import BuildContext
from ocibuild.executor.sources import ViewTree
from ocibuild.snapshot import RootView
from ocibuild.store.cache import CacheDB

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ocibuild.executor.sources import SourceTree

StatKey = tuple[int, int, int, int, int, int]


@dataclass
class FakeStatCache:
    """In-memory stat cache with CacheDB's hit rule (dev, ino, size, mtime, ctime, mode)."""

    rows: dict[str, tuple[StatKey, str]] = field(default_factory=dict)
    gets: int = 0
    hits: int = 0
    puts: list[str] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)

    @staticmethod
    def key(st: os.stat_result) -> StatKey:
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)

    def stat_get(self, path: str, st: os.stat_result) -> str | None:
        self.gets += 1
        row = self.rows.get(path)
        if row is None or row[0] != self.key(st):
            return None
        self.hits += 1
        return row[1]

    def stat_put(self, path: str, st: os.stat_result, sha256: str) -> None:
        self.puts.append(path)
        self.rows[path] = (self.key(st), sha256)

    def stat_lookup(self, directory: str) -> Callable[[str, os.stat_result], str | None]:
        self.lookups.append(directory)
        return self.stat_get

    def stat_put_many(self, entries: Iterable[tuple[str, os.stat_result, str]]) -> None:
        for path, st, sha256 in entries:
            self.stat_put(path, st, sha256)


class NoReads(BuildContext):
    """A context that fails any attempt to read a file's content."""

    __slots__ = ()

    def open(self, path: str) -> BinaryIO:
        raise AssertionError(f"read {path}")


def checksum(
    tree: SourceTree | Path,
    *words: str,
    exclude: tuple[str, ...] = (),
    parents: bool = False,
    db: FakeStatCache | None = None,
) -> str:
    if isinstance(tree, PurePath):
        tree = BuildContext.from_dir(Path(tree))
    return sources_checksum(tree, words or (".",), exclude=exclude, parents=parents, db=db)


def write(root: Path, rel: str, data: str = "x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data)
    return path


def settle() -> None:
    """Wait until just-written files are no longer too recent to cache."""
    time.sleep(RACY_NS / 1e9 + 0.02)


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    write(tmp_path, "a.txt", "alpha")
    write(tmp_path, "b.txt", "beta")
    write(tmp_path, "dir/sub/c.txt", "gamma")
    (tmp_path / "dir/link").symlink_to("sub/c.txt")
    return tmp_path


def test_format_and_stable(ctx: Path) -> None:
    first = checksum(ctx)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", first)
    assert checksum(ctx) == first


def test_content_change(ctx: Path) -> None:
    before = checksum(ctx)
    write(ctx, "dir/sub/c.txt", "GAMMA")
    assert checksum(ctx) != before


def test_rename_inside_source(ctx: Path) -> None:
    before = checksum(ctx, "dir")
    (ctx / "dir/sub/c.txt").rename(ctx / "dir/sub/d.txt")
    assert checksum(ctx, "dir") != before


def test_matched_directory_name_does_not_land(ctx: Path) -> None:
    before = checksum(ctx, "di*")
    (ctx / "dir").rename(ctx / "dim")
    assert checksum(ctx, "di*") == before  # only its contents are written


def test_mode_bits(ctx: Path) -> None:
    seen = {checksum(ctx)}
    for mode in (0o755, 0o4755, 0o2755):
        (ctx / "a.txt").chmod(mode)
        seen.add(checksum(ctx))
    (ctx / "dir/sub").chmod(0o1777)
    seen.add(checksum(ctx))
    assert len(seen) == 5


def test_symlink_target(ctx: Path) -> None:
    before = checksum(ctx)
    (ctx / "dir/link").unlink()
    (ctx / "dir/link").symlink_to("sub/../sub/c.txt")
    assert checksum(ctx) != before


def test_file_type(ctx: Path) -> None:
    seen = {checksum(ctx)}
    (ctx / "b.txt").unlink()
    (ctx / "b.txt").symlink_to("beta")
    seen.add(checksum(ctx))
    (ctx / "b.txt").unlink()
    os.mkfifo(ctx / "b.txt")
    seen.add(checksum(ctx))
    (ctx / "b.txt").unlink()
    (ctx / "b.txt").mkdir()
    seen.add(checksum(ctx))
    assert len(seen) == 4


def test_hardlink_vs_copy(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    write(one, "a", "same")
    write(one, "b", "same")
    write(two, "a", "same")
    (two / "b").hardlink_to(two / "a")
    assert checksum(one) != checksum(two)


def test_link_outside_the_copy_is_a_plain_file(tmp_path: Path) -> None:
    write(tmp_path, "src/a", "same")
    before = checksum(tmp_path, "src")
    (tmp_path / "elsewhere").hardlink_to(tmp_path / "src/a")
    assert checksum(tmp_path, "src") == before


def test_mtime_does_not_count(ctx: Path) -> None:
    before = checksum(ctx)
    os.utime(ctx / "a.txt", ns=(1, 2))
    os.utime(ctx / "dir/sub", ns=(3, 4))
    assert checksum(ctx) == before


def test_dockerignored_file_does_not_count(ctx: Path) -> None:
    write(ctx, ".dockerignore", "dir/sub/c.txt\n")
    before = checksum(ctx, "dir")
    write(ctx, "dir/sub/c.txt", "changed")
    assert checksum(ctx, "dir") == before


def test_excluded_file_does_not_count(ctx: Path) -> None:
    before = checksum(ctx, "dir", exclude=("sub/c.txt",))
    write(ctx, "dir/sub/c.txt", "changed")
    write(ctx, "dir/sub/new.txt", "new")
    assert checksum(ctx, "dir", exclude=("sub/c.txt", "**/new.txt")) == before
    assert checksum(ctx, "dir") != before


def test_excluded_file_source(ctx: Path) -> None:
    before = checksum(ctx, "*.txt", exclude=("b.txt",))
    write(ctx, "b.txt", "changed")
    assert checksum(ctx, "*.txt", exclude=("b.txt",)) == before
    assert checksum(ctx, "*.txt") != checksum(ctx, "*.txt", exclude=("b.txt",))


def test_wildcard_selection(ctx: Path) -> None:
    before = checksum(ctx, "*.txt")
    write(ctx, "c.md", "not selected")
    assert checksum(ctx, "*.txt") == before
    write(ctx, "c.txt", "selected")
    assert checksum(ctx, "*.txt") != before


def test_files_outside_the_sources(ctx: Path) -> None:
    before = checksum(ctx, "dir")
    write(ctx, "a.txt", "changed")
    assert checksum(ctx, "dir") == before


def test_parents_changes_where_files_land(ctx: Path) -> None:
    assert checksum(ctx, "dir/sub/c.txt", parents=True) != checksum(ctx, "dir/sub/c.txt")
    assert checksum(ctx, "dir/./sub/c.txt", parents=True) != checksum(
        ctx, "dir/sub/c.txt", parents=True
    )


def test_source_order_counts(ctx: Path) -> None:
    assert checksum(ctx, "a.txt", "b.txt") != checksum(ctx, "b.txt", "a.txt")


def test_missing_literal_source(ctx: Path) -> None:
    with pytest.raises(ContextError, match="not found"):
        checksum(ctx, "nope.txt")


def test_names_cannot_imitate_records(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    write(one, 'a\n["file","b"', "x")
    write(two, "a", "x")
    write(two, "b", "x")
    assert checksum(one) != checksum(two)


def test_warm_run_reads_nothing(ctx: Path) -> None:
    db = FakeStatCache()
    settle()
    cold = checksum(ctx, db=db)
    assert sorted(db.puts) == sorted(str(ctx / n) for n in ("a.txt", "b.txt", "dir/sub/c.txt"))
    db.puts.clear()
    warm = checksum(NoReads(ctx, IgnoreRules()), ".", db=db)
    assert (warm, db.hits, db.puts) == (cold, 3, [])
    assert db.lookups == [str(ctx), str(ctx)]  # one batch read per directory source
    assert checksum(ctx) == cold  # no db: same answer


def test_cache_miss_on_any_change(ctx: Path) -> None:
    db = FakeStatCache()
    settle()
    checksum(ctx, db=db)
    st = (ctx / "a.txt").stat()
    write(ctx, "a.txt", "ALPHA")  # same size
    os.utime(ctx / "a.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (ctx / "a.txt").stat().st_mtime_ns == st.st_mtime_ns
    settle()
    assert checksum(ctx, db=db) == checksum(ctx)  # ctime moved: re-read
    assert str(ctx / "a.txt") in db.puts[3:]


def test_hit_trusts_the_cache(ctx: Path) -> None:
    """The known trade-off: a stat match is believed without reading the file."""
    db = FakeStatCache()
    settle()
    honest = checksum(ctx, db=db)
    path = str(ctx / "a.txt")
    db.rows[path] = (db.rows[path][0], hashlib.sha256(b"other").hexdigest())
    assert checksum(ctx, db=db) != honest


def test_racy_files_are_not_cached(tmp_path: Path) -> None:
    db = FakeStatCache()
    write(tmp_path, "fresh", "x")
    checksum(tmp_path, db=db)
    assert db.puts == []
    settle()
    checksum(tmp_path, db=db)
    assert db.puts == [str(tmp_path / "fresh")]


def test_view_tree_caches_by_lower_path(tmp_path: Path) -> None:
    lower = tmp_path / "lower"
    write(lower, "etc/conf", "c")
    view = ViewTree(RootView([lower]))
    db = FakeStatCache()
    settle()
    assert checksum(view, "/etc", db=db) == checksum(BuildContext.from_dir(lower), "etc")
    assert db.puts == [str(lower / "etc/conf")]


def test_with_the_real_cache_db(ctx: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    db = CacheDB(tmp_path_factory.mktemp("cache") / "cache.db")
    try:
        settle()
        cold = sources_checksum(
            BuildContext.from_dir(ctx), (".",), exclude=(), parents=False, db=db
        )
        warm = sources_checksum(
            NoReads(ctx, IgnoreRules()), (".",), exclude=(), parents=False, db=db
        )
        assert warm == cold == checksum(ctx)
        assert (
            db.stat_get(str(ctx / "a.txt"), (ctx / "a.txt").lstat())
            == hashlib.sha256(b"alpha").hexdigest()
        )
    finally:
        db.close()


@pytest.mark.parametrize(
    "landing",
    ["/app/a.txt", '/q"uote', "/back\\slash", "/tab\there", "/ünï", "/emoji-\U0001f600", "/\x7f"],
)
def test_file_line_is_the_json_encoders_bytes(landing: str) -> None:
    # Cache keys must not move: the direct formatting writes what json wrote.
    record = ["file", landing, 0o4755, 1000, 0, "ab" * 32]
    expected = json.dumps(record, ensure_ascii=True, separators=(",", ":")) + "\n"
    assert file_line(landing, 0o4755, 1000, 0, "ab" * 32) == expected.encode("ascii")
