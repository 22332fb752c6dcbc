"""BuildKit's ``--progress=plain``: one line per event, each led by its step's ``#N``.

::

    #2 [builder 2/4] RUN make
    #2 0.214 cc -c main.c
    #2 DONE 1.2s

    #3 [builder 3/4] COPY f.txt /f.txt
    #3 writing layer 10.24kB done
    #3 DONE 0.0s

A step's first line is its label; then its output lines (seconds since the
step began, three decimals), its transfers (``sha256:... 1.2MB / 2.8MB``: at
most one line a second while running, always the finished one), and one of
``CACHED``, ``DONE 1.2s`` or ``ERROR: message``.  A blank line comes before
each new step, as BuildKit prints.  Stages built at once interleave their
lines; every line names its step.  Thread-safe: one lock around each write.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, TextIO

from ocibuild.progress.events import (
    OutputLine,
    StepCached,
    StepDone,
    StepFailed,
    StepStarted,
    Transfer,
)

if TYPE_CHECKING:
    from ocibuild.progress.events import Event

__all__ = ["PlainRenderer", "human_size"]

_RUNNING_EVERY = 1.0  # seconds between two lines of a running transfer


def human_size(size: float) -> str:
    """Bytes as docker prints them (decimal units, 4 significant digits): ``2.81MB``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        text = f"{size:.4g}"
        if float(text) < 1000 or unit == "TB":
            return f"{text}{unit}"
        size /= 1000
    raise AssertionError("unreachable")


def transfer_text(event: Transfer) -> str:
    """``sha256:ab.. 1.2MB / 2.8MB`` (``writing layer 1.2MB`` for a layer)."""
    name = "writing layer" if event.what == "layer" else event.name
    if event.what == "push":
        name = f"pushing {name}"
    if event.total is None or event.what == "layer":
        return f"{name} {human_size(event.done)}"
    return f"{name} {human_size(event.done)} / {human_size(event.total)}"


class PlainRenderer:
    """Writes each event as BuildKit's plain progress does; call it with events."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._wrote = False
        self._transfer_start: dict[tuple[int | None, str, str], float] = {}
        self._transfer_shown: dict[tuple[int | None, str, str], float] = {}

    def __call__(self, event: Event) -> None:
        line = self._line(event)
        if line is None:
            return
        with self._lock:
            if isinstance(event, StepStarted) and self._wrote:
                line = "\n" + line
            self._stream.write(line + "\n")
            self._stream.flush()
            self._wrote = True

    def close(self) -> None:
        """Nothing is held back: every event was written when it came."""

    def _line(self, event: Event) -> str | None:
        match event:
            case StepStarted():
                return f"#{event.step} {event.label}"
            case OutputLine():
                return f"#{event.step} {event.offset:.3f} {event.line}"
            case StepCached():
                return f"#{event.step} CACHED"
            case StepDone():
                return f"#{event.step} DONE {event.elapsed:.1f}s"
            case StepFailed():
                return f"#{event.step} ERROR: {event.message}"
            case Transfer():
                return self._transfer(event)

    def _transfer(self, event: Transfer) -> str | None:
        key = (event.step, event.what, event.name)
        now = time.monotonic()
        with self._lock:
            start = self._transfer_start.setdefault(key, now)
            if not event.finished and now - self._transfer_shown.get(key, start) < _RUNNING_EVERY:
                return None
            self._transfer_shown[key] = now
        prefix = f"#{event.step} " if event.step is not None else ""
        if event.finished:
            return f"{prefix}{transfer_text(event)} {now - start:.1f}s done"
        return f"{prefix}{transfer_text(event)} {now - start:.1f}s"
