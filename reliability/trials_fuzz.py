"""Fuzzing trials: each atheris target of fuzz/targets.py, run for a while, many times.

One trial per target.  Each try starts libFuzzer from the committed seed
corpus (new inputs go to the try's scratch dir, never into the repository)
with its own ``-seed``, for :data:`SECONDS` seconds, and holds when the run
ends without a crash: no exception other than ocibuild's user errors, no
write outside the archive targets' scratch dir, no hang over 20 s, no RSS
over 2 GiB.  A crash input is kept in the scratch dir (``--workdir`` keeps
it) and named in the row; replay it with ``python fuzz/targets.py TARGET FILE``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import TYPE_CHECKING

from reliability.env import REPO
from reliability.trial import Result, Trial

if TYPE_CHECKING:
    from pathlib import Path

    from reliability.env import Env

__all__ = ["TRIALS"]

SECONDS = 10
_DONE = re.compile(r"Done (\d+) runs in")
_WHAT = {
    "parser": "Dockerfile bytes -> parse, plan, expand",
    "expand": "variable substitution (process_word/words/heredoc)",
    "ignore": ".dockerignore patterns x paths, vs a reference matcher",
    "layer": "layer blobs (tar, gzip, zstd) -> apply_layer",
    "add": "ADD archives (tar, gzip, bzip2, xz) -> extract_archive",
    "load": "image archives (OCI, Docker 25, old docker-save) -> load_archive",
}


def _one_run(target: str, scratch: Path, seed: int) -> tuple[int, list[Path], str]:
    """Fuzz ``target`` once; (executions, crash files, tail of the log)."""
    corpus = scratch / "corpus"
    corpus.mkdir()
    argv = [
        sys.executable,
        str(REPO / "fuzz" / "targets.py"),
        target,
        f"-max_total_time={SECONDS}",
        f"-seed={seed}",
        "-timeout=20",
        "-rss_limit_mb=2048",
        f"-artifact_prefix={scratch}/",
        str(corpus),
        str(REPO / "fuzz" / "corpus" / target),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=SECONDS + 300, env=env, check=False
    )
    runs = sum(int(n) for n in _DONE.findall(proc.stderr))
    crashes = sorted(
        p for p in scratch.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-"))
    )
    if proc.returncode != 0 and not crashes:
        crashes = [scratch / f"exit-{proc.returncode}"]
    return runs, crashes, proc.stderr[-300:]


def _trial(target: str) -> Trial:
    def run(env: Env, tries: int) -> Result:
        held, runs, found = 0, 0, []
        for attempt in range(tries):
            count, crashes, _ = _one_run(target, env.scratch(f"fuzz-{target}"), seed=attempt + 1)
            runs += count
            found.extend(crashes)
            held += not crashes
        if found:
            names = ", ".join(str(p) for p in found[:3])
            what = f"{runs} inputs in {tries} x {SECONDS} s; {len(found)} crashes: {names}"
        else:
            what = f"{runs} inputs in {tries} x {SECONDS} s; 0 crashes"
        return Result(tries, held, what)

    return Trial("fuzzing", f"atheris `{target}` target: {_WHAT[target]}", run, default_tries=3)


TRIALS = [_trial(name) for name in _WHAT]
