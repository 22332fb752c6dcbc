"""apply_layer: round trips, and refusal of hostile entries (umoci-style)."""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocibuild.layer import LayerError, apply_layer, clean_name, write_layer
from ocibuild.layer.extract import PathEscapesError

if TYPE_CHECKING:
    from pathlib import Path


def tar_of(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    out.seek(0)
    return out


def reg(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o755
    return info, b""


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    path = tmp_path / "dest"
    path.mkdir()
    return path


def test_escaping_name_is_refused(dest: Path) -> None:
    with pytest.raises(LayerError, match=r"layer x: entry '../../etc/shadow' escapes the root"):
        apply_layer(tar_of(reg("../../etc/shadow")), dest, label="layer x")
    assert not (dest.parent / "etc").exists()


def test_absolute_and_dot_names_are_kept_inside(dest: Path) -> None:
    apply_layer(tar_of(reg("/abs", b"1"), reg("./rel", b"2"), reg("a/../b", b"3")), dest)
    assert sorted(p.name for p in dest.iterdir()) == ["abs", "b", "rel"]
    assert (dest / "abs").read_bytes() == b"1"


def test_writing_through_a_symlink_is_refused(dest: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    layer = tar_of(special("a", tarfile.SYMTYPE, str(outside)), reg("a/f"))
    with pytest.raises(LayerError, match="would be written through 'a'"):
        apply_layer(layer, dest)
    assert list(outside.iterdir()) == []


def test_relative_symlink_escape_is_refused_too(dest: Path) -> None:
    layer = tar_of(special("up", tarfile.SYMTYPE, "../.."), reg("up/x"))
    with pytest.raises(LayerError):
        apply_layer(layer, dest)


def test_hardlink_outside_is_refused(dest: Path) -> None:
    layer = tar_of(special("h", tarfile.LNKTYPE, "../outside"))
    with pytest.raises(LayerError, match="escapes the root"):
        apply_layer(layer, dest)


def test_hardlink_to_missing_is_refused(dest: Path) -> None:
    with pytest.raises(LayerError, match="links to missing"):
        apply_layer(tar_of(special("h", tarfile.LNKTYPE, "nope")), dest)


def test_hardlink_through_symlink_is_refused(dest: Path, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s")
    layer = tar_of(
        special("s", tarfile.SYMTYPE, str(tmp_path)), special("h", tarfile.LNKTYPE, "s/secret")
    )
    with pytest.raises(LayerError):
        apply_layer(layer, dest)


def test_hardlink_to_symlink_links_the_symlink_itself(dest: Path) -> None:
    layer = tar_of(special("s", tarfile.SYMTYPE, "/etc/passwd"), special("h", tarfile.LNKTYPE, "s"))
    apply_layer(layer, dest)
    assert os.readlink(dest / "h") == "/etc/passwd"


def test_later_entry_replaces_earlier(dest: Path) -> None:
    apply_layer(tar_of(reg("f", b"old"), special("f", tarfile.DIRTYPE), reg("f/g", b"new")), dest)
    assert (dest / "f" / "g").read_bytes() == b"new"


def test_garbage_is_a_layer_error(dest: Path) -> None:
    with pytest.raises(LayerError, match="not a valid tar"):
        apply_layer(io.BytesIO(b"\x01" * 1024), dest)


def test_round_trip_is_byte_identical(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d" / "e").mkdir(parents=True)
    (src / "d" / "f").write_text("f")
    (src / "d" / "f").chmod(0o4711)
    (src / "d" / "e" / "l").symlink_to("../f")
    os.link(src / "d" / "f", src / "hl")
    os.mkfifo(src / "p")
    (src / "d" / "e").chmod(0o1777)
    os.utime(src / "d", (123, 123))
    first = io.BytesIO()
    write_layer(src, first, clamp_mtime=None)
    out = tmp_path / "out"
    out.mkdir()
    apply_layer(io.BytesIO(first.getvalue()), out)
    second = io.BytesIO()
    write_layer(out, second, clamp_mtime=None)
    assert second.getvalue() == first.getvalue()
    assert (out / "d").stat().st_mtime == 123


NAMES = st.lists(st.sampled_from(["a", "b", "..", ".", "", "c.d", "\u00e9"]), max_size=8).map(
    "/".join
)


@given(NAMES)
def test_clean_name_never_escapes(name: str) -> None:
    try:
        parts = clean_name(name)
    except PathEscapesError:
        assert posixpath.normpath("/" + name) == "/" or ".." in name
        depth = 0
        for part in name.split("/"):
            depth += {"..": -1, ".": 0, "": 0}.get(part, 1)
            if depth < 0:
                return
        pytest.fail(f"{name!r} refused but never climbs above the root")
    else:
        assert all(p not in ("", ".", "..") for p in parts)
        assert "/" + "/".join(parts) == posixpath.normpath("/" + name).replace("//", "/")


FILE_NAMES = st.text(alphabet="abcé.-_ ", min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..") and not s.startswith(".wh.")
)
TREES = st.recursive(
    st.binary(max_size=600),
    lambda children: st.dictionaries(FILE_NAMES, children, max_size=4),
    max_leaves=12,
)


def build(root: Path, tree: dict[str, object]) -> None:
    for name, value in tree.items():
        if isinstance(value, dict):
            (root / name).mkdir()
            build(root / name, value)
        else:
            assert isinstance(value, bytes)
            (root / name).write_bytes(value)
        os.utime(root / name, (1000, 1000), follow_symlinks=False)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(FILE_NAMES, TREES, max_size=5))
def test_tar_round_trip_property(
    tmp_path_factory: pytest.TempPathFactory, tree: dict[str, object]
) -> None:
    src = tmp_path_factory.mktemp("src")
    build(src, tree)
    first = io.BytesIO()
    write_layer(src, first, clamp_mtime=None)
    out = tmp_path_factory.mktemp("out")
    apply_layer(io.BytesIO(first.getvalue()), out)
    second = io.BytesIO()
    write_layer(out, second, clamp_mtime=None)
    assert second.getvalue() == first.getvalue()
