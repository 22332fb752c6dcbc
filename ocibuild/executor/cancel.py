"""Stopping the other stages of a build when one fails (or the build is interrupted).

A :class:`CancelScope` is shared by a build's stage threads.  Before each
step a stage calls :meth:`CancelScope.check`, which raises :class:`Cancelled`
once the build is cancelled, so no new step starts.  RUN steps in flight
are stopped too: :meth:`CancelScope.runtime` wraps the build's ``Runtime``
to remember each bundle it is running, and :meth:`CancelScope.stop_runs`
sends SIGTERM to this process's sandbox helpers (whose command line has
the argument ``ocibuild.sandbox.init``, ``sandbox.runtime.HELPER_MODULE``)
that name one of those bundles.
SIGTERM is the helper's own "caller interrupted" path (see
``sandbox.runtime``): it kills the container and reports; the RUN's
``ExitStack`` then unmounts and removes its temp dirs as for any failure.
The executor calls ``stop_runs`` repeatedly until every stage thread has
returned, which covers a helper started just after the first call.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ocibuild._record import record

if TYPE_CHECKING:
    from collections.abc import Callable

    from ocibuild.sandbox import Runtime

__all__ = ["CancelScope", "Cancelled"]

_HELPER = b"ocibuild.sandbox.init"  # sandbox.runtime.HELPER_MODULE (not imported: RUN-only code)


class Cancelled(Exception):
    """Raised in a stage thread once the build is cancelled; never reaches the caller."""


class CancelScope:
    """The cancel flag of one build and the RUN bundles its stages are running."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._bundles: set[bytes] = set()
        self._signalled: set[int] = set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the build was cancelled."""
        if self._event.is_set():
            raise Cancelled

    def cancel(self) -> None:
        """Stop starting steps and stop the RUNs in flight."""
        self._event.set()
        self.stop_runs()

    def runtime(self, inner: Runtime) -> Runtime:
        """``inner``, remembering each bundle while it runs."""
        return _ScopedRuntime(inner, self)

    def stop_runs(self) -> None:
        """SIGTERM this process's sandbox helpers that run one of our bundles."""
        with self._lock:
            bundles = set(self._bundles)
        if not bundles:
            return
        for pid in _helpers_of(os.getpid(), bundles):
            if pid not in self._signalled:
                self._signalled.add(pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

    def _enter(self, bundle: bytes) -> None:
        with self._lock:
            self._bundles.add(bundle)
        self.check()  # after registering: a cancel from now on sees this bundle

    def _leave(self, bundle: bytes) -> None:
        with self._lock:
            self._bundles.discard(bundle)


@record
class _ScopedRuntime:
    inner: Runtime
    scope: CancelScope

    def run(self, bundle_dir: Path, *, stdout_sink: Callable[[bytes], None], id: str) -> int:
        bundle = os.fsencode(bundle_dir.resolve())
        self.scope._enter(bundle)
        try:
            return self.inner.run(bundle_dir, stdout_sink=stdout_sink, id=id)
        finally:
            self.scope._leave(bundle)


def _helpers_of(parent: int, bundles: set[bytes]) -> list[int]:
    """Children of ``parent`` running the sandbox helper on one of ``bundles``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rpartition(b")")[2].split()[1])
        if ppid == parent and _HELPER in argv and bundles.intersection(argv):
            found.append(int(entry.name))
    return found
