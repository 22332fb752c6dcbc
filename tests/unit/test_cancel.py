"""CancelScope: no step starts after a cancel, and RUN helpers in flight get SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from typing import TYPE_CHECKING

import pytest

from ocibuild.executor.cancel import Cancelled, CancelScope

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

# stands in for the sandbox helper: same module name and bundle in its argv
_SLEEPER = "import time; time.sleep(60)"


def _drop(chunk: bytes) -> None:
    del chunk


class FakeHelperRuntime:
    """Starts a child whose command line looks like the sandbox helper's."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.calls = 0

    def run(self, bundle_dir: Path, *, stdout_sink: Callable[[bytes], None], id: str) -> int:
        del stdout_sink, id
        self.calls += 1
        argv = [sys.executable, "-c", _SLEEPER, "-m", "ocibuild.sandbox.init"]
        with subprocess.Popen([*argv, "builtin", str(bundle_dir.resolve())]) as proc:
            self.started.set()
            return proc.wait(timeout=60)


def test_cancel_stops_the_helper_of_a_run_in_flight(tmp_path: Path) -> None:
    scope, inner = CancelScope(), FakeHelperRuntime()
    runtime = scope.runtime(inner)
    codes: list[int] = []
    worker = threading.Thread(
        target=lambda: codes.append(runtime.run(tmp_path, stdout_sink=_drop, id="x"))
    )
    worker.start()
    assert inner.started.wait(30)
    scope.cancel()
    while worker.is_alive():  # as the executor does: until the stage has unwound
        worker.join(0.1)
        scope.stop_runs()
    assert codes == [-signal.SIGTERM]
    assert scope.cancelled


def test_after_cancel_no_run_or_step_starts(tmp_path: Path) -> None:
    scope, inner = CancelScope(), FakeHelperRuntime()
    scope.check()
    scope.cancel()
    with pytest.raises(Cancelled):
        scope.check()
    with pytest.raises(Cancelled):
        scope.runtime(inner).run(tmp_path, stdout_sink=_drop, id="x")
    assert inner.calls == 0


def test_other_children_are_left_alone(tmp_path: Path) -> None:
    scope, inner = CancelScope(), FakeHelperRuntime()
    other = tmp_path / "other"
    other.mkdir()
    argv = [sys.executable, "-c", _SLEEPER, "-m", "ocibuild.sandbox.init", str(other)]
    with subprocess.Popen(argv) as bystander:
        worker = threading.Thread(
            target=lambda: scope.runtime(inner).run(tmp_path, stdout_sink=_drop, id="x")
        )
        worker.start()
        assert inner.started.wait(30)
        scope.cancel()
        while worker.is_alive():
            worker.join(0.1)
            scope.stop_runs()
        assert bystander.poll() is None
        bystander.kill()


def test_the_helper_is_found_by_the_argument_the_runtime_gives_it() -> None:
    from ocibuild.executor import cancel
    from ocibuild.sandbox import runtime

    assert runtime.HELPER_MODULE.encode() == cancel._HELPER
