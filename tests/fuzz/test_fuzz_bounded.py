"""A short, bounded run of each atheris fuzz target (fuzz/targets.py), as CI's fuzzing.

Each target runs in its own process for at most :data:`SECONDS` seconds
(and :data:`RUNS` inputs), starting from its committed corpus; new inputs go
to a temp dir, never into the repository.  A crash fails the test; the
input is kept under fuzz/artifacts/ (not committed) and the failure message
says how to replay it::

    python fuzz/targets.py TARGET fuzz/artifacts/TARGET-crash-...

Fix the bug, add a regression test, and copy the input into
fuzz/corpus/TARGET/ as ``crash-<what>-<sha>`` (docs/testing.md, "Fuzzing").
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from helpers.prereq import REPO, unavailable

if TYPE_CHECKING:
    from pathlib import Path

TARGETS = ("parser", "expand", "ignore", "layer", "add", "load")
SECONDS = 8
RUNS = 50_000
ARTIFACTS = REPO / "fuzz" / "artifacts"


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_bounded_fuzz_run_finds_no_crash(target: str, tmp_path: Path) -> None:
    if importlib.util.find_spec("atheris") is None:
        unavailable("needs atheris (pip install atheris, in the test extra)")
    ARTIFACTS.mkdir(exist_ok=True)
    before = set(ARTIFACTS.iterdir())
    argv = [
        sys.executable,
        str(REPO / "fuzz" / "targets.py"),
        target,
        f"-max_total_time={SECONDS}",
        f"-runs={RUNS}",
        "-timeout=20",  # seconds for one input: a hang is a finding too
        "-rss_limit_mb=2048",
        f"-artifact_prefix={ARTIFACTS}/{target}-",
        str(tmp_path),  # where new inputs go
        str(REPO / "fuzz" / "corpus" / target),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=SECONDS + 120, env=env, check=False
    )
    saved = sorted(set(ARTIFACTS.iterdir()) - before)
    replay = "; ".join(f"python fuzz/targets.py {target} {p.relative_to(REPO)}" for p in saved)
    assert proc.returncode == 0 and not saved, (
        f"fuzz target {target!r} crashed (exit {proc.returncode}); replay: {replay or '-'}\n"
        + proc.stderr[-4000:]
    )
    assert "Done " in proc.stderr, proc.stderr[-2000:]
