"""Snapshots over the real Store, and RootView against a real overlayfs mount."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ocibuild.errors import DigestMismatch
from ocibuild.layer import Compression, LayerBlob, store_layer
from ocibuild.oci import Digest
from ocibuild.snapshot import RootView, Snapshots, chain_ids
from ocibuild.store import Store

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.root


@pytest.fixture(autouse=True)
def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


def whiteout(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))


def make_layers(base: Path) -> list[Path]:
    """Three diff dirs, bottom first, exercising every overlay rule."""
    l1, l2, l3 = base / "l1", base / "l2", base / "l3"
    for d in (l1, l2, l3):
        d.mkdir(parents=True)
    (l1 / "etc").mkdir()
    (l1 / "etc" / "passwd").write_text("root:x:0:0\n")
    (l1 / "etc" / "shadow").write_text("secret\n")
    (l1 / "opt" / "keep").mkdir(parents=True)
    (l1 / "opt" / "keep" / "x").write_text("x")
    (l1 / "var" / "old").mkdir(parents=True)
    (l1 / "var" / "old" / "file").write_text("old")
    (l1 / "usr" / "lib").mkdir(parents=True)
    (l1 / "usr" / "lib" / "libc.so").write_text("elf")
    (l1 / "lib").symlink_to("usr/lib")
    (l2 / "etc").mkdir()
    whiteout(l2 / "etc" / "shadow")
    (l2 / "etc" / "group").write_text("root:x:0:\n")
    (l2 / "var").mkdir()
    (l2 / "var" / "old").mkdir()
    os.setxattr(l2 / "var" / "old", "trusted.overlay.opaque", b"y")
    (l2 / "var" / "old" / "fresh").write_text("new")
    (l3 / "opt").mkdir()
    (l3 / "opt" / "keep").write_text("a file over a dir")
    (l3 / "etc").mkdir()
    (l3 / "etc" / "passwd").write_text("root:x:0:0:top\n")
    return [l1, l2, l3]


@pytest.fixture
def stack(tmp_path: Path) -> tuple[Store, list[LayerBlob], Snapshots]:
    store = Store(tmp_path / "store")
    compressions = [Compression.GZIP, Compression.ZSTD, Compression.NONE]
    blobs = [
        store_layer(store, d, clamp_mtime=None, compression=c)
        for d, c in zip(make_layers(tmp_path / "src"), compressions, strict=True)
    ]
    return store, blobs, Snapshots(tmp_path / "snapshots")


@contextlib.contextmanager
def overlay(lowers: list[Path], target: Path) -> Iterator[Path]:
    target.mkdir()
    opts = "lowerdir=" + ":".join(str(p) for p in lowers)
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


def walk_view(view: RootView, path: str = "/") -> dict[str, tuple[int, str | None]]:
    seen: dict[str, tuple[int, str | None]] = {}
    for name in view.listdir(path):
        child = path.rstrip("/") + "/" + name
        st = view.lstat(child)
        assert st is not None
        kind = stat.S_IFMT(st.st_mode)
        content = view.read_text(child) if stat.S_ISREG(st.st_mode) else None
        seen[child] = (kind, content)
        if stat.S_ISDIR(st.st_mode):
            seen.update(walk_view(view, child))
    return seen


def walk_mount(root: Path) -> dict[str, tuple[int, str | None]]:
    seen: dict[str, tuple[int, str | None]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            content = path.read_text() if stat.S_ISREG(st.st_mode) else None
            seen["/" + str(path.relative_to(root))] = (stat.S_IFMT(st.st_mode), content)
    return seen


def test_chain_ids_follow_the_image_spec() -> None:
    a, b = Digest.from_bytes(b"a"), Digest.from_bytes(b"b")
    assert chain_ids([a]) == [a]
    assert chain_ids([a, b]) == [a, Digest.from_bytes(f"{a} {b}".encode())]


def test_ensure_unpacks_once_and_returns_topmost_first(
    stack: tuple[Store, list[LayerBlob], Snapshots],
) -> None:
    store, blobs, snapshots = stack
    lowers = snapshots.ensure(store, blobs)
    chains = chain_ids([b.diff_id for b in blobs])
    assert lowers == [snapshots.path(c) for c in reversed(chains)]
    assert (lowers[-1] / "etc" / "passwd").read_text() == "root:x:0:0\n"
    marker = lowers[0] / "marker"
    marker.write_text("still here")
    assert snapshots.ensure(store, blobs) == lowers
    assert marker.exists()  # not unpacked again
    assert [p.name for p in snapshots.root.iterdir() if p.name.startswith("tmp-")] == []


def test_concurrent_ensure_is_safe(stack: tuple[Store, list[LayerBlob], Snapshots]) -> None:
    store, blobs, snapshots = stack
    results: list[list[Path]] = []
    threads = [
        threading.Thread(target=lambda: results.append(snapshots.ensure(store, blobs)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(r == results[0] for r in results)
    assert sorted(p.name for p in snapshots.root.iterdir()) == sorted(
        c.hex for c in chain_ids([b.diff_id for b in blobs])
    )


def test_wrong_diff_id_is_refused(stack: tuple[Store, list[LayerBlob], Snapshots]) -> None:
    store, blobs, snapshots = stack
    bad = LayerBlob(blobs[0].descriptor, Digest.from_bytes(b"not it"))
    with pytest.raises(DigestMismatch):
        snapshots.ensure(store, [bad])
    assert list(snapshots.root.iterdir()) == []


def test_rootview_agrees_with_overlayfs(
    tmp_path: Path, stack: tuple[Store, list[LayerBlob], Snapshots]
) -> None:
    store, blobs, snapshots = stack
    lowers = snapshots.ensure(store, blobs)
    view = RootView(lowers)
    with overlay(lowers, tmp_path / "mnt") as mnt:
        expected = walk_mount(mnt)
        assert walk_view(view) == expected
        for path in ("/lib/libc.so", "/etc/shadow", "/opt/keep/x", "/var/old/file"):
            assert view.read_text(path) == (
                (mnt / path[1:]).read_text() if (mnt / path[1:]).is_file() else None
            )
    assert "/etc/shadow" not in expected and "/var/old/file" not in expected
    assert expected["/var/old/fresh"] == (stat.S_IFREG, "new")
    assert expected["/opt/keep"] == (stat.S_IFREG, "a file over a dir")
