"""Draw a build graph: stages and their steps as Graphviz DOT or a Mermaid flowchart.

Pure: takes a :class:`~ocibuild.plan.BuildGraph` and its :class:`GraphStep`\\ s
(from :func:`plan_steps`, or marked with what the cache would do by
``ocibuild.executor.forecast``) and returns text.  Each needed stage is a
cluster (a Mermaid subgraph) holding its FROM node then one node per step
(instruction as written, its Dockerfile line, its cache mark); edges follow
step order, and dashed edges show ``FROM <stage>``, ``COPY --from=<stage>``
and ``RUN --mount from=<stage>``.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING

from ocibuild._record import record
from ocibuild.plan.stages import step_refs

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from ocibuild.plan.graph import BuildGraph, Stage

__all__ = ["MARKS", "STYLES", "GraphStep", "plan_steps", "render", "render_dot", "render_mermaid"]

MARKS = ("hit", "miss", "config", "unknown")
"""``hit``/``miss``: a layer step's record is/is not in the cache; ``config``: a
step that makes no layer (never looked up); ``unknown``: its key cannot be known
before building (see the step's ``note``)."""
STYLES = ("dot", "mermaid")
_LABEL_WIDTH = 60
_COLOURS = {"hit": "#b7e4b0", "miss": "#f6b8a8", "config": "#dde6f2", "unknown": "#f3e29b"}
_MARK_TEXT = {"hit": "cache hit", "miss": "cache miss", "config": "no layer", "unknown": "unknown"}


@record
class GraphStep:
    """One step of a stage: ``number`` counts from 1 as the executor does (the
    base's ONBUILD triggers first); ``refs`` the stages it reads; ``mark`` one
    of :data:`MARKS` or "" (not computed); ``note`` says why it is unknown."""

    stage: int
    number: int
    text: str
    line: int
    refs: tuple[int, ...] = ()
    mark: str = ""
    note: str = ""


def plan_steps(graph: BuildGraph) -> tuple[GraphStep, ...]:
    """The steps of the stages ``graph``'s target needs, unmarked."""
    steps: list[GraphStep] = []
    for index in graph.needed():
        stage = graph.stages[index]
        for number, (instr, refs) in enumerate(
            zip(stage.instructions, step_refs(graph, stage), strict=True), 1
        ):
            steps.append(
                GraphStep(index, number, one_line(instr.original), instr.span.first_line, refs)
            )
    return tuple(steps)


def one_line(text: str) -> str:
    """An instruction's source as one short line (continuations joined, heredoc
    bodies and the rest of a long line cut to ``…``)."""
    joined = re.sub(r"\\\s*\n", " ", text.strip())
    first, _, rest = joined.partition("\n")
    line = " ".join(first.split())
    if rest.strip():
        line += " …"
    return line if len(line) <= _LABEL_WIDTH else line[: _LABEL_WIDTH - 1] + "…"


def render(graph: BuildGraph, steps: Sequence[GraphStep], style: str = "dot") -> str:
    """``graph`` drawn in ``style`` (one of :data:`STYLES`)."""
    if style == "mermaid":
        return render_mermaid(graph, steps)
    return render_dot(graph, steps)


def _stage_title(stage: Stage) -> str:
    name = f" {stage.name}" if stage.name else ""
    return f"stage {stage.index}{name}"


def _from_text(stage: Stage) -> str:
    platform = f"--platform={stage.platform} " if stage.platform else ""
    alias = f" AS {stage.name}" if stage.name else ""
    return f"FROM {platform}{stage.base}{alias}"


def _by_stage(graph: BuildGraph, steps: Sequence[GraphStep]) -> dict[int, list[GraphStep]]:
    grouped: dict[int, list[GraphStep]] = {i: [] for i in graph.needed()}
    for step in steps:
        grouped.setdefault(step.stage, []).append(step)
    return grouped


def _node(step: GraphStep) -> str:
    return f"s{step.stage}_{step.number}"


def _last(stage: int, grouped: dict[int, list[GraphStep]]) -> str:
    own = grouped.get(stage) or []
    return _node(own[-1]) if own else f"s{stage}"


def _edges(
    graph: BuildGraph, grouped: dict[int, list[GraphStep]]
) -> Iterator[tuple[str, str, str]]:
    """``(from, to, label)``: step order (label ""), then stage references."""
    for index, own in grouped.items():
        names = [f"s{index}", *(_node(s) for s in own)]
        yield from ((a, b, "") for a, b in itertools.pairwise(names))
    for index in grouped:
        base = graph.stages[index].base_stage
        if base is not None:
            yield _last(base, grouped), f"s{index}", "FROM"
        for step in grouped[index]:
            label = "COPY from" if step.text.split()[:1] in (["COPY"], ["ADD"]) else "RUN mount"
            for ref in step.refs:
                yield _last(ref, grouped), _node(step), label


def _step_lines(step: GraphStep, graph: BuildGraph) -> list[str]:
    path = graph.stages[step.stage].span.path
    lines = [step.text, f"{path}:{step.line}"]
    if step.mark:
        mark = _MARK_TEXT.get(step.mark, step.mark)
        lines.append(f"{mark}: {step.note}" if step.note else mark)
    return lines


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_dot(graph: BuildGraph, steps: Sequence[GraphStep]) -> str:
    """``graph`` as a Graphviz ``digraph``."""
    grouped = _by_stage(graph, steps)
    out = [
        "digraph build {",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="monospace"];',
    ]
    for index, own in grouped.items():
        stage = graph.stages[index]
        out.append(f"  subgraph cluster_{index} {{")
        out.append(f"    label={_dot_quote(_stage_title(stage))};")
        head = f"{_from_text(stage)}\n{stage.span}"
        out.append(f'    s{index} [label={_dot_quote(head)}, fillcolor="#e8e8e8"];')
        for step in own:
            label = _dot_quote("\n".join(_step_lines(step, graph)))
            colour = _COLOURS.get(step.mark, "#ffffff")
            out.append(f'    {_node(step)} [label={label}, fillcolor="{colour}"];')
        out.append("  }")
    for a, b, label in _edges(graph, grouped):
        extra = f" [label={_dot_quote(label)}, style=dashed]" if label else ""
        out.append(f"  {a} -> {b}{extra};")
    out.append("}")
    return "\n".join(out)


_MERMAID_ESCAPES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;"}


def _mermaid_text(text: str) -> str:
    return "".join(_MERMAID_ESCAPES.get(c, c) for c in text)


def render_mermaid(graph: BuildGraph, steps: Sequence[GraphStep]) -> str:
    """``graph`` as a Mermaid ``flowchart TD``."""
    grouped = _by_stage(graph, steps)
    out = ["flowchart TD"]
    for index, own in grouped.items():
        stage = graph.stages[index]
        out.append(f'  subgraph stage{index}["{_mermaid_text(_stage_title(stage))}"]')
        head = _mermaid_text(_from_text(stage)) + "<br/>" + _mermaid_text(str(stage.span))
        out.append(f'    s{index}["{head}"]:::base')
        for step in own:
            label = "<br/>".join(_mermaid_text(line) for line in _step_lines(step, graph))
            css = f":::{step.mark}" if step.mark else ""
            out.append(f'    {_node(step)}["{label}"]{css}')
        out.append("  end")
    for a, b, label in _edges(graph, grouped):
        out.append(f"  {a} -.->|{label}| {b}" if label else f"  {a} --> {b}")
    out.append("  classDef base fill:#e8e8e8")
    out.extend(f"  classDef {mark} fill:{colour}" for mark, colour in _COLOURS.items())
    return "\n".join(out)
