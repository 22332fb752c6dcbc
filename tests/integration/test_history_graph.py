"""``ocibuild history`` and ``build --print graph`` on a real build in the session store."""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING

import pytest

from ocibuild.store import Store

if TYPE_CHECKING:
    from pathlib import Path

    from helpers.builders import OcibuildBuilder

DOCKERFILE = """\
FROM busybox:latest AS base
COPY a.txt /a.txt
RUN cat /a.txt > /b.txt

FROM base
ENV K=v
COPY --from=base /b.txt /c.txt
"""


def _marks(dot: str) -> dict[int, str]:
    """Dockerfile line -> the step's mark text, from DOT node labels."""
    found = re.findall(r'label="[^"]*?\\nDockerfile:(\d+)\\n([^"]+)"', dot)
    return {int(line): mark for line, mark in found}


def _snapshot(root: Path) -> tuple[bytes, list[str], list[tuple[str, float]]]:
    store = Store(root)
    blobs = sorted(p.name for p in (root / "blobs" / "sha256").iterdir())
    records = [(r.key, r.last_used) for r in store.cache.records()]
    return (root / "index.json").read_bytes(), blobs, records


@pytest.fixture
def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text(secrets.token_hex(8) + "\n")  # 17 bytes, new to the cache
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    return ctx


@pytest.mark.root
def test_graph_marks_then_build_then_history(
    context: Path, tmp_path: Path, ocibuild_cli: OcibuildBuilder, ocibuild_base: str
) -> None:
    before = _snapshot(ocibuild_cli.root)
    dot = ocibuild_cli.run("build", "--print", "graph", str(context))
    assert _marks(dot) == {2: "cache miss", 3: "cache miss", 6: "no layer", 7: "cache miss"}
    assert _snapshot(ocibuild_cli.root) == before  # nothing written, nothing touched

    iid = tmp_path / "iid"
    ocibuild_cli.run("build", "-t", "hist:1", "--iidfile", str(iid), str(context))
    dot = ocibuild_cli.run("build", "--print", "graph=dot", str(context))
    assert _marks(dot) == {2: "cache hit", 3: "cache hit", 6: "no layer", 7: "cache hit"}
    mermaid = ocibuild_cli.run(
        "build", "--print", "graph=mermaid", "--target", "base", str(context)
    )
    assert mermaid.startswith("flowchart TD")
    assert mermaid.count(":::hit") == 2
    assert "COPY --from" not in mermaid
    dot = ocibuild_cli.run("build", "--print", "graph", "--build-arg", "X=1", str(context))
    assert _marks(dot)[7] == "cache hit"  # an undeclared build arg changes nothing
    (context / "a.txt").write_text("changed\n")
    assert set(_marks(ocibuild_cli.run("build", "--print", "graph", str(context))).values()) == {
        "cache miss",
        "no layer",
    }

    lines = ocibuild_cli.run("history", "hist:1").splitlines()
    assert lines[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    image_id = iid.read_text().strip()
    assert lines[1].startswith(image_id.removeprefix("sha256:")[:12] + "   ")
    assert all(line.startswith("<missing>") for line in lines[2:])
    quiet = ocibuild_cli.run("history", "--no-trunc", "-q", "hist:1").split()
    assert quiet[0] == image_id
    fmt = "{{.CreatedBy}}|{{.Size}}|{{.Comment}}"
    rows = ocibuild_cli.run("history", "--format", fmt, "-H=false", "hist:1").splitlines()
    assert rows[:4] == [
        "COPY /b.txt /c.txt # buildkit|17|buildkit.dockerfile.v0",
        "ENV K=v|0|buildkit.dockerfile.v0",
        "RUN /bin/sh -c cat /a.txt > /b.txt # buildkit|17|buildkit.dockerfile.v0",
        "COPY a.txt /a.txt # buildkit|17|buildkit.dockerfile.v0",
    ]
    assert rows[4].startswith("|") and "Imported from" in rows[4]


@pytest.mark.root
def test_graph_says_unknown_honestly(tmp_path: Path, ocibuild_cli: OcibuildBuilder) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM nosuch/image:1 AS a\nRUN true\n"
        "FROM scratch\nCOPY --from=a /x /x\nADD http://127.0.0.1:9/f /f\nCOPY x /y\n"
    )
    (ctx / "x").write_text("x")
    marks = _marks(ocibuild_cli.run("build", "--print", "graph", str(ctx)))
    assert marks[2] == "unknown: base image nosuch/image:1 is not in the store (a build pulls it)"
    assert marks[4] == "unknown: reads stage 0, which is unknown"
    assert marks[5] == marks[6] == "unknown: follows an unknown step"
