"""Stores written by ocibuild are read by skopeo, umoci and oci-image-tool.

oci-image-tool 1.0.0-rc1 (Debian) still requires at least one layer, an
old rule the image spec has since dropped, so it only checks the layered image.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from typing import TYPE_CHECKING, Any

import pytest

from ocibuild.oci import (
    ContainerConfig,
    Digest,
    HistoryEntry,
    ImageConfig,
    Platform,
    mediatypes,
    schemas,
)
from ocibuild.store import Store

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.tools

EMPTY = "scratch-like:latest"
LAYERED = "127.0.0.1:5000/repo:tag"
CREATED = "2024-01-01T00:00:00Z"


def _layer_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        etc = tarfile.TarInfo("etc")
        etc.type, etc.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(etc)
        body = b"hello from ocibuild\n"
        info = tarfile.TarInfo("etc/greeting")
        info.size, info.mode = len(body), 0o644
        tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def _config(diff_ids: tuple[Digest, ...]) -> ImageConfig:
    host = Platform.host()
    return ImageConfig(
        architecture=host.architecture,
        os=host.os,
        variant=host.variant,
        created=CREATED,
        config=ContainerConfig(env=("PATH=/bin",), cmd=("/bin/sh",), working_dir="/"),
        diff_ids=diff_ids,
        history=tuple(HistoryEntry(created=CREATED, created_by="COPY x /") for _ in diff_ids),
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store")
    store.tag(EMPTY, store.put_image(_config(()), []))
    data = _layer_tar()
    layer = store.put_bytes(data, mediatypes.OCI_LAYER)
    store.tag(LAYERED, store.put_image(_config((Digest.from_bytes(data),)), [layer]))
    return store


def _run(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, f"{argv}: {proc.stderr}"
    return proc.stdout


@pytest.mark.parametrize(("name", "layers"), [(EMPTY, 0), (LAYERED, 1)])
def test_skopeo_inspects(store: Store, name: str, layers: int) -> None:
    out: dict[str, Any] = json.loads(_run("skopeo", "inspect", f"oci:{store.root}:{name}"))
    desc = store.resolve(name)
    assert desc is not None
    assert out["Digest"] == str(desc.digest)
    assert out["Architecture"] == Platform.host().architecture
    assert len(out["Layers"]) == layers
    assert out["Env"] == ["PATH=/bin"]


@pytest.mark.parametrize(("name", "files"), [(EMPTY, set()), (LAYERED, {"etc"})])
def test_umoci_unpacks(store: Store, tmp_path: Path, name: str, files: set[str]) -> None:
    bundle = tmp_path / "bundle"
    _run("umoci", "unpack", "--rootless", "--image", f"{store.root}:{name}", str(bundle))
    rootfs = bundle / "rootfs"
    assert {p.name for p in rootfs.iterdir()} == files
    if files:
        assert (rootfs / "etc" / "greeting").read_text() == "hello from ocibuild\n"
    runtime = json.loads((bundle / "config.json").read_text())
    assert runtime["process"]["args"] == ["/bin/sh"]


def test_oci_image_tool_validates(store: Store) -> None:
    _run(
        "oci-image-tool", "validate", "--type", "image", "--ref", f"name={LAYERED}", str(store.root)
    )


def test_documents_match_our_schemas(store: Store) -> None:
    schemas.validate("layout", (store.root / "oci-layout").read_bytes())
    schemas.validate("index", (store.root / "index.json").read_bytes())
    for name, _ in store.refs():
        image = store.image(name)
        schemas.validate("manifest", store.read_blob(image.manifest_desc))
        schemas.validate("config", store.read_blob(image.config_desc))
        schemas.validate("descriptor", image.manifest_desc.to_json())
