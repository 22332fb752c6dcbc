"""The OCI JSON schemas in schemas/ accept valid documents and reject invalid ones."""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from ocibuild.oci import (
    ContainerConfig,
    Descriptor,
    Digest,
    HistoryEntry,
    ImageConfig,
    Index,
    Manifest,
    Platform,
    mediatypes,
    schemas,
)

D = "sha256:" + "a" * 64
DESC = {"mediaType": mediatypes.OCI_LAYER, "digest": D, "size": 1}
CONFIG_DESC = {"mediaType": mediatypes.OCI_CONFIG, "digest": D, "size": 2}

VALID: list[tuple[str, Any]] = [
    ("descriptor", DESC),
    ("descriptor", {**DESC, "platform": {"os": "linux", "architecture": "arm64"}}),
    ("descriptor", {**DESC, "annotations": {"a": "b"}, "urls": ["https://x.example/y"]}),
    ("manifest", {"schemaVersion": 2, "config": CONFIG_DESC, "layers": []}),
    (
        "manifest",
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": CONFIG_DESC,
            "layers": [DESC],
        },
    ),
    ("index", {"schemaVersion": 2, "manifests": []}),
    (
        "index",
        {
            "schemaVersion": 2,
            "manifests": [{**DESC, "platform": {"os": "linux", "architecture": "amd64"}}],
        },
    ),
    (
        "config",
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}},
    ),
    (
        "config",
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": {
                "Env": ["A=1"],
                "Cmd": None,
                "ExposedPorts": {"80/tcp": {}},
                "OnBuild": None,
            },
            "rootfs": {"type": "layers", "diff_ids": [D]},
            "history": [{"created_by": "x", "empty_layer": True}],
        },
    ),
    ("layout", {"imageLayoutVersion": "1.0.0"}),
]

INVALID: list[tuple[str, Any]] = [
    ("descriptor", {"mediaType": mediatypes.OCI_LAYER, "digest": D}),
    ("descriptor", {**DESC, "size": "1"}),
    ("descriptor", {**DESC, "digest": "sha256"}),
    ("descriptor", {**DESC, "mediaType": "not a media type"}),
    ("descriptor", {**DESC, "annotations": {"a": 1}}),
    ("descriptor", {**DESC, "platform": {"os": "linux"}}),
    ("manifest", {"schemaVersion": 1, "config": CONFIG_DESC, "layers": []}),
    ("manifest", {"schemaVersion": 2, "config": CONFIG_DESC}),
    ("manifest", {"schemaVersion": 2, "config": CONFIG_DESC, "layers": [{"size": 1}]}),
    ("index", {"schemaVersion": 2}),
    ("index", {"schemaVersion": 2, "manifests": [{"digest": D}]}),
    ("config", {"architecture": "amd64", "os": "linux"}),
    ("config", {"architecture": "amd64", "os": "linux", "rootfs": {"type": "tar", "diff_ids": []}}),
    (
        "config",
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["x"]}},
    ),
    (
        "config",
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "today",
            "rootfs": {"type": "layers", "diff_ids": []},
        },
    ),
    (
        "config",
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": "A=1"},
            "rootfs": {"type": "layers", "diff_ids": []},
        },
    ),
    ("layout", {"imageLayoutVersion": "2.0.0"}),
    ("layout", {}),
]


@pytest.mark.parametrize(("kind", "doc"), VALID)
def test_valid_documents(kind: str, doc: Any) -> None:
    schemas.validate(kind, doc)


@pytest.mark.parametrize(("kind", "doc"), INVALID)
def test_invalid_documents(kind: str, doc: Any) -> None:
    with pytest.raises(jsonschema.ValidationError):
        schemas.validate(kind, doc)


def test_unknown_kind() -> None:
    with pytest.raises(KeyError):
        schemas.validate("nope", {})


def test_our_own_documents_validate() -> None:
    config = ImageConfig(
        "arm64",
        "linux",
        created="2024-01-01T00:00:00Z",
        config=ContainerConfig(env=("A=1",), exposed_ports=("80/tcp",), volumes=("/v",)),
        diff_ids=(Digest.from_bytes(b"layer"),),
        history=(HistoryEntry(created="2024-01-01T00:00:00Z", created_by="RUN x"),),
    )
    schemas.validate("config", config.to_json())
    config_desc = Descriptor(mediatypes.OCI_CONFIG, Digest.from_bytes(config.to_json()), 9)
    manifest = Manifest(config_desc, annotations=(("k", "v"),))
    schemas.validate("manifest", manifest.to_json())
    entry = Descriptor(
        mediatypes.OCI_MANIFEST,
        Digest.from_bytes(manifest.to_json()),
        len(manifest.to_json()),
        platform=Platform.parse("linux/arm/v7"),
    )
    schemas.validate("index", Index((entry,)).to_json())
    schemas.validate("descriptor", entry.to_json())


def test_schema_dir_is_the_checkout() -> None:
    assert (schemas.schema_dir() / "defs.json").is_file()
