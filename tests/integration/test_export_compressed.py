"""``-o type=oci`` twice: the layer is compressed once, the second export reuses the copy."""

from __future__ import annotations

import gzip
import json
import tarfile
from typing import TYPE_CHECKING

import pytest

from ocibuild import cli
from ocibuild.layer.compress import Compression, format_id
from ocibuild.oci import mediatypes
from ocibuild.store import Store

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "big.txt").write_bytes(b"".join(b"line %d\n" % i for i in range(300_000)))
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY big.txt /big.txt\n")
    return ctx


def _build(root: Path, context: Path, dest: Path) -> None:
    argv = ["--root", str(root), "-q", "-o", f"type=oci,dest={dest}", str(context)]
    assert cli.main(argv) == 0


def _layer_digests(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        digest = index["manifests"][0]["digest"].split(":")[1]
        manifest = json.load(tar.extractfile(f"blobs/sha256/{digest}"))  # type: ignore[arg-type]
    return [layer["digest"] for layer in manifest["layers"]]


def test_second_export_reuses_the_compressed_layer(
    tmp_path: Path, context: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    root = tmp_path / "store"
    _build(root, context, tmp_path / "a.tar")
    store = Store(root)
    [row] = store.cache.compressed.all()
    assert row.compression == format_id(Compression.GZIP)
    assert _layer_digests(tmp_path / "a.tar") == [str(row.blob.digest)]

    _build(root, context, tmp_path / "b.tar")
    assert (tmp_path / "b.tar").read_bytes() == (tmp_path / "a.tar").read_bytes()
    assert [r.blob for r in store.cache.compressed.all()] == [row.blob]

    # Point the row at another gzip of the same tar: the next export ships
    # that blob, so it was read from the store, not compressed again.
    tar_bytes = gzip.decompress(store.read_blob(row.blob))
    stand_in = store.put_bytes(gzip.compress(tar_bytes, 1, mtime=0), mediatypes.OCI_LAYER_GZIP)
    store.cache.compressed.put(row.diff_id, row.compression, stand_in)
    _build(root, context, tmp_path / "c.tar")
    assert _layer_digests(tmp_path / "c.tar") == [str(stand_in.digest)]
    capsys.readouterr()
