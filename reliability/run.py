"""Run the reliability trials and write the table of docs/reliability.md.

    sudo python -m reliability.run [--only SUBSTRING] [--tries-scale X] [--workdir DIR]
                                   [--out docs/reliability.md] [--check]

Each module in :data:`MODULES` exposes ``TRIALS: list[Trial]``.  Every trial
runs ``round(default_tries * tries_scale)`` times (at least once) in a
scratch dir under ``--workdir`` (default: a temp dir, removed at the end) and
its row goes into the table between the ``BEGIN``/``END trials`` markers of
``--out``.  Exit status 1 when any trial did not hold (the table is written
anyway, so the failure is on record).  Needs root, like ocibuild's RUN.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from reliability.env import REPO, Env
from reliability.trial import Result, Trial

if TYPE_CHECKING:
    from collections.abc import Sequence

#: The trials modules, in table order.  Each defines ``TRIALS``.
MODULES: tuple[str, ...] = (
    "reliability.trials_hostile",
    "reliability.trials_hostile_layers",
    "reliability.trials_sandbox",
    "reliability.trials_fuzz",
    "reliability.trials_crash",
    "reliability.trials_disk",
    "reliability.trials_concurrency",
    "reliability.trials_rootless",
)

BEGIN = "<!-- BEGIN trials (written by python -m reliability.run) -->"
END = "<!-- END trials -->"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    trials = [t for t in _trials() if args.only is None or args.only in t.attack]
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="reliability-"))
    try:
        env = Env.make(workdir)
        rows = [_run(env, trial, args.tries_scale) for trial in trials]
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    table = render(rows)
    print(table)
    if args.only is None:
        write_table(Path(args.out), table)
    return 0 if all(result.ok for _, result, _ in rows) else 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reliability.run", description=__doc__.split("\n")[0]
    )
    p.add_argument("--only", help="run only trials whose description contains this")
    p.add_argument("--tries-scale", type=float, default=1.0, help="multiply every trial's tries")
    p.add_argument("--workdir", help="scratch dir (kept); default: a temp dir, removed")
    p.add_argument("--out", default=str(REPO / "docs" / "reliability.md"))
    return p


def _trials() -> list[Trial]:
    found: list[Trial] = []
    for name in MODULES:
        found.extend(importlib.import_module(name).TRIALS)
    return found


def _run(env: Env, trial: Trial, scale: float) -> tuple[Trial, Result, float]:
    tries = max(1, round(trial.default_tries * scale))
    start = time.monotonic()
    try:
        result = trial.run(env, tries)
    except Exception as exc:  # a trial that breaks is a row that did not hold
        result = Result(tries, 0, f"trial crashed: {type(exc).__name__}: {exc}")
    elapsed = time.monotonic() - start
    mark = "held" if result.ok else "FAILED"
    print(f"[{mark}] {trial.category}: {trial.attack} ({elapsed:.1f} s)", file=sys.stderr)
    return trial, result, elapsed


def render(rows: Sequence[tuple[Trial, Result, float]]) -> str:
    """The markdown table: category, attack, tries, held, what happened."""
    lines = [
        "| category | attack or fault | tries | held | what happened |",
        "|---|---|---|---|---|",
    ]
    for trial, result, _ in rows:
        cells = (
            trial.category,
            trial.attack,
            str(result.tries),
            str(result.held),
            result.what_happened,
        )
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def write_table(path: Path, table: str) -> None:
    """Replace the table between the markers of ``path`` (append the markers if missing)."""
    text = path.read_text() if path.exists() else "# Reliability\n"
    block = f"{BEGIN}\n{table}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
