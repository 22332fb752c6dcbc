"""Registry authentication: anonymous, Basic, and Bearer tokens from a challenge.

Credentials come from Docker's ``config.json`` (``$DOCKER_CONFIG/config.json``
or ``~/.docker/config.json``), whose ``auths`` entries hold base64
``user:password``; :func:`save_credentials` and :func:`remove_credentials`
(``ocibuild login``/``logout``) rewrite it atomically, mode 0600, keeping
every other key.  We read the file ourselves because oras-py's
``load_configs`` ignores ``$DOCKER_CONFIG`` and always merges the home file.
From oras-py we take the ``WWW-Authenticate`` parser and the Basic encoding
(``oras.auth.utils``).  :class:`Authenticator` answers a 401 challenge with a
header value (fetching and caching a token per realm, service and scope) and
never puts a secret in a message or log.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

from ocibuild._record import record
from ocibuild.errors import RegistryError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ocibuild.registry.transport import Transport

__all__ = [
    "Authenticator",
    "Credentials",
    "config_key",
    "config_path",
    "load_credentials",
    "remove_credentials",
    "save_credentials",
]

_DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io")


@record
class Credentials:
    """A user name and password (or identity token as password); repr hides the secret."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=<hidden>)"

    def basic(self) -> str:
        """The ``Authorization`` value for Basic auth."""
        from oras.auth.utils import get_basic_auth

        return "Basic " + str(get_basic_auth(self.username, self.password))


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """Where Docker keeps its client config: ``$DOCKER_CONFIG`` or ``~/.docker``."""
    env = os.environ if env is None else env
    base = env.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(base) / "config.json"


def load_credentials(host: str, env: Mapping[str, str] | None = None) -> Credentials | None:
    """The ``auths`` entry for ``host`` in Docker's config.json, or None."""
    path = config_path(env)
    try:
        auths = json.loads(path.read_bytes()).get("auths") or {}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError) as err:
        raise RegistryError(f"cannot read {path}: {type(err).__name__}") from None
    for key in _keys_for(host):
        entry = auths.get(key)
        if isinstance(entry, dict) and entry.get("auth"):
            return _decode(str(entry["auth"]), path, key)
    return None


def config_key(host: str) -> str:
    """The ``auths`` key ``login`` writes for ``host`` (Docker Hub's is its v1 URL)."""
    return _DOCKER_HUB_KEYS[0] if host in ("docker.io", *_DOCKER_HUB_KEYS) else host


def save_credentials(
    host: str, credentials: Credentials, env: Mapping[str, str] | None = None
) -> Path:
    """Store ``credentials`` as ``auths[host].auth`` in config.json; returns the file."""
    path = config_path(env)
    config = _read_config(path)
    auths = config.get("auths")
    auths = auths if isinstance(auths, dict) else {}
    secret = f"{credentials.username}:{credentials.password}".encode()
    entry = auths.get(config_key(host))
    entry = dict(entry) if isinstance(entry, dict) else {}
    entry["auth"] = base64.b64encode(secret).decode()
    auths[config_key(host)] = entry
    config["auths"] = auths
    _write_config(path, config)
    return path


def remove_credentials(host: str, env: Mapping[str, str] | None = None) -> bool:
    """Drop every ``auths`` entry for ``host``; False if there was none."""
    path = config_path(env)
    if not path.exists():
        return False
    config = _read_config(path)
    auths = config.get("auths")
    if not isinstance(auths, dict):
        return False
    keys = [k for k in dict.fromkeys((config_key(host), *_keys_for(host))) if k in auths]
    if not keys:
        return False
    for key in keys:
        del auths[key]
    _write_config(path, config)
    return True


def _read_config(path: Path) -> dict[str, object]:
    try:
        config = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise RegistryError(f"cannot read {path}: {type(err).__name__}") from None
    if not isinstance(config, dict):
        raise RegistryError(f"cannot read {path}: not a JSON object")
    return config


def _write_config(path: Path, config: Mapping[str, object]) -> None:
    """Write to a 0600 temp file in the same directory, fsync, rename over ``path``."""
    data = (json.dumps(config, indent="\t") + "\n").encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise RegistryError(f"cannot write {path}: {err.strerror}") from None


def _keys_for(host: str) -> tuple[str, ...]:
    keys = (host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/")
    return (*keys, *_DOCKER_HUB_KEYS) if host in ("docker.io", *_DOCKER_HUB_KEYS) else keys


def _decode(value: str, path: Path, key: str) -> Credentials:
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    user, sep, password = decoded.partition(":")
    if not sep:
        raise RegistryError(f"{path}: the auth entry for {key} is not base64 user:password")
    return Credentials(user, password)


@record
class Challenge:
    """A parsed ``WWW-Authenticate`` header."""

    scheme: str
    realm: str = ""
    service: str = ""
    scope: str = ""

    @classmethod
    def parse(cls, header: str) -> Challenge:
        from oras.auth.utils import parse_auth_header

        scheme = header.strip().partition(" ")[0].lower()
        parsed = parse_auth_header(header)
        return cls(scheme, parsed.realm or "", parsed.service or "", parsed.scope or "")


class Authenticator:
    """Answers 401 challenges for one registry; caches tokens by realm/service/scope."""

    def __init__(self, registry: str, transport: Transport, credentials: Credentials | None):
        self._registry = registry
        self._transport = transport
        self._credentials = credentials
        self._tokens: dict[tuple[str, str, str], str] = {}

    def answer(
        self, challenge_header: str, scopes: tuple[str, ...], refused: str | None = None
    ) -> str | None:
        """The ``Authorization`` value to retry with, or None if we have nothing to offer.

        ``refused`` is the value the registry just rejected: a cached token equal
        to it (expired, or too narrow) is fetched again.
        """
        challenge = Challenge.parse(challenge_header)
        if challenge.scheme == "basic":
            return self._credentials.basic() if self._credentials else None
        if challenge.scheme != "bearer" or not challenge.realm:
            return None
        scope = " ".join(dict.fromkeys(s for s in (challenge.scope, *scopes) if s))
        key = (challenge.realm, challenge.service, scope)
        if key not in self._tokens or f"Bearer {self._tokens[key]}" == refused:
            self._tokens[key] = self._fetch_token(challenge, scope)
        return "Bearer " + self._tokens[key]

    def _fetch_token(self, challenge: Challenge, scope: str) -> str:
        from ocibuild.registry.transport import Request

        query = [("service", challenge.service)] if challenge.service else []
        query += [("scope", s) for s in scope.split()]
        url = challenge.realm + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = (("Authorization", self._credentials.basic()),) if self._credentials else ()
        response = self._transport(Request("GET", url, headers))
        try:
            body = response.read()
        finally:
            response.close()
        if response.status != 200:
            raise RegistryError(
                f"{self._registry}: token request refused: HTTP {response.status}"
                + (" (unauthorized)" if response.status == 401 else "")
            )
        try:
            data = json.loads(body)
            return str(data.get("token") or data["access_token"])
        except (ValueError, KeyError, AttributeError):
            raise RegistryError(f"{self._registry}: token response has no token") from None
