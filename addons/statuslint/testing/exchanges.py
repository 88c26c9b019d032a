"""An exchange made by a test client, as the mitmproxy ``HTTPFlow`` the proxy would have
seen: every rule, the policy language and the reports then work unchanged."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from mitmproxy import connection, http

HeaderItems = Iterable[tuple[str | bytes, str | bytes]]

_VERSIONS = {10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2.0", 30: "HTTP/3"}


def _bytes(value: str | bytes) -> bytes:
    # Header values outside latin-1 are what a client sent as UTF-8 on the wire.
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


def headers(items: HeaderItems) -> http.Headers:
    return http.Headers([(_bytes(k), _bytes(v)) for k, v in items])


def http_version(value: object) -> str:
    """``HTTP/1.1`` from what a client library says (``11``, ``"HTTP/1.1"``, None)."""
    if isinstance(value, int):
        return _VERSIONS.get(value, "HTTP/1.1")
    if isinstance(value, str) and value.upper().startswith("HTTP/"):
        return value.upper()
    return "HTTP/1.1"


def make_flow(
    *,
    method: str,
    url: str,
    request_headers: HeaderItems,
    request_body: bytes | None,
    status: int,
    reason: str,
    response_headers: HeaderItems,
    response_body: bytes | None,
    body_decoded: bool,
    started: float,
    answered: float,
    version: str = "HTTP/1.1",
) -> http.HTTPFlow:
    """``None`` for a body means streamed (not read): rules on it are undecidable, as for a
    streamed body in the proxy. ``body_decoded``: the client already undid Content-Encoding
    (requests, httpx); the body is encoded again so the flow is what crossed the wire."""
    parts = urlsplit(url)
    scheme = parts.scheme or "http"
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    request = http.Request(
        host,
        port,
        _bytes(method.upper()),
        _bytes(scheme),
        b"",
        _bytes(path),
        _bytes(version),
        headers(request_headers),
        request_body,
        None,
        started,
        started,
    )
    response = http.Response(
        _bytes(version),
        status,
        _bytes(reason or ""),
        headers(response_headers),
        None,
        None,
        answered,
        answered,
    )
    if response_body is not None:
        if body_decoded and "content-encoding" in response.headers:
            try:
                response.content = response_body
            except ValueError:  # an encoding mitmproxy cannot produce: keep what we have
                response.raw_content = response_body
        else:
            response.raw_content = response_body
    client = connection.Client(peername=("127.0.0.1", 0), sockname=("127.0.0.1", 0), timestamp_start=started)
    server = connection.Server(address=(host, port))
    f = http.HTTPFlow(client, server)
    f.request = request
    f.response = response
    return f
