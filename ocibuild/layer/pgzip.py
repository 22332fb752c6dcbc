"""Parallel, deterministic gzip: the bytes of a gzip layer blob, on every core.

Owns the block format (the one pigz uses).  The input is cut into blocks of
:data:`BLOCK_SIZE` bytes (fixed: never derived from the CPU count, so the
output does not depend on the machine).  Each block is compressed on its
own as raw deflate (zlib level 6, 15-bit window), primed with the 32 KiB of
input before it as the preset dictionary, so matches can reach back across
the cut as in one stream.  Every full block ends with a sync flush (an empty
stored block: byte aligned, not final); the rest after the last full block,
possibly empty, ends with ``Z_FINISH``.  Concatenated, the blocks form one
deflate stream, wrapped in the header zlib writes for ``wbits=31`` (mtime 0,
no name, XFL 0, OS 3) and the usual trailer (CRC-32 and ISIZE, the length
mod 2**32).  Any gzip reader accepts it.

So the bytes depend only on the input and the zlib version, not on the
number of threads nor on how the input is split across :meth:`compress`
calls.  Blocks are compressed by a few worker threads (zlib releases the GIL
while it deflates); at most two blocks a thread are in flight, so memory
stays bounded whatever the layer size.  Output comes back in order.
"""

from __future__ import annotations

import collections
import queue
import struct
import threading
import weakref
import zlib
from typing import TYPE_CHECKING

from ocibuild.layer.compress import GZIP_LEVEL, worker_threads

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "BLOCK_SIZE",
    "GZIP_HEADER",
    "ParallelGzip",
    "deflate_block",
    "gzip_trailer",
    "isize",
]

#: Bytes of input per block (fixed: the output depends on it).
BLOCK_SIZE = 1 << 20
#: The deflate window: the dictionary a block is primed with.
WINDOW = 1 << 15
#: What zlib writes for ``compressobj(6, DEFLATED, 31)``: mtime 0, XFL 0, OS 3 (Unix).
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
_MEM_LEVEL = 8  # zlib's default


def isize(length: int) -> int:
    """The gzip trailer's ISIZE for ``length`` input bytes: the length mod 2**32."""
    return length & 0xFFFFFFFF


def gzip_trailer(crc: int, length: int) -> bytes:
    """CRC-32 and ISIZE, little-endian, as the gzip trailer carries them."""
    return struct.pack("<II", crc & 0xFFFFFFFF, isize(length))


def deflate_block(data: bytes, zdict: bytes, *, last: bool) -> bytes:
    """Raw deflate of one block, primed with ``zdict``; sync-flushed unless ``last``."""
    if zdict:
        obj = zlib.compressobj(
            GZIP_LEVEL, zlib.DEFLATED, -15, _MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, zdict
        )
    else:
        obj = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -15)
    out = obj.compress(data)
    return out + obj.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


class _Job:
    """One block on its way through a worker."""

    __slots__ = ("data", "done", "error", "last", "out", "zdict")

    def __init__(self, data: bytes, zdict: bytes, *, last: bool) -> None:
        self.data = data
        self.zdict = zdict
        self.last = last
        self.out = b""
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            self.out = deflate_block(self.data, self.zdict, last=self.last)
        except BaseException as err:  # handed to the producer, raised there
            self.error = err
        finally:
            self.data = self.zdict = b""
            self.done.set()

    def result(self) -> bytes:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.out


def _work(jobs: queue.SimpleQueue[_Job | None]) -> None:
    while (job := jobs.get()) is not None:
        job.run()


def _stop(jobs: queue.SimpleQueue[_Job | None], count: int) -> None:
    for _ in range(count):
        jobs.put(None)


class ParallelGzip:
    """A :class:`~ocibuild.layer.compress.Compressor` writing gzip with ``threads`` workers.

    With one thread, blocks are compressed in the caller's thread.  Workers
    start with the second block and stop at :meth:`flush` (or when the object
    is collected, if it is abandoned half way).
    """

    def __init__(self, threads: int | None = None, *, block_size: int = BLOCK_SIZE) -> None:
        if block_size < WINDOW:
            raise ValueError(f"block size {block_size} is smaller than the window")
        self._threads = worker_threads() if threads is None else max(1, threads)
        self._block_size = block_size
        self._buf = bytearray()
        self._zdict = b""
        self._crc = 0
        self._length = 0
        self._pending: collections.deque[_Job] = collections.deque()
        self._jobs: queue.SimpleQueue[_Job | None] | None = None
        self._stopper: Callable[[], object] | None = None
        self._started = False
        self._finished = False

    def compress(self, data: bytes, /) -> bytes:
        """Take ``data``; returns the compressed bytes that are ready, in order."""
        if self._finished:
            raise ValueError("compressor already flushed")
        out = [self._header()]
        self._crc = zlib.crc32(data, self._crc)
        self._length += len(data)
        self._buf += data
        size = self._block_size
        while len(self._buf) >= size:
            block = bytes(self._buf[:size])
            del self._buf[:size]
            out.append(self._submit(block, last=False))
        out.extend(self._ready())
        return b"".join(out)

    def flush(self) -> bytes:
        """Compress the rest; returns the remaining bytes, trailer included."""
        if self._finished:
            raise ValueError("compressor already flushed")
        out = [self._header(), self._submit(bytes(self._buf), last=True)]
        self._buf = bytearray()
        out.extend(job.result() for job in self._drain())
        self._finished = True
        self._shutdown()
        out.append(gzip_trailer(self._crc, self._length))
        return b"".join(out)

    def _header(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return GZIP_HEADER

    def _submit(self, block: bytes, *, last: bool) -> bytes:
        """Queue ``block`` (or compress it here); returns output that had to be waited for."""
        zdict, self._zdict = self._zdict, block[-WINDOW:]
        if self._threads == 1:
            return deflate_block(block, zdict, last=last)
        job = _Job(block, zdict, last=last)
        self._pool().put(job)
        self._pending.append(job)
        if len(self._pending) > 2 * self._threads:
            return self._pending.popleft().result()
        return b""

    def _ready(self) -> list[bytes]:
        """The results at the head of the queue that are already done."""
        done: list[bytes] = []
        while self._pending and self._pending[0].done.is_set():
            done.append(self._pending.popleft().result())
        return done

    def _drain(self) -> list[_Job]:
        jobs, self._pending = list(self._pending), collections.deque()
        return jobs

    def _pool(self) -> queue.SimpleQueue[_Job | None]:
        if self._jobs is None:
            jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
            for n in range(self._threads):
                name = f"ocibuild-gzip-{n}"
                threading.Thread(target=_work, args=(jobs,), name=name, daemon=True).start()
            self._jobs = jobs
            # Workers hold the queue, not self: if self is dropped half way they still stop.
            self._stopper = weakref.finalize(self, _stop, jobs, self._threads)
        return self._jobs

    def _shutdown(self) -> None:
        if self._stopper is not None:
            self._stopper()
        self._jobs = self._stopper = None
