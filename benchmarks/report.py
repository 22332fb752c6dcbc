"""Statistics and the markdown report (pure: no I/O but the section splice).

Owns turning raw samples into medians and ratios, rendering one labelled run
as a markdown section, and replacing that section (and only it) inside
docs/performance.md, so runs at different scales sit side by side.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

REFERENCE = "buildkit"
SUBJECT = "ocibuild"


@dataclass(frozen=True, slots=True)
class Stats:
    median: float
    low: float
    high: float
    n: int


def summarize(values: Sequence[float]) -> Stats | None:
    """Median, min and max of the samples; None when there are none."""
    if not values:
        return None
    return Stats(statistics.median(values), min(values), max(values), len(values))


def ratio(subject: Stats | None, reference: Stats | None) -> float | None:
    """subject/reference of the medians; None if either is missing or the reference is 0."""
    if subject is None or reference is None or reference.median <= 0:
        return None
    return subject.median / reference.median


def format_seconds(stats: Stats | None) -> str:
    if stats is None:
        return "n/a"
    if stats.median < 10:
        return f"{stats.median:.2f}"
    return f"{stats.median:.1f}"


def format_ratio(value: float | None) -> str:
    """'0.42x' (ocibuild takes 42% of the reference's time); 'n/a' when unknown."""
    if value is None:
        return "n/a"
    return f"{value:.2f}x" if value < 100 else f"{value:.0f}x"


def format_mib(stats: Stats | None) -> str:
    """A KiB statistic as whole MiB."""
    if stats is None:
        return "n/a"
    return f"{stats.median / 1024:.0f}"


def _cell_stats(rows: Sequence[Mapping[str, Any]], builder: str, key: str) -> Stats | None:
    for row in rows:
        if row["builder"] == builder:
            return summarize([v for v in row[key] if v is not None])
    return None


def _group(results: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str], list[Any]]:
    groups: dict[tuple[str, str, str], list[Any]] = {}
    for row in results:
        groups.setdefault((row["workload"], row["scenario"], row["mode"]), []).append(row)
    return groups


def table(results: Sequence[Mapping[str, Any]], builders: Sequence[str]) -> str:
    """One markdown row per workload, scenario and mode; times are medians in seconds."""
    others = [b for b in builders if b not in (SUBJECT, REFERENCE)]
    head = ["workload", "scenario", "output", "ocibuild s", "BuildKit s", "ocibuild/BuildKit"]
    for other in others:
        head += [f"{other} s", f"ocibuild/{other}"]
    head += ["ocibuild peak RSS MiB", "dockerd peak RSS MiB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (workload, scenario, mode), rows in _group(results).items():
        mine = _cell_stats(rows, SUBJECT, "seconds")
        ref = _cell_stats(rows, REFERENCE, "seconds")
        cells = [workload, scenario, mode, format_seconds(mine), format_seconds(ref)]
        cells.append(format_ratio(ratio(mine, ref)))
        for other in others:
            theirs = _cell_stats(rows, other, "seconds")
            cells += [format_seconds(theirs), format_ratio(ratio(mine, theirs))]
        cells.append(format_mib(_cell_stats(rows, SUBJECT, "peak_rss_kib")))
        cells.append(format_mib(_cell_stats(rows, REFERENCE, "peak_rss_kib")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def section(label: str, meta: Mapping[str, Any], results: Sequence[Mapping[str, Any]]) -> str:
    """The markdown for one run, between markers that `splice` finds again."""
    machine = meta["machine"]
    params = meta["params"]
    versions = "; ".join(f"{k}: {v}" for k, v in meta["builders"].items())
    body = [
        f"<!-- bench:{label} -->",
        f"### Run `{label}`",
        "",
        f"- Date: {meta['date']}; command: `{meta['command']}`",
        f"- Machine: {machine['nproc']} CPUs ({machine['cpu']}), {machine['memory']}, "
        f"kernel {machine['kernel']}, Python {machine['python']}",
        f"- Builders: {versions}",
        f"- Scale {params['scale']}, repeat {params['repeat']} (median shown), seed "
        f"{params['seed']}, spin loop {params['spin_iterations']} turns at scale 1 "
        f"(calibrated to {params['spin_seconds']} s)",
        f"- Raw samples: [{meta['json']}](../{meta['json']})",
        "",
        table(results, list(meta["builders"])),
        "",
        f"<!-- /bench:{label} -->",
    ]
    return "\n".join(body)


def splice(document: str, label: str, new_section: str) -> str:
    """Replace run `label`'s section in the document, or append it at the end."""
    start, end = f"<!-- bench:{label} -->", f"<!-- /bench:{label} -->"
    first = document.find(start)
    last = document.find(end, first)
    if first < 0 or last < 0:
        return document.rstrip("\n") + "\n\n" + new_section + "\n"
    return document[:first] + new_section + document[last + len(end) :]
