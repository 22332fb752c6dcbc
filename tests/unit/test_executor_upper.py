"""Upper: files written through the fast paths keep content and metadata; dirs stay right."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from typing import TYPE_CHECKING

import pytest

from ocibuild.errors import UserError
from ocibuild.executor.upper import Meta, Upper
from ocibuild.executor.users import Owner
from ocibuild.snapshot import RootView

if TYPE_CHECKING:
    from pathlib import Path

ROOT = Owner(0, 0)
MTIME = 1_600_000_000_123_456_789


def _upper(tmp_path: Path) -> Upper:
    lower = tmp_path / "lower"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "hosts").write_text("lower\n")
    os.chmod(lower / "etc", 0o711)
    root = tmp_path / "upper"
    root.mkdir()
    return Upper(root, RootView([lower]))


def test_file_from_a_real_file_keeps_content_and_metadata(tmp_path: Path) -> None:
    upper = _upper(tmp_path)
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(300_000))
    with src.open("rb") as stream:
        host = upper.write_file("/a/b/c.bin", stream, Meta(0o4751, 0, 0, MTIME), ROOT)
    assert host.read_bytes() == src.read_bytes()
    st = host.lstat()
    assert stat.S_IMODE(st.st_mode) == 0o4751
    assert st.st_mtime_ns == MTIME
    assert stat.S_IMODE((upper.root / "a" / "b").lstat().st_mode) == 0o755


def test_file_from_a_stream_without_descriptor(tmp_path: Path) -> None:
    upper = _upper(tmp_path)
    host = upper.write_file("/x.txt", io.BytesIO(b"heredoc\n"), Meta(0o644, 0, 0), ROOT)
    assert host.read_bytes() == b"heredoc\n"


def test_tar_member_is_copied_not_the_whole_archive(tmp_path: Path) -> None:
    # A tar member's stream has the archive's fileno(); the fast path must not use it.
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in (("one", b"first member"), ("two", b"second")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    upper = _upper(tmp_path)
    with tarfile.open(archive) as tar:
        member = tar.extractfile("two")
        assert member is not None
        host = upper.write_file("/two", member, Meta(0o644, 0, 0), ROOT)  # type: ignore[arg-type]
    assert host.read_bytes() == b"second"


def test_partly_read_file_copies_from_its_position(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"0123456789")
    upper = _upper(tmp_path)
    with src.open("rb") as stream:
        stream.read(4)
        host = upper.write_file("/f", stream, Meta(0o644, 0, 0), ROOT)
    assert host.read_bytes() == b"456789"


def test_parent_copied_up_with_lower_metadata(tmp_path: Path) -> None:
    upper = _upper(tmp_path)
    upper.write_file("/etc/new", io.BytesIO(b"n"), Meta(0o644, 0, 0), ROOT)
    assert stat.S_IMODE((upper.root / "etc").lstat().st_mode) == 0o711


def test_replacing_a_directory_forgets_it_and_its_children(tmp_path: Path) -> None:
    upper = _upper(tmp_path)
    upper.write_file("/d/sub/f", io.BytesIO(b"1"), Meta(0o644, 0, 0), ROOT)
    upper.write_file("/d", io.BytesIO(b"now a file"), Meta(0o644, 0, 0), ROOT)
    assert (upper.root / "d").read_bytes() == b"now a file"
    with pytest.raises(UserError, match="non-directory"):
        upper.write_file("/d/sub/f", io.BytesIO(b"2"), Meta(0o644, 0, 0), ROOT)
    upper.write_symlink("/d", "elsewhere", Meta(0o777, 0, 0), ROOT)
    upper.make_dir("/d2", Meta(0o700, 0, 0), ROOT)
    upper.write_file("/d2/f", io.BytesIO(b"3"), Meta(0o600, 0, 0), ROOT)
    assert (upper.root / "d2" / "f").read_bytes() == b"3"


def test_existing_file_is_replaced(tmp_path: Path) -> None:
    upper = _upper(tmp_path)
    upper.write_file("/f", io.BytesIO(b"old"), Meta(0o644, 0, 0), ROOT)
    upper.write_file("/f", io.BytesIO(b"new"), Meta(0o600, 0, 0), ROOT)
    assert (upper.root / "f").read_bytes() == b"new"
    assert stat.S_IMODE((upper.root / "f").lstat().st_mode) == 0o600
