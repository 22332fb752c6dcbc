"""RootView without privileges: merging, shadowing and symlinks inside the root."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

import pytest

from ocibuild.snapshot import RootView, SymlinkLoopError

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def view(tmp_path: Path) -> RootView:
    top, bottom = tmp_path / "top", tmp_path / "bottom"
    for layer in (top, bottom):
        (layer / "etc").mkdir(parents=True)
    (bottom / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (bottom / "etc" / "group").write_text("old\n")
    (top / "etc" / "group").write_text("new\n")
    (bottom / "usr" / "lib").mkdir(parents=True)
    (bottom / "usr" / "lib" / "libc.so").write_text("elf")
    (bottom / "lib").symlink_to("usr/lib")
    (top / "abs").symlink_to("/usr/lib/libc.so")
    (top / "up").symlink_to("../../../../etc")
    (top / "loop").symlink_to("loop")
    (bottom / "file").mkdir()
    (bottom / "file" / "hidden").write_text("h")
    (top / "file").write_text("shadows the lower dir")
    return RootView([top, bottom])


def test_directories_merge(view: RootView) -> None:
    assert view.listdir("/etc") == ["group", "passwd"]
    assert view.listdir("/") == ["abs", "etc", "file", "lib", "loop", "up", "usr"]


def test_upper_file_wins(view: RootView) -> None:
    assert view.read_text("/etc/group") == "new\n"
    assert view.read_text("etc/passwd") == "root:x:0:0::/root:/bin/sh\n"


def test_non_directory_hides_lower_directory(view: RootView) -> None:
    assert view.lstat("/file/hidden") is None
    assert not view.is_dir("/file")
    with pytest.raises(NotADirectoryError):
        view.listdir("/file")


def test_symlinks_resolve_inside_the_root(view: RootView, tmp_path: Path) -> None:
    assert view.resolve("/lib/libc.so") == "/usr/lib/libc.so"
    assert view.resolve("/abs") == "/usr/lib/libc.so"
    assert view.resolve("/abs", follow_last=False) == "/abs"
    assert view.resolve("/up/passwd") == "/etc/passwd"  # ".." stops at "/"
    assert view.resolve("/../../etc/./group") == "/etc/group"
    assert view.resolve("/missing/../etc") == "/etc"
    assert view.read_text("/lib/libc.so") == "elf"
    assert view.real_path("/lib/libc.so") == tmp_path / "bottom" / "usr" / "lib" / "libc.so"
    assert view.real_path("/lib") == tmp_path / "bottom" / "lib"
    assert view.is_dir("/lib")


def test_lstat_does_not_follow_the_last_component(view: RootView) -> None:
    st = view.lstat("/lib")
    assert st is not None
    assert stat.S_ISLNK(st.st_mode)


def test_symlink_loop_is_an_error(view: RootView) -> None:
    with pytest.raises(SymlinkLoopError, match="too many levels of symbolic links"):
        view.resolve("/loop/x")


def test_missing_paths(view: RootView) -> None:
    assert view.lstat("/nope") is None
    assert view.read_text("/nope") is None
    assert view.real_path("/nope/deeper") is None
    assert view.read_text("/etc") is None
    with pytest.raises(FileNotFoundError):
        view.open("/nope")
    with pytest.raises(IsADirectoryError):
        view.open("/etc")
