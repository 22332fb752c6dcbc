"""From an image reference to a ready :class:`RegistryClient`.

Decides the endpoint (``docker.io`` is served by ``registry-1.docker.io``),
whether to speak plain HTTP (loopback hosts and those named by
``--insecure-registry``; TLS otherwise), which certificates to trust, and
loads credentials for the host.  Trust follows Docker's ``certs.d``
convention: ``$OCIBUILD_CERTS_D/HOST[:PORT]/`` (default
``/etc/docker/certs.d``) holds ``*.crt`` CA roots, added to the system's,
and ``*.cert``/``*.key`` client certificate pairs.  A host with such a
directory is always spoken to over TLS, loopback included.
With ``OCIBUILD_OFFLINE=1`` only loopback registries are contacted (a build
farm without egress, and the test suite, which must never reach outside
this machine): anything else is a user error naming the host.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from ocibuild.errors import RegistryError
from ocibuild.registry.auth import Authenticator, load_credentials
from ocibuild.registry.client import RegistryClient
from ocibuild.registry.transport import HttpTransport

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from ocibuild.registry.auth import Credentials
    from ocibuild.registry.transport import Transport

__all__ = ["certs_dir", "connect", "endpoint", "is_plain_http", "tls_context"]

_DOCKER_HUB = "registry-1.docker.io"
DEFAULT_CERTS_D = "/etc/docker/certs.d"


def endpoint(domain: str) -> str:
    """The host[:port] that serves a reference's domain."""
    return _DOCKER_HUB if domain in ("docker.io", "index.docker.io") else domain


def is_plain_http(
    host: str, insecure: Collection[str] = (), env: Mapping[str, str] | None = None
) -> bool:
    """Plain HTTP for hosts listed as insecure, and for loopback ones without certs.d."""
    if host in insecure:
        return True
    return is_loopback(host) and certs_dir(host, env) is None


def certs_dir(host: str, env: Mapping[str, str] | None = None) -> Path | None:
    """``$OCIBUILD_CERTS_D/HOST`` (default ``/etc/docker/certs.d``) if it is a directory."""
    environ = os.environ if env is None else env
    path = Path(environ.get("OCIBUILD_CERTS_D") or DEFAULT_CERTS_D) / host
    try:
        return path if path.is_dir() else None
    except OSError:  # e.g. /etc/docker is 0700 and we are not root
        return None


def tls_context(host: str, env: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """System CAs plus the host's certs.d ``*.crt``; its ``*.cert``/``*.key`` as client cert."""
    context = ssl.create_default_context()
    directory = certs_dir(host, env)
    if directory is None:
        return context
    try:
        for ca in sorted(directory.glob("*.crt")):
            context.load_verify_locations(cafile=str(ca))
        for cert in sorted(directory.glob("*.cert")):
            context.load_cert_chain(str(cert), str(cert.with_suffix(".key")))
    except (OSError, ssl.SSLError) as err:
        raise RegistryError(f"{host}: bad certificate in {directory}: {err}") from None
    return context


def is_loopback(host: str) -> bool:
    """Whether ``host[:port]`` names this machine (``localhost``, 127/8, ::1)."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def connect(
    domain: str,
    *,
    insecure: Collection[str] = (),
    transport: Transport | None = None,
    env: Mapping[str, str] | None = None,
    credentials: Credentials | None = None,
) -> RegistryClient:
    """A client for the registry serving ``domain``, with ``credentials`` or config.json's."""
    host = endpoint(domain)
    environ = os.environ if env is None else env
    if environ.get("OCIBUILD_OFFLINE", "") not in ("", "0") and not is_loopback(host):
        raise RegistryError(f"{host}: not contacted: OCIBUILD_OFFLINE is set")
    plain = is_plain_http(host, insecure, environ)
    if transport is None:
        transport = HttpTransport(context=None if plain else tls_context(host, environ))
    if credentials is None:
        credentials = load_credentials(domain, env) or load_credentials(host, env)
    auth = Authenticator(host, transport, credentials)
    return RegistryClient(host, transport, auth, plain_http=plain)
