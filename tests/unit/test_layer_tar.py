"""write_layer: deterministic, BuildKit-shaped tar of a diff directory."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from typing import TYPE_CHECKING

import pytest

from ocibuild.layer import write_layer
from ocibuild.layer.tarheader import BLOCK, REGTYPE, TarEntry, encode_header

if TYPE_CHECKING:
    from pathlib import Path


def layer_bytes(root: Path, clamp: int | None = None) -> bytes:
    sink = io.BytesIO()
    write_layer(root, sink, clamp_mtime=clamp)
    return sink.getvalue()


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def make_tree(root: Path) -> None:
    (root / "d" / "a").mkdir(parents=True)
    (root / "d" / "a.b").mkdir()
    (root / "d" / "a" / "z").write_text("1")
    (root / "d" / "a-b").write_text("2")
    (root / "d" / "B").write_text("4")
    (root / "d" / "ln").symlink_to("a-b")
    os.link(root / "d" / "a-b", root / "d" / "hl")
    os.mkfifo(root / "fifo")


def test_order_is_depth_first_sorted_by_bytes_like_buildkit(tmp_path: Path) -> None:
    make_tree(tmp_path)
    names = [m.name + ("/" if m.isdir() else "") for m in members(layer_bytes(tmp_path))]
    assert names == ["d/", "d/B", "d/a/", "d/a/z", "d/a-b", "d/a.b/", "d/hl", "d/ln", "fifo"]


def test_raw_names_have_no_dot_slash_and_dirs_end_in_slash(tmp_path: Path) -> None:
    make_tree(tmp_path)
    (tmp_path / "d").chmod(0o755)
    data = layer_bytes(tmp_path)
    assert data[:100].rstrip(b"\0") == b"d/"
    assert data[257:265] == b"ustar\x0000"
    assert data[100:108] == b"0040755\x00"  # Go's archive/tar keeps the type bits


def test_headers_are_numeric_and_nameless(tmp_path: Path) -> None:
    make_tree(tmp_path)
    for m in members(layer_bytes(tmp_path)):
        assert (m.uname, m.gname) == ("", "")
        assert m.uid == os.getuid()
        assert "atime" not in m.pax_headers and "ctime" not in m.pax_headers


def test_hardlinks_symlinks_fifos(tmp_path: Path) -> None:
    make_tree(tmp_path)
    by_name = {m.name: m for m in members(layer_bytes(tmp_path))}
    assert by_name["d/a-b"].isreg() and by_name["d/a-b"].size == 1
    assert by_name["d/hl"].islnk() and by_name["d/hl"].linkname == "d/a-b"
    assert by_name["d/hl"].size == 0
    assert by_name["d/ln"].issym() and by_name["d/ln"].linkname == "a-b"
    assert by_name["fifo"].isfifo()


def test_mode_keeps_special_bits_and_type_bits(tmp_path: Path) -> None:
    (tmp_path / "s").write_text("x")
    (tmp_path / "s").chmod(0o6755)
    (tmp_path / "t").mkdir()
    (tmp_path / "t").chmod(0o1777)
    data = layer_bytes(tmp_path)
    modes = {m.name: m.mode for m in members(data)}
    assert modes == {"s": 0o106755, "t": 0o41777}


def test_clamp_mtime_only_lowers(tmp_path: Path) -> None:
    (tmp_path / "old").write_text("x")
    (tmp_path / "new").write_text("y")
    os.utime(tmp_path / "old", (100, 100))
    os.utime(tmp_path / "new", (5000, 5000))
    mtimes = {m.name: m.mtime for m in members(layer_bytes(tmp_path, clamp=1000))}
    assert mtimes == {"new": 1000, "old": 100}


def test_same_tree_gives_same_bytes_and_ends_with_two_zero_blocks(tmp_path: Path) -> None:
    make_tree(tmp_path)
    first = layer_bytes(tmp_path, clamp=0)
    assert first == layer_bytes(tmp_path, clamp=0)
    assert first.endswith(bytes(1024)) and len(first) % BLOCK == 0


def test_empty_dir_is_an_empty_archive(tmp_path: Path) -> None:
    assert layer_bytes(tmp_path) == bytes(1024)


def test_long_and_non_ascii_names_use_pax_and_gnu_tar_reads_them(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 90) / ("y" * 90)
    deep.mkdir(parents=True)
    (deep / ("z" * 120)).write_text("long")
    (tmp_path / "caf\u00e9").write_text("accent")
    data = layer_bytes(tmp_path)
    names = {m.name for m in members(data)}
    assert f"{'x' * 90}/{'y' * 90}/{'z' * 120}" in names
    assert "caf\u00e9" in names
    listing = subprocess.run(
        ["tar", "-t"], input=data, capture_output=True, check=True
    ).stdout.decode()
    assert f"{'z' * 120}\n" in listing and "caf\u00e9\n" in listing
    assert "PaxHeaders" not in listing


def test_user_xattrs_become_schily_records(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    try:
        os.setxattr(tmp_path / "f", "user.note", b"\x00\xffbin")
    except OSError:
        pytest.skip("file system without user xattrs")
    (m,) = members(layer_bytes(tmp_path))
    value = m.pax_headers["SCHILY.xattr.user.note"]
    assert value.encode("utf-8", "surrogateescape") == b"\x00\xffbin"


def test_ustar_split_name_matches_gnu_tar(tmp_path: Path) -> None:
    name = b"p" * 120 + b"/" + b"n" * 60
    block = encode_header(TarEntry(name=name, typeflag=REGTYPE, mode=0o100644))
    assert len(block) == BLOCK  # no PAX header needed
    assert block[345:465].rstrip(b"\0") == b"p" * 120
    listing = subprocess.run(
        ["tar", "-t"], input=block + bytes(1024), capture_output=True, check=True
    ).stdout
    assert listing == name + b"\n"


def test_header_checksum_is_valid(tmp_path: Path) -> None:
    block = encode_header(TarEntry(name=b"a", typeflag=REGTYPE, mode=0o100644, mtime=1))
    stored = int(block[148:154], 8)
    assert block[154:156] == b"\x00 "
    assert stored == sum(block[:148]) + 8 * 32 + sum(block[156:])
