"""A cache exported with --cache-to and imported with --cache-from into an
empty store (a second machine) gives full hits: no RUN runs, same image.

The base image reaches the second store by save and load (a fresh import
would get a new ``created`` and so another config digest and other keys).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import TYPE_CHECKING

import pytest

from ocibuild import api
from ocibuild.errors import UserError

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.root

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


def _cli(root: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "ocibuild", "--root", str(root), *args]
    subprocess.run(cmd, check=True, capture_output=True)


def _build(ctx: Path, root: Path, **kwargs: object) -> tuple[api.BuildResult, str]:
    out = bytearray()
    result = api.build(ctx, root=root, run_output=out.extend, **kwargs)  # type: ignore[arg-type]
    return result, out.decode()


@pytest.mark.parametrize("mode", ["max", "min"])
def test_imported_cache_gives_full_hits_in_an_empty_store(
    ocibuild_root: Path,
    ocibuild_base: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("hello\n")
    (ctx / "Dockerfile").write_text(DOCKERFILE.format(nonce=uuid.uuid4().hex))
    cache_dir = tmp_path / "cache"
    first, out = _build(ctx, ocibuild_root, cache_to=[f"type=local,dest={cache_dir},mode={mode}"])
    assert "ran-build" in out
    assert "ran-final" in out

    other = tmp_path / "second-machine"
    archive = tmp_path / "base.tar"
    _cli(ocibuild_root, "save", "-o", str(archive), ocibuild_base)
    _cli(other, "load", "-i", str(archive))
    second, out = _build(ctx, other, cache_from=[f"type=local,src={cache_dir}"])
    assert second.manifest.digest == first.manifest.digest
    if mode == "max":
        assert out == ""  # every stage hit: nothing ran
    else:
        # min exports the final stage's records only: the builder stage runs
        # again; the final stage's keys name the builder stage by its key,
        # not its content, so the final stage still hits (as in BuildKit).
        assert "ran-build" in out
        assert "ran-final" not in out


def test_cache_from_a_missing_dir_is_a_user_error(
    ocibuild_root: Path, ocibuild_base: str, tmp_path: Path
) -> None:
    del ocibuild_base
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox:latest\n")
    with pytest.raises(UserError):
        _build(ctx, ocibuild_root, cache_from=[f"type=local,src={tmp_path / 'nope'}"])
