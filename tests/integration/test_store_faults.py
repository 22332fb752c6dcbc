"""Faults the store must survive (the bounded version of reliability/trials_*.py).

* a build killed by SIGKILL at a few moments: ``fsck`` calls the store clean
  (leftovers are stale, not damage), the next build gives the image ID of an
  uninterrupted one, and after ``prune`` nothing stale is left;
* a half-made cache mount dir of a killed build is swept by the next build;
* a store on a full tmpfs: a COPY that cannot fit fails with one line, fsck
  is clean, and a small build on the same store works.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest
from helpers.builders import OCIBUILD_CLI

from ocibuild.store.scratch import CACHE_MOUNT_PREFIX, owned_name

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.root

DOCKERFILE = """\
FROM busybox:latest
COPY big /big
RUN --mount=type=cache,target=/cache sh -c 'cp /big /cache/x && seq 1 3000 > /n'
"""


def _env() -> dict[str, str]:
    return {**os.environ, "SOURCE_DATE_EPOCH": "0"}


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", OCIBUILD_CLI, *args, "--root", str(root)]
    return subprocess.run(argv, capture_output=True, text=True, env=_env(), check=False)


def _build_id(root: Path, ctx: Path) -> str:
    proc = _cli(root, "build", "-q", str(ctx))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _fsck(root: Path) -> dict[str, object]:
    proc = _cli(root, "fsck", "--json")
    report: dict[str, object] = json.loads(proc.stdout)
    assert proc.returncode == (0 if report["clean"] else 1)
    return report


@pytest.fixture
def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "big").write_bytes(os.urandom(4 << 20))
    return ctx


def _store(tmp_path: Path, name: str, busybox_rootfs: Path) -> Path:
    root = tmp_path / name
    assert _cli(root, "import", str(busybox_rootfs), "busybox:latest").returncode == 0
    return root


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.15, 0.3, 0.5])
def test_killed_build_leaves_a_clean_store(
    tmp_path: Path, context: Path, busybox_rootfs: Path, delay: float
) -> None:
    template = _store(tmp_path, "template", busybox_rootfs)
    reference = tmp_path / "reference"
    subprocess.run(["cp", "-a", str(template), str(reference)], check=True)
    expected = _build_id(reference, context)
    root = tmp_path / "victim"
    subprocess.run(["cp", "-a", str(template), str(root)], check=True)
    argv = [sys.executable, "-c", OCIBUILD_CLI, "build", "-q", str(context), "--root", str(root)]
    proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    report = _fsck(root)
    assert report["clean"], report
    assert _build_id(root, context) == expected
    assert _cli(root, "prune").returncode == 0
    assert _fsck(root)["problems"] == []


def test_half_made_cache_mount_of_a_dead_build_is_swept(
    tmp_path: Path, context: Path, busybox_rootfs: Path
) -> None:
    root = _store(tmp_path, "store", busybox_rootfs)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    _, ns, _pid, start, rand = owned_name(CACHE_MOUNT_PREFIX).rsplit("-", 4)
    leftover = (
        root / "ocibuild" / "cache-mounts" / f"{CACHE_MOUNT_PREFIX}{ns}-{dead}-{start}-{rand}"
    )
    (leftover / "half").mkdir(parents=True)
    report = _fsck(root)
    assert report["clean"]
    problems = report["problems"]
    assert isinstance(problems, list)
    assert [p["area"] for p in problems] == ["cache-mount"]
    _build_id(root, context)
    assert not leftover.exists()
    assert (root / "ocibuild" / "cache-mounts" / "%2Fcache" / "x").is_file()


def test_full_disk_is_one_line_and_leaves_a_clean_store(
    tmp_path: Path, busybox_rootfs: Path
) -> None:
    mount = tmp_path / "mnt"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], check=True)
    try:
        root = _store(mount, "store", busybox_rootfs)
        ctx = tmp_path / "big"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text("FROM busybox:latest\nCOPY big /big\n")
        (ctx / "big").write_bytes(os.urandom(30 << 20))
        proc = _cli(root, "build", str(ctx))
        assert proc.returncode == 1
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("ocibuild: store error: no space left on device while writing")
        assert "Traceback" not in proc.stderr
        assert _fsck(root)["clean"]
        (ctx / "big").write_bytes(b"small")
        _build_id(root, ctx)
        assert _fsck(root)["problems"] == []
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_prune_during_a_build_waits_and_loses_nothing(tmp_path: Path, busybox_rootfs: Path) -> None:
    """prune --keep-storage 0 while a build runs waits for the build (Store.in_use):
    it returns only after the build has tagged its image and written its iidfile, and
    the build's cache hits (whose records prune drops) are not deleted under it."""
    root = _store(tmp_path, "store", busybox_rootfs)
    ctx = tmp_path / "race"
    ctx.mkdir()
    (ctx / "data").write_bytes(os.urandom(1 << 20))
    (ctx / "Dockerfile").write_text("FROM busybox:latest\nCOPY data /data\nRUN cat /data > /copy\n")
    _build_id(root, ctx)  # untagged: its layers are held by cache records alone
    with (ctx / "Dockerfile").open("a") as dockerfile:
        dockerfile.write("RUN sleep 2\n")
    iid = tmp_path / "iid"
    argv = [sys.executable, "-c", OCIBUILD_CLI, "build", "-q", "-t", "raced", "--iidfile", str(iid)]
    with subprocess.Popen(
        [*argv, str(ctx), "--root", str(root)], env=_env(), stdout=subprocess.DEVNULL
    ) as build:
        _wait_for_pin(root, build)
        pruned = _cli(root, "prune", "--keep-storage", "0")
        assert iid.exists(), "prune returned while the build was still running"
        assert build.wait(timeout=120) == 0
    assert pruned.returncode == 0, pruned.stderr
    report = _fsck(root)
    assert report["clean"], report
    assert _cli(root, "inspect", "raced").returncode == 0


def _wait_for_pin(root: Path, build: subprocess.Popen[bytes]) -> None:
    """Until the build has pinned its first layers (it holds Store.in_use by then)."""
    deadline = time.monotonic() + 60
    while not any((root / "ocibuild" / "roots").glob("build-*.json")):
        assert build.poll() is None, "the build ended before it pinned anything"
        assert time.monotonic() < deadline, "the build never pinned its layers"
        time.sleep(0.02)


def _snapshots(root: Path) -> set[str]:
    return {p.name for p in (root / "ocibuild" / "snapshots").iterdir() if len(p.name) == 64}


def test_prune_removes_the_snapshots_of_dead_layers(
    tmp_path: Path, context: Path, busybox_rootfs: Path
) -> None:
    """Unpacked layers live as long as an image or a cache record keeps their
    layer: rmi + prune --keep-storage 0 gives their disk back, keeps the
    base's, and the store is clean and builds again."""
    root = _store(tmp_path, "store", busybox_rootfs)
    base = _snapshots(root)
    assert len(base) == 1  # import unpacked it, as docker import does
    proc = _cli(root, "build", "-q", "-t", "app", str(context))
    assert proc.returncode == 0, proc.stderr
    built = _snapshots(root)
    assert base < built and len(built) == 3  # the COPY and RUN layers
    assert _cli(root, "prune").returncode == 0
    assert _snapshots(root) == built  # image and records keep them
    assert _cli(root, "rmi", "app").returncode == 0
    assert _cli(root, "prune").returncode == 0
    assert _snapshots(root) == built  # records still keep them
    pruned = _cli(root, "prune", "--keep-storage", "0")
    assert pruned.returncode == 0, pruned.stderr
    assert _snapshots(root) == base
    reclaimed = pruned.stdout.splitlines()[-1]
    # the COPY layer's blob (4 MiB, gzip cannot shrink random bytes) and its snapshot
    assert reclaimed.startswith("Total reclaimed space: 8.") and reclaimed.endswith("MB")
    assert _fsck(root)["clean"]
    assert _build_id(root, context).startswith("sha256:")
