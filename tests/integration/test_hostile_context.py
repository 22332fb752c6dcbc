"""Hostile contexts and ADD archives never read or write outside (one check per attack class).

Each test builds on the suite's busybox store with a host *canary* (a file
holding a random token, an empty dir) that the attack names; it must stay
unchanged, never hard-linked, and its token must not reach the image.  The
many-tries version with figures is ``python -m reliability.run --only COPY``
(and ``--only ADD``).  Behaviour checked against Docker 20.10's BuildKit:
``../`` and absolute archive names are cleaned to inside ``dest``, device
nodes and set-id bits are kept, context symlinks resolve inside the context.
"""

from __future__ import annotations

import io
import secrets
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ocibuild import api
from ocibuild.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.root


@dataclass(frozen=True)
class Canary:
    file: Path
    empty: Path
    token: bytes

    def check(self, tmp_path: Path) -> None:
        assert self.file.read_bytes() == self.token
        assert self.file.stat().st_nlink == 1
        assert list(self.empty.iterdir()) == []
        for path in tmp_path.rglob("*"):
            if path.is_file() and not path.is_symlink() and path.name != self.file.name:
                assert self.token not in path.read_bytes(), path


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Canary]:
    tag = secrets.token_hex(4)
    found = Canary(
        Path(f"/tmp/test-canary-{tag}"),
        Path(f"/tmp/test-canary-dir-{tag}"),
        secrets.token_bytes(16),
    )
    found.file.write_bytes(found.token)
    found.empty.mkdir()
    try:
        yield found
        found.check(tmp_path)
    finally:
        found.file.unlink()
        shutil.rmtree(found.empty)


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    path = tmp_path / "ctx"
    path.mkdir()
    return path


def _build(root: Path, ctx: Path, dockerfile: str) -> None:
    (ctx / "Dockerfile").write_text("FROM busybox:latest\n" + dockerfile)
    api.build(ctx, root=root)


def _tar(*members: tuple[str, bytes, str]) -> bytes:
    """(name, type, linkname) members; regular files hold ``x``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, link in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = kind, link, 0o6755
            if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                info.devmajor, info.devminor = (1, 3) if kind == tarfile.CHRTYPE else (254, 0)
            info.size = 1 if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(b"x") if info.size else None)
    return buf.getvalue()


@pytest.mark.usefixtures("ocibuild_base")
def test_copy_cannot_name_host_files(ocibuild_root: Path, ctx: Path, canary: Canary) -> None:
    (ctx / "abs").symlink_to(canary.file)
    (ctx / "rel").symlink_to("../" * 12 + str(canary.file).lstrip("/"))
    (ctx / "dl").symlink_to(canary.file.parent)
    for source in (
        "../" * 12 + str(canary.file),
        str(canary.file),
        "abs",
        "rel",
        "dl/" + canary.file.name,
    ):
        with pytest.raises(UserError, match="not found"):
            _build(ocibuild_root, ctx, f"COPY {source} /got\n")


@pytest.mark.usefixtures("ocibuild_base")
def test_copied_symlinks_stay_links_and_dest_links_resolve_inside(
    ocibuild_root: Path, ctx: Path, canary: Canary
) -> None:
    (ctx / "sub").mkdir()
    (ctx / "sub" / "link").symlink_to(canary.file)
    (ctx / "f").write_text("payload\n")
    _build(
        ocibuild_root,
        ctx,
        f'COPY sub /got/\nRUN test "$(readlink /got/link)" = {canary.file}\n'
        f"RUN ln -s {canary.empty} /target\nCOPY f /target/\nRUN test -f {canary.empty}/f\n",
    )


@pytest.mark.usefixtures("ocibuild_base")
def test_add_archive_names_stay_under_dest(ocibuild_root: Path, ctx: Path, canary: Canary) -> None:
    up = "../" * 12 + str(canary.empty).lstrip("/")
    (ctx / "a.tar").write_bytes(
        _tar((up + "/x", tarfile.REGTYPE, ""), (f"{canary.empty}/y", tarfile.REGTYPE, ""))
    )
    _build(
        ocibuild_root,
        ctx,
        f"ADD a.tar /a/\nRUN test -f /a{canary.empty}/x -a -f /a{canary.empty}/y\n",
    )


@pytest.mark.usefixtures("ocibuild_base")
@pytest.mark.parametrize("target", ["/", "../../../.."])
def test_add_archive_never_writes_through_its_symlinks(
    ocibuild_root: Path, ctx: Path, canary: Canary, target: str
) -> None:
    entries = ("d", tarfile.SYMTYPE, target + str(canary.empty)), ("d/x", tarfile.REGTYPE, "")
    (ctx / "a.tar").write_bytes(_tar(*entries))
    with pytest.raises(UserError, match="non-directory"):
        _build(ocibuild_root, ctx, "ADD a.tar /a/\n")


@pytest.mark.usefixtures("ocibuild_base")
@pytest.mark.parametrize("via", ["", "d"], ids=["direct", "through-symlink"])
def test_add_archive_hard_links_never_reach_host_files(
    ocibuild_root: Path, ctx: Path, canary: Canary, via: str
) -> None:
    """Regression: ``d -> /`` then a hard link to ``d/tmp/canary`` linked the host file."""
    link = (via + str(canary.file)) if via else str(canary.file)
    (ctx / "a.tar").write_bytes(_tar(("d", tarfile.SYMTYPE, "/"), ("h", tarfile.LNKTYPE, link)))
    with pytest.raises(UserError, match="hard link h to missing"):
        _build(ocibuild_root, ctx, "ADD a.tar /a/\n")


@pytest.mark.usefixtures("ocibuild_base")
def test_add_archive_keeps_nodes_and_setid_bits(ocibuild_root: Path, ctx: Path) -> None:
    """Regression: fifos and device nodes were dropped; BuildKit makes them.  RUN cannot
    open a block device (the rootfs is nodev), so a node of the host's disk is harmless."""
    entries = [
        ("c", tarfile.CHRTYPE, ""),
        ("b", tarfile.BLKTYPE, ""),
        ("f", tarfile.FIFOTYPE, ""),
        ("s", tarfile.REGTYPE, ""),
    ]
    (ctx / "a.tar").write_bytes(_tar(*entries))
    _build(
        ocibuild_root,
        ctx,
        "ADD a.tar /a/\nRUN test -c /a/c -a -b /a/b -a -p /a/f -a -u /a/s -a -g /a/s\n"
        "RUN ! head -c 1 /a/b\n",
    )
