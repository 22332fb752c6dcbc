"""apply_layer as root: whiteouts, opaque dirs, devices, owners, trusted xattrs."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from typing import TYPE_CHECKING

import pytest

from ocibuild.layer import apply_layer, write_layer

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.root

OPAQUE = "trusted.overlay.opaque"


@pytest.fixture(autouse=True)
def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


def layer(root: Path) -> bytes:
    sink = io.BytesIO()
    write_layer(root, sink, clamp_mtime=None)
    return sink.getvalue()


def names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()


def test_overlay_whiteouts_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "dir" / "opq").mkdir(parents=True)
    os.mknod(src / "dir" / "gone", stat.S_IFCHR, os.makedev(0, 0))
    os.setxattr(src / "dir" / "opq", OPAQUE, b"y")
    (src / "dir" / "opq" / "-first").write_text("k")
    os.setxattr(src / "dir", "trusted.other", b"kept")
    data = layer(src)
    assert names(data) == [
        "dir",
        "dir/.wh.gone",
        "dir/opq",
        "dir/opq/.wh..wh..opq",  # straight after its directory, as Docker writes it
        "dir/opq/-first",
    ]
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getmember("dir").pax_headers == {"SCHILY.xattr.trusted.other": "kept"}
        assert "SCHILY.xattr.trusted.overlay.opaque" not in tar.getmember("dir/opq").pax_headers
    out = tmp_path / "out"
    out.mkdir()
    apply_layer(io.BytesIO(data), out)
    gone = (out / "dir" / "gone").lstat()
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert os.getxattr(out / "dir" / "opq", OPAQUE) == b"y"
    assert not (out / "dir" / "opq" / ".wh..wh..opq").exists()
    assert layer(out) == data


def test_devices_owners_and_modes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    os.mknod(src / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(src / "blk", stat.S_IFBLK | 0o660, os.makedev(7, 0))
    (src / "null").chmod(0o666)
    (src / "owned").write_text("x")
    os.chown(src / "owned", 1234, 5678)
    (src / "owned").chmod(0o2750)
    (src / "link").symlink_to("owned")
    os.lchown(src / "link", 42, 43)
    data = layer(src)
    out = tmp_path / "out"
    out.mkdir()
    apply_layer(io.BytesIO(data), out)
    null = (out / "null").lstat()
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(null.st_mode) == 0o666
    owned = (out / "owned").lstat()
    assert (owned.st_uid, owned.st_gid, stat.S_IMODE(owned.st_mode)) == (1234, 5678, 0o2750)
    assert ((out / "link").lstat().st_uid, (out / "link").lstat().st_gid) == (42, 43)
    assert layer(out) == data


def oci_layer(*entries: tuple[str, bytes]) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            tar.addfile(info)
    out.seek(0)
    return out


def test_oci_whiteouts_become_overlay_ones(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    dest.mkdir()
    layer_tar = oci_layer(
        ("a/.wh.b", tarfile.REGTYPE),
        ("c/.wh..wh..opq", tarfile.REGTYPE),
        (".wh..wh.plnk", tarfile.DIRTYPE),
        (".wh.e", tarfile.REGTYPE),
        ("e", tarfile.DIRTYPE),  # deleted below, re-created here: opaque
        ("f", tarfile.REGTYPE),
        (".wh.f", tarfile.REGTYPE),  # this layer's own f stays
    )
    apply_layer(layer_tar, dest)
    assert sorted(os.listdir(dest)) == ["a", "c", "e", "f"]
    assert (dest / "a" / "b").lstat().st_rdev == 0
    assert os.getxattr(dest / "c", OPAQUE) == b"y"
    assert os.getxattr(dest / "e", OPAQUE) == b"y"
    assert (dest / "f").is_file()


def test_hostile_trusted_overlay_xattrs_are_dropped(tmp_path: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("d")
        info.type = tarfile.DIRTYPE
        info.pax_headers = {"SCHILY.xattr.trusted.overlay.redirect": "/etc"}
        tar.addfile(info)
    out.seek(0)
    dest = tmp_path / "d"
    dest.mkdir()
    apply_layer(out, dest)
    assert os.listxattr(dest / "d") == []
