"""The library surface: ``ocibuild.__all__``, cheap import, and build()'s wiring checks."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

import ocibuild
from ocibuild import api
from ocibuild.errors import ContextError, DockerfileError, UserError
from ocibuild.export.outputs import OutputError
from ocibuild.oci import Descriptor, Digest, mediatypes

if TYPE_CHECKING:
    from pathlib import Path


def test_all_matches_public_names() -> None:
    import types

    public = {
        name
        for name in dir(ocibuild)
        if not name.startswith("_")
        and name != "annotations"  # the __future__ feature, not an export
        and not isinstance(getattr(ocibuild, name), types.ModuleType)  # submodules once imported
    }
    assert set(ocibuild.__all__) == public
    for name in ocibuild.__all__:
        assert getattr(ocibuild, name) is not None
    assert ocibuild.build is api.build


def test_import_is_cheap() -> None:
    code = (
        "import sys, ocibuild, ocibuild.cli; "
        "heavy = [m for m in ('zstandard', 'ocibuild.api', 'ocibuild.store', 'ocibuild.plan') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("raw", "value"), [("", None), ("  ", None), ("0", 0), ("1700000000", 1700000000)]
)
def test_source_date_epoch(raw: str, value: int | None) -> None:
    assert api.source_date_epoch_from({"SOURCE_DATE_EPOCH": raw}) == value


@pytest.mark.parametrize("raw", ["soon", "1.5", "-1"])
def test_bad_source_date_epoch(raw: str) -> None:
    with pytest.raises(UserError, match="SOURCE_DATE_EPOCH"):
        api.source_date_epoch_from({"SOURCE_DATE_EPOCH": raw})


@dataclass(frozen=True)
class _Result:
    manifest: Descriptor
    config: Descriptor


def test_metadata_file_has_buildx_keys() -> None:
    manifest = Descriptor(mediatypes.OCI_MANIFEST, Digest.from_bytes(b"m"), 1)
    config = Descriptor(mediatypes.OCI_CONFIG, Digest.from_bytes(b"c"), 1)
    meta = json.loads(api.build_metadata(_Result(manifest, config), ["app", "x/y:2"]))  # type: ignore[arg-type]
    assert meta == {
        "containerimage.config.digest": str(config.digest),
        "containerimage.digest": str(manifest.digest),
        "containerimage.descriptor": manifest.to_json(),
        "image.name": "docker.io/library/app:latest,docker.io/x/y:2",
    }


@pytest.mark.parametrize(
    "outputs", [["type=registry"], ["type=oci,dest=-", "type=docker,dest=-"], ["type=bad"]]
)
def test_unsupported_outputs_fail_before_building(tmp_path: Path, outputs: list[str]) -> None:
    with pytest.raises(OutputError):
        api.build(tmp_path, outputs=outputs, root=tmp_path / "store")


def test_bad_tag_fails_before_building(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="invalid reference"):
        api.build(tmp_path, tags=["UPPER"], root=tmp_path / "store")


def test_missing_context_and_dockerfile(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="not found"):
        api.build(tmp_path / "nope", root=tmp_path / "store")
    with pytest.raises(ContextError, match="cannot read Dockerfile"):
        api.build(tmp_path, root=tmp_path / "store")


def test_invalid_utf8_dockerfile_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_bytes(b"FROM scratch\nLABEL a=\xff\n")
    with pytest.raises(DockerfileError, match=r"invalid UTF-8 \(byte 0xff at column 9\)") as info:
        api.build(tmp_path, root=tmp_path / "store")
    assert str(info.value).startswith("Dockerfile:2: ")
