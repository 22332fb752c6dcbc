"""write_layer batches small pieces for the sink without changing a byte."""

from __future__ import annotations

import io
import os
import tarfile
from typing import TYPE_CHECKING

from ocibuild.layer.tarwriter import write_layer

if TYPE_CHECKING:
    from pathlib import Path


class CountingSink:
    def __init__(self) -> None:
        self.calls = 0
        self.data = bytearray()

    def write(self, data: bytes, /) -> int:
        self.calls += 1
        self.data += data
        return len(data)


def test_many_small_files_make_few_sink_writes(tmp_path: Path) -> None:
    root = tmp_path / "diff"
    (root / "d").mkdir(parents=True)
    contents = {f"d/f{i:03d}": os.urandom(i * 37) for i in range(300)}
    for name, data in contents.items():
        (root / name).write_bytes(data)
    (root / "big").write_bytes(b"x" * (3 << 20))  # chunks pass straight through
    sink = CountingSink()
    write_layer(root, sink, clamp_mtime=None)
    assert sink.calls < 10
    with tarfile.open(fileobj=io.BytesIO(bytes(sink.data))) as tar:
        read = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
    assert read == {**contents, "big": b"x" * (3 << 20)}
    assert len(sink.data) % 512 == 0
