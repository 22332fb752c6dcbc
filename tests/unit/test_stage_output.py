"""Per-step RUN output when stages run at once: whole lines, prefixed."""

from __future__ import annotations

from ocibuild.executor.stage_output import SharedSink, StepOutput, step_label


def test_lines_are_forwarded_whole_and_prefixed() -> None:
    got: list[bytes] = []
    shared = SharedSink(got.append)
    a = StepOutput(shared, step_label(None, 1, 3, 5))
    b = StepOutput(shared, step_label("web", 2, 1, 2))
    a(b"hel")
    b(b"one\ntw")
    a(b"lo\nwor")
    a(b"ld\n")
    b(b"o")
    b.close()
    a.close()
    assert got == [
        b"[web 1/2] one\n",
        b"[stage-1 3/5] hello\n",
        b"[stage-1 3/5] world\n",
        b"[web 1/2] two\n",
    ]


def test_close_ends_an_unterminated_line_once() -> None:
    got: list[bytes] = []
    out = StepOutput(SharedSink(got.append), "[s 1/1]")
    out(b"a\nb\nc")
    out.close()
    out.close()
    assert b"".join(got) == b"[s 1/1] a\n[s 1/1] b\n[s 1/1] c\n"
