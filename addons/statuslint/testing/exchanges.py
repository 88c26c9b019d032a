"""An exchange made by a test client, as the mitmproxy ``HTTPFlow`` the proxy would have
seen: every rule, the policy language and the reports then work unchanged.

A client hook takes an ``Exchange`` (plain values, copied off the client's objects while
the test waits for its response) and the session builds its flow later, with others
(``AuditSession.flush``): see there why."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import urlsplit

from mitmproxy import connection, http

from .. import messages

HeaderItems = Iterable[tuple[str | bytes, str | bytes]]

_VERSIONS = {10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2.0", 30: "HTTP/3"}


def _bytes(value: str | bytes) -> bytes:
    # Header values outside latin-1 are what a client sent as UTF-8 on the wire.
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


# Methods, schemes, versions and reasons are a handful of strings, encoded once.
@functools.lru_cache(maxsize=1024)
def _token(value: str) -> bytes:
    return _bytes(value)


def headers(items: HeaderItems) -> http.Headers:
    fields = tuple(items)
    for k, v in fields:
        if type(k) is not bytes or type(v) is not bytes:
            return messages.headers(tuple((_bytes(k), _bytes(v)) for k, v in fields))
    return messages.headers(fields)  # httpx gives bytes already


def http_version(value: object) -> str:
    """``HTTP/1.1`` from what a client library says (``11``, ``"HTTP/1.1"``, None)."""
    if isinstance(value, int):
        return _VERSIONS.get(value, "HTTP/1.1")
    if isinstance(value, str) and value.upper().startswith("HTTP/"):
        return value.upper()
    return "HTTP/1.1"


# A URL of the common shape: its origin, path and query are where urlsplit puts them
# (no leading blank, tab or newline for it to strip), and its origin's parts are
# urlsplit's, kept per origin: a suite talks to a few servers, at many paths.
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/?#\t\r\n]*)([^?#\t\r\n]*)(?:\?([^#\t\r\n]*))?(?:#[^\t\r\n]*)?")
_ORIGINS: dict[str, tuple[str, str, int]] = {}
_ORIGIN_LIMIT = 256


def _origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port); urlsplit's ValueError for a bad port or IPv6 address."""
    parts = urlsplit(url)
    scheme = parts.scheme or "http"
    return scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80)


def split_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with its query) as urlsplit makes them."""
    m = _URL.fullmatch(url)
    if m is None:
        scheme, host, port = _origin(url)
        parts = urlsplit(url)
        path, query = parts.path, parts.query
    else:
        origin, path, query = m.groups()
        known = _ORIGINS.get(origin)
        if known is None:
            known = _origin(origin)
            if len(_ORIGINS) >= _ORIGIN_LIMIT:
                _ORIGINS.clear()
            _ORIGINS[origin] = known
        scheme, host, port = known
    path = path or "/"
    if query:
        path += "?" + query
    return scheme, host, port, path


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


class Captured(Protocol):
    """What a client hook hands over for one exchange, to be made a flow with its batch."""

    request_body: bytes | None
    response_body: bytes | None

    def flow(self) -> http.HTTPFlow: ...


@dataclasses.dataclass(slots=True)
class Exchange:
    """What a client hook copies off one exchange: the arguments of ``build_flow``. Header
    items are a list of their own (the client's may change after the request returns).
    ``url`` is the URL's text, or an immutable object whose ``str()`` it is (httpx's
    ``URL``): made into text with its batch, not while the test waits."""

    method: str
    url: str | object
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
        return build_flow(
            self.method,
            self.url,
            self.request_headers,
            self.request_body,
            self.status,
            self.reason,
            self.response_headers,
            self.response_body,
            self.body_decoded,
            self.started,
            self.answered,
            self.version,
        )


def build_flow(
    method: str,
    url: str | object,
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
    scheme, host, port, path = split_url(url if type(url) is str else str(url))
    encoded_version = _token(version)
    request = messages.request(
        host=host,
        port=port,
        method=_token(method.upper()),
        scheme=_token(scheme),
        authority=b"",
        path=_bytes(path),
        http_version=encoded_version,
        headers=headers(request_headers),
        content=request_body,
        trailers=None,
        timestamp_start=started,
        timestamp_end=started,
    )
    fields = headers(response_headers)
    encode = (
        response_body is not None
        and body_decoded
        and any(name.lower() == b"content-encoding" for name, _ in fields.fields)
    )
    response = messages.response(
        http_version=encoded_version,
        status_code=status,
        reason=_token(reason or ""),
        headers=fields,
        content=None if encode else response_body,
        trailers=None,
        timestamp_start=answered,
        timestamp_end=answered,
    )
    if encode:
        try:
            response.content = response_body
        except ValueError:  # an encoding mitmproxy cannot produce: keep what we have
            response.raw_content = response_body
    f = messages.flow(_CLIENT, _server(host, port))
    f.request = request
    f.response = response
    return f
