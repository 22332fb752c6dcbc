"""What the shared-cache tests have in common: a two-stage Dockerfile whose
RUNs announce themselves, a build that returns its RUN output, and moving the
base image into an empty store (save/load keeps its digest; a fresh import
would not, and so would change every cache key)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import TYPE_CHECKING

from ocibuild import api

if TYPE_CHECKING:
    from pathlib import Path

    from ocibuild.executor.options import BuildResult

DOCKERFILE = """\
FROM busybox:latest AS build
ENV NONCE={nonce}
COPY a.txt /src/a.txt
RUN date +%s%N > /src/t && echo ran-build

FROM busybox:latest
ENV NONCE={nonce}
COPY --from=build /src /app
RUN echo ran-final && cat /app/a.txt > /copy
CMD ["sh"]
"""


def two_stage_context(tmp_path: Path) -> Path:
    """A context with DOCKERFILE under a fresh nonce (no hits from other tests)."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("hello\n")
    (ctx / "Dockerfile").write_text(DOCKERFILE.format(nonce=uuid.uuid4().hex))
    return ctx


def build_with_output(ctx: Path, root: Path, **kwargs: object) -> tuple[BuildResult, str]:
    """Build; return the result and what its RUNs printed (empty on full hits)."""
    out = bytearray()
    result = api.build(ctx, root=root, run_output=out.extend, **kwargs)  # type: ignore[arg-type]
    return result, out.decode()


def copy_base(src: Path, dst: Path, base: str, archive: Path) -> None:
    """Put ``base`` from store ``src`` into store ``dst`` by save and load."""
    for args in (
        ["--root", str(src), "save", "-o", str(archive), base],
        ["--root", str(dst), "load", "-i", str(archive)],
    ):
        subprocess.run([sys.executable, "-m", "ocibuild", *args], check=True, capture_output=True)
