"""The event producer: step numbers, step lifetimes, output lines, byte meters."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest

from ocibuild.errors import StepFailed as StepFailedError
from ocibuild.progress import (
    OutputLine,
    StepCached,
    StepDone,
    StepFailed,
    StepStarted,
    Transfer,
)
from ocibuild.progress.report import NO_STEP, Meter, Reporter

if TYPE_CHECKING:
    from ocibuild.progress import Event


def _reporter() -> tuple[Reporter, list[Event]]:
    events: list[Event] = []
    return Reporter(events.append), events


def test_no_listener_means_no_reporter_and_a_reporter_is_kept() -> None:
    report, _ = _reporter()
    assert Reporter.of(None) is None
    assert Reporter.of(report) is report
    assert NO_STEP.output_sink is None and NO_STEP.event_sink is None
    assert NO_STEP.meter("layer", "layer") is None


def test_a_step_that_did_nothing_is_cached() -> None:
    report, events = _reporter()
    with report.step("builder", 0, 2, 4, "RUN make"):
        pass
    assert events == [StepStarted(1, "builder", 0, 2, 4, "RUN make"), StepCached(1)]
    assert events[0].label == "[builder 2/4] RUN make"  # type: ignore[union-attr]


def test_a_step_that_ran_is_done_with_its_time() -> None:
    report, events = _reporter()
    with report.step("", 0, 1, 1, "COPY a /") as step:
        step.ran()
    assert isinstance(events[-1], StepDone) and events[-1].step == 1
    assert events[-1].elapsed >= 0
    assert isinstance(events[0], StepStarted) and events[0].label == "[1/1] COPY a /"


def test_a_failing_step_reports_the_first_line_without_location() -> None:
    report, events = _reporter()
    with pytest.raises(StepFailedError), report.step("", 0, 1, 1, "RUN false") as step:
        step.ran()
        raise StepFailedError("RUN exited with code 1\ntail line", output_tail="x")
    last = events[-1]
    assert isinstance(last, StepFailed)
    assert last.message == "RUN exited with code 1"


def test_a_bug_is_reported_with_its_type() -> None:
    report, events = _reporter()
    with pytest.raises(KeyError), report.step("", 0, 1, 1, "RUN x"):
        raise KeyError("k")
    assert isinstance(events[-1], StepFailed)
    assert events[-1].message == "KeyError: 'k'"


def test_output_is_split_into_lines_and_the_last_one_flushed() -> None:
    report, events = _reporter()
    with report.step("", 0, 1, 1, "RUN x") as step:
        step.ran()
        step.write(b"one\ntw")
        step.write(b"o\r\nbar 10%\rbar 100%\n\nlast")
    lines = [e.line for e in events if isinstance(e, OutputLine)]
    assert lines == ["one", "two", "bar 100%", "", "last"]
    offsets = [e.offset for e in events if isinstance(e, OutputLine)]
    assert offsets == sorted(offsets)


def test_relayed_transfers_take_the_step_number_and_mark_it_done() -> None:
    report, events = _reporter()
    with report.step("", 0, 1, 1, "FROM x"), report.step("", 0, 1, 1, "FROM y") as second:
        second.relay(Transfer(None, "pull", "sha256:ab", 3, 3))
    assert Transfer(2, "pull", "sha256:ab", 3, 3) in events
    assert [type(e) for e in events[-2:]] == [StepDone, StepCached]


def test_step_numbers_are_unique_across_threads() -> None:
    report, events = _reporter()
    lock = threading.Lock()

    def emit(event: Event) -> None:
        with lock:
            events.append(event)

    shared = Reporter(emit)

    def work() -> None:
        for _ in range(50):
            with shared.step("s", 0, 1, 1, "RUN x"):
                pass

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    numbers = [e.step for e in events if isinstance(e, StepStarted)]
    assert sorted(numbers) == list(range(1, 201))
    del report


def test_a_meter_reports_start_and_finish_once_each(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[Event] = []
    clock = iter([0.0, 0.01, 0.02, 0.5, 0.6])
    monkeypatch.setattr("ocibuild.progress.report.time.monotonic", lambda: next(clock))
    meter = Meter(events.append, "pull", "sha256:ab", 30, step=7)
    meter(10)  # 0.01 s after the start: held back
    meter(10)  # 0.02 s: held back
    meter(10)  # total reached: reported
    meter.finish(30)  # the same counts: not again
    assert events == [
        Transfer(7, "pull", "sha256:ab", 0, 30),
        Transfer(7, "pull", "sha256:ab", 30, 30),
    ]
    assert events[-1].finished  # type: ignore[union-attr]


def test_a_meter_without_total_is_finished_by_finish() -> None:
    events: list[Event] = []
    meter = Meter(events.append, "layer", "layer")
    meter(5)
    meter.finish(12)
    last = events[-1]
    assert isinstance(last, Transfer) and last.finished
    assert (last.done, last.total) == (12, 12)
