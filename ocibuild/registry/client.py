"""A thin OCI distribution client: manifests byte-exact, blobs streamed and verified.

:class:`RegistryClient` talks to one registry over a :class:`Transport`.  It
returns manifests as the raw bytes the registry sent (with media type and a
verified digest), streams blobs into :meth:`Store.writer` (digest and size
checked before the blob is published), pushes blobs by a monolithic PUT when
small or POST + PATCH chunks + PUT otherwise, tries a cross-repository mount
when the source repository is known, and retries transient failures (5xx,
429, connection errors) a bounded number of times with backoff (or the
``Retry-After`` the registry asked for, up to a minute).  A 401 is
answered once through :class:`~ocibuild.registry.auth.Authenticator`.
Errors are :class:`RegistryError`: one line naming registry, repository and
HTTP status.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import ssl
import time
import urllib.parse
from typing import TYPE_CHECKING, BinaryIO

from ocibuild._record import record, replace
from ocibuild.errors import RegistryError
from ocibuild.oci import Descriptor, Digest, mediatypes
from ocibuild.registry.transport import Request, Response

if TYPE_CHECKING:
    from collections.abc import Callable

    from ocibuild.registry.auth import Authenticator
    from ocibuild.registry.transport import Transport
    from ocibuild.store import Store

__all__ = ["MANIFEST_ACCEPT", "FetchedManifest", "RegistryClient"]

MANIFEST_ACCEPT = ", ".join(
    (
        mediatypes.OCI_INDEX,
        mediatypes.OCI_MANIFEST,
        mediatypes.DOCKER_MANIFEST_LIST,
        mediatypes.DOCKER_MANIFEST,
    )
)
CHUNK = 8 << 20
_READ = 1 << 20
_STATUS_WORDS = {401: "unauthorized", 403: "denied", 404: "not found", 429: "rate limited"}


@record
class FetchedManifest:
    """A manifest or index exactly as the registry sent it."""

    data: bytes
    media_type: str
    digest: Digest

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.data))


class RegistryClient:
    """Distribution API calls against ``registry`` (``host[:port]``)."""

    def __init__(
        self,
        registry: str,
        transport: Transport,
        auth: Authenticator,
        *,
        plain_http: bool = False,
        attempts: int = 4,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        chunk_size: int = CHUNK,
    ) -> None:
        self.registry = registry
        self._base = f"{'http' if plain_http else 'https'}://{registry}/v2/"
        self._transport = transport
        self._auth = auth
        self._authorization: str | None = None
        self._attempts = attempts
        self._backoff = backoff
        self._sleep = sleep
        self._chunk = chunk_size

    def ping(self) -> None:
        """``GET /v2/`` with our credentials: returns if the registry accepts them."""
        self._call("", "GET", self._base, ok=(200,)).close()

    # -- manifests -------------------------------------------------------------

    def get_manifest(self, repo: str, reference: str) -> FetchedManifest:
        """The manifest or index ``reference`` (tag or digest) names, byte-exact."""
        headers = (("Accept", MANIFEST_ACCEPT),)
        response = self._call(repo, "GET", f"manifests/{reference}", headers, ok=(200,))
        try:
            data = response.read()
        finally:
            response.close()
        media_type = (response.header("content-type") or "").partition(";")[0].strip()
        media_type = _json_media_type(data) or media_type
        expected = (
            reference if reference.startswith("sha") else response.header("docker-content-digest")
        )
        digest = Digest.from_bytes(data, Digest.parse(expected).algorithm if expected else "sha256")
        if expected and str(digest) != expected:
            raise RegistryError(
                f"{self._where(repo)}: manifest {reference} is {digest}, expected {expected}"
            )
        return FetchedManifest(data, media_type, digest)

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> Digest:
        """Upload ``data`` unchanged as ``reference``; returns its digest."""
        digest = Digest.from_bytes(data)
        headers = (("Content-Type", media_type),)
        response = self._call(repo, "PUT", f"manifests/{reference}", headers, data, ok=(201, 200))
        response.close()
        return digest

    # -- blobs -------------------------------------------------------------------

    def has_blob(self, repo: str, digest: Digest) -> bool:
        """Whether the repository has the blob (HEAD)."""
        response = self._call(repo, "HEAD", f"blobs/{digest}", ok=(200, 404))
        response.close()
        return response.status == 200

    def fetch_blob(
        self,
        repo: str,
        desc: Descriptor,
        store: Store,
        *,
        on_bytes: Callable[[int], None] | None = None,
    ) -> Descriptor:
        """Stream the blob into ``store``; published only if digest and size match.

        ``on_bytes`` is told the size of each chunk as it arrives.
        """
        response = self._call(repo, "GET", f"blobs/{desc.digest}", ok=(200,))
        try:
            with store.writer(desc.media_type) as writer:
                while chunk := response.read(_READ):
                    writer.write(chunk)
                    if on_bytes is not None:
                        on_bytes(len(chunk))
                    if writer.size > desc.size:
                        break
                if writer.size != desc.size:
                    got = "more" if writer.size > desc.size else writer.size
                    raise RegistryError(
                        f"{self._where(repo)}: blob {desc.digest}: got {got} bytes, "
                        f"expected {desc.size}"
                    )
                return writer.commit(desc.digest)
        finally:
            response.close()

    def mount_blob(self, repo: str, digest: Digest, source_repo: str) -> bool:
        """Ask for a cross-repository mount; True if the registry did it (201)."""
        query = urllib.parse.urlencode({"mount": str(digest), "from": source_repo})
        response = self._call(repo, "POST", f"blobs/uploads/?{query}", ok=(201, 202))
        response.close()
        if response.status == 202:
            self._cancel(repo, response)
        return response.status == 201

    def push_blob(self, repo: str, desc: Descriptor, source: BinaryIO) -> None:
        """Upload ``desc.size`` bytes from ``source`` (monolithic if small, else chunked)."""
        response = self._call(repo, "POST", "blobs/uploads/", ok=(202,))
        response.close()
        location = self._location(repo, response)
        if desc.size > self._chunk:
            location = self._patch_chunks(repo, location, desc.size, source)
            body: bytes | BinaryIO = b""
            length = 0
        else:
            body, length = source, desc.size
        url = _with_query(location, {"digest": str(desc.digest)})
        headers = (("Content-Type", "application/octet-stream"),)
        response = self._call(repo, "PUT", url, headers, body, ok=(201,), length=length)
        response.close()

    def _patch_chunks(self, repo: str, location: str, size: int, source: BinaryIO) -> str:
        offset = 0
        while offset < size:
            data = source.read(min(self._chunk, size - offset))
            if not data:
                raise RegistryError(
                    f"{self._where(repo)}: blob source ended at {offset} of {size} bytes"
                )
            headers = (
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", f"{offset}-{offset + len(data) - 1}"),
            )
            response = self._call(repo, "PATCH", location, headers, data, ok=(202,))
            response.close()
            location = self._location(repo, response)
            offset += len(data)
        return location

    def _cancel(self, repo: str, response: Response) -> None:
        with contextlib.suppress(RegistryError):  # an abandoned upload expires on its own
            self._call(repo, "DELETE", self._location(repo, response), ok=(204, 404)).close()

    def _location(self, repo: str, response: Response) -> str:
        location = response.header("location")
        if not location:
            raise RegistryError(f"{self._where(repo)}: upload response without Location")
        return urllib.parse.urljoin(self._base, location)

    # -- requests ------------------------------------------------------------------

    def _call(
        self,
        repo: str,
        method: str,
        path: str,
        headers: tuple[tuple[str, str], ...] = (),
        body: bytes | BinaryIO | None = None,
        *,
        ok: tuple[int, ...],
        length: int | None = None,
    ) -> Response:
        """Send with auth and retries; the response if its status is in ``ok``."""
        url = path if "://" in path else f"{self._base}{repo}/{path}"
        request = Request(method, url, headers, body, length)
        response = self._with_retries(repo, request)
        if response.status == 401:
            challenge = response.header("www-authenticate") or ""
            action = "pull" if method in ("GET", "HEAD") else "pull,push"
            scopes = (f"repository:{repo}:{action}",) if repo else ()
            authorization = self._auth.answer(challenge, scopes, self._authorization)
            if authorization is not None:
                response.close()
                self._authorization = authorization
                response = self._with_retries(repo, request)
        if response.status in ok:
            return response
        raise self._error(repo, method, url, response)

    def _with_retries(self, repo: str, request: Request) -> Response:
        """Send ``request``, again after 5xx, 429 or connection errors (bounded, backoff)."""
        body = request.body
        rewind = body.tell() if body is not None and not isinstance(body, bytes) else None
        wait: float | None = None
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(wait if wait is not None else self._backoff * 2 ** (attempt - 1))
            if rewind is not None:
                body.seek(rewind)  # type: ignore[union-attr]
            auth = (("Authorization", self._authorization),) if self._authorization else ()
            try:
                response = self._transport(replace(request, headers=(*request.headers, *auth)))
            except ssl.SSLCertVerificationError as err:  # retrying will not help
                raise RegistryError(
                    f"{self._where(repo)}: TLS certificate not trusted: {err.verify_message}"
                    f" (put its CA in certs.d/{self.registry}/ca.crt)"
                ) from None
            except (OSError, http.client.HTTPException) as err:
                if attempt + 1 == self._attempts:
                    raise RegistryError(
                        f"{self._where(repo)}: {request.method} failed: {type(err).__name__}: {err}"
                    ) from None
                continue
            transient = response.status >= 500 or response.status == 429
            if not transient or attempt + 1 == self._attempts:
                return response
            wait = _retry_after(response.header("retry-after"))
            response.close()
        raise AssertionError("unreachable: attempts must be >= 1")

    def _error(self, repo: str, method: str, url: str, response: Response) -> RegistryError:
        try:
            body = response.read(64 << 10) if method != "HEAD" else b""
        except (OSError, http.client.HTTPException):
            body = b""
        finally:
            response.close()
        word = _STATUS_WORDS.get(response.status, "error")
        code = _error_code(body)
        path = urllib.parse.urlsplit(url).path
        what = (path.partition(f"/{repo}/")[2] if repo else path) or url
        detail = f" ({code})" if code else ""
        return RegistryError(
            f"{self._where(repo)}: {method} {what}: HTTP {response.status} {word}{detail}"
        )

    def _where(self, repo: str) -> str:
        return f"{self.registry}/{repo}" if repo else self.registry


def _json_media_type(data: bytes) -> str:
    try:
        obj = json.loads(data)
    except ValueError:
        return ""
    value = obj.get("mediaType") if isinstance(obj, dict) else None
    return value if isinstance(value, str) else ""


def _retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` of seconds, capped at a minute (dates are ignored)."""
    try:
        return min(max(float(value), 0.0), 60.0) if value else None
    except ValueError:
        return None


def _error_code(body: bytes) -> str:
    """The first ``errors[].code`` of a distribution error body (never contains secrets)."""
    try:
        errors = json.loads(body).get("errors") or []
        return str(errors[0].get("code") or "")
    except (ValueError, AttributeError, IndexError, TypeError):
        return ""


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
