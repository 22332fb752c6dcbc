"""Deep trees: removed at any depth; past MAX_DEPTH refused in one line, not a RecursionError."""

from __future__ import annotations

import io
import os
import tarfile
from typing import TYPE_CHECKING

import pytest

from ocibuild._rmtree import rmtree
from ocibuild.layer.errors import LayerError
from ocibuild.layer.extract import apply_layer
from ocibuild.layer.tarwriter import MAX_DEPTH, write_layer

if TYPE_CHECKING:
    from pathlib import Path


def _deep(root: Path, levels: int) -> None:
    """``root/a/a/.../a/f``, ``levels`` directories deep (made by fd: the path is too long)."""
    root.mkdir()
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(levels):
        os.mkdir("a", dir_fd=fd)
        child = os.open("a", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(os.open("f", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    os.close(fd)


def test_rmtree_removes_a_tree_deeper_than_the_recursion_limit(tmp_path: Path) -> None:
    _deep(tmp_path / "deep", 3000)
    rmtree(tmp_path / "deep")
    assert list(tmp_path.iterdir()) == []


def test_rmtree_never_follows_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "link").symlink_to(outside)
    (tree / "file").write_text("x")
    rmtree(tree)
    assert not tree.exists()
    assert (outside / "keep").read_text() == "x"
    (tmp_path / "top").symlink_to(outside)
    rmtree(tmp_path / "top")
    assert outside.exists()
    assert not (tmp_path / "top").is_symlink()


def test_rmtree_ignore_errors(tmp_path: Path) -> None:
    rmtree(tmp_path / "missing", ignore_errors=True)
    with pytest.raises(FileNotFoundError):
        rmtree(tmp_path / "missing")


def test_layer_writer_refuses_a_tree_past_max_depth(tmp_path: Path) -> None:
    _deep(tmp_path / "deep", MAX_DEPTH + 1)
    with pytest.raises(LayerError, match=f"nested deeper than {MAX_DEPTH} levels"):
        write_layer(tmp_path / "deep", io.BytesIO(), clamp_mtime=None)


def test_layer_writer_takes_max_depth(tmp_path: Path) -> None:
    _deep(tmp_path / "deep", MAX_DEPTH - 1)
    out = io.BytesIO()
    write_layer(tmp_path / "deep", out, clamp_mtime=None)
    assert out.getvalue()


def test_extract_refuses_names_past_max_depth(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(tarfile.TarInfo("a/" * 5000 + "f"))
    buf.seek(0)
    (tmp_path / "dest").mkdir()
    with pytest.raises(LayerError, match=f"nested deeper than {MAX_DEPTH} levels") as info:
        apply_layer(buf, tmp_path / "dest")
    assert len(str(info.value)) < 400
    assert list((tmp_path / "dest").iterdir()) == []
