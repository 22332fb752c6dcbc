"""Digest, Platform, Reference, Descriptor, Manifest and Index."""

from __future__ import annotations

import hashlib
import inspect
import json

import pytest

import ocibuild.oci
from ocibuild.errors import UserError
from ocibuild.oci import (
    Descriptor,
    Digest,
    Index,
    InvalidDigestError,
    InvalidDocumentError,
    InvalidPlatformError,
    InvalidReferenceError,
    Manifest,
    Platform,
    Reference,
    mediatypes,
)

HEX = "a" * 64


def test_all_matches_public_names() -> None:
    public = {
        name
        for name, value in vars(ocibuild.oci).items()
        if not name.startswith("_")
        and (not inspect.ismodule(value) or name == "mediatypes")
        and name != "annotations"  # from __future__
    }
    assert set(ocibuild.oci.__all__) == public


def test_digest_from_bytes_and_parse() -> None:
    d = Digest.from_bytes(b"hello")
    assert str(d) == "sha256:" + hashlib.sha256(b"hello").hexdigest()
    assert Digest.parse(str(d)) == d
    assert d.short == d.hex[:12]
    d512 = Digest.from_bytes(b"x", "sha512")
    assert Digest.parse(str(d512)).algorithm == "sha512"


@pytest.mark.parametrize(
    "text",
    [
        "sha256:" + "a" * 63,
        "sha256:" + "A" * 64,
        "md5:" + "a" * 32,
        "sha256" + HEX,
        "",
        "sha512:" + HEX,
    ],
)
def test_digest_rejects(text: str) -> None:
    with pytest.raises(InvalidDigestError):
        Digest.parse(text)
    assert issubclass(InvalidDigestError, UserError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/x86_64", "linux/amd64"),
        ("linux/armhf", "linux/arm/v7"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/6", "linux/arm/v6"),
        ("linux/i386", "linux/386"),
        ("Linux/AMD64", "linux/amd64"),
        ("arm64", "linux/arm64"),
    ],
)
def test_platform_parse_normalises(text: str, expected: str) -> None:
    assert str(Platform.parse(text)) == expected


@pytest.mark.parametrize("text", ["", "linux/", "linux/amd64/v1/x", "linux/am d64"])
def test_platform_rejects(text: str) -> None:
    with pytest.raises(InvalidPlatformError):
        Platform.parse(text)


def test_platform_matches_and_host() -> None:
    assert Platform("linux", "arm64", "v8").matches(Platform("linux", "aarch64"))
    assert not Platform("linux", "arm", "v6").matches(Platform("linux", "arm", "v7"))
    assert not Platform("linux", "amd64").matches(Platform("windows", "amd64"))
    host = Platform.host()
    assert host == host.normalized()
    assert Platform.parse(str(host)) == host


def test_platform_json_round_trip() -> None:
    p = Platform("windows", "amd64", "", "10.0.17763", ("win32k",))
    obj = p.to_json()
    assert obj == {
        "architecture": "amd64",
        "os": "windows",
        "os.version": "10.0.17763",
        "os.features": ["win32k"],
    }
    assert Platform.from_json(obj) == p


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/foo/bar:x", "docker.io/foo/bar:x", "foo/bar:x"),
        ("localhost:5000/x/y:t", "localhost:5000/x/y:t", "localhost:5000/x/y:t"),
        ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
        ("127.0.0.1:5000/repo:tag", "127.0.0.1:5000/repo:tag", "127.0.0.1:5000/repo:tag"),
        ("foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest"),
        (
            f"busybox@sha256:{HEX}",
            f"docker.io/library/busybox@sha256:{HEX}",
            f"busybox@sha256:{HEX}",
        ),
        (
            f"quay.io/a/b:v@sha256:{HEX}",
            f"quay.io/a/b:v@sha256:{HEX}",
            f"quay.io/a/b:v@sha256:{HEX}",
        ),
    ],
)
def test_reference_normalisation(text: str, full: str, familiar: str) -> None:
    ref = Reference.parse(text)
    assert str(ref) == full
    assert ref.familiar() == familiar
    assert Reference.parse(ref.familiar()) == ref


def test_reference_parts() -> None:
    ref = Reference.parse("localhost:5000/x/y:t")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("localhost:5000", "x/y", "t", None)
    assert ref.name == "localhost:5000/x/y"
    assert Reference.parse("busybox").familiar_name == "busybox"
    assert Reference.parse("busybox", default_tag="").familiar() == "busybox"
    assert Reference.parse(f"busybox@sha256:{HEX}").tag == ""


@pytest.mark.parametrize(
    "text",
    ["Busybox", "busybox:", HEX, "-x", "x//y", "busybox@sha256:abc", "a" * 256, "a:b:c", ""],
)
def test_reference_rejects(text: str) -> None:
    with pytest.raises(InvalidReferenceError):
        Reference.parse(text)


def _desc(data: bytes, media_type: str = mediatypes.OCI_LAYER) -> Descriptor:
    return Descriptor(media_type, Digest.from_bytes(data), len(data))


def test_descriptor_round_trip() -> None:
    d = Descriptor(
        mediatypes.OCI_MANIFEST,
        Digest.from_bytes(b"m"),
        1,
        annotations=(("b", "2"), ("a", "1")),
        platform=Platform("linux", "arm", "v7"),
        urls=("https://example.com/x",),
    )
    obj = d.to_json()
    assert obj["annotations"] == {"a": "1", "b": "2"}
    back = Descriptor.from_json(json.loads(json.dumps(obj)))
    assert back.annotations == (("a", "1"), ("b", "2"))
    assert back.platform == d.platform
    assert back.annotation("a") == "1"
    assert back.annotation("zz") is None
    assert _desc(b"x").to_json().keys() == {"mediaType", "digest", "size"}


@pytest.mark.parametrize(
    "obj",
    [
        {"mediaType": "x/y", "digest": "sha256:" + HEX},
        {"mediaType": "x/y", "digest": "sha256:" + HEX, "size": -1},
        {"mediaType": "x/y", "digest": "sha256:" + HEX, "size": True},
        {"mediaType": "x/y", "digest": "nope", "size": 1},
    ],
)
def test_descriptor_rejects(obj: dict[str, object]) -> None:
    with pytest.raises(UserError):
        Descriptor.from_json(obj)


def test_manifest_canonical_round_trip() -> None:
    m = Manifest(_desc(b"{}", mediatypes.OCI_CONFIG), (_desc(b"l1"), _desc(b"l2")), (("k", "<v>"),))
    data = m.to_json()
    assert b" " not in data
    assert b"\\u003cv\\u003e" in data
    obj = json.loads(data)
    assert list(obj) == sorted(obj)
    assert obj["schemaVersion"] == 2 and obj["mediaType"] == mediatypes.OCI_MANIFEST
    assert Manifest.from_json(data) == m
    assert Manifest.from_json(data).to_json() == data


def test_manifest_empty_layers_and_docker_form() -> None:
    m = Manifest(_desc(b"{}", mediatypes.DOCKER_CONFIG), media_type=mediatypes.DOCKER_MANIFEST)
    assert json.loads(m.to_json())["layers"] == []
    assert Manifest.from_json(m.to_json()).media_type == mediatypes.DOCKER_MANIFEST


@pytest.mark.parametrize(
    "data",
    [
        b"[]",
        b"{",
        b'{"schemaVersion":1}',
        b'{"schemaVersion":2}',
        b'{"schemaVersion":2,"config":{}}',
    ],
)
def test_manifest_rejects(data: bytes) -> None:
    with pytest.raises(InvalidDocumentError):
        Manifest.from_json(data)


def test_index_round_trip() -> None:
    entry = Descriptor(
        mediatypes.OCI_MANIFEST, Digest.from_bytes(b"m"), 1, platform=Platform("linux", "amd64")
    )
    idx = Index((entry,), (("a", "b"),))
    assert Index.from_json(idx.to_json()) == idx
    assert json.loads(Index().to_json()) == {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_INDEX,
        "manifests": [],
    }
    with pytest.raises(InvalidDocumentError):
        Index.from_json(b'{"schemaVersion":2,"manifests":{}}')
