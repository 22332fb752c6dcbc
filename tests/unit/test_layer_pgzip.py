"""Parallel gzip: the same bytes for any thread count or input split, readable by any gzip."""

from __future__ import annotations

import gc
import gzip
import random
import shutil
import subprocess
import sys
import threading
import time
import zlib
from typing import TYPE_CHECKING

import pytest

from ocibuild.layer import Compression, compressor
from ocibuild.layer.pgzip import (
    BLOCK_SIZE,
    GZIP_HEADER,
    WINDOW,
    ParallelGzip,
    deflate_block,
    gzip_trailer,
    isize,
)

if TYPE_CHECKING:
    from pathlib import Path

SMALL_BLOCK = 64 * 1024


def sample(size: int, seed: int = 3) -> bytes:
    """Text-like runs and random runs, as a layer tar mixes them."""
    rng = random.Random(seed)
    words = [rng.randbytes(rng.randint(2, 9)).hex().encode() for _ in range(300)]
    text = b" ".join(rng.choice(words) for _ in range(40_000))
    out = bytearray()
    while len(out) < size:
        start = rng.randrange(len(text) // 2)
        out += text[start : start + rng.randint(1000, 200_000)]
        out += rng.randbytes(rng.randint(0, 50_000))
    return bytes(out[:size])


def pgzip(data: bytes, threads: int, chunk: int = 100_003, block_size: int = BLOCK_SIZE) -> bytes:
    obj = ParallelGzip(threads, block_size=block_size)
    parts = [obj.compress(data[i : i + chunk]) for i in range(0, len(data), chunk)]
    return b"".join(parts) + obj.flush()


DATA = sample(3 * BLOCK_SIZE + 12345)


@pytest.mark.parametrize("threads", [2, 4])
def test_bytes_do_not_depend_on_thread_count(threads: int) -> None:
    assert pgzip(DATA, threads) == pgzip(DATA, 1)


@pytest.mark.parametrize("chunk", [1, 4096, BLOCK_SIZE, len(DATA)])
def test_bytes_do_not_depend_on_how_input_is_split(chunk: int) -> None:
    data = DATA[: 2 * SMALL_BLOCK + 99] if chunk == 1 else DATA
    expected = pgzip(data, 1, chunk=len(data) or 1, block_size=SMALL_BLOCK)
    assert pgzip(data, 2, chunk=chunk, block_size=SMALL_BLOCK) == expected


def test_round_trip_with_standard_readers(tmp_path: Path) -> None:
    blob = pgzip(DATA, 2)
    assert gzip.decompress(blob) == DATA
    assert zlib.decompress(blob, 31) == DATA
    if shutil.which("gzip"):
        (tmp_path / "layer.gz").write_bytes(blob)
        subprocess.run(["gzip", "-t", str(tmp_path / "layer.gz")], check=True)


def test_header_is_zlibs_and_trailer_has_crc_and_size() -> None:
    one_stream = zlib.compressobj(6, zlib.DEFLATED, 31)
    assert one_stream.compress(b"x") + one_stream.flush() == b"".join(
        [GZIP_HEADER, zlib.compress(b"x", 6)[2:-4], gzip_trailer(zlib.crc32(b"x"), 1)]
    )
    blob = pgzip(DATA, 2)
    assert blob[:10] == GZIP_HEADER
    assert blob[-8:] == gzip_trailer(zlib.crc32(DATA), len(DATA))


def test_empty_input() -> None:
    blob = ParallelGzip(2).flush()
    assert blob == GZIP_HEADER + b"\x03\x00" + gzip_trailer(0, 0)
    assert gzip.decompress(blob) == b""


def test_exactly_one_block_is_a_synced_block_then_an_empty_final_one() -> None:
    data = DATA[:SMALL_BLOCK]
    blob = pgzip(data, 2, block_size=SMALL_BLOCK)
    body = deflate_block(data, b"", last=False) + deflate_block(b"", data[-WINDOW:], last=True)
    assert blob == GZIP_HEADER + body + gzip_trailer(zlib.crc32(data), len(data))
    assert gzip.decompress(blob) == data


@pytest.mark.parametrize("delta", [-1, 0, 1, SMALL_BLOCK])
@pytest.mark.parametrize("blocks", [1, 3])
def test_sizes_around_block_boundaries(blocks: int, delta: int) -> None:
    data = DATA[: blocks * SMALL_BLOCK + delta]
    blob = pgzip(data, 3, chunk=SMALL_BLOCK // 3, block_size=SMALL_BLOCK)
    assert gzip.decompress(blob) == data
    assert blob == pgzip(data, 1, block_size=SMALL_BLOCK)


def test_blocks_are_primed_with_the_window_before_them() -> None:
    block = DATA[:SMALL_BLOCK]
    assert len(deflate_block(block, block[-WINDOW:], last=True)) < len(
        deflate_block(block, b"", last=True)
    )
    whole = zlib.compressobj(6, zlib.DEFLATED, 31)
    single = whole.compress(DATA) + whole.flush()
    assert len(pgzip(DATA, 2, block_size=SMALL_BLOCK)) < len(single) * 1.01


def test_isize_is_the_length_mod_2_32() -> None:
    assert isize(0) == 0
    assert isize(2**32 - 1) == 2**32 - 1
    assert isize(2**32) == 0
    assert isize(5 * 2**32 + 7) == 7
    assert gzip_trailer(0xDEADBEEF, 2**32 + 1) == bytes.fromhex("efbeadde01000000")


def test_compressor_gzip_is_the_parallel_one() -> None:
    obj = compressor(Compression.GZIP, threads=2)
    assert obj.compress(DATA) + obj.flush() == pgzip(DATA, 1)


def test_flush_twice_is_an_error() -> None:
    obj = ParallelGzip(1)
    obj.flush()
    with pytest.raises(ValueError, match="already flushed"):
        obj.compress(b"x")


def _gzip_threads() -> int:
    return sum(t.name.startswith("ocibuild-gzip-") for t in threading.enumerate())


def test_workers_stop_after_flush_and_when_abandoned() -> None:
    before = _gzip_threads()
    obj = ParallelGzip(2, block_size=SMALL_BLOCK)
    obj.compress(DATA[: 4 * SMALL_BLOCK])
    assert _gzip_threads() == before + 2
    obj.flush()
    abandoned = ParallelGzip(2, block_size=SMALL_BLOCK)
    abandoned.compress(DATA[: 4 * SMALL_BLOCK])
    del abandoned
    gc.collect()
    deadline = time.monotonic() + 10
    while _gzip_threads() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _gzip_threads() == before


def test_a_build_without_outputs_loads_no_compression_code(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("a\n")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY a.txt /a.txt\n")
    code = (
        "import sys; from ocibuild import api; "
        f"api.build({str(ctx)!r}, root={str(tmp_path / 'store')!r}); "
        f"api.build({str(ctx)!r}, root={str(tmp_path / 'store')!r}); "
        "print(sorted(m for m in sys.modules if m in ("
        "'ocibuild.layer.pgzip', 'ocibuild.store.compressed', 'ocibuild.export.compressed',"
        " 'zstandard')))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"
