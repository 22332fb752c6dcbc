"""The benchmark harness's pure parts: workload generation and the report."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import report
import workloads

SMALL = workloads.Params(scale=0.004, seed=7, spin_iterations=1000)


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("name", workloads.NAMES)
def test_generation_is_deterministic(tmp_path: Path, name: str) -> None:
    one = workloads.generate(name, tmp_path / "one", SMALL)
    two = workloads.generate(name, tmp_path / "two", SMALL)
    assert tree_digest(one.context) == tree_digest(two.context)
    assert (one.files, one.bytes) == (two.files, two.bytes)
    assert one.dockerfile.read_text().startswith(f"FROM {workloads.BASE_IMAGE}")
    assert one.edit_file.is_file()


def test_seed_changes_content_but_not_shape(tmp_path: Path) -> None:
    a = workloads.generate("manyfiles", tmp_path / "a", SMALL)
    other = workloads.Params(scale=SMALL.scale, seed=8, spin_iterations=1000)
    b = workloads.generate("manyfiles", tmp_path / "b", other)
    da, db = tree_digest(a.context), tree_digest(b.context)
    assert da.keys() == db.keys()
    assert da != db


def test_scale_sets_sizes(tmp_path: Path) -> None:
    load = workloads.generate("deletes", tmp_path / "d", workloads.Params(scale=0.01))
    assert len(list((load.context / "tree").rglob("*.dat"))) == 100
    spin = workloads.generate("multistage", tmp_path / "m", workloads.Params(scale=0.5))
    assert "-lt 500000 ]" in spin.dockerfile.read_text()


def test_edit_changes_the_edit_file_every_time(tmp_path: Path) -> None:
    load = workloads.generate("tiny", tmp_path / "t", SMALL)
    seen = {load.edit_file.read_bytes()}
    for counter in (1, 2, 3):
        workloads.edit(load, counter)
        seen.add(load.edit_file.read_bytes())
    assert len(seen) == 4
    workloads.edit(load, 0)
    assert load.edit_file.read_bytes() == b"edit-0\n"


def test_generate_refuses_unknown_name_and_non_empty_dir(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown workload"):
        workloads.generate("huge", tmp_path / "x", SMALL)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        workloads.generate("tiny", tmp_path / "full", SMALL)


def test_summary_and_ratio() -> None:
    stats = report.summarize([3.0, 1.0, 2.0, 10.0])
    assert stats == report.Stats(median=2.5, low=1.0, high=10.0, n=4)
    assert report.summarize([]) is None
    half = report.ratio(report.summarize([1.0]), report.summarize([2.0]))
    assert half == 0.5
    assert report.format_ratio(half) == "0.50x"
    assert report.format_ratio(None) == "n/a"
    assert report.format_ratio(123.4) == "123x"
    assert report.ratio(stats, report.summarize([0.0])) is None
    assert report.format_seconds(report.summarize([1.234])) == "1.23"
    assert report.format_seconds(report.summarize([12.34])) == "12.3"
    assert report.format_mib(report.summarize([2048.0])) == "2"


def row(builder: str, seconds: list[float], rss: list[int | None]) -> dict[str, object]:
    return {"workload": "tiny", "scenario": "cold", "mode": "store", "builder": builder,
            "seconds": seconds, "peak_rss_kib": rss}  # fmt: skip


def test_table_rows_and_missing_rss() -> None:
    results = [row("ocibuild", [2.0, 4.0, 3.0], [10240] * 3), row("buildkit", [1.0], [None])]
    text = report.table(results, ["ocibuild", "buildkit"])
    lines = text.splitlines()
    assert len(lines) == 3
    assert lines[2] == "| tiny | cold | store | 3.00 | 1.00 | 3.00x | 10 | n/a |"


def test_splice_replaces_only_its_own_section() -> None:
    doc = "# Perf\n\n<!-- bench:a -->\nold a\n<!-- /bench:a -->\n\ntail\n"
    doc = report.splice(doc, "b", "<!-- bench:b -->\nb\n<!-- /bench:b -->")
    doc = report.splice(doc, "a", "<!-- bench:a -->\nnew a\n<!-- /bench:a -->")
    assert "old a" not in doc
    assert doc.index("new a") < doc.index("tail") < doc.index("\nb\n")


def test_settle_after_reset_drops_the_page_cache_then_primes_and_reads_the_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import run

    load = workloads.generate("tiny", tmp_path / "ctx", SMALL)
    drop = tmp_path / "drop_caches"
    monkeypatch.setattr(run, "DROP_CACHES", drop)
    events: list[object] = []
    real_open = Path.open

    def spy(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        events.append(self)
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    class Recorder:
        def prime(self, dockerfile: Path) -> None:
            events.append(("prime", dockerfile, drop.read_text()))

    monkeypatch.setattr(Path, "open", spy)
    primer = tmp_path / "prime" / "Dockerfile"
    run._settle_reset(Recorder(), load, primer)  # type: ignore[arg-type]
    monkeypatch.undo()

    primed = events.index(("prime", primer, "1"))  # the cache was dropped before the priming
    files = {p for p in load.context.rglob("*") if p.is_file()}
    assert files and files <= set(events[primed + 1 :])
