"""gc waits for builds, pulls and loads (Store.in_use), here and in other processes."""

from __future__ import annotations

import contextlib
import select
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

import pytest

from ocibuild.errors import StoreError
from ocibuild.store import Store

if TYPE_CHECKING:
    from pathlib import Path

HOLD = """
import sys, time
from ocibuild.store import Store
with Store(sys.argv[1]).in_use():
    print("holding", flush=True)
    sys.stdin.readline()
"""


def test_gc_waits_for_another_process_in_use(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(store.root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        _gc_after(store, holder)


def _gc_after(store: Store, holder: subprocess.Popen[str]) -> None:
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "holding"
        done = threading.Event()
        worker = threading.Thread(target=lambda: (store.gc(), done.set()))
        worker.start()
        assert not done.wait(0.5), "gc ran while another process held the store in use"
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert done.wait(30), "gc did not run once the holder let go"
        worker.join()
    finally:
        holder.kill()
        holder.wait()


def test_in_use_is_shared_and_reentrant(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    other = Store(tmp_path / "store")
    with store.in_use(), other.in_use(), store.in_use():
        pass
    started = time.monotonic()
    store.gc()  # nothing holds it any more: no wait
    assert time.monotonic() - started < 5


def test_gc_inside_this_process_in_use_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    with store.in_use(), pytest.raises(StoreError, match="while this process is building"):
        store.gc()


def test_prune_says_it_waits_for_a_build_then_prunes(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    prune = [sys.executable, "-m", "ocibuild", "prune", "--root", str(store.root)]
    assert subprocess.run(prune, capture_output=True, text=True, check=True).stderr == ""
    pipe = subprocess.PIPE
    hold = [sys.executable, "-c", HOLD, str(store.root)]
    with contextlib.ExitStack() as stack:
        holder = stack.enter_context(subprocess.Popen(hold, stdin=pipe, stdout=pipe, text=True))
        stack.callback(holder.kill)  # runs before Popen's exit waits for it
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "holding"
        pruner = stack.enter_context(subprocess.Popen(prune, stdout=pipe, stderr=pipe, text=True))
        stack.callback(pruner.kill)
        assert pruner.stderr is not None and pruner.stdout is not None
        said, _, _ = select.select([pruner.stderr], [], [], 30)
        assert said, "prune waited without saying so"
        assert pruner.stderr.readline() == (
            "ocibuild: waiting for the builds, pulls and loads using the store to finish\n"
        )
        assert pruner.poll() is None, "prune ended while the store was in use"
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert pruner.wait(30) == 0
        assert pruner.stdout.read() == "Total reclaimed space: 0B\n"
