"""Time layer compression: one-stream gzip vs ocibuild's parallel gzip vs zstd.

Usage: ``python benchmarks/compress_bench.py [--size-mib 256] [--runs 3] [--seed 1]``.

Generates a deterministic tar-like input of ``--size-mib`` MiB in a temp dir
(512-byte headers, then file bodies: text-like, binary-like with repeats, and
random as in already-compressed files), then compresses it ``--runs`` times
with each method (interleaved: run 1 of every method, then run 2, ...),
every run in a fresh child process that streams the file
in 1 MiB chunks through the same pass as ``LayerSink`` (sha256 of the input,
compress, sha256 of the output).  Reports the median wall time of that
pass, its CPU time (all threads: on a shared machine wall time depends on
free cores, CPU time much less), the median peak RSS of the child
(``VmHWM``: interpreter and imports included), the speed relative to
one-stream gzip and the size ratio.  The blob digests of each method
must agree across runs (the output is deterministic), else it stops.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ocibuild.layer.compress import Compressor

_CHUNK = 1 << 20
METHODS = ("gzip-1t", "pgzip", "pgzip-1t", "zstd", "zstd-1t")
LABELS = {
    "gzip-1t": "gzip, zlib level 6, one stream (before)",
    "pgzip": "gzip, parallel blocks (now)",
    "pgzip-1t": "gzip, the same blocks on one thread",
    "zstd": "zstd level 3, a worker a CPU (now)",
    "zstd-1t": "zstd level 3, one worker (before)",
}


def generate(path: Path, size: int, seed: int) -> None:
    """Write ``size`` bytes of tar-like data to ``path``; the same seed, the same bytes."""
    rng = random.Random(seed)
    words = [rng.randbytes(rng.randint(2, 8)).hex().encode() for _ in range(3000)]
    text = b" ".join(rng.choice(words) + b"%d" % rng.randint(0, 9999) for _ in range(600_000))
    tokens = [rng.randbytes(16) for _ in range(256)]
    binary = b"".join(
        rng.choice(tokens) if rng.random() < 0.8 else bytes(64) for _ in range(60_000)
    )
    written = 0
    with path.open("wb") as out:
        while written < size:
            body = _body(rng, text, binary)
            header = (b"file%08d" % written).ljust(512, b"\0")
            pad = bytes(-len(body) % 512)
            for part in (header, body, pad):
                out.write(part[: size - written])
                written += min(len(part), size - written)


def _body(rng: random.Random, text: bytes, binary: bytes) -> bytes:
    length = int(2 ** rng.uniform(10, 23))  # 1 KiB .. 8 MiB, log-uniform
    kind = rng.random()
    if kind < 0.3:
        return rng.randbytes(length)
    corpus = text if kind < 0.7 else binary
    parts, need = [], length
    while need > 0:
        start = rng.randrange(len(corpus) - 1)
        piece = corpus[start : start + need]
        parts.append(piece)
        need -= len(piece)
    return b"".join(parts)


def make_compressor(method: str) -> Compressor:
    from ocibuild.layer.compress import Compression, compressor

    match method:
        case "gzip-1t":
            return zlib.compressobj(6, zlib.DEFLATED, 31)
        case "pgzip":
            return compressor(Compression.GZIP)
        case "pgzip-1t":
            return compressor(Compression.GZIP, threads=1)
        case "zstd":
            return compressor(Compression.ZSTD)
        case "zstd-1t":
            return compressor(Compression.ZSTD, threads=1)
    raise ValueError(method)


def child(method: str, path: Path) -> None:
    """One measured pass, as ``LayerSink`` does it; prints a JSON line."""
    obj = make_compressor(method)
    tar_hash, blob_hash, size = hashlib.sha256(), hashlib.sha256(), 0
    start, cpu = time.perf_counter(), _cpu_seconds()
    with path.open("rb", buffering=0) as src:
        while chunk := src.read(_CHUNK):
            tar_hash.update(chunk)
            out = obj.compress(chunk)
            blob_hash.update(out)
            size += len(out)
    out = obj.flush()
    blob_hash.update(out)
    size += len(out)
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    rss_mib = _peak_rss_kib() / 1024
    result = {
        "seconds": seconds,
        "cpu": cpu,
        "rss_mib": rss_mib,
        "size": size,
        "digest": blob_hash.hexdigest(),
    }
    print(json.dumps(result))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process
    return usage.ru_utime + usage.ru_stime


def _peak_rss_kib() -> int:
    """``VmHWM``: this process's peak RSS since its ``exec`` (``ru_maxrss`` would
    include the forked parent's pages)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_child(method: str, path: Path) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", method, str(path)]
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    sample: dict[str, Any] = json.loads(done.stdout)
    return sample


def measure(methods: list[str], path: Path, runs: int) -> dict[str, dict[str, float]]:
    """Medians per method; runs are interleaved, so load from others hits every method alike."""
    samples: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for _ in range(runs):
        for method in methods:
            samples[method].append(run_child(method, path))
    results = {}
    for method, rows in samples.items():
        if len({row["digest"] for row in rows}) != 1:
            raise SystemExit(f"{method}: output differs between runs")
        results[method] = {
            key: statistics.median(row[key] for row in rows)
            for key in ("seconds", "cpu", "rss_mib", "size")
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    from ocibuild.layer.compress import worker_threads

    size = args.size_mib << 20
    with tempfile.TemporaryDirectory(prefix="compress-bench-", dir="/var/tmp") as tmp:
        path = Path(tmp) / "input.tar"
        generate(path, size, args.seed)
        results = measure(args.methods.split(","), path, args.runs)
    base = results.get("gzip-1t")
    print(f"input {args.size_mib} MiB (seed {args.seed}), {worker_threads()} threads, "
          f"median of {args.runs} runs\n")  # fmt: skip
    print(
        "| method | wall (s) | CPU (s) | MiB/s | speed vs one-stream gzip"
        " | peak RSS (MiB) | size ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for method, row in results.items():
        speed = f"{base['seconds'] / row['seconds']:.2f}x" if base else "n/a"
        print(
            f"| {LABELS[method]} | {row['seconds']:.2f} | {row['cpu']:.2f} "
            f"| {args.size_mib / row['seconds']:.0f} "
            f"| {speed} | {row['rss_mib']:.0f} | {row['size'] / size:.3f} |"
        )


if __name__ == "__main__":
    main()
