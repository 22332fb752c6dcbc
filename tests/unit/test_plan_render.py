"""``build --print graph`` rendering: steps from a plan, stage references, DOT and Mermaid text."""

from __future__ import annotations

import re

import pytest

from ocibuild._cli_args import UsageError, parse_print
from ocibuild._record import replace
from ocibuild.dockerfile import parse
from ocibuild.oci import Platform
from ocibuild.plan import BuildGraph, plan, step_refs
from ocibuild.plan.render import GraphStep, one_line, plan_steps, render_dot, render_mermaid

DOCKERFILE = """\
ARG BASE=busybox
FROM $BASE AS base
RUN echo "a <b>" # x
FROM base AS mid
ARG SRC=base
COPY --from=${SRC} /a \\
     /b
FROM scratch AS unused
FROM busybox
RUN --mount=type=bind,from=mid,target=/m cat /m/b
COPY --from=0 /a /c
COPY --from=other:img /x /y
COPY <<EOF /h
body
EOF
"""


def _graph(target: str | None = None) -> BuildGraph:
    host = Platform("linux", "amd64")
    return plan(parse(DOCKERFILE), target=target, build_platform=host)


def test_step_refs_expand_stage_args() -> None:
    graph = _graph()
    assert step_refs(graph, graph.stages[0]) == ((),)
    assert step_refs(graph, graph.stages[1]) == ((), (0,))
    assert step_refs(graph, graph.stages[3]) == ((1,), (0,), (), ())


def test_plan_steps_cover_needed_stages_only() -> None:
    steps = plan_steps(_graph())
    assert sorted({s.stage for s in steps}) == [0, 1, 3]
    assert [(s.stage, s.number, s.line) for s in steps if s.stage == 1] == [(1, 1, 5), (1, 2, 6)]
    assert steps[-1].text == "COPY <<EOF /h"
    assert one_line("COPY <<EOF /h\nbody\nEOF") == "COPY <<EOF /h …"
    assert {s.stage for s in plan_steps(_graph("mid"))} == {0, 1}


def test_one_line() -> None:
    assert one_line("COPY a \\\n   b") == "COPY a b"
    assert one_line("RUN " + "x" * 100).endswith("…")
    assert len(one_line("RUN " + "x" * 100)) == 60


def _marked(graph: BuildGraph) -> list[GraphStep]:
    marks = ["hit", "miss", "config", "unknown"]
    return [
        replace(s, mark=marks[i % 4], note="why" if i % 4 == 3 else "")
        for i, s in enumerate(plan_steps(graph))
    ]


def test_dot_structure() -> None:
    graph = _graph()
    text = render_dot(graph, _marked(graph))
    assert text.startswith("digraph build {")
    assert text.endswith("}")
    declared = set(re.findall(r"^\s+(s\d+(?:_\d+)?) \[label=", text, re.M))
    edges = re.findall(r"^\s+(s[\d_]+) -> (s[\d_]+)(?: \[label=\"([^\"]+)\")?", text, re.M)
    assert {a for a, _, _ in edges} | {b for _, b, _ in edges} <= declared
    assert declared == {"s0", "s0_1", "s1", "s1_1", "s1_2", "s3", *(f"s3_{i}" for i in range(1, 5))}
    assert {e for e in edges if e[2]} == {
        ("s0_1", "s1", "FROM"),
        ("s0_1", "s1_2", "COPY from"),
        ("s1_2", "s3_1", "RUN mount"),
        ("s0_1", "s3_2", "COPY from"),
    }
    assert ("s3", "s3_1", "") in edges
    assert 'RUN echo \\"a <b>\\" # x\\nDockerfile:3\\ncache hit' in text
    assert "unknown: why" in text
    assert 'label="stage 1 mid"' in text


def test_mermaid_structure() -> None:
    graph = _graph()
    lines = render_mermaid(graph, _marked(graph)).splitlines()
    assert lines[0] == "flowchart TD"
    assert lines.count("  end") == 3
    assert sum(1 for x in lines if x.lstrip().startswith("subgraph ")) == 3
    assert "  s1_2 -.->|RUN mount| s3_1" in lines
    assert "  s3 --> s3_1" in lines
    run = next(x for x in lines if x.strip().startswith("s0_1["))
    label = "RUN echo #quot;a #lt;b#gt;#quot; #35; x<br/>Dockerfile:3<br/>cache hit"
    assert run == f'    s0_1["{label}"]:::hit'
    for x in lines:
        if "[" in x:
            assert x.count('"') == 2  # every quote inside a label is escaped


def test_print_flag() -> None:
    assert parse_print(None) is None
    assert parse_print("graph") == "dot"
    assert parse_print("graph=mermaid") == "mermaid"
    for bad in ("graph=svg", "outline", "graph="):
        with pytest.raises(UsageError, match="--print"):
            parse_print(bad)
