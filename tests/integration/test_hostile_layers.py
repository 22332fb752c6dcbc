"""Hostile base-image layers, loaded from a docker archive and then built FROM (so unpacked).

One check per attack class; the many-tries version (loaded and pulled) is
``python -m reliability.run --only "base layers"``.  Entries that climb out,
write through a symlink, hard-link outside or aim whiteouts outside are
refused with one line; absolute names land inside; nothing outside changes.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import shutil
import tarfile
from pathlib import Path

import pytest

from ocibuild import api
from ocibuild.errors import UserError
from ocibuild.export.load import load_archive
from ocibuild.store import Store

pytestmark = pytest.mark.root

OUTSIDE = Path("/tmp")


def _tar(members: list[tuple[str, bytes, str]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, link in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, link
            info.size = 1 if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(b"x") if info.size else None)
    return buf.getvalue()


def _archive(layers: list[bytes]) -> bytes:
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/bin"]},
            "rootfs": {
                "type": "layers",
                "diff_ids": [f"sha256:{hashlib.sha256(x).hexdigest()}" for x in layers],
            },
        }
    ).encode()
    name = f"{hashlib.sha256(config).hexdigest()}.json"
    files = {name: config, **{f"l{i}/layer.tar": x for i, x in enumerate(layers)}}
    manifest = [{"Config": name, "RepoTags": ["evil:latest"], "Layers": list(files)[1:]}]
    files["manifest.json"] = json.dumps(manifest).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


CASES = {
    "dotdot": ([("../../x", tarfile.REGTYPE, "")], "escapes the root"),
    "through-symlink": (
        [("d", tarfile.SYMTYPE, "{dir}"), ("d/x", tarfile.REGTYPE, "")],
        "written through",
    ),
    "hardlink-through-symlink": (
        [("d", tarfile.SYMTYPE, "/"), ("h", tarfile.LNKTYPE, "d{file}")],
        "written through|links to missing",
    ),
    "whiteout-dotdot": ([("../.wh.{name}", tarfile.REGTYPE, "")], "escapes the root"),
    "whiteout-through-symlink": (
        [("d", tarfile.SYMTYPE, "/tmp"), ("d/.wh.{name}", tarfile.REGTYPE, "")],
        "written through",
    ),
    "opaque-through-symlink": (
        [("d", tarfile.SYMTYPE, "{dir}"), ("d/.wh..wh..opq", tarfile.REGTYPE, "")],
        "written through",
    ),
    "deep": ([("a/" * 300 + "f", tarfile.REGTYPE, "")], "nested deeper than 256"),
    "absolute": ([("{dir}/x", tarfile.REGTYPE, "")], None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_base_layer(case: str, tmp_path: Path, busybox_rootfs: Path) -> None:
    tag = secrets.token_hex(4)
    canary, empty = OUTSIDE / f"test-layer-canary-{tag}", OUTSIDE / f"test-layer-dir-{tag}"
    canary.write_text("canary\n")
    empty.mkdir()
    try:
        entries, refused = CASES[case]
        names = {"dir": str(empty), "file": str(canary), "name": canary.name}
        layer = _tar([(n.format(**names), k, link.format(**names)) for n, k, link in entries])
        store = Store(tmp_path / "store")
        load_archive(store, io.BytesIO(_archive([busybox_rootfs.read_bytes(), layer])))
        ctx = tmp_path / "ctx"
        ctx.mkdir()
        check = "true" if refused else f"test -f {empty}/x"
        (ctx / "Dockerfile").write_text(f"FROM evil:latest\nRUN {check}\n")
        if refused is None:
            api.build(ctx, root=tmp_path / "store")
        else:
            with pytest.raises(UserError, match=refused) as info:
                api.build(ctx, root=tmp_path / "store")
            assert "\n" not in str(info.value)
        assert canary.read_text() == "canary\n"
        assert canary.stat().st_nlink == 1
        assert list(empty.iterdir()) == []
    finally:
        canary.unlink()
        shutil.rmtree(empty)
