"""The renderers, fed with fake events: plain lines, the tty view, mode selection."""

from __future__ import annotations

import io
import subprocess
import sys
import threading

import pytest
from rich.console import Console

from ocibuild.progress import (
    OutputLine,
    StepCached,
    StepDone,
    StepFailed,
    StepStarted,
    Transfer,
)
from ocibuild.progress.plain import PlainRenderer, human_size
from ocibuild.progress.render import rendering, resolve_mode
from ocibuild.progress.tty import TtyRenderer, ViewState, render_view


def _plain(*events: object) -> list[str]:
    out = io.StringIO()
    renderer = PlainRenderer(out)
    for event in events:
        renderer(event)  # type: ignore[arg-type]
    return out.getvalue().split("\n")


def test_plain_lines_follow_buildkit() -> None:
    lines = _plain(
        StepStarted(1, "builder", 0, 1, 3, "FROM docker.io/library/busybox:latest"),
        StepCached(1),
        StepStarted(2, "builder", 0, 2, 3, "RUN make"),
        OutputLine(2, "cc -c main.c", 0.2144),
        Transfer(2, "layer", "layer", 0, None),
        Transfer(2, "layer", "layer", 10240, 10240),
        StepDone(2, 1.234),
        StepStarted(3, "builder", 0, 3, 3, "RUN false"),
        StepFailed(3, "RUN exited with code 1", 0.05),
    )
    assert lines[:5] == [
        "#1 [builder 1/3] FROM docker.io/library/busybox:latest",
        "#1 CACHED",
        "",
        "#2 [builder 2/3] RUN make",
        "#2 0.214 cc -c main.c",
    ]
    assert lines[5].startswith("#2 writing layer 10.24kB ") and lines[5].endswith("s done")
    assert lines[6:] == [
        "#2 DONE 1.2s",
        "",
        "#3 [builder 3/3] RUN false",
        "#3 ERROR: RUN exited with code 1",
        "",
    ]


def test_plain_shows_pull_sizes_and_stepless_transfers() -> None:
    lines = _plain(
        Transfer(None, "push", "sha256:aa", 0, 2_810_000),
        Transfer(None, "push", "sha256:aa", 2_810_000, 2_810_000),
        Transfer(4, "pull", "sha256:bb", 5, 5),
    )
    assert lines[0].startswith("pushing sha256:aa 2.81MB / 2.81MB ")
    assert lines[1].startswith("#4 sha256:bb 5B / 5B ")
    assert len(lines) == 3


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0B"), (189, "189B"), (10240, "10.24kB"), (2_810_000, "2.81MB"), (999_999, "1MB")],
)
def test_human_size_as_docker_prints_it(size: int, text: str) -> None:
    assert human_size(size) == text


def test_plain_lines_stay_whole_when_threads_write_at_once() -> None:
    out = io.StringIO()
    renderer = PlainRenderer(out)

    def work(step: int) -> None:
        for n in range(200):
            renderer(OutputLine(step, f"line-{step}-{n}", 0.0))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = out.getvalue().splitlines()
    assert len(lines) == 800
    for line in lines:
        step, offset, text = line.split(" ")
        assert text.startswith(f"line-{step[1:]}-") and offset == "0.000"


def _screen(state: ViewState, now: float, limit: int | None = None) -> str:
    console = Console(file=io.StringIO(), width=100, record=True, color_system=None)
    console.print(render_view(state, now, limit))
    return console.export_text()


def test_tty_view_shows_states_elapsed_and_the_running_tail() -> None:
    state = ViewState()
    state.apply(StepStarted(1, "", 0, 1, 3, "FROM docker.io/library/busybox:latest"))
    state.apply(StepCached(1))
    state.apply(StepStarted(2, "", 0, 2, 3, "COPY f.txt /"))
    state.apply(StepDone(2, 0.25))
    state.apply(StepStarted(3, "", 0, 3, 3, "RUN ./long"))
    for n in range(8):
        state.apply(OutputLine(3, f"tick-{n}", 0.1 * n))
    state.apply(Transfer(3, "layer", "layer", 0, None))
    state.apply(Transfer(3, "layer", "layer", 2_000_000, None))
    screen = _screen(state, state.begin + 5)
    assert "(2/3 steps)" in screen
    assert "#1 CACHED  [1/3] FROM docker.io/library/busybox:latest" in screen
    assert "#2 DONE    [2/3] COPY f.txt /" in screen and "0.2s" in screen
    assert "#3 RUNNING [3/3] RUN ./long" in screen
    assert "tick-7" in screen and "tick-3" in screen and "tick-2" not in screen  # last 5
    assert "writing layer 2MB" in screen and "/s" in screen


def test_tty_view_keeps_a_failed_steps_tail_and_drops_a_done_ones() -> None:
    state = ViewState()
    state.apply(StepStarted(1, "a", 0, 1, 1, "RUN ok"))
    state.apply(OutputLine(1, "fine", 0.1))
    state.apply(StepDone(1, 0.2))
    state.apply(StepStarted(2, "b", 1, 1, 1, "RUN bad"))
    state.apply(OutputLine(2, "oops", 0.1))
    state.apply(StepFailed(2, "RUN exited with code 2", 0.3))
    screen = _screen(state, state.begin + 1)
    assert "fine" not in screen
    assert "#2 ERROR   [b 1/1] RUN bad" in screen
    assert "oops" in screen and "ERROR: RUN exited with code 2" in screen


def test_tty_view_folds_old_steps_to_fit_while_running() -> None:
    state = ViewState()
    for n in range(1, 30):
        state.apply(StepStarted(n, "", 0, n, 30, f"RUN step-{n}"))
        state.apply(StepDone(n, 0.1))
    state.apply(StepStarted(30, "", 0, 30, 30, "RUN step-30"))
    short = _screen(state, state.begin + 1, limit=10)
    assert len(short.splitlines()) <= 10
    assert "earlier steps" in short and "RUN step-30" in short and "RUN step-1 " not in short
    full = _screen(state, state.begin + 1)
    assert all(f"RUN step-{n}" in full for n in range(1, 31))


def test_tty_renderer_draws_a_final_screen_with_every_step() -> None:
    out = io.StringIO()
    renderer = TtyRenderer(out)
    renderer.start()
    renderer(StepStarted(1, "", 0, 1, 1, "RUN hello"))
    renderer(StepDone(1, 0.5))
    renderer.close()
    text = out.getvalue()
    assert "#1 " in text and "RUN hello" in text and "DONE" in text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_tty_on_a_terminal_and_plain_elsewhere() -> None:
    assert resolve_mode("auto", io.StringIO()) == "plain"
    assert resolve_mode("auto", _Terminal()) == "tty"
    assert resolve_mode("quiet", _Terminal()) == "quiet"
    with pytest.raises(ValueError, match="unknown progress mode"):
        resolve_mode("fancy", io.StringIO())
    with rendering("quiet", io.StringIO()) as on_event:
        assert on_event is None
    with rendering("plain", io.StringIO()) as on_event:
        assert isinstance(on_event, PlainRenderer)


def test_plain_and_quiet_rendering_never_import_rich() -> None:
    code = (
        "import io, sys\n"
        "from ocibuild import cli\n"
        "from ocibuild.progress import StepStarted, StepDone\n"
        "from ocibuild.progress.render import rendering\n"
        "for mode in ('plain', 'quiet', 'auto'):\n"
        "    with rendering(mode, io.StringIO()) as on_event:\n"
        "        if on_event:\n"
        "            on_event(StepStarted(1, '', 0, 1, 1, 'RUN x'))\n"
        "            on_event(StepDone(1, 0))\n"
        "assert 'rich' not in sys.modules, sorted(m for m in sys.modules if 'rich' in m)\n"
        "with rendering('tty', io.StringIO()) as on_event: pass\n"
        "assert 'rich' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
