"""--cache-to / --cache-from type=registry against a real docker-registry.

A build in store A pushes its cache (mode=max) to a loopback registry; a
build of the same Dockerfile in an empty store B (the base image loaded by
save/load, as in test_cache_shared.py) imports it: same image, no RUN ran.
"""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING

import pytest
from helpers.cache_builds import build_with_output, copy_base, two_stage_context
from helpers.registry import serve

from ocibuild.oci import mediatypes
from ocibuild.store.cache_export import CACHE_MEDIA_TYPE

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(scope="module")
def cache_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("cache-registry")) as address:
        yield address


@pytest.mark.root
def test_registry_cache_gives_full_hits_in_an_empty_store(
    ocibuild_root: Path,
    ocibuild_base: str,
    cache_registry: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    ctx = two_stage_context(tmp_path)
    ref = f"{cache_registry}/cache/app:buildcache"
    first, out = build_with_output(
        ctx, ocibuild_root, cache_to=[f"type=registry,ref={ref},mode=max"]
    )
    assert "ran-build" in out
    assert "ran-final" in out

    request = urllib.request.Request(
        f"http://{cache_registry}/v2/cache/app/manifests/buildcache",
        headers={"Accept": mediatypes.OCI_MANIFEST},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        manifest = json.loads(response.read())
    assert manifest["config"]["mediaType"] == CACHE_MEDIA_TYPE
    assert len(manifest["layers"]) >= 3  # COPY, RUN (build stage), COPY, RUN (final)

    other = tmp_path / "second-machine"
    copy_base(ocibuild_root, other, ocibuild_base, tmp_path / "base.tar")
    second, out = build_with_output(ctx, other, cache_from=[f"type=registry,ref={ref}"])
    assert second.manifest.digest == first.manifest.digest
    assert out == ""  # every step of both stages hit: nothing ran


@pytest.mark.root
def test_missing_registry_cache_is_a_no_op(
    ocibuild_root: Path, ocibuild_base: str, cache_registry: str, tmp_path: Path
) -> None:
    ctx = two_stage_context(tmp_path)
    missing = f"{cache_registry}/cache/never-pushed:nothing"
    _, out = build_with_output(ctx, ocibuild_root, cache_from=[f"type=registry,ref={missing}"])
    assert "ran-final" in out  # the build ran without cache and did not fail
    del ocibuild_base
