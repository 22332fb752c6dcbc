"""RUN --mount (bind, cache, tmpfs, secret) through ocibuild.api.build as root.

BuildKit 20.10 on this machine shows the same history (no ``--mount`` in
``created_by``) and the same secret file mode (0400, root-owned).
"""

from __future__ import annotations

import tarfile
from typing import TYPE_CHECKING

import pytest
from helpers.fsflags import flags_of

from ocibuild import api
from ocibuild._linux.fsflags import FS_TOPDIR_FL
from ocibuild.errors import StepFailed, UserError
from ocibuild.executor.base import image_state
from ocibuild.layer import open_layer_tar
from ocibuild.snapshot import RootView, Snapshots
from ocibuild.snapshot.snapshots import mark_topdir
from ocibuild.store import Store

if TYPE_CHECKING:
    from pathlib import Path

    from ocibuild.executor import BuildResult

pytestmark = pytest.mark.root
SECRET = b"s3cr3t-value-9f1c"


class Builder:
    def __init__(self, root: Path, tmp: Path) -> None:
        self.root, self.tmp, self.store = root, tmp, Store(root)
        self.output = bytearray()
        self.ctx = tmp / "ctx"
        self.ctx.mkdir()

    def build(self, dockerfile: str, **kwargs: object) -> BuildResult:
        (self.ctx / "Dockerfile").write_text(dockerfile)
        return api.build(self.ctx, root=self.root, run_output=self.output.extend, **kwargs)  # type: ignore[arg-type]

    def rootfs(self, result: BuildResult) -> RootView:
        layers = image_state(result.image).layers
        check = Snapshots(self.tmp / f"check-{result.manifest.digest.hex[:12]}")
        return RootView(check.ensure(self.store, layers))

    def layer_names(self, result: BuildResult) -> set[str]:
        blob = image_state(result.image).layers[-1]
        with tarfile.open(fileobj=open_layer_tar(self.store, blob.descriptor), mode="r|") as tar:
            return {m.name.rstrip("/") for m in tar}


@pytest.fixture
def b(ocibuild_root: Path, ocibuild_base: str, tmp_path: Path) -> Builder:
    del ocibuild_base
    return Builder(ocibuild_root, tmp_path)


def test_bind_from_context_reads_but_cannot_write(b: Builder) -> None:
    (b.ctx / "data.txt").write_text("from-context\n")
    result = b.build("FROM busybox:latest\nRUN --mount=target=/src cat /src/data.txt > /copied\n")
    assert b.rootfs(result).read_text("/copied") == "from-context\n"
    assert "src" not in b.layer_names(result)
    with pytest.raises(StepFailed):
        b.build("FROM busybox:latest\nRUN --mount=target=/src touch /src/new\n")


def test_bind_rw_writes_are_discarded(b: Builder) -> None:
    (b.ctx / "data.txt").write_text("x\n")
    result = b.build(
        "FROM busybox:latest\n"
        "RUN --mount=target=/src,rw echo changed > /src/data.txt && cat /src/data.txt\n"
    )
    assert b"changed\n" in b.output
    assert (b.ctx / "data.txt").read_text() == "x\n"
    assert not any(n.startswith("src") for n in b.layer_names(result))


def test_bind_from_a_stage_with_source(b: Builder) -> None:
    result = b.build(
        "FROM busybox:latest AS build\nRUN mkdir /out && echo built > /out/art\n"
        "FROM busybox:latest\n"
        "RUN --mount=from=build,source=/out,target=/in cp /in/art /art\n"
    )
    assert b.rootfs(result).read_text("/art") == "built\n"


def test_cache_persists_across_builds(b: Builder) -> None:
    text = "FROM busybox:latest\nRUN --mount=type=cache,target=/c,id=t-{0} {1}\n"
    b.build(text.format("persist", "echo kept > /c/f"))
    result = b.build(text.format("persist", "cat /c/f > /seen"))
    assert b.rootfs(result).read_text("/seen") == "kept\n"
    assert "c" not in b.layer_names(result)
    assert (b.root / "ocibuild" / "cache-mounts" / "t-persist" / "f").is_file()
    if mark_topdir(b.root):  # the file system has the flag: cache dirs spread as snapshots do
        assert flags_of(b.root / "ocibuild" / "cache-mounts") & FS_TOPDIR_FL
    locked = b.build(text.format("persist,sharing=locked", "cat /c/f > /seen2"))
    assert b.rootfs(locked).read_text("/seen2") == "kept\n"


def test_tmpfs_is_not_in_the_layer(b: Builder) -> None:
    result = b.build(
        "FROM busybox:latest\n"
        "RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/f"
        " && grep -q /scratch /proc/mounts && touch /kept\n"
    )
    names = b.layer_names(result)
    assert "kept" in names
    assert not any(n.startswith("scratch") for n in names)


def test_secret_is_readable_and_never_stored(b: Builder, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET)
    result = b.build(
        "FROM busybox:latest\n"
        "RUN --mount=type=secret,id=tok cat /run/secrets/tok > /dev/null"
        " && stat -c %a:%u /run/secrets/tok && cat /run/secrets/tok | wc -c\n"
        "RUN --mount=type=secret,id=tok,target=/etc/tok test -s /etc/tok\n",
        secrets=[f"id=tok,src={secret}"],
    )
    assert b"400:0\n" in b.output
    assert f"{len(SECRET)}\n".encode() in b.output
    assert "run/secrets/tok" not in b.layer_names(result)
    for blob in (b.root / "blobs" / "sha256").iterdir():
        data = blob.read_bytes()
        assert SECRET not in data
        if data[:2] == b"\x1f\x8b":
            import gzip

            assert SECRET not in gzip.decompress(data)
    history = [h.created_by for h in result.image.config.history]
    assert "RUN /bin/sh -c cat /run/secrets/tok > /dev/null" in history[-2]


def test_secret_required_and_optional(b: Builder) -> None:
    with pytest.raises(UserError, match="secret missing not found"):
        b.build("FROM busybox:latest\nRUN --mount=type=secret,id=missing,required cat /x\n")
    result = b.build(
        "FROM busybox:latest\nRUN --mount=type=secret,id=missing test ! -e /run/secrets/missing\n"
    )
    assert "run/secrets" not in b.layer_names(result)
