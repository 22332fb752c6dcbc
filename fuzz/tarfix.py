"""Keep fuzzed tar archives readable: a libFuzzer custom mutator for the archive targets.

A byte-level mutation of a tar header almost always breaks its checksum, and
a tar reader stops at the first bad checksum: without help the fuzzer would
spend its time on "bad checksum" and never reach the unpacker's rules.  So
the archive targets mutate the *uncompressed* tar (a gzip seed is inflated,
mutated and deflated again) and then rewrite the checksum of every header
they can walk to, most of the time; now and then they leave it broken so
that path stays covered too.
"""

from __future__ import annotations

import gzip
import random
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["fix_checksums", "make_mutator"]

_BLOCK = 512
_GZIP_MAGIC = b"\x1f\x8b"


def _number(field: bytes) -> int:
    """A tar numeric field (octal text or GNU base-256), 0 when unreadable."""
    if field and field[0] & 0x80:
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        return 0


def fix_checksums(data: bytes) -> bytes:
    """``data`` with the checksum of each header it can walk to made valid."""
    buf = bytearray(data)
    offset = 0
    while offset + _BLOCK <= len(buf):
        header = buf[offset : offset + _BLOCK]
        if not any(header):
            break  # end-of-archive marker
        header[148:156] = b" " * 8
        buf[offset + 148 : offset + 156] = b"%06o\0 " % (sum(header) & 0o777777)
        size = _number(bytes(header[124:136]))
        offset += _BLOCK + -(-size // _BLOCK) * _BLOCK
    return bytes(buf)


def _inflate(data: bytes) -> bytes | None:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        return None


def make_mutator(
    mutate: Callable[[bytes, int], bytes],
) -> Callable[[bytes, int, int], bytes]:
    """A custom mutator around libFuzzer's own ``mutate(data, max_size)``."""

    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        inner = _inflate(data) if data.startswith(_GZIP_MAGIC) else None
        raw = data if inner is None else inner
        # libFuzzer refuses a size above the one it asks for (max_size).
        raw = mutate(raw[:max_size], max_size)
        if rng.random() < 0.9:
            raw = fix_checksums(raw)
        if inner is not None:
            raw = gzip.compress(raw, mtime=0)
        return raw[:max_size]

    return mutator
