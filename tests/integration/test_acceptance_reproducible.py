"""Acceptance: builds are reproducible under SOURCE_DATE_EPOCH.

The same Dockerfile and context, copied to two different directories whose
files have different mtimes (both after the epoch, so clamping must erase
the difference, as BuildKit's rewrite-timestamp does), built into two
separate empty stores, must give the same manifest and config digests and
byte-identical ``type=oci`` archives, gzip and zstd.  Without
SOURCE_DATE_EPOCH the image's ``created`` is the build time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from helpers.builders import OCIBUILD_CLI
from helpers.images import load_image

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.root

EPOCH = 1_700_000_000
RUN_DOCKERFILE = """\
FROM busybox:latest AS build
ENV APP_NAME=repro
COPY src/ /src/
RUN mkdir -p /out && cat /src/a.txt /src/sub/b.txt > /out/joined && touch /out/stamp
COPY <<EOF /out/note.txt
made by $APP_NAME
EOF

FROM scratch
ENV APP=1
COPY --from=build /out/ /app/
COPY src/sub /sub
LABEL org.example=reproducible
"""
COPY_DOCKERFILE = """\
FROM busybox:latest AS build
ENV APP_NAME=repro
COPY src/ /src/
COPY <<EOF /src/note.txt
made by $APP_NAME
EOF
WORKDIR /made/here

FROM scratch
ENV APP=1
COPY --from=build /src/ /app/
COPY --from=build /made /made
COPY src/sub /sub
LABEL org.example=reproducible
"""
DOCKERFILES = {"copy-only": COPY_DOCKERFILE, "with-run": RUN_DOCKERFILE}


@dataclass(frozen=True, slots=True)
class Store:
    root: Path

    def run(self, *args: str, epoch: int | None = EPOCH) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "OCIBUILD_ROOT": str(self.root)}
        env.pop("SOURCE_DATE_EPOCH", None)
        if epoch is not None:
            env["SOURCE_DATE_EPOCH"] = str(epoch)
        proc = subprocess.run(
            [sys.executable, "-c", OCIBUILD_CLI, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc


def _context(where: Path, mtime: float, dockerfile: str = COPY_DOCKERFILE) -> Path:
    ctx = where / "deep" / "context"
    (ctx / "src" / "sub").mkdir(parents=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    (ctx / "src" / "a.txt").write_text("alpha\n")
    (ctx / "src" / "sub" / "b.txt").write_text("beta\n")
    for path in [ctx, *ctx.rglob("*")]:
        os.utime(path, (mtime, mtime))
    return ctx


@pytest.fixture(scope="module")
def base_archive(busybox_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """busybox imported once and saved, so both stores get the very same base."""
    where = tmp_path_factory.mktemp("repro-base")
    store = Store(where / "store")
    store.run("import", str(busybox_rootfs), "busybox:latest")
    archive = where / "busybox.tar"
    store.run("save", "-o", str(archive), "busybox:latest")
    return archive


@dataclass(frozen=True, slots=True)
class Outcome:
    metadata: dict[str, object]
    gzip: bytes
    zstd: bytes


def _build(where: Path, base: Path, mtime: float, dockerfile: str) -> Outcome:
    store = Store(where / "store")
    store.run("load", "-i", str(base))
    ctx = _context(where, mtime, dockerfile)
    meta, gz, zst = where / "meta.json", where / "image.tar", where / "image-zstd.tar"
    store.run(
        "build",
        "-t",
        "repro:1",
        "--metadata-file",
        str(meta),
        "-o",
        f"type=oci,dest={gz}",
        "-o",
        f"type=oci,dest={zst},compression=zstd",
        str(ctx),
    )
    return Outcome(json.loads(meta.read_text()), gz.read_bytes(), zst.read_bytes())


@pytest.mark.parametrize("dockerfile", DOCKERFILES.values(), ids=DOCKERFILES.keys())
def test_same_inputs_in_different_places_give_identical_images(
    base_archive: Path, tmp_path: Path, dockerfile: str
) -> None:
    now = time.time()
    first = _build(tmp_path / "one", base_archive, now, dockerfile)
    second = _build(tmp_path / "elsewhere" / "two", base_archive, now - 86_400, dockerfile)
    for key in ("containerimage.digest", "containerimage.config.digest"):
        assert first.metadata[key] == second.metadata[key], key
    assert first.gzip == second.gzip
    assert first.zstd == second.zstd
    assert first.gzip != first.zstd


def test_created_is_the_epoch_with_source_date_epoch(base_archive: Path, tmp_path: Path) -> None:
    _build(tmp_path, base_archive, time.time(), COPY_DOCKERFILE)
    config = load_image(tmp_path / "store", "repro:1").config
    assert _parse(config["created"]) == datetime.fromtimestamp(EPOCH, UTC)


def test_created_is_now_without_source_date_epoch(base_archive: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store.run("load", "-i", str(base_archive))
    ctx = _context(tmp_path, time.time())
    before = datetime.now(UTC)
    store.run("build", "-t", "repro:now", str(ctx), epoch=None)
    after = datetime.now(UTC)
    created = _parse(load_image(store.root, "repro:now").config["created"])
    assert before.replace(microsecond=0) <= created <= after


def _parse(stamp: str) -> datetime:
    """An RFC 3339 time; Go writes up to nanoseconds, Python reads microseconds."""
    head, dot, tail = stamp.removesuffix("Z").partition(".")
    fraction = tail[:6] if dot else "0"
    parsed = datetime.fromisoformat(f"{head}.{fraction.ljust(6, '0')}")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def test_context_copies_really_differ(tmp_path: Path) -> None:
    """Self-check: the two contexts differ in path and mtimes, not content."""
    one = _context(tmp_path / "a", time.time())
    two = _context(tmp_path / "b" / "c", time.time() - 86_400)
    assert one != two
    assert (one / "src/a.txt").stat().st_mtime != (two / "src/a.txt").stat().st_mtime
    assert (one / "src/a.txt").read_bytes() == (two / "src/a.txt").read_bytes()
