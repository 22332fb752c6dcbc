"""The registry client over a fake one-function Transport: auth, retries, verification, pull."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from ocibuild.errors import DigestMismatch, RegistryError
from ocibuild.oci import Descriptor, Digest, Index, Manifest, Platform, Reference, mediatypes
from ocibuild.oci._json import canonical
from ocibuild.registry import (
    Authenticator,
    Credentials,
    RegistryClient,
    Request,
    Response,
    is_plain_http,
    load_credentials,
    pull,
)
from ocibuild.store import Store

if TYPE_CHECKING:
    from pathlib import Path

Handler = Callable[[Request], tuple[int, dict[str, str], bytes]]


def _response(request: Request, status: int, headers: dict[str, str], body: bytes) -> Response:
    stream = io.BytesIO(body)
    return Response(
        status, {k.lower(): v for k, v in headers.items()}, request.url, stream.read, stream.close
    )


@dataclass
class FakeTransport:
    """Answers with ``handler``; records every request."""

    handler: Handler
    requests: list[Request] = field(default_factory=list)

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        return _response(request, *self.handler(request))


def make_client(
    handler: Handler, creds: Credentials | None = None
) -> tuple[RegistryClient, FakeTransport, list[float]]:
    transport = FakeTransport(handler)
    sleeps: list[float] = []
    auth = Authenticator("reg.test", transport, creds)
    client = RegistryClient("reg.test", transport, auth, sleep=sleeps.append)
    return client, transport, sleeps


def test_bearer_challenge_fetches_a_token_with_basic_credentials() -> None:
    creds = Credentials("alice", "s3cret")

    def handler(request: Request) -> tuple[int, dict[str, str], bytes]:
        if request.url.startswith("https://auth.test/token"):
            assert request.header("Authorization") == creds.basic()
            assert "scope=repository%3Arepo%3Apull" in request.url
            assert "service=reg" in request.url
            return 200, {}, b'{"token":"TOKEN"}'
        if request.header("Authorization") != "Bearer TOKEN":
            challenge = (
                'Bearer realm="https://auth.test/token",service="reg",scope="repository:repo:pull"'
            )
            return 401, {"WWW-Authenticate": challenge}, b""
        return 200, {}, b""

    client, transport, _ = make_client(handler, creds)
    assert client.has_blob("repo", Digest.from_bytes(b"x"))
    assert client.has_blob("repo", Digest.from_bytes(b"y"))
    token_requests = [r for r in transport.requests if r.url.startswith("https://auth.test")]
    assert len(token_requests) == 1  # cached for the second call
    assert "s3cret" not in repr(creds)


def test_basic_challenge_and_refusal_is_one_line_without_secret() -> None:
    def handler(request: Request) -> tuple[int, dict[str, str], bytes]:
        body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
        return 401, {"WWW-Authenticate": 'Basic realm="r"'}, body

    client, transport, _ = make_client(handler, Credentials("bob", "hunter2"))
    with pytest.raises(RegistryError) as info:
        client.get_manifest("team/app", "v1")
    assert str(info.value) == (
        "reg.test/team/app: GET manifests/v1: HTTP 401 unauthorized (UNAUTHORIZED)"
    )
    assert "hunter2" not in str(info.value)
    assert transport.requests[-1].header("Authorization") == Credentials("bob", "hunter2").basic()


def test_anonymous_gets_401_when_there_are_no_credentials() -> None:
    client, transport, _ = make_client(
        lambda r: (401, {"WWW-Authenticate": 'Basic realm="r"'}, b"")
    )
    with pytest.raises(RegistryError, match="HTTP 401 unauthorized"):
        client.has_blob("repo", Digest.from_bytes(b""))
    assert len(transport.requests) == 1


def test_transient_errors_are_retried_with_backoff_then_fail() -> None:
    statuses = iter([503, 429, 200])
    client, _, sleeps = make_client(lambda r: (next(statuses), {}, b""))
    assert client.has_blob("repo", Digest.from_bytes(b""))
    assert sleeps == [0.5, 1.0]

    client, transport, sleeps = make_client(lambda r: (500, {}, b""))
    with pytest.raises(RegistryError, match=r"reg.test/repo: HEAD .*HTTP 500 error"):
        client.has_blob("repo", Digest.from_bytes(b""))
    assert len(transport.requests) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_connection_errors_are_retried() -> None:
    calls = iter([ConnectionResetError("reset"), None])

    def handler(request: Request) -> tuple[int, dict[str, str], bytes]:
        error = next(calls)
        if error is not None:
            raise error
        return 200, {}, b""

    client, _, sleeps = make_client(handler)
    assert client.has_blob("repo", Digest.from_bytes(b""))
    assert sleeps == [0.5]


def test_manifest_digest_is_verified() -> None:
    data = b'{"schemaVersion":2}'
    wrong = str(Digest.from_bytes(b"other"))
    client, _, _ = make_client(lambda r: (200, {"Docker-Content-Digest": wrong}, data))
    with pytest.raises(RegistryError, match="expected"):
        client.get_manifest("repo", "latest")
    client, _, _ = make_client(lambda r: (200, {}, data))
    with pytest.raises(RegistryError, match="expected"):
        client.get_manifest("repo", wrong)


def test_blob_with_wrong_content_is_not_stored(tmp_path: Path) -> None:
    store = Store(tmp_path)
    desc = Descriptor(mediatypes.OCI_LAYER_GZIP, Digest.from_bytes(b"good"), 4)
    client, _, _ = make_client(lambda r: (200, {}, b"evil"))
    with pytest.raises(DigestMismatch):
        client.fetch_blob("repo", desc, store)
    client, _, _ = make_client(lambda r: (200, {}, b"good and more"))
    with pytest.raises(RegistryError, match="expected 4"):
        client.fetch_blob("repo", desc, store)
    assert not store.has_blob(desc)
    assert list(store.tmp_dir.iterdir()) == []


def _serve(blobs: dict[str, tuple[str, bytes]]) -> Handler:
    """A registry holding ``blobs`` by digest; manifests also by tag."""

    def handler(request: Request) -> tuple[int, dict[str, str], bytes]:
        ref = request.url.rpartition("/")[2]
        if ref not in blobs:
            return 404, {}, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'
        media_type, data = blobs[ref]
        return 200, {"Content-Type": media_type}, data

    return handler


def test_pull_keeps_the_index_and_selects_the_platform(tmp_path: Path) -> None:
    def blob(media_type: str, data: bytes) -> Descriptor:
        blobs[str(Digest.from_bytes(data))] = (media_type, data)
        return Descriptor(media_type, Digest.from_bytes(data), len(data))

    blobs: dict[str, tuple[str, bytes]] = {}
    manifests = []
    for arch in ("amd64", "arm64"):
        config = blob(mediatypes.DOCKER_CONFIG, canonical({"architecture": arch, "os": "linux"}))
        layer = blob(mediatypes.DOCKER_LAYER_GZIP, arch.encode())
        data = Manifest(config, (layer,), media_type=mediatypes.DOCKER_MANIFEST).to_json()
        desc = blob(mediatypes.DOCKER_MANIFEST, data)
        manifests.append(
            Descriptor(desc.media_type, desc.digest, desc.size, platform=Platform("linux", arch))
        )
    index = Index(tuple(manifests), media_type=mediatypes.DOCKER_MANIFEST_LIST).to_json()
    index_pretty = json.dumps(json.loads(index), indent=3).encode()
    blobs["latest"] = (mediatypes.DOCKER_MANIFEST_LIST, index_pretty)

    store = Store(tmp_path)
    client, _, _ = make_client(_serve(blobs))
    result = pull(store, Reference.parse("reg.test/multi"), client, Platform("linux", "arm64"))
    assert result.tag == "reg.test/multi:latest"
    assert store.read_blob(result.top) == index_pretty  # byte-exact
    assert result.manifest.digest == manifests[1].digest
    assert store.image("reg.test/multi", Platform("linux", "arm64")).config.architecture == "arm64"
    assert not store.has_blob(manifests[0])  # other platforms are not fetched


def test_failed_pull_leaves_no_tag(tmp_path: Path) -> None:
    config = canonical({"architecture": "amd64", "os": "linux"})
    config_desc = Descriptor(mediatypes.OCI_CONFIG, Digest.from_bytes(config), len(config))
    missing = Descriptor(mediatypes.OCI_LAYER_GZIP, Digest.from_bytes(b"gone"), 4)
    manifest = Manifest(config_desc, (missing,)).to_json()
    blobs = {
        str(config_desc.digest): (mediatypes.OCI_CONFIG, config),
        "v1": (mediatypes.OCI_MANIFEST, manifest),
    }
    store = Store(tmp_path)
    client, _, _ = make_client(_serve(blobs))
    with pytest.raises(RegistryError, match=r"reg.test/app: GET blobs/.* HTTP 404 not found"):
        pull(store, Reference.parse("reg.test/app:v1"), client)
    assert store.refs() == []
    assert not store.has_blob(Digest.from_bytes(manifest))


def test_credentials_come_from_docker_config(tmp_path: Path) -> None:
    auth = base64.b64encode(b"carol:pa:ss").decode()
    config = {
        "auths": {"https://index.docker.io/v1/": {"auth": auth}, "reg.test:5000": {"auth": auth}}
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    env = {"DOCKER_CONFIG": str(tmp_path)}
    assert load_credentials("reg.test:5000", env) == Credentials("carol", "pa:ss")
    assert load_credentials("docker.io", env) == Credentials("carol", "pa:ss")
    assert load_credentials("other.test", env) is None
    assert load_credentials("x", {"DOCKER_CONFIG": str(tmp_path / "none")}) is None


def test_loopback_registries_speak_plain_http() -> None:
    assert is_plain_http("127.0.0.1:5000")
    assert is_plain_http("localhost:5000")
    assert is_plain_http("[::1]:5000")
    assert not is_plain_http("registry.example:5000")
    assert is_plain_http("registry.example:5000", ["registry.example:5000"])


def test_a_refused_token_is_fetched_again() -> None:
    tokens = iter(["OLD", "NEW"])
    valid = {"OLD"}

    def handler(request: Request) -> tuple[int, dict[str, str], bytes]:
        if request.url.startswith("https://auth.test/"):
            return 200, {}, json.dumps({"access_token": next(tokens)}).encode()
        sent = (request.header("Authorization") or "").removeprefix("Bearer ")
        if sent not in valid:
            return 401, {"WWW-Authenticate": 'Bearer realm="https://auth.test/t"'}, b""
        return 200, {}, b""

    client, _, _ = make_client(handler)
    assert client.has_blob("repo", Digest.from_bytes(b"a"))
    valid.clear()
    valid.add("NEW")  # the old token expired
    assert client.has_blob("repo", Digest.from_bytes(b"b"))


def test_offline_refuses_every_registry_but_loopback() -> None:
    from ocibuild.errors import RegistryError
    from ocibuild.registry.connect import connect

    offline = {"OCIBUILD_OFFLINE": "1"}
    with pytest.raises(RegistryError, match=r"registry-1\.docker\.io: not contacted"):
        connect("docker.io", env=offline)
    with pytest.raises(RegistryError, match=r"example\.com: not contacted"):
        connect("example.com", env=offline)
    assert connect("127.0.0.1:5000", env=offline).registry == "127.0.0.1:5000"
    assert connect("localhost:5000", env=offline).registry == "localhost:5000"
    assert connect("example.com", env={"OCIBUILD_OFFLINE": "0"}).registry == "example.com"
