"""From an image reference to a ready :class:`RegistryClient`.

Decides the endpoint (``docker.io`` is served by ``registry-1.docker.io``),
whether to speak plain HTTP (loopback hosts and those named by
``--insecure-registry``; TLS otherwise), and loads credentials for the host.
With ``OCIBUILD_OFFLINE=1`` only loopback registries are contacted (a build
farm without egress, and the test suite, which must never reach outside
this machine): anything else is a user error naming the host.
"""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING

from ocibuild.errors import RegistryError
from ocibuild.registry.auth import Authenticator, load_credentials
from ocibuild.registry.client import RegistryClient
from ocibuild.registry.transport import HttpTransport

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from ocibuild.registry.transport import Transport

__all__ = ["connect", "endpoint", "is_plain_http"]

_DOCKER_HUB = "registry-1.docker.io"


def endpoint(domain: str) -> str:
    """The host[:port] that serves a reference's domain."""
    return _DOCKER_HUB if domain in ("docker.io", "index.docker.io") else domain


def is_plain_http(host: str, insecure: Collection[str] = ()) -> bool:
    """Plain HTTP for loopback registries and for hosts listed as insecure."""
    return host in insecure or is_loopback(host)


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
) -> RegistryClient:
    """A client for the registry serving ``domain``, with credentials from config.json."""
    host = endpoint(domain)
    environ = os.environ if env is None else env
    if environ.get("OCIBUILD_OFFLINE", "") not in ("", "0") and not is_loopback(host):
        raise RegistryError(f"{host}: not contacted: OCIBUILD_OFFLINE is set")
    transport = transport or HttpTransport()
    credentials = load_credentials(domain, env) or load_credentials(host, env)
    auth = Authenticator(host, transport, credentials)
    return RegistryClient(host, transport, auth, plain_http=is_plain_http(host, insecure))
