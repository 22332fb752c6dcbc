"""The warm path: cache hits are touched in one go, RUN machinery is loaded only when needed."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import TYPE_CHECKING

from ocibuild import api
from ocibuild.store import Store

if TYPE_CHECKING:
    from pathlib import Path


def _context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("a\n")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY a.txt /a.txt\nCOPY a.txt /b.txt\n")
    return ctx


def test_a_warm_build_touches_every_record_it_used(tmp_path: Path) -> None:
    ctx, root = _context(tmp_path), tmp_path / "store"
    first = api.build(ctx, root=root)
    store = Store(root)
    try:
        before = {r.key: r.last_used for r in store.cache.records()}
        assert set(first.cache_keys) == set(before)
        time.sleep(0.01)
        second = api.build(ctx, root=root)
        assert second.manifest == first.manifest
        after = {r.key: r.last_used for r in store.cache.records()}
        assert after.keys() == before.keys()
        assert all(after[key] > before[key] for key in before)
    finally:
        store.cache.close()


def test_a_build_without_run_does_not_load_the_run_machinery(tmp_path: Path) -> None:
    ctx, root = _context(tmp_path), tmp_path / "store"
    code = (
        "import sys; from ocibuild import api; "
        f"api.build({str(ctx)!r}, root={str(root)!r}); "
        "print(sorted(m for m in sys.modules if m.startswith("
        "('ocibuild.executor.run_step', 'ocibuild.sandbox'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_a_copy_build_from_the_command_line_skips_the_needless_stdlib(tmp_path: Path) -> None:
    # Each of these cost a rebuild 0.3-2.5 ms of start-up (docs/performance.md):
    # shutil (with bz2 and lzma) came from argparse's help width, csv from --mount parsing.
    ctx, root = _context(tmp_path), tmp_path / "store"
    code = (
        "import sys; ready = set(sys.modules); from ocibuild import cli; "  # less site's
        f"status = cli.main(['--root', {str(root)!r}, 'build', '-q', {str(ctx)!r}]); "
        "print(status, sorted(m for m in ('shutil', 'bz2', 'lzma', 'csv', 'tempfile', "
        "'concurrent.futures', 'logging', 'random') if m in set(sys.modules) - ready))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.splitlines()[-1] == "0 []"
