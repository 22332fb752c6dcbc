"""Producing progress events: step numbers, step lifetimes, output lines, byte meters.

The executor and the registry code never build events by hand.  They get a
:class:`Reporter` (:meth:`Reporter.of` wraps the caller's ``on_event``
callable, or gives None when no one listens, so a build without a listener
pays one ``is None`` test per step) and open one :class:`Step` per step::

    with reporter.step("builder", 0, 2, 4, "RUN make") as step:
        step.ran()              # the step did work: DONE, not CACHED
        step.write(b"output")   # RUN output, split into OutputLine events

Leaving the ``with`` reports CACHED (nothing ran), DONE (with the elapsed
time) or, on an exception, ERROR with the error's first line.  When no one
listens, :data:`NO_STEP` stands in: every method does nothing.
:class:`Meter` turns byte counts into :class:`~ocibuild.progress.events.Transfer`
events, at most one every :data:`METER_INTERVAL` seconds plus the last one.

Step numbers are handed out under a lock: stages built at once share one
reporter.  Events are delivered on the thread that produced them.  The
event classes are imported only once someone listens.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from ocibuild._record import replace

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from ocibuild.progress.events import Event, StepStarted, TransferKind

__all__ = ["METER_INTERVAL", "NO_STEP", "Meter", "Reporter", "Step", "StepProgress"]

METER_INTERVAL = 0.1


class Reporter:
    """The caller's ``on_event`` plus the build's step counter (thread-safe)."""

    __slots__ = ("_emit", "_last", "_lock")

    def __init__(self, on_event: Callable[[Event], None]) -> None:
        self._emit = on_event
        self._lock = threading.Lock()
        self._last = 0

    @classmethod
    def of(cls, on_event: Callable[[Event], None] | None) -> Reporter | None:
        """A reporter for ``on_event`` (itself when it already is one); None for None."""
        if on_event is None or isinstance(on_event, Reporter):
            return on_event
        return cls(on_event)

    def __call__(self, event: Event) -> None:
        self._emit(event)

    def step(self, stage: str, stage_index: int, position: int, total: int, text: str) -> Step:
        """A new step, numbered now; it is reported as started when its ``with`` is entered."""
        with self._lock:
            self._last += 1
            number = self._last
        from ocibuild.progress.events import StepStarted

        return Step(self, StepStarted(number, stage, stage_index, position, total, text))


class StepProgress:
    """A step nobody listens to: every method does nothing (see :data:`NO_STEP`)."""

    __slots__ = ()

    def __enter__(self) -> StepProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    @property
    def output_sink(self) -> Callable[[bytes], None] | None:
        """:meth:`write` when someone listens, else None."""
        return None

    @property
    def event_sink(self) -> Callable[[Event], None] | None:
        """:meth:`relay` when someone listens, else None."""
        return None

    def ran(self) -> None:
        """The step did work (it is DONE, not CACHED)."""

    def write(self, chunk: bytes) -> None:
        """Output of the step's command, in chunks as they come."""

    def relay(self, event: Event) -> None:
        """Forward a transfer event (a pull's) as this step's; the step did work."""

    def meter(self, what: TransferKind, name: str, total: int | None = None) -> Meter | None:
        """A byte meter reporting as this step (None when no one listens)."""
        return None


NO_STEP = StepProgress()


class Step(StepProgress):
    """One reported step: started on enter, CACHED/DONE/ERROR on exit."""

    __slots__ = ("_pending", "_ran", "_report", "_start", "started")

    def __init__(self, report: Reporter, started: StepStarted) -> None:
        self._report = report
        self.started = started
        self._start = 0.0
        self._ran = False
        self._pending = bytearray()

    @property
    def number(self) -> int:
        return self.started.step

    def __enter__(self) -> Step:
        self._start = time.monotonic()
        self._report(self.started)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._flush()
        elapsed = time.monotonic() - self._start
        from ocibuild.progress.events import StepCached, StepDone, StepFailed

        if err is not None:
            self._report(StepFailed(self.number, _first_line(err), elapsed))
        elif self._ran:
            self._report(StepDone(self.number, elapsed))
        else:
            self._report(StepCached(self.number))

    @property
    def output_sink(self) -> Callable[[bytes], None]:
        return self.write

    @property
    def event_sink(self) -> Callable[[Event], None]:
        return self.relay

    def ran(self) -> None:
        self._ran = True

    def write(self, chunk: bytes) -> None:
        self._pending += chunk
        end = self._pending.rfind(b"\n")
        if end < 0:
            return
        lines = bytes(self._pending[:end])
        del self._pending[: end + 1]
        for line in lines.split(b"\n"):
            self._line(line)

    def relay(self, event: Event) -> None:
        self._ran = True
        from ocibuild.progress.events import Transfer

        if isinstance(event, Transfer):
            event = replace(event, step=self.number)
        self._report(event)

    def meter(self, what: TransferKind, name: str, total: int | None = None) -> Meter:
        self._ran = True
        return Meter(self._report, what, name, total, step=self.number)

    def _flush(self) -> None:
        if self._pending:
            rest = bytes(self._pending)
            self._pending.clear()
            self._line(rest)

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        if "\r" in text:  # a progress bar redrawn in place: its last state
            text = text.rsplit("\r", 1)[1]
        from ocibuild.progress.events import OutputLine

        self._report(OutputLine(self.number, text, time.monotonic() - self._start))


class Meter:
    """Counts the bytes of one transfer; reports them now and then, and when finished.

    Reports once when made (0 bytes), at most every :data:`METER_INTERVAL`
    seconds while counting, and once finished (``total`` reached, or
    :meth:`finish`), never the same counts twice.
    """

    __slots__ = ("_emit", "_last", "_sent", "done", "name", "step", "total", "what")

    def __init__(
        self,
        emit: Callable[[Event], None],
        what: TransferKind,
        name: str,
        total: int | None = None,
        *,
        step: int | None = None,
    ) -> None:
        self._emit, self.what, self.name, self.total, self.step = emit, what, name, total, step
        self.done = 0
        self._last = time.monotonic()
        self._sent: tuple[int, int | None] | None = None
        self._send()

    def __call__(self, count: int) -> None:
        """``count`` more bytes moved."""
        self.done += count
        now = time.monotonic()
        if now - self._last >= METER_INTERVAL or (
            self.total is not None and self.done >= self.total
        ):
            self._last = now
            self._send()

    def finish(self, total: int | None = None) -> None:
        """The transfer is over (``total`` bytes, default what was counted): report it."""
        self.total = self.done if total is None else total
        self.done = max(self.done, self.total)
        self._send()

    def _send(self) -> None:
        counts = (self.done, self.total)
        if counts != self._sent:
            self._sent = counts
            from ocibuild.progress.events import Transfer

            self._emit(Transfer(self.step, self.what, self.name, self.done, self.total))


def _first_line(err: BaseException) -> str:
    from ocibuild.errors import UserError

    text = err.message if isinstance(err, UserError) else str(err)
    first = text.splitlines()[0] if text else ""
    if isinstance(err, UserError):
        return first or type(err).__name__
    return f"{type(err).__name__}: {first}" if first else type(err).__name__
