"""Benchmark workloads: deterministic Dockerfiles and build contexts.

Owns what is built, not how it is timed.  `generate` writes one workload's
Dockerfile and context into an empty directory; the same name, scale, seed
and spin count always give byte-identical trees (file contents come from
`random.Random(seed)`, never from the clock or os.urandom).  `edit` changes
the workload's edit file, the one the "edit" scenario touches, to a new
content derived from a counter.

Every Dockerfile starts `FROM <base>` (a busybox-static rootfs imported under
the same name into each builder) and uses only syntax that BuildKit 20.10 and
ocibuild both accept.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

BASE_IMAGE = "bench-busybox:latest"
SPIN_SECONDS = 2.0  # CPU each multistage builder stage burns at scale 1

_KIB = 1024
_MIB = 1024 * _KIB


@dataclass(frozen=True, slots=True)
class Params:
    """What a workload depends on; recorded with the results."""

    scale: float = 1.0
    seed: int = 20240601
    spin_iterations: int = 1_000_000  # busybox sh loop turns for SPIN_SECONDS
    base: str = BASE_IMAGE

    def count(self, full: int) -> int:
        return max(1, round(full * self.scale))


@dataclass(frozen=True, slots=True)
class Workload:
    """A generated workload on disk."""

    name: str
    context: Path
    dockerfile: Path
    edit_file: Path  # a source of a late COPY; the "edit" scenario changes it
    files: int  # regular files in the context, Dockerfile included
    bytes: int  # their total size


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _src(ctx: Path, name: str) -> Path:
    """The small late-COPY source tree every workload has; returns its edit file."""
    _write(ctx / "src" / "README.txt", f"{name} workload sources\n".encode())
    edit = ctx / "src" / "main.txt"
    _write(edit, b"edit-0\n")
    return edit


def _tiny(ctx: Path, params: Params, rng: random.Random) -> tuple[str, Path]:
    edit = _src(ctx, "tiny")
    _write(ctx / "src" / "data.bin", rng.randbytes(4 * _KIB))
    dockerfile = f"""FROM {params.base}
ENV APP_HOME=/app MODE=bench
WORKDIR /app
RUN echo built > /app/stamp && mkdir -p /app/data
COPY src/ /app/src/
CMD ["sh", "-c", "cat /app/stamp"]
"""
    return dockerfile, edit


def _spin(label: str, iterations: int) -> str:
    return (
        f"RUN i=0; while [ $i -lt {iterations} ]; do i=$((i+1)); done; "
        f"echo {label}-$i > /{label}.out"
    )


def _multistage(ctx: Path, params: Params, rng: random.Random) -> tuple[str, Path]:
    del rng
    edit = _src(ctx, "multistage")
    spins = max(1, round(params.spin_iterations * params.scale))
    dockerfile = f"""FROM {params.base} AS builder-a
{_spin("a", spins)}

FROM {params.base} AS builder-b
{_spin("b", spins)}

FROM {params.base}
COPY --from=builder-a /a.out /out/a.out
COPY --from=builder-b /b.out /out/b.out
COPY src/ /app/src/
CMD ["cat", "/out/a.out", "/out/b.out"]
"""
    return dockerfile, edit


def _manyfiles(ctx: Path, params: Params, rng: random.Random) -> tuple[str, Path]:
    _src(ctx, "manyfiles")
    count = params.count(25_000)
    for index in range(count):
        size = rng.randint(4 * _KIB, 16 * _KIB)  # mean 10 KiB: 250 MB at scale 1
        _write(ctx / "files" / f"d{index // 250:03d}" / f"f{index:05d}.dat", rng.randbytes(size))
    edit = ctx / "files" / f"d{(count - 1) // 250:03d}" / f"f{count - 1:05d}.dat"
    dockerfile = f"""FROM {params.base}
WORKDIR /data
COPY files/ /data/files/
COPY src/ /app/src/
"""
    return dockerfile, edit


def _bigfiles(ctx: Path, params: Params, rng: random.Random) -> tuple[str, Path]:
    edit = _src(ctx, "bigfiles")
    blob = ctx / "big" / "blob.bin"
    blob.parent.mkdir(parents=True)
    remaining = max(_MIB, round(256 * _MIB * params.scale))
    with blob.open("wb") as out:
        while remaining > 0:
            chunk = min(remaining, 4 * _MIB)
            out.write(rng.randbytes(chunk))
            remaining -= chunk
    dd_mib = max(1, round(512 * params.scale))
    dockerfile = f"""FROM {params.base}
COPY big/blob.bin /data/blob.bin
RUN dd if=/dev/urandom of=/data/random.bin bs=1048576 count={dd_mib} 2>/dev/null
COPY src/ /app/src/
"""
    return dockerfile, edit


def _deletes(ctx: Path, params: Params, rng: random.Random) -> tuple[str, Path]:
    edit = _src(ctx, "deletes")
    count = params.count(10_000)
    for index in range(count):
        size = rng.randint(512, 3 * _KIB)
        _write(ctx / "tree" / f"d{index // 500:02d}" / f"f{index:05d}.dat", rng.randbytes(size))
    # Even numbers go (half the files); names ending in 1 or 3 get a line more.
    dockerfile = f"""FROM {params.base} AS lower
COPY tree/ /tree/

FROM lower
RUN find /tree -type f -name '*[02468].dat' | xargs rm -f && \\
    find /tree -type f -name '*[13].dat' | xargs sh -c 'for f; do echo changed >> "$f"; done' sh
COPY src/ /app/src/
"""
    return dockerfile, edit


_GENERATORS: dict[str, Callable[[Path, Params, random.Random], tuple[str, Path]]] = {
    "tiny": _tiny,
    "multistage": _multistage,
    "manyfiles": _manyfiles,
    "bigfiles": _bigfiles,
    "deletes": _deletes,
}
NAMES: tuple[str, ...] = tuple(_GENERATORS)


def _seed_for(name: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "big")


def generate(name: str, dest: Path, params: Params) -> Workload:
    """Write workload `name` into the empty or absent directory `dest`."""
    if name not in _GENERATORS:
        raise ValueError(f"unknown workload {name!r} (known: {', '.join(NAMES)})")
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ValueError(f"{dest} is not empty")
    text, edit = _GENERATORS[name](dest, params, random.Random(_seed_for(name, params.seed)))
    dockerfile = dest / "Dockerfile"
    dockerfile.write_text(text)
    sizes = [p.stat().st_size for p in dest.rglob("*") if p.is_file()]
    return Workload(name, dest, dockerfile, edit, len(sizes), sum(sizes))


def edit(workload: Workload, counter: int) -> None:
    """Give the edit file new content (different for every `counter`), same size class."""
    old = workload.edit_file.read_bytes()
    marker = f"edit-{counter}\n".encode()
    workload.edit_file.write_bytes(marker + old[len(marker) :] if len(old) > 64 else marker)
