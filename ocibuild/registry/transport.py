"""The one I/O seam of the registry client: a request in, a streaming response out.

:class:`Transport` is a Protocol with one method, so tests pass a fake and the
client never touches sockets itself.  :class:`HttpTransport` is the real one,
over :mod:`http.client`: the URL's scheme picks plain HTTP or TLS, one
connection per request, bodies streamed both ways (a request body may be a
file object; a response body is read in pieces by the caller).  Redirects
are followed here (blob downloads are often redirected to storage), dropping
the ``Authorization`` header when the host changes.
"""

from __future__ import annotations

import http.client
import ssl
import urllib.parse
from typing import TYPE_CHECKING, BinaryIO, Protocol

from ocibuild._record import field, record

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["HttpTransport", "Request", "Response", "Transport"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5


@record
class Request:
    """One HTTP request; ``body`` is bytes, a binary file (streamed) or None."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | BinaryIO | None = None
    length: int | None = None  # Content-Length when ``body`` is a file

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


@record(frozen=False)
class Response:
    """Status, headers (lower-cased names) and a body read with :meth:`read`."""

    status: int
    headers: Mapping[str, str]
    url: str
    _read: Callable[[int], bytes] = field(repr=False)
    _close: Callable[[], None] = field(repr=False)

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of the body (all of it when negative); b"" at the end."""
        return self._read(size)

    def close(self) -> None:
        """Release the connection."""
        self._close()

    def header(self, name: str) -> str | None:
        """The value of header ``name`` or None."""
        return self.headers.get(name.lower())


class Transport(Protocol):
    """Sends a request and returns the response (the body not yet read)."""

    def __call__(self, request: Request) -> Response: ...


class HttpTransport:
    """Transport over :mod:`http.client` (TLS verified with ``context``, default: system CAs)."""

    def __init__(self, *, timeout: float = 60.0, context: ssl.SSLContext | None = None) -> None:
        self._timeout = timeout
        self._context = context or ssl.create_default_context()

    def __call__(self, request: Request) -> Response:
        response = self._send(request)
        for _ in range(_MAX_REDIRECTS):
            location = response.header("location")
            if response.status not in _REDIRECTS or not location or request.method == "PUT":
                break
            response.close()
            request = _redirected(request, urllib.parse.urljoin(request.url, location))
            response = self._send(request)
        return response

    def _send(self, request: Request) -> Response:
        url = urllib.parse.urlsplit(request.url)
        conn: http.client.HTTPConnection
        if url.scheme == "https":
            conn = http.client.HTTPSConnection(
                url.netloc, timeout=self._timeout, context=self._context
            )
        else:
            conn = http.client.HTTPConnection(url.netloc, timeout=self._timeout)
        path = url.path + (f"?{url.query}" if url.query else "")
        headers = dict(request.headers)
        if request.body is not None and request.length is not None:
            headers["Content-Length"] = str(request.length)
        try:
            conn.request(request.method, path or "/", body=request.body, headers=headers)
            raw = conn.getresponse()
        except BaseException:
            conn.close()
            raise
        names = {k.lower(): v for k, v in raw.getheaders()}

        def close() -> None:
            raw.close()
            conn.close()

        def read(size: int) -> bytes:
            return raw.read() if size < 0 else raw.read(size)

        return Response(raw.status, names, request.url, read, close)


def _redirected(request: Request, url: str) -> Request:
    """The request sent to ``url``: GET/HEAD keep their method; auth only on the same host."""
    same_host = urllib.parse.urlsplit(url).netloc == urllib.parse.urlsplit(request.url).netloc
    headers = tuple((k, v) for k, v in request.headers if same_host or k.lower() != "authorization")
    return Request(request.method, url, headers, request.body, request.length)
