"""OCI distribution client: pull images into the store and push them out.

::

    transport.py  Transport protocol (request -> streaming response), HttpTransport
    auth.py       Docker config.json credentials, Basic and Bearer challenges
    client.py     RegistryClient: manifests byte-exact, blobs streamed and verified
    connect.py    reference domain -> endpoint, plain HTTP or TLS, credentials
    pull.py       registry -> store (index kept, platform chosen, tag last)
    push.py       store -> registry (gzip layers, skip existing, manifest last; indexes)
    cache.py      --cache-to/--cache-from type=registry (the cache manifest as an artifact)

Why our own client and not oras-py's: docs/design/009-registry.md.
"""

from __future__ import annotations

from ocibuild.registry.auth import Authenticator, Credentials, load_credentials
from ocibuild.registry.client import FetchedManifest, RegistryClient
from ocibuild.registry.connect import connect, endpoint, is_plain_http
from ocibuild.registry.pull import PullResult, pull
from ocibuild.registry.push import (
    PushResult,
    PushTarget,
    push,
    push_index,
    push_stored,
    push_targets,
)
from ocibuild.registry.transport import HttpTransport, Request, Response, Transport

__all__ = [
    "Authenticator",
    "Credentials",
    "FetchedManifest",
    "HttpTransport",
    "PullResult",
    "PushResult",
    "PushTarget",
    "RegistryClient",
    "Request",
    "Response",
    "Transport",
    "connect",
    "endpoint",
    "is_plain_http",
    "load_credentials",
    "pull",
    "push",
    "push_index",
    "push_stored",
    "push_targets",
]
