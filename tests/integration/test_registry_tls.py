"""HTTPS registries trusted through certs.d, and ``ocibuild login``/``logout``.

A throwaway CA signs a certificate for 127.0.0.1; docker-registry serves it
(``http.tls``).  ocibuild trusts the CA only through
``$OCIBUILD_CERTS_D/127.0.0.1:PORT/ca.crt``, never through /etc.  The login
tests use the plain-HTTP htpasswd registry.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import io
import ipaddress
import json
import shutil
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from helpers.prereq import unavailable
from helpers.registry import REGISTRY_BIN, serve

from ocibuild.errors import RegistryError
from ocibuild.oci import Reference
from ocibuild.registry import connect, pull, push
from ocibuild.store import Store
from tests.integration.test_registry import _image

if TYPE_CHECKING:
    from collections.abc import Iterator


def _make_certs(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca.crt, server.crt, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ocibuild test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = (directory / "ca.pem", directory / "server.crt", directory / "server.key")
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(server.public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _serve_tls(work: Path, cert: Path, key: Path, ca: Path) -> Iterator[str]:
    if not Path(REGISTRY_BIN).exists():
        unavailable(f"{REGISTRY_BIN} is not installed (Debian package docker-registry)")
    port = _free_port()
    config = work / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {work / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
        f"  tls:\n    certificate: {cert}\n    key: {key}\n"
    )
    context = ssl.create_default_context(cafile=str(ca))
    with (work / "log").open("wb") as log:
        proc = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 15
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("docker-registry with TLS did not start")
                try:
                    url = f"https://127.0.0.1:{port}/v2/"
                    with urllib.request.urlopen(url, timeout=1, context=context):
                        break
                except OSError:
                    time.sleep(0.1)
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``(127.0.0.1:PORT, CA file)`` of a registry serving HTTPS."""
    work = tmp_path_factory.mktemp("tls-registry")
    ca, cert, key = _make_certs(work)
    with _serve_tls(work, cert, key, ca) as address:
        yield address, ca


def _certs_d(tmp_path: Path, address: str, ca: Path) -> dict[str, str]:
    (tmp_path / "certs.d" / address).mkdir(parents=True)
    shutil.copy(ca, tmp_path / "certs.d" / address / "ca.crt")
    return {"OCIBUILD_CERTS_D": str(tmp_path / "certs.d"), "DOCKER_CONFIG": str(tmp_path)}


def test_push_and_pull_over_tls_trusting_certs_d(
    tls_registry: tuple[str, Path], tmp_path: Path
) -> None:
    address, ca = tls_registry
    env = _certs_d(tmp_path, address, ca)
    name = f"{address}/secure:1"
    store = Store(tmp_path / "a")
    _image(store, name, b"tls")
    ref = Reference.parse(name)
    client = connect(ref.domain, env=env)
    pushed = push(store, store.image(name), ref, client)
    pulled = pull(Store(tmp_path / "b"), ref, connect(ref.domain, env=env))
    assert pulled.top.digest == pushed.manifest.digest


def test_untrusted_certificate_is_a_one_line_error(
    tls_registry: tuple[str, Path], tmp_path: Path
) -> None:
    address, _ = tls_registry
    other_ca, _, _ = _make_certs(tmp_path)  # a certs.d entry, but for another CA
    env = _certs_d(tmp_path, address, other_ca)
    ref = Reference.parse(f"{address}/secure:1")
    with pytest.raises(RegistryError) as info:
        pull(Store(tmp_path / "s"), ref, connect(ref.domain, env=env))
    message = str(info.value)
    assert message.startswith(f"{address}/secure: TLS certificate not trusted:")
    assert "\n" not in message


def test_loopback_without_certs_d_speaks_plain_http(
    tls_registry: tuple[str, Path], tmp_path: Path
) -> None:
    address, _ = tls_registry
    env = {"OCIBUILD_CERTS_D": str(tmp_path / "none"), "DOCKER_CONFIG": str(tmp_path)}
    ref = Reference.parse(f"{address}/secure:1")
    with pytest.raises(RegistryError, match="HTTP 400"):
        pull(Store(tmp_path / "s"), ref, connect(ref.domain, env=env))


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    htpasswd = shutil.which("htpasswd")
    if htpasswd is None:
        unavailable("htpasswd (apache2-utils) is needed for a bcrypt password file")
    work = tmp_path_factory.mktemp("login-registry")
    subprocess.run(
        [str(htpasswd), "-Bbc", str(work / "htpasswd"), "tester", "pa55word"],
        check=True,
        capture_output=True,
    )
    auth_config = f"auth:\n  htpasswd:\n    realm: test\n    path: {work / 'htpasswd'}\n"
    with serve(work, auth_config) as address:
        yield address


def _login(address: str, password: str, monkeypatch: pytest.MonkeyPatch) -> int:
    from ocibuild.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(["login", "--username", "tester", "--password-stdin", address])


def test_login_stores_checked_credentials_and_logout_removes_them(
    auth_registry: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ocibuild.cli import main

    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    config = tmp_path / "docker" / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"auths": {"other:5000": {"auth": "eDp5"}}, "psFormat": "x"}))

    assert _login(auth_registry, "wrong", monkeypatch) == 1
    err = capsys.readouterr().err
    assert f"{auth_registry}: GET /v2/: HTTP 401 unauthorized" in err
    assert "wrong" not in err

    assert _login(auth_registry, "pa55word", monkeypatch) == 0
    assert capsys.readouterr().out == "Login Succeeded\n"
    saved = json.loads(config.read_text())
    assert saved["psFormat"] == "x"
    assert saved["auths"]["other:5000"] == {"auth": "eDp5"}
    assert base64.b64decode(saved["auths"][auth_registry]["auth"]) == b"tester:pa55word"
    assert config.stat().st_mode & 0o777 == 0o600

    name = f"{auth_registry}/mine:1"
    _image(Store(tmp_path / "s"), name, b"login")
    assert main(["push", "--root", str(tmp_path / "s"), name]) == 0

    assert main(["logout", auth_registry]) == 0
    assert capsys.readouterr().out.endswith(f"Removing login credentials for {auth_registry}\n")
    assert auth_registry not in json.loads(config.read_text())["auths"]
    assert main(["push", "--root", str(tmp_path / "s"), name]) == 1
    assert "HTTP 401 unauthorized" in capsys.readouterr().err
    assert main(["logout", auth_registry]) == 0
    assert capsys.readouterr().out == f"Not logged in to {auth_registry}\n"
