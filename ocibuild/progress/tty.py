"""``--progress=tty``: a live view of the build, drawn with rich.

Only this module imports rich (and only when a tty view is asked for), so a
plain or quiet build never loads it.  The view, redrawn ten times a second
by rich's ``Live`` from its own thread::

    [+] Building 3.2s (3/5 steps)
     #1 CACHED  [builder 1/4] FROM docker.io/library/busybox:latest
     #2 DONE    [builder 2/4] COPY f.txt /f.txt                   0.1s
     #3 RUNNING [builder 3/4] RUN make                            1.3s
          │ cc -c main.c
          ↳ writing layer 1.2MB  3.4MB/s

A running step shows its last :data:`TAIL_LINES` output lines and its
transfers (size, total, rate); a failed one keeps its last lines.  While
running, only what fits the terminal is drawn (the oldest finished steps
are folded into one line); when the view is closed every step is drawn
once more, so the final screen lists them all.

Events come from the build's threads: they update :class:`ViewState` under
a lock; rich's refresh thread reads a copy under the same lock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ocibuild._record import field, record
from ocibuild.progress.events import (
    OutputLine,
    StepCached,
    StepDone,
    StepFailed,
    StepStarted,
    Transfer,
)
from ocibuild.progress.plain import human_size, transfer_text

if TYPE_CHECKING:
    from rich.console import RenderableType

    from ocibuild.progress.events import Event

__all__ = ["TAIL_LINES", "TtyRenderer", "ViewState"]

TAIL_LINES = 5
_STYLE = {"RUNNING": "bold cyan", "DONE": "green", "CACHED": "blue", "ERROR": "bold red"}


@record(frozen=False)
class _Transfer:
    event: Transfer
    start: float

    def text(self, now: float) -> str:
        """Size, total and, while running, the mean rate since the transfer began."""
        seconds = now - self.start
        if self.event.finished or seconds < 0.05:
            return transfer_text(self.event)
        return f"{transfer_text(self.event)}  {human_size(self.event.done / seconds)}/s"


@record(frozen=False)
class _Step:
    started: StepStarted
    start: float
    state: str = "RUNNING"
    elapsed: float | None = None
    message: str = ""
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    transfers: dict[tuple[str, str], _Transfer] = field(default_factory=dict)


class ViewState:
    """What the view shows: every step so far, in the order they started."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.begin = time.monotonic()
        self.steps: dict[int, _Step] = {}
        self.loose: dict[tuple[str, str], _Transfer] = {}  # transfers of no step

    def apply(self, event: Event) -> None:
        now = time.monotonic()
        with self.lock:
            match event:
                case StepStarted():
                    self.steps[event.step] = _Step(event, now)
                case StepCached():
                    self._end(event.step, "CACHED", None)
                case StepDone():
                    self._end(event.step, "DONE", event.elapsed)
                case StepFailed():
                    step = self._end(event.step, "ERROR", event.elapsed)
                    if step is not None:
                        step.message = event.message
                case OutputLine():
                    if event.step in self.steps:
                        self.steps[event.step].tail.append(event.line)
                case Transfer():
                    self._transfer(event, now)

    def _end(self, number: int, state: str, elapsed: float | None) -> _Step | None:
        step = self.steps.get(number)
        if step is not None:
            step.state, step.elapsed = state, elapsed
        return step

    def _transfer(self, event: Transfer, now: float) -> None:
        step = self.steps.get(event.step) if event.step is not None else None
        table = step.transfers if step is not None else self.loose
        key = (event.what, event.name)
        known = table.get(key)
        table[key] = _Transfer(event, known.start if known else now)


class TtyRenderer:
    """A live view on ``stream``; call it with events; :meth:`close` draws the final screen."""

    def __init__(self, stream: TextIO, *, force_terminal: bool = True) -> None:
        self.state = ViewState()
        self._final = False
        self._console = Console(file=stream, force_terminal=force_terminal, highlight=False)
        self._live = Live(
            get_renderable=self._render,
            console=self._console,
            refresh_per_second=10,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
            vertical_overflow="visible",
        )

    def start(self) -> None:
        self._live.start()

    def __call__(self, event: Event) -> None:
        self.state.apply(event)

    def close(self) -> None:
        """Stop redrawing; the last drawing lists every step."""
        self._final = True
        self._live.stop()

    def _render(self) -> RenderableType:
        limit = None if self._final else max(self._console.height - 2, 3)
        return render_view(self.state, time.monotonic(), limit)


def render_view(state: ViewState, now: float, limit: int | None) -> RenderableType:
    """The view at ``now``: a header and one block per step, at most ``limit`` lines."""
    with state.lock:
        steps = list(state.steps.values())
        loose = list(state.loose.values())
        begin = state.begin
    finished = sum(s.state != "RUNNING" for s in steps)
    header = Text(f"[+] Building {now - begin:.1f}s ({finished}/{len(steps)} steps)", "bold")
    blocks = [_block(step, now) for step in steps]
    rows: list[RenderableType] = [header]
    if limit is not None:
        blocks = _fit(blocks, steps, limit - 1)
    for block in blocks:
        rows.extend(block)
    rows.extend(Text(f"     ↳ {t.text(now)}", "dim") for t in loose if not t.event.finished)
    return Group(*rows)


def _fit(
    blocks: list[list[RenderableType]], steps: list[_Step], room: int
) -> list[list[RenderableType]]:
    """Drop the oldest finished steps until the blocks fit in ``room`` lines."""
    blocks, steps = list(blocks), list(steps)
    dropped = 0
    while sum(map(len, blocks)) + (1 if dropped else 0) > room:
        old = next((i for i, s in enumerate(steps) if s.state != "RUNNING"), None)
        if old is None:
            break
        del blocks[old], steps[old]
        dropped += 1
    if dropped:
        blocks.insert(0, [Text(f" ... {dropped} earlier steps", "dim")])
    return blocks


def _block(step: _Step, now: float) -> list[RenderableType]:
    line = Table.grid(expand=True, padding=(0, 1))
    line.add_column(no_wrap=True)
    line.add_column(no_wrap=True, ratio=1, overflow="ellipsis")
    line.add_column(no_wrap=True, justify="right")
    elapsed = now - step.start if step.state == "RUNNING" else step.elapsed
    shown = "" if elapsed is None else f"{elapsed:.1f}s"
    head = Text.assemble(f" #{step.started.step} ", (f"{step.state:<7}", _STYLE[step.state]))
    line.add_row(head, Text(step.started.label), shown)  # Text: "[a 1/2]" is no markup
    block: list[RenderableType] = [line]
    if step.state in ("RUNNING", "ERROR"):
        block.extend(
            Text(f"      │ {text}", "dim", no_wrap=True, overflow="ellipsis") for text in step.tail
        )
    if step.state == "ERROR" and step.message:
        block.append(Text(f"      ERROR: {step.message}", "red", no_wrap=True, overflow="ellipsis"))
    if step.state == "RUNNING":
        block.extend(Text(f"      ↳ {t.text(now)}", "dim") for t in step.transfers.values())
    return block
