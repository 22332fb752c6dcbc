"""Pure path rules of the executor: matching, cleaning, dest rules, context resolution."""

from __future__ import annotations

import gzip
import io
import tarfile
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocibuild.dockerfile.ignore import IgnoreRules
from ocibuild.errors import ContextError, UserError
from ocibuild.executor.add import is_archive, is_url, url_filename
from ocibuild.executor.context import BuildContext, resolve_in_root
from ocibuild.executor.copy import Source, dest_is_dir, parse_chmod, target_path
from ocibuild.executor.copy_step import join_dest
from ocibuild.executor.sources import clean_inside, go_match, match_sources

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("pattern", "name", "hit"),
    [
        ("*.txt", "a.txt", True),
        ("*.txt", ".hidden.txt", True),
        ("?.txt", "ab.txt", False),
        ("[ab].go", "b.go", True),
        ("[^ab].go", "b.go", False),
        ("[a-c]x", "cx", True),
        ("\\*", "*", True),
        ("\\*", "a", False),
        ("a*b", "a/b", False),
    ],
)
def test_go_match(pattern: str, name: str, hit: bool) -> None:
    assert go_match(pattern, name) is hit


def test_go_match_bad_class() -> None:
    with pytest.raises(ContextError):
        go_match("[ab", "a")


@given(st.text(alphabet="ab./", max_size=30))
def test_clean_inside_never_escapes(path: str) -> None:
    cleaned = clean_inside(path)
    assert cleaned.startswith("/")
    assert ".." not in cleaned.split("/")


@pytest.fixture
def ctx(tmp_path: Path) -> BuildContext:
    for name in ("a.txt", "b.txt", "c.md", "sub/x.txt", "secret/k"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    (tmp_path / "up").symlink_to("../../../etc")
    (tmp_path / "abs").symlink_to("/sub")
    return BuildContext(tmp_path, IgnoreRules.parse("secret\n"))


def test_match_sources(ctx: BuildContext) -> None:
    assert match_sources(ctx, "*.txt") == ["/a.txt", "/b.txt"]
    assert match_sources(ctx, "s*/*.txt") == ["/sub/x.txt"]
    assert match_sources(ctx, "*.none") == []
    assert match_sources(ctx, "../../a.txt") == ["/a.txt"]
    assert match_sources(ctx, "missing") == ["/missing"]


def test_excluded_paths_are_invisible(ctx: BuildContext) -> None:
    assert "secret" not in ctx.listdir("/")
    with pytest.raises(FileNotFoundError):
        ctx.lstat("/secret/k")


def test_symlinks_resolve_inside_the_context(ctx: BuildContext) -> None:
    assert ctx.resolve("/up") == "/etc"
    assert ctx.resolve("/abs/x.txt") == "/sub/x.txt"
    assert ctx.resolve("/up", follow_last=False) == "/up"
    assert resolve_in_root(ctx.root, "/../../a.txt") == "/a.txt"


def test_symlink_loop_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "l1").symlink_to("l2")
    (tmp_path / "l2").symlink_to("l1")
    with pytest.raises(ContextError, match="too many levels"):
        resolve_in_root(tmp_path, "/l1")


def test_from_dir_reads_dockerignore(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("*.log\n")
    ctx = BuildContext.from_dir(tmp_path)
    assert ctx.ignore.excluded("x.log")
    with pytest.raises(ContextError, match="not found"):
        BuildContext.from_dir(tmp_path / "nope")


@pytest.mark.parametrize(
    ("dest", "existing", "into"),
    [("/x/", False, True), ("/x", False, False), ("/x", True, True), (".", False, True)],
)
def test_dest_is_dir(dest: str, existing: bool, into: bool) -> None:
    assert dest_is_dir(dest, existing) is into


def test_target_path_rules() -> None:
    src = Source("/dir/a.txt", "dir/a.txt", wildcard=False)
    assert target_path(src, "/x/", into_dir=True, parents=False) == "/x/a.txt"
    assert target_path(src, "/x", into_dir=False, parents=False) == "/x"
    assert target_path(src, "/x/", into_dir=True, parents=True) == "/x/dir/a.txt"
    marked = Source("/dir/a.txt", "./dir/./a.txt", wildcard=False)
    assert target_path(marked, "/x/", into_dir=True, parents=True) == "/x/a.txt"


def test_join_dest_keeps_trailing_slash() -> None:
    assert join_dest("/w", "rel") == "/w/rel"
    assert join_dest("/w", "rel/") == "/w/rel/"
    assert join_dest("/w", ".") == "/w/"
    assert join_dest("/w", "/abs") == "/abs"
    assert join_dest("/", "../x") == "/x"
    assert join_dest("/", "/") == "/"


def test_parse_chmod() -> None:
    assert parse_chmod("755") == 0o755
    assert parse_chmod(None) is None
    for bad in ("u+x", "99999"):
        with pytest.raises(UserError, match="invalid chmod"):
            parse_chmod(bad)


def _tar(compress: bool) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("f")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    data = buf.getvalue()
    return gzip.compress(data) if compress else data


def test_is_archive_by_content() -> None:
    assert is_archive(io.BytesIO(_tar(False)))
    assert is_archive(io.BytesIO(_tar(True)))
    assert not is_archive(io.BytesIO(b"\x1f\x8bnot really gzip"))
    assert not is_archive(io.BytesIO(b"plain text"))


def test_urls() -> None:
    assert is_url("https://x/y") and not is_url("ftp://x")
    assert url_filename("https://host/dir/file.tgz?x=1") == "file.tgz"
    assert url_filename("https://host/") == "__unnamed__"
