"""Registry errors, certs.d trust and config.json writes (fake transport, temp dirs)."""

from __future__ import annotations

import base64
import json
import ssl
from typing import TYPE_CHECKING

import pytest

from ocibuild.errors import RegistryError
from ocibuild.oci import Digest, Reference
from ocibuild.registry import Credentials, connect, is_plain_http, load_credentials, pull
from ocibuild.registry.auth import remove_credentials, save_credentials
from ocibuild.registry.connect import certs_dir, tls_context
from ocibuild.store import Store
from tests.unit.test_registry_client import FakeTransport, make_client

if TYPE_CHECKING:
    from pathlib import Path

    from ocibuild.registry import Request


@pytest.mark.parametrize(
    ("status", "word", "code"),
    [
        (401, "unauthorized", "UNAUTHORIZED"),
        (403, "denied", "DENIED"),
        (404, "not found", "NAME_UNKNOWN"),
        (429, "rate limited", "TOOMANYREQUESTS"),
    ],
)
def test_status_errors_name_registry_repository_and_status(
    tmp_path: Path, status: int, word: str, code: str
) -> None:
    body = json.dumps({"errors": [{"code": code, "message": "secret-ish detail"}]}).encode()
    client, transport, sleeps = make_client(lambda r: (status, {}, body))
    with pytest.raises(RegistryError) as info:
        pull(Store(tmp_path), Reference.parse("reg.test/team/app:v1"), client)
    assert str(info.value) == (
        f"reg.test/team/app: GET manifests/v1: HTTP {status} {word} ({code})"
    )
    retried = status == 429
    assert len(transport.requests) == (4 if retried else 1)
    assert len(sleeps) == (3 if retried else 0)


def test_retry_after_is_honoured_up_to_a_minute() -> None:
    answers = iter([(429, {"Retry-After": "7"}), (429, {"Retry-After": "3600"}), (200, {})])

    def handler(request: Request) -> tuple[int, dict[str, str], bytes]:
        status, headers = next(answers)
        return status, headers, b""

    client, _, sleeps = make_client(handler)
    assert client.has_blob("app", Digest.from_bytes(b"x"))
    assert sleeps == [7.0, 60.0]


def test_ping_names_the_registry_and_path() -> None:
    client, _, _ = make_client(lambda r: (401, {"WWW-Authenticate": 'Basic realm="r"'}, b""))
    with pytest.raises(RegistryError) as info:
        client.ping()
    assert str(info.value) == "reg.test: GET /v2/: HTTP 401 unauthorized"


def test_certs_d_entry_switches_loopback_to_tls(tmp_path: Path) -> None:
    env = {"OCIBUILD_CERTS_D": str(tmp_path)}
    assert is_plain_http("127.0.0.1:5000", env=env)
    (tmp_path / "127.0.0.1:5000").mkdir()
    assert certs_dir("127.0.0.1:5000", env) == tmp_path / "127.0.0.1:5000"
    assert not is_plain_http("127.0.0.1:5000", env=env)
    assert is_plain_http("127.0.0.1:5000", ("127.0.0.1:5000",), env)
    assert not is_plain_http("reg.test", env=env)
    client = connect("127.0.0.1:5000", env=env, transport=FakeTransport(lambda r: (200, {}, b"")))
    client.ping()
    assert client._transport.requests[0].url == "https://127.0.0.1:5000/v2/"  # type: ignore[attr-defined]


def test_a_bad_ca_file_is_a_registry_error(tmp_path: Path) -> None:
    (tmp_path / "reg.test").mkdir()
    (tmp_path / "reg.test" / "ca.crt").write_text("not a certificate")
    with pytest.raises(RegistryError, match=r"^reg.test: bad certificate in "):
        tls_context("reg.test", {"OCIBUILD_CERTS_D": str(tmp_path)})
    assert isinstance(tls_context("other", {"OCIBUILD_CERTS_D": str(tmp_path)}), ssl.SSLContext)


def test_save_credentials_keeps_other_keys_and_is_private(tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path / "cfg")}
    path = save_credentials("reg.test", Credentials("u", "p:w"), env)
    assert path.stat().st_mode & 0o777 == 0o600
    data = json.loads(path.read_text())
    data["auths"]["reg.test"]["email"] = "kept"
    data["credsStore"] = "kept"
    path.write_text(json.dumps(data))
    save_credentials("reg.test", Credentials("u2", "x"), env)
    data = json.loads(path.read_text())
    assert data["credsStore"] == "kept"
    assert data["auths"]["reg.test"]["email"] == "kept"
    assert base64.b64decode(data["auths"]["reg.test"]["auth"]) == b"u2:x"
    assert load_credentials("reg.test", env) == Credentials("u2", "x")
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind


def test_docker_hub_login_uses_the_v1_key(tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path)}
    path = save_credentials("docker.io", Credentials("u", "p"), env)
    assert list(json.loads(path.read_text())["auths"]) == ["https://index.docker.io/v1/"]
    assert load_credentials("registry-1.docker.io", env) == Credentials("u", "p")
    assert remove_credentials("docker.io", env)
    assert not remove_credentials("docker.io", env)
    assert json.loads(path.read_text())["auths"] == {}


def test_remove_credentials_without_a_config(tmp_path: Path) -> None:
    assert not remove_credentials("reg.test", {"DOCKER_CONFIG": str(tmp_path)})
