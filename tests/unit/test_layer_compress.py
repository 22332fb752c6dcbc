"""Compression: deterministic bytes, media types, sniffing decompression."""

from __future__ import annotations

import gzip
import hashlib
import io
import random

import pytest
import zstandard

from ocibuild.layer import Compression, compress_blob, compressor, decompressed
from ocibuild.oci import Digest, mediatypes

DATA = b"".join(b"line %d of a layer\n" % i for i in range(20000))


def compress(data: bytes, compression: Compression) -> bytes:
    sink = io.BytesIO()
    compress_blob(io.BytesIO(data), sink, compression)
    return sink.getvalue()


def test_media_types() -> None:
    assert Compression.NONE.media_type == mediatypes.OCI_LAYER
    assert Compression.GZIP.media_type == mediatypes.OCI_LAYER_GZIP
    assert Compression.ZSTD.media_type == mediatypes.OCI_LAYER_ZSTD


@pytest.mark.parametrize("compression", list(Compression))
def test_round_trip_and_determinism(compression: Compression) -> None:
    blob = compress(DATA, compression)
    assert blob == compress(DATA, compression)
    assert decompressed(io.BytesIO(blob)).read() == DATA


def test_compress_blob_reports_digest_and_size() -> None:
    sink = io.BytesIO()
    digest, size = compress_blob(io.BytesIO(DATA), sink, Compression.GZIP)
    assert size == len(sink.getvalue())
    assert digest == Digest.from_bytes(sink.getvalue())


def test_gzip_header_has_no_mtime_and_no_name() -> None:
    blob = compress(DATA, Compression.GZIP)
    assert blob[:4] == b"\x1f\x8b\x08\x00"  # deflate, no FNAME/FCOMMENT/FEXTRA
    assert blob[4:8] == bytes(4)  # mtime 0
    assert gzip.decompress(blob) == DATA


def test_zstd_frame_readable_by_zstandard() -> None:
    blob = compress(DATA, Compression.ZSTD)
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob))
    assert reader.read() == DATA


def zstd_with_threads(data: bytes, threads: int, chunk: int = 65536) -> str:
    obj = zstandard.ZstdCompressor(level=3, threads=threads).compressobj()
    out = b"".join(obj.compress(data[i : i + chunk]) for i in range(0, len(data), chunk))
    return hashlib.sha256(out + obj.flush()).hexdigest()


def zstd_sample(size: int) -> bytes:
    """Word soup and random runs: many zstd jobs, some compressible, some not."""
    rng = random.Random(7)
    words = [rng.randbytes(rng.randint(1, 12)) for _ in range(500)]
    soup = b" ".join(rng.choice(words) for _ in range(400_000))
    out = bytearray()
    while len(out) < size:
        start = rng.randrange(len(soup) // 2)
        out += soup[start:] + rng.randbytes(rng.randint(0, 1 << 20))
    return bytes(out[:size])


def test_zstd_bytes_do_not_depend_on_worker_count_but_do_on_threads_zero() -> None:
    """Why compressor() may use one zstd worker a CPU, but never threads=0 (see compress.py)."""
    data = zstd_sample(64 << 20)
    one = zstd_with_threads(data, 1)
    assert zstd_with_threads(data, 2) == one
    assert zstd_with_threads(data, 4, chunk=1 << 20) == one
    assert zstd_with_threads(data[: 8 << 20], 0) != zstd_with_threads(data[: 8 << 20], 1)
    for threads in (None, 2):
        sink = io.BytesIO()
        compressor_ = compressor(Compression.ZSTD, threads=threads)
        for i in range(0, len(data), 1 << 20):
            sink.write(compressor_.compress(data[i : i + (1 << 20)]))
        sink.write(compressor_.flush())
        assert hashlib.sha256(sink.getvalue()).hexdigest() == one


def test_plain_stream_passes_through() -> None:
    assert decompressed(io.BytesIO(b"plain tar bytes")).read() == b"plain tar bytes"
