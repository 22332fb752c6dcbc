"""RunSpec.overlay: JSON round trip, and written beside config.json, not into it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from ocibuild.sandbox import Overlay, RunSpec, oci_config, write_bundle
from ocibuild.sandbox.spec import read_overlay

if TYPE_CHECKING:
    from pathlib import Path

OVERLAY = Overlay(lowers=("/s/top", "/s/bottom"), upper="/t/diff", work="/t/work")
SPEC = RunSpec(argv=("sh",), rootfs="/t/merged", overlay=OVERLAY)


def test_json_round_trip() -> None:
    data = json.loads(json.dumps(SPEC.to_json()))
    assert data["overlay"] == {"lowers": ["/s/top", "/s/bottom"], "upper": "/t/diff",
                               "work": "/t/work"}  # fmt: skip
    assert RunSpec.from_json(data) == SPEC
    plain = RunSpec(argv=("sh",), rootfs="/r")
    assert RunSpec.from_json(json.loads(json.dumps(plain.to_json()))) == plain


def test_config_json_is_the_same_with_or_without_overlay() -> None:
    assert oci_config(SPEC) == oci_config(RunSpec(argv=("sh",), rootfs="/t/merged"))


def test_write_bundle_writes_overlay_json(tmp_path: Path) -> None:
    write_bundle(SPEC, tmp_path / "b")
    assert read_overlay(tmp_path / "b") == OVERLAY
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["config.json", "overlay.json"]
    write_bundle(RunSpec(argv=("sh",), rootfs="/r"), tmp_path / "c")
    assert read_overlay(tmp_path / "c") is None
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["config.json"]


def test_overlay_needs_a_lower() -> None:
    with pytest.raises(ValueError, match="at least one lower"):
        Overlay(lowers=(), upper="/u", work="/w")
