"""An exchange made by a test client, as the mitmproxy ``HTTPFlow`` the proxy would have
seen: every rule, the policy language and the reports then work unchanged.

A client hook takes an ``Exchange`` (plain values, copied off the client's objects while
the test waits for its response) and the session builds its flow later, with others
(``AuditSession.flush``): see there why."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from urllib.parse import urlsplit

from mitmproxy import connection, http

from .. import messages

HeaderItems = Iterable[tuple[str | bytes, str | bytes]]

_VERSIONS = {10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2.0", 30: "HTTP/3"}


def _bytes(value: str | bytes) -> bytes:
    # Header values outside latin-1 are what a client sent as UTF-8 on the wire.
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


def headers(items: HeaderItems) -> http.Headers:
    return messages.headers(
        tuple((k if type(k) is bytes else _bytes(k), v if type(v) is bytes else _bytes(v)) for k, v in items)
    )


def http_version(value: object) -> str:
    """``HTTP/1.1`` from what a client library says (``11``, ``"HTTP/1.1"``, None)."""
    if isinstance(value, int):
        return _VERSIONS.get(value, "HTTP/1.1")
    if isinstance(value, str) and value.upper().startswith("HTTP/"):
        return value.upper()
    return "HTTP/1.1"


# A test client talks to its app as over one kept-alive connection per server: flows share
# their connection objects, as a proxy's flows on one connection do (and building them is
# a good part of the cost of a flow).
_CLIENT = connection.Client(peername=("127.0.0.1", 0), sockname=("127.0.0.1", 0), timestamp_start=0.0)
_SERVERS: dict[tuple[str, int], connection.Server] = {}
_SERVER_LIMIT = 256


def _server(host: str, port: int) -> connection.Server:
    server = _SERVERS.get((host, port))
    if server is None:
        if len(_SERVERS) >= _SERVER_LIMIT:
            _SERVERS.clear()
        server = _SERVERS[(host, port)] = connection.Server(address=(host, port))
    return server


@dataclasses.dataclass(slots=True)
class Exchange:
    """What a client hook copies off one exchange: the arguments of ``make_flow``. Header
    items are a list of their own (the client's may change after the request returns)."""

    method: str
    url: str
    request_headers: list[tuple[str | bytes, str | bytes]]
    request_body: bytes | None
    status: int
    reason: str
    response_headers: list[tuple[str | bytes, str | bytes]]
    response_body: bytes | None
    body_decoded: bool
    started: float
    answered: float
    version: str = "HTTP/1.1"

    def flow(self) -> http.HTTPFlow:
        return make_flow(
            method=self.method,
            url=self.url,
            request_headers=self.request_headers,
            request_body=self.request_body,
            status=self.status,
            reason=self.reason,
            response_headers=self.response_headers,
            response_body=self.response_body,
            body_decoded=self.body_decoded,
            started=self.started,
            answered=self.answered,
            version=self.version,
        )


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
    request = messages.request(
        host=host,
        port=port,
        method=_bytes(method.upper()),
        scheme=_bytes(scheme),
        authority=b"",
        path=_bytes(path),
        http_version=_bytes(version),
        headers=headers(request_headers),
        content=request_body,
        trailers=None,
        timestamp_start=started,
        timestamp_end=started,
    )
    response = messages.response(
        http_version=_bytes(version),
        status_code=status,
        reason=_bytes(reason or ""),
        headers=headers(response_headers),
        content=None,
        trailers=None,
        timestamp_start=answered,
        timestamp_end=answered,
    )
    if response_body is not None:
        if body_decoded and "content-encoding" in response.headers:
            try:
                response.content = response_body
            except ValueError:  # an encoding mitmproxy cannot produce: keep what we have
                response.raw_content = response_body
        else:
            response.raw_content = response_body
    f = http.HTTPFlow(_CLIENT, _server(host, port))
    f.request = request
    f.response = response
    return f
