"""A cache exported with --cache-to and imported with --cache-from into an
empty store (a second machine) gives full hits: no RUN runs, same image.

The base image reaches the second store by save and load (a fresh import
would get a new ``created`` and so another config digest and other keys).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from helpers.cache_builds import build_with_output, copy_base, two_stage_context

from ocibuild.errors import UserError

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.root


@pytest.mark.parametrize("mode", ["max", "min"])
def test_imported_cache_gives_full_hits_in_an_empty_store(
    ocibuild_root: Path,
    ocibuild_base: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    ctx = two_stage_context(tmp_path)
    cache_dir = tmp_path / "cache"
    first, out = build_with_output(
        ctx, ocibuild_root, cache_to=[f"type=local,dest={cache_dir},mode={mode}"]
    )
    assert "ran-build" in out
    assert "ran-final" in out

    other = tmp_path / "second-machine"
    copy_base(ocibuild_root, other, ocibuild_base, tmp_path / "base.tar")
    second, out = build_with_output(ctx, other, cache_from=[f"type=local,src={cache_dir}"])
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
        build_with_output(ctx, ocibuild_root, cache_from=[f"type=local,src={tmp_path / 'nope'}"])
