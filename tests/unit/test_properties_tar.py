"""Layer tar properties (hypothesis), beside test_layer_extract.py's.

test_layer_extract.py already round-trips trees of plain files and
directories byte for byte.  Here the trees also hold modes (set-id and
sticky bits), symlinks (dangling, absolute, climbing), hard links, FIFOs and
empty directories, and the comparison is of what is on disk: names, types,
modes, sizes, link targets and which names share an inode.  A second
property throws hostile entry lists at apply_layer: it either unpacks or
raises LayerError, and nothing outside the destination changes.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tarfile
from typing import TYPE_CHECKING

from hypothesis import given, settings
from hypothesis import strategies as st

from ocibuild.layer import LayerError, apply_layer, write_layer

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

NAMES = st.sampled_from(["a", "b", "c d", "é", "x.y", "-z"])
MODES = st.sampled_from([0o644, 0o600, 0o755, 0o700, 0o4755, 0o2711, 0o1777, 0o444])
TARGETS = st.sampled_from(["a", "../a", "/etc/passwd", "missing", "b/c", "."])
LEAF = st.one_of(
    st.tuples(st.just("file"), st.binary(max_size=700), MODES),
    st.tuples(st.just("symlink"), TARGETS, st.just(0)),
    st.tuples(st.just("fifo"), st.just(b""), MODES),
    st.tuples(st.just("hardlink"), st.just(b""), st.just(0)),
)
TREES = st.recursive(
    LEAF,
    lambda children: st.dictionaries(NAMES, children, max_size=4),
    max_leaves=10,
)


def _build(root: Path, tree: dict[str, object], first_file: list[Path]) -> None:
    for name, node in tree.items():
        path = root / name
        if isinstance(node, dict):
            path.mkdir()
            _build(path, node, first_file)
            path.chmod(0o755)
            continue
        assert isinstance(node, tuple)
        kind, data, mode = node
        if kind == "file":
            path.write_bytes(data)
            path.chmod(mode)
            first_file.append(path)
        elif kind == "symlink":
            path.symlink_to(data)
        elif kind == "fifo":
            os.mkfifo(path)
            path.chmod(mode & 0o777)
        elif first_file:  # a hard link to the first regular file written
            os.link(first_file[0], path)


def _listing(root: Path) -> list[tuple[str, int, int, str, int]]:
    """(name, mode, size, link target, inode group) of everything below ``root``."""
    inodes: dict[int, int] = {}
    out = []
    for path in sorted(root.rglob("*")):
        st_ = path.lstat()
        link = os.readlink(path) if path.is_symlink() else ""
        size = st_.st_size if stat.S_ISREG(st_.st_mode) else 0
        group = inodes.setdefault(st_.st_ino, len(inodes)) if st_.st_nlink > 1 else -1
        out.append((str(path.relative_to(root)), st_.st_mode, size, link, group))
    return out


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(NAMES, TREES, max_size=5))
def test_write_then_apply_reproduces_the_tree(
    tmp_path_factory: pytest.TempPathFactory, tree: dict[str, object]
) -> None:
    src = tmp_path_factory.mktemp("src")
    _build(src, tree, [])
    blob = io.BytesIO()
    write_layer(src, blob, clamp_mtime=None)
    out = tmp_path_factory.mktemp("out")
    apply_layer(io.BytesIO(blob.getvalue()), out)
    assert _listing(out) == _listing(src)
    again = io.BytesIO()
    write_layer(out, again, clamp_mtime=None)
    assert again.getvalue() == blob.getvalue()


HOSTILE_NAMES = st.sampled_from(
    ["a", "a/b", "../x", "/abs", "./a/../../y", "l/z", "l", "d/", ".wh.a", "a/.wh..wh..opq", ""]
)
HOSTILE_LINKS = st.sampled_from(["..", "../outside", "/", "/tmp", "a", "l/z", "../outside/f"])
ENTRY = st.tuples(
    st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE]),
    HOSTILE_NAMES,
    HOSTILE_LINKS,
)


def _hostile_tar(entries: list[tuple[bytes, str, str]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, link in entries:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = kind, link, 0o755
            data = b"pwned" if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return out.getvalue()


def _outside_state(outside: Path) -> list[tuple[str, int, bytes]]:
    return [
        (str(p), p.lstat().st_mode, p.read_bytes() if p.is_file() else b"")
        for p in sorted(outside.rglob("*"))
    ]


@settings(max_examples=150, deadline=None)
@given(st.lists(ENTRY, min_size=1, max_size=6))
def test_hostile_entries_never_touch_the_outside(
    tmp_path_factory: pytest.TempPathFactory, entries: list[tuple[bytes, str, str]]
) -> None:
    base = tmp_path_factory.mktemp("base")
    outside = base / "outside"
    outside.mkdir()
    (outside / "f").write_bytes(b"secret")
    dest = base / "dest"
    dest.mkdir()
    before = _outside_state(outside)
    with contextlib.suppress(LayerError):
        apply_layer(io.BytesIO(_hostile_tar(entries)), dest)
    assert _outside_state(outside) == before
    assert sorted(p.name for p in base.iterdir()) == ["dest", "outside"]
