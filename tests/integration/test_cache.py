"""The build cache through real builds (docs/design/008-build-cache.md).

Runs are counted by RUN output: each RUN echoes a marker, and a cache hit
runs nothing, so it prints nothing.  COPY steps are told apart by their
history ``created``: a hit reuses the recorded time, a re-run gets a new one.
Every Dockerfile starts its stages with a fresh ``ENV NONCE=...`` so tests
sharing the session store do not hit each other's records.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING

import pytest

from ocibuild import api

if TYPE_CHECKING:
    from pathlib import Path

    from ocibuild.executor import BuildResult

pytestmark = pytest.mark.root


class Builder:
    def __init__(self, root: Path, tmp: Path) -> None:
        self.root = root
        self.ctx = tmp / "ctx"
        self.ctx.mkdir()
        self.nonce = uuid.uuid4().hex
        self.output = bytearray()

    def dockerfile(self, text: str) -> None:
        (self.ctx / "Dockerfile").write_text(text.replace("@NONCE", f"ENV NONCE={self.nonce}"))

    def build(self, **kwargs: object) -> tuple[BuildResult, str]:
        """Build; return the result and the RUN output of this build only."""
        self.output.clear()
        result = api.build(self.ctx, root=self.root, run_output=self.output.extend, **kwargs)  # type: ignore[arg-type]
        return result, self.output.decode()


def created(result: BuildResult) -> list[str]:
    return [entry.created for entry in result.image.config.history]


def by(result: BuildResult, text: str) -> str:
    """The ``created`` of the history entry whose created_by contains ``text``."""
    return next(e.created for e in result.image.config.history if text in e.created_by)


@pytest.fixture
def b(
    ocibuild_root: Path, ocibuild_base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Builder:
    del ocibuild_base
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    return Builder(ocibuild_root, tmp_path)


def test_unchanged_rebuild_runs_nothing_and_gives_the_same_image(b: Builder) -> None:
    (b.ctx / "a.txt").write_text("a\n")
    b.dockerfile(
        "FROM busybox:latest\n@NONCE\nCOPY a.txt /a.txt\n"
        'RUN date +%s%N > /t && echo ran-date\nENV AFTER=1\nWORKDIR /w\nCMD ["sh"]\n'
    )
    first, out = b.build()
    assert "ran-date" in out
    os.utime(b.ctx / "a.txt", ns=(1, 1))  # a new mtime is not a change
    second, out = b.build()
    assert out == ""
    assert second.manifest.digest == first.manifest.digest
    assert created(second) == created(first)
    layered = [e.created for e in first.image.config.history[-5:] if not e.empty_layer]
    assert first.image.config.created == max(layered)
    assert by(first, "ENV AFTER") == first.image.config.created


def test_editing_one_source_reruns_its_copy_and_what_follows(b: Builder) -> None:
    (b.ctx / "a.txt").write_text("a\n")
    (b.ctx / "b.txt").write_text("b\n")
    b.dockerfile(
        "FROM busybox:latest AS other\n@NONCE\nRUN echo ran-other > /o && echo ran-other\n"
        "FROM busybox:latest\n@NONCE\nCOPY a.txt /a\nRUN echo ran-after-a\n"
        "COPY b.txt /b\nRUN echo ran-after-b\nCOPY --from=other /o /o\n"
    )
    first, out = b.build()
    assert all(m in out for m in ("ran-other", "ran-after-a", "ran-after-b"))
    (b.ctx / "b.txt").write_text("B\n")
    second, out = b.build()
    assert "ran-after-b" in out
    assert "ran-other" not in out
    assert "ran-after-a" not in out
    assert by(second, "COPY a.txt") == by(first, "COPY a.txt")
    assert by(second, "COPY b.txt") != by(first, "COPY b.txt")
    assert by(second, "COPY /o") != by(first, "COPY /o")  # after a changed step
    assert second.manifest.digest != first.manifest.digest


def test_build_arg_invalidates_only_the_steps_that_use_it(b: Builder) -> None:
    (b.ctx / "a.txt").write_text("a\n")
    b.dockerfile(
        "FROM busybox:latest\n@NONCE\nRUN echo ran-before\nARG X\n"
        "COPY a.txt /plain\nCOPY a.txt /d$X\n"
    )
    first, out = b.build(build_args={"X": "1"})
    assert "ran-before" in out
    second, out = b.build(build_args={"X": "2"})
    assert out == ""
    assert by(second, "/plain") == by(first, "/plain")
    assert by(second, "/d2") != by(first, "/d1")
    third, _ = b.build(build_args={"X": "1"})
    assert third.manifest.digest == first.manifest.digest


def test_build_arg_in_scope_reruns_run(b: Builder) -> None:
    b.dockerfile("FROM busybox:latest\n@NONCE\nRUN echo ran-before\nARG X\nRUN echo ran-in-scope\n")
    b.build(build_args={"X": "1"})
    _, out = b.build(build_args={"X": "2"})
    assert "ran-in-scope" in out
    assert "ran-before" not in out
    _, out = b.build(build_args={"X": "2"})
    assert out == ""


def test_no_cache_and_no_cache_filter(b: Builder) -> None:
    b.dockerfile(
        "FROM busybox:latest AS a\n@NONCE\nRUN echo ran-a > /a && echo ran-a\n"
        "FROM busybox:latest AS b\n@NONCE\nRUN echo ran-b\nCOPY --from=a /a /a\n"
    )
    first, _ = b.build()
    assert len(first.final_stage_cache_keys) == 2  # RUN and COPY of stage b
    assert len(first.cache_keys) == 3
    assert set(first.final_stage_cache_keys) < set(first.cache_keys)
    _, out = b.build(no_cache=True)
    assert "ran-a" in out
    assert "ran-b" in out
    _, out = b.build(no_cache_filter=["B"])
    assert "ran-b" in out
    assert "ran-a" not in out
    _, out = b.build(no_cache_filter=["a"])
    assert "ran-a" in out
    assert "ran-b" not in out
    _, out = b.build()
    assert out == ""


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from ocibuild.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env["OCIBUILD_ROOT"] = str(root)
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )


def test_cache_persists_across_processes(b: Builder) -> None:
    b.dockerfile("FROM busybox:latest AS s\n@NONCE\nRUN echo ran-cli\n")
    first = _cli(b.root, "build", "-q", str(b.ctx))
    second = _cli(b.root, "build", str(b.ctx))
    assert not _printed(second.stderr, "ran-cli")  # plain progress: the step is CACHED
    assert re.search(r"^#(\d+) \[s 2/2\] RUN echo ran-cli\n#\1 CACHED$", second.stderr, re.M)
    assert first.stdout.strip() in second.stderr  # the same image id
    third = _cli(b.root, "build", "--no-cache-filter", "s", str(b.ctx))
    assert _printed(third.stderr, "ran-cli")


def _printed(stderr: str, line: str) -> bool:
    """Whether a RUN printed ``line`` (plain progress: ``#N 0.123 line``)."""
    return re.search(rf"^#\d+ \d+\.\d{{3}} {re.escape(line)}$", stderr, re.MULTILINE) is not None
