"""Full-disk trials: the store on a small tmpfs, and a command that needs more.

Each try mounts a fresh 32 MiB tmpfs, imports busybox into a store there,
fills the file system (outside the store) so that a given amount stays free,
and runs one command that cannot fit:

* ``COPY`` of a 40 MB file (the copy into the new layer's dir fails);
* ``COPY`` of a 12 MB file with 20 MB free (the files fit, the blob not);
* ``RUN dd`` of 64 MB (the RUN itself fails, as in Docker);
* ``load`` of an archive with a 40 MB layer (a blob write fails);
* ``FROM`` an image whose 12 MB layer is stored but cannot be unpacked.

It held when ocibuild exited 1 with one clear ``ocibuild: ...`` line (no
traceback; for ``RUN`` the command's failure and its output tail), ``ocibuild
fsck`` then calls the store clean, and a small build on the same full store
succeeds.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reliability import storecheck as sc
from reliability.trial import Result, Trial

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from reliability.env import Env

__all__ = ["TRIALS"]

SIZE_MB = 32
MB = 1 << 20


@dataclass(frozen=True, slots=True)
class _Case:
    """One way to run out of space: free MB to leave, and the command (argv after root)."""

    name: str
    free_mb: int
    command: Callable[[Env, Path, Path], tuple[str, ...]]  # (env, store, workdir)
    expect: str  # text the last stderr line must contain


@contextlib.contextmanager
def tmpfs(where: Path) -> Iterator[Path]:
    """A fresh ``SIZE_MB`` tmpfs mounted at ``where`` for the block."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(where)],
                   check=True)  # fmt: skip
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(mount: Path, free_mb: int) -> None:
    """Write a filler file so that about ``free_mb`` MiB stay free."""
    (mount / "filler").unlink(missing_ok=True)
    st = os.statvfs(mount)
    free = st.f_bavail * st.f_frsize
    need = free - free_mb * MB
    if need > 0:  # fallocate refuses a length of 0
        subprocess.run(["fallocate", "-l", str(need), str(mount / "filler")], check=True)


def _copy_case(size_mb: int) -> Callable[[Env, Path, Path], tuple[str, ...]]:
    def command(env: Env, store: Path, work: Path) -> tuple[str, ...]:
        data = random.Random(size_mb).randbytes(size_mb * MB)
        ctx = sc.context(work / f"ctx-{size_mb}", "FROM busybox:latest\nCOPY big /big\n",
                         {"big": data})  # fmt: skip
        return ("build", str(ctx))

    return command


def _run_dd(env: Env, store: Path, work: Path) -> tuple[str, ...]:
    ctx = sc.context(
        work / "ctx-dd", "FROM busybox:latest\nRUN dd if=/dev/zero of=/f bs=1M count=64\n"
    )
    return ("build", str(ctx))


def _big_archive(env: Env, work: Path, size_mb: int) -> Path:
    """An archive of busybox + a ``size_mb`` layer, made in a store on the real disk."""
    archive = env.workdir / f"big-{size_mb}.tar"
    if not archive.exists():
        root = env.new_store(f"disk-big-{size_mb}")
        ctx = Path(_copy_case(size_mb)(env, root, work)[1])
        image_id, err = sc.build(env, root, ctx, "-t", "big:1")
        if image_id is None:
            raise RuntimeError(f"building the big image: {err}")
        proc = env.ocibuild(root, "save", "-o", str(archive), "big:1")
        if proc.returncode != 0:
            raise RuntimeError(f"save: {proc.stderr.strip()}")
    return archive


def _load_big(env: Env, store: Path, work: Path) -> tuple[str, ...]:
    return ("load", "-i", str(_big_archive(env, work, 40)))


def _unpack_big(env: Env, store: Path, work: Path) -> tuple[str, ...]:
    """Room for the 12 MB blob, not for its unpacked copy: the load stores the
    image and warns that it left it packed; the build's RUN then has to unpack."""
    proc = env.ocibuild(store, "load", "-i", str(_big_archive(env, work, 12)))
    if proc.returncode != 0 or "warning: image left packed" not in proc.stderr:
        raise RuntimeError(f"load: exit {proc.returncode}: {proc.stderr.strip()}")
    ctx = sc.context(work / "ctx-unpack", "FROM big:1\nRUN true\n")
    return ("build", str(ctx))


CASES = (
    _Case("COPY of 40 MB", 28, _copy_case(40), "no space left on device while writing"),
    _Case(
        "blob of 12 MB, 20 MB free",
        20,
        _copy_case(12),
        "no space left on device while writing a blob",
    ),
    _Case("RUN dd of 64 MB", 28, _run_dd, "exit code: 1"),
    _Case("load of a 40 MB layer", 28, _load_big, "no space left on device while writing a blob"),
    _Case("unpacking a 12 MB layer", 20, _unpack_big, "no space left on device while unpacking"),
)


def _try(env: Env, case: _Case, work: Path) -> str | None:
    """One full-disk try; what went wrong, or None."""
    with tmpfs(work / "mnt") as mount:
        store = mount / "store"
        proc = env.ocibuild(store, "import", str(env.busybox_tar), "busybox:latest")
        if proc.returncode != 0:
            return f"import: {proc.stderr.strip()}"
        _fill(mount, case.free_mb)
        args = case.command(env, store, work)
        proc = env.ocibuild(store, *args)
        lines = proc.stderr.strip().splitlines()
        last = next((line for line in reversed(lines) if line.startswith("ocibuild: ")), "")
        if proc.returncode != 1 or "Traceback" in proc.stderr or case.expect not in last:
            return f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"
        verdict = sc.fsck(env, store)
        if not verdict.clean:
            return f"fsck: {verdict}"
        ctx = sc.context(work / "ctx-small", "FROM busybox:latest\nCOPY small /small\n",
                         {"small": b"x" * 100_000})  # fmt: skip
        image_id, err = sc.build(env, store, ctx)
        if image_id is None:
            return f"small build: {err}"
        return None


def _messages() -> str:
    return "; ".join(f"{c.name}: '{c.expect}...'" for c in CASES)


def run(env: Env, tries: int) -> Result:
    held, failures = 0, []
    for index in range(tries):
        case = CASES[index % len(CASES)]
        problem = _try(env, case, env.scratch("disk"))
        if problem is None:
            held += 1
        else:
            failures.append(f"{case.name}: {problem}")
    if failures:
        return Result(tries, held, f"{len(failures)} failed; first: {failures[0]}")
    return Result(tries, held, f"exit 1 with one line each ({_messages()}); fsck clean; "
                  "a small build on the full store succeeded")  # fmt: skip


TRIALS: list[Trial] = [
    Trial(
        "full disk",
        f"store on a {SIZE_MB} MiB tmpfs: build or load that needs more "
        "(COPY, blob, RUN, load, unpack)",
        run,
        10,
    ),
]
