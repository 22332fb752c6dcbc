"""The normaliser and image readers on hand-made layers (no docker needed)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from typing import TYPE_CHECKING

import pytest
from helpers.configs import summarise
from helpers.images import ImageNotFoundError, load_image
from helpers.rootfs import FsEntry, clean_path, normalise_layers

if TYPE_CHECKING:
    from pathlib import Path


def layer(*members: tuple[str, str, str | bytes]) -> bytes:
    """A tar of (kind, name, payload): file (content), dir, symlink and
    hardlink (target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, payload in members:
            info = tarfile.TarInfo(name)
            data = payload.encode() if isinstance(payload, str) else payload
            if kind == "file":
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE}.get(
                kind, tarfile.LNKTYPE
            )
            info.mode = 0o755 if kind == "dir" else 0o777
            if kind != "dir":
                info.linkname = data.decode()
            tar.addfile(info)
    return buffer.getvalue()


def paths(entries: list[FsEntry]) -> list[str]:
    return [e.path for e in entries]


def test_clean_path() -> None:
    assert clean_path("./a/b/") == "a/b"
    assert clean_path("/a/../b") == "b"
    assert clean_path("./") == ""


def test_whiteout_removes_file_and_dir_tree() -> None:
    lower = layer(("dir", "d", ""), ("file", "d/x", "x"), ("file", "f", "f"), ("file", "g", "g"))
    upper = layer(("file", ".wh.f", ""), ("file", "d/.wh..wh..opq", ""), ("file", "d/new", "n"))
    assert paths(normalise_layers([lower, upper])) == ["d", "d/new", "g"]
    gone = layer(("file", ".wh.d", ""))
    assert paths(normalise_layers([lower, gone])) == ["f", "g"]


def test_opaque_dir_keeps_entries_of_its_own_layer_in_any_order() -> None:
    lower = layer(("dir", "d", ""), ("file", "d/old", "o"))
    upper = layer(("file", "d/new", "n"), ("file", "d/.wh..wh..opq", ""))
    assert paths(normalise_layers([lower, upper])) == ["d", "d/new"]


def test_file_replacing_dir_drops_its_children() -> None:
    lower = layer(("dir", "d", ""), ("file", "d/x", "x"))
    upper = layer(("file", "d", "now a file"))
    (entry,) = normalise_layers([lower, upper])
    assert (entry.kind, entry.sha256) == ("file", hashlib.sha256(b"now a file").hexdigest())


def test_hardlinks_share_a_group_and_implied_parents_have_no_mode() -> None:
    entries = normalise_layers(
        [layer(("file", "a/one", "same"), ("hardlink", "a/two", "a/one"), ("file", "b", "b"))]
    )
    by_path = {e.path: e for e in entries}
    assert by_path["a"].mode is None
    assert by_path["a/one"].hardlink == by_path["a/two"].hardlink == "a/one"
    assert by_path["b"].hardlink == ""
    assert by_path["a/two"].render() == (
        f"/a/two file 0644 0:0 sha256:{hashlib.sha256(b'same').hexdigest()[:16]} hardlink=/a/one"
    )


def test_overwriting_one_name_breaks_the_hardlink_group() -> None:
    lower = layer(("file", "one", "same"), ("hardlink", "two", "one"))
    upper = layer(("file", "two", "other"))
    assert [e.hardlink for e in normalise_layers([lower, upper])] == ["", ""]


def test_symlink_entry() -> None:
    (entry,) = normalise_layers([layer(("symlink", "l", "../target"))])
    assert (entry.kind, entry.link, entry.mode) == ("symlink", "../target", 0o777)


def write_blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def test_oci_layout_by_ref_name_with_gzip_layer(tmp_path: Path) -> None:
    (tmp_path / "blobs" / "sha256").mkdir(parents=True)
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["x"], "Labels": {}}}
    config_desc = write_blob(tmp_path, json.dumps(config).encode())
    layer_desc = write_blob(tmp_path, gzip.compress(layer(("file", "hello", "hi"))))
    manifest = {"schemaVersion": 2, "config": config_desc, "layers": [layer_desc]}
    manifest_desc = write_blob(tmp_path, json.dumps(manifest).encode())
    annotations = {"org.opencontainers.image.ref.name": "demo:latest"}
    index = {"schemaVersion": 2, "manifests": [{**manifest_desc, "annotations": annotations}]}
    (tmp_path / "index.json").write_text(json.dumps(index))
    image = load_image(tmp_path, "demo")
    assert paths(normalise_layers(image.layers)) == ["hello"]
    assert summarise(image.config)["config"] == {"Cmd": ["x"]}
    with pytest.raises(ImageNotFoundError):
        load_image(tmp_path, "other")


def test_docker_save_archive(tmp_path: Path) -> None:
    archive = tmp_path / "saved.tar"
    files = {
        "manifest.json": json.dumps(
            [{"Config": "c.json", "RepoTags": ["demo:latest"], "Layers": ["l/layer.tar"]}]
        ).encode(),
        "c.json": json.dumps({"os": "linux", "history": [{"created_by": "X"}]}).encode(),
        "l/layer.tar": layer(("file", "f", "f")),
    }
    with tarfile.open(archive, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    image = load_image(archive, "demo:latest")
    assert paths(normalise_layers(image.layers)) == ["f"]
    assert summarise(image.config)["history"] == [{"created_by": "X", "empty_layer": False}]


def test_base_history_prefix_is_dropped() -> None:
    base = [{"created": "t", "comment": "Imported from -"}]
    config = {"history": [*base, {"created_by": "ENV A=1", "empty_layer": True}]}
    assert summarise(config, base)["history"] == [{"created_by": "ENV A=1", "empty_layer": True}]
    assert len(summarise(config)["history"]) == 2
