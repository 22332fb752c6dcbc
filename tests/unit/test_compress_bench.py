"""The compression benchmark's pure parts: seeded input, and one measured pass."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import compress_bench


def test_input_is_seeded_and_of_the_asked_size(tmp_path: Path) -> None:
    one, two, other = tmp_path / "1", tmp_path / "2", tmp_path / "3"
    compress_bench.generate(one, 3 << 20, seed=1)
    compress_bench.generate(two, 3 << 20, seed=1)
    compress_bench.generate(other, 3 << 20, seed=2)
    assert one.stat().st_size == 3 << 20
    assert one.read_bytes() == two.read_bytes()
    assert one.read_bytes() != other.read_bytes()
    ratio = len(gzip.compress(one.read_bytes(), 1)) / (3 << 20)
    assert 0.1 < ratio < 0.95  # a mix: neither all random nor all repeats


def test_child_reports_a_pass(tmp_path: Path) -> None:
    path = tmp_path / "in"
    compress_bench.generate(path, 1 << 20, seed=1)
    argv = [sys.executable, compress_bench.__file__, "--child", "pgzip", str(path)]
    row = json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)
    assert row["size"] > 0
    assert row["rss_mib"] > 0
    assert row["seconds"] > 0
