"""HAR entry -> ``HTTPFlow``, the flow mitmproxy's own ``request_to_flow`` builds, built
several times faster.

mitmproxy's conversion goes through ``Request.make``: a type-checked dataclass per
message, URL parsing through urllib and IDNA, and setters that rewrite the Host and
Content-Length headers one by one. Most of an audit's HAR time went there. Here the
same objects, with the same attribute values, are assembled directly for the entries
that take the plain path (no Content-Encoding on the request, an ``http(s)`` URL of the common
shape, text that encodes in its charset): mitmproxy's own helpers (``encoding.encode``,
``infer_content_encoding``, ``Headers``) do the parts whose result differs between
mitmproxy versions, so the flow matches the installed version's import (mitmproxy 12
decodes bodies and writes a Content-Length; 11 does not). Every other entry, and every
entry the plain path fails on, goes through ``request_to_flow`` itself: its result and
its error are then mitmproxy's. tests/test_harflows.py holds the two paths equal, field
by field, on every entry of the shared HAR corpus and on hand-made edge cases.
"""

from __future__ import annotations

import base64
import functools
import re
from datetime import datetime
from typing import Any

from mitmproxy import connection, http
from mitmproxy.net import encoding
from mitmproxy.net.http.headers import infer_content_encoding
from mitmproxy.net.http.url import hostport

from . import messages
from .flowview import MITMPROXY_DECODES_HAR

# An http(s) URL whose parsing by mitmproxy's url.parse is known without urllib: a
# lower-case ASCII host name of non-empty labels, a decimal port, and a target without
# ';' (path parameters), '#', whitespace or control characters. Everything else
# (IPv6, user info, upper case, IDNA, ...) goes through mitmproxy.
_PLAIN_URL = re.compile(
    r"(https?)://([a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*)(?::([0-9]{1,5}))?((?:[/?][!-\"$-:<-~]*)?)"
)

_VERSIONS = {"http/2.0": b"HTTP/2", "HTTP/2": b"HTTP/2", "HTTP/3": b"HTTP/3"}


class _NotPlain(Exception):
    """The entry needs mitmproxy's own conversion."""


# The fast path fills in message data directly (statuslint.messages): only where the
# installed mitmproxy's messages hold the fields written there.
_DIRECT = messages.DIRECT


try:
    _CLIENT = messages.template(
        connection.Client(peername=("127.0.0.1", 0), sockname=("127.0.0.1", 0)),
        ("timestamp_start", "timestamp_end"),
    )
    _SERVER = messages.template(connection.Server(address=None), ("address",))
except TypeError:
    _DIRECT = False
_DIRECT = _DIRECT and messages.FLOW_DIRECT


class _Placeholders:
    client = connection.Client(peername=("", 0), sockname=("", 0))
    server = connection.Server(address=None)


def har_flow(entry: Any, *, connections: bool = True) -> http.HTTPFlow:
    """The flow of one HAR entry, as ``mitmproxy.io.har.request_to_flow`` makes it;
    raises what it raises for an entry it cannot convert. ``connections=False``: for an
    audit, which reads neither connection, entries of the plain path share one
    placeholder client and server (as ``flowfile``'s flows do) instead of their own."""
    if _DIRECT and type(entry) is dict:
        try:
            return _plain_flow(entry, connections)
        except Exception:
            # Not the plain path, or an entry mitmproxy rejects too: its own conversion
            # decides, and names the reason.
            pass
    # Imported here, not at the top: mitmproxy.io imports its flow filter language
    # (pyparsing), a tenth of a HAR audit's start-up, for the entries that need it.
    from mitmproxy.io.har import request_to_flow

    return request_to_flow(entry)


class _Fields:
    """A message's header fields while it is built: what ``Headers`` does with them
    (case-insensitive names, values folded with ", ", ``set_all``), on a plain list."""

    __slots__ = ("fields", "names", "texts")

    def __init__(self, values: Any) -> None:
        # fix_headers: {"name", "value"} objects, UTF-8 encoded.
        fields, names, texts = [], [], []
        for h in values:
            if type(h) is not dict:
                raise _NotPlain("header as a list")
            name, text = h["name"], h["value"]
            field = (name.encode(), text.encode())
            fields.append(field)
            names.append(field[0].lower())
            texts.append(text)
        self.fields, self.names, self.texts = fields, names, texts

    def __contains__(self, name: bytes) -> bool:
        return name in self.names

    def get(self, name: bytes) -> str | None:
        if name not in self.names:
            return None
        return ", ".join(t for n, t in zip(self.names, self.texts, strict=True) if n == name)

    def set(self, name: bytes, text: str) -> None:
        """``headers[name] = text``: the first field keeps its place and its name's case,
        the others go; appended if there is none."""
        value = text.encode("utf-8", "surrogateescape")
        if name not in self.names:
            self.fields.append((name, value))
            self.names.append(name)
            self.texts.append(text)
            return
        first = self.names.index(name)
        if self.names.count(name) == 1:
            self.fields[first] = (self.fields[first][0], value)
            self.texts[first] = text
            return
        keep = [i == first or n != name for i, n in enumerate(self.names)]
        self.fields[first] = (self.fields[first][0], value)
        self.texts[first] = text
        self.fields = [f for f, k in zip(self.fields, keep, strict=True) if k]
        self.names = [n for n, k in zip(self.names, keep, strict=True) if k]
        self.texts = [t for t, k in zip(self.texts, keep, strict=True) if k]

    def remove(self, name: bytes) -> None:
        """``headers.pop(name, None)``: every field of that name."""
        if name in self.names:
            keep = [n != name for n in self.names]
            self.fields = [f for f, k in zip(self.fields, keep, strict=True) if k]
            self.names = [n for n, k in zip(self.names, keep, strict=True) if k]
            self.texts = [t for t, k in zip(self.texts, keep, strict=True) if k]

    def headers(self) -> http.Headers:
        return messages.headers(tuple(self.fields))


def _parse_url(url: Any) -> tuple[str, str, int, bytes]:
    """(scheme, host, port, path) as mitmproxy's url.parse and Request's setters make
    them, for URLs of the plain shape."""
    m = _PLAIN_URL.fullmatch(url) if type(url) is str else None
    if m is None:
        raise _NotPlain("url")
    scheme, host, port_text, target = m.groups()
    if len(host) > 253 or "xn--" in host:
        raise _NotPlain("host")
    port = int(port_text) if port_text else 0
    if port > 65535:
        raise _NotPlain("port")
    if not port:
        port = 443 if scheme == "https" else 80
    # urlunparse drops an empty query ("?" at the end) and Python versions differ on a
    # path that starts with "//".
    if target.startswith("//") or (target.endswith("?") and target.find("?") == len(target) - 1):
        raise _NotPlain("target")
    if not target.startswith("/"):
        target = "/" + target
    return scheme, host, port, target.encode("ascii")


# Content-Type -> the charset mitmproxy infers from it: a pure function of the header
# (there is no body to sniff at that point), and an API answers with few of them.
@functools.lru_cache(maxsize=256)
def _charset(content_type: str) -> str:
    """``infer_content_encoding(content_type)``, remembered."""
    return infer_content_encoding(content_type)


def _set_content(headers: _Fields, raw: bytes) -> None:
    """``Message.set_content`` for a message without Content-Encoding."""
    if b"transfer-encoding" not in headers:
        headers.set(b"content-length", str(len(raw)))


def _plain_flow(entry: dict[str, Any], connections: bool = True) -> http.HTTPFlow:
    # Each step is request_to_flow's, in its order; what only mitmproxy can decide
    # raises _NotPlain.
    timestamp_start = datetime.fromisoformat(entry["startedDateTime"].replace("Z", "+00:00")).timestamp()
    timestamp_end = timestamp_start + entry["time"] / 1000.0
    request_json = entry["request"]
    response_json = entry["response"]
    method = request_json["method"]
    url = request_json["url"]
    request_headers = _Fields(request_json["headers"])
    http_version_req = request_json["httpVersion"]
    http_version_resp = response_json["httpVersion"]

    # HTTPFlow(Client(...), Server(...)), less the type checks and a system call per id.
    if connections:
        server_address = entry.get("serverIPAddress")
        port = 80 if url.startswith("http://") else 443
        client = messages.copy(connection.Client, _CLIENT, timestamp_start=timestamp_start, timestamp_end=timestamp_end)
        server = messages.copy(connection.Server, _SERVER, address=(server_address, port) if server_address else None)
    else:
        client, server = _Placeholders.client, _Placeholders.server
    flow = messages.flow(client, server)

    request_content = request_json["postData"]["text"] if "postData" in request_json else ""
    if type(request_content) is not str:
        raise _NotPlain("request body")

    # Request.make: the method, then the URL's parts through the setters (which rewrite
    # a Host header), then the text through set_text and set_content.
    method_bytes = method.encode("utf-8", "surrogateescape")
    scheme, host, url_port, path = _parse_url(url)
    if b"host" in request_headers:
        request_headers.set(b"host", hostport(scheme, host, url_port))
    if b"content-encoding" in request_headers:
        raise _NotPlain("request content-encoding")
    request_raw = encoding.encode(request_content, _charset(request_headers.get(b"content-type") or ""))
    if type(request_raw) is not bytes:
        raise _NotPlain("request charset")
    _set_content(request_headers, request_raw)

    response_code = response_json["status"]
    content_json = response_json["content"]
    response_content = content_json.get("text", "")
    content_encoding = content_json.get("encoding", None)
    response_headers = _Fields(response_json["headers"])
    if type(response_code) is not int or type(response_content) is not str:
        raise _NotPlain("status or body")
    if content_encoding == "base64":
        response_raw = base64.b64decode(response_content)
    else:
        try:
            response_raw = encoding.encode(
                response_content,
                content_encoding or _charset(response_headers.get(b"content-type") or ""),
            )
        except ValueError:
            response_raw = response_content.encode("utf-8", errors="surrogateescape")
    # Then encoded as its Content-Encoding says (gzip and brotli cost what they cost).
    content_coding = response_headers.get(b"content-encoding")
    if content_coding:  # else "identity", which leaves the bytes as they are
        response_raw = encoding.encode(response_raw, content_coding)
    if type(response_raw) is not bytes:
        raise _NotPlain("response charset")

    if MITMPROXY_DECODES_HAR and response_raw:
        # Message.decode(): decoded again (get_content(strict=True)), Content-Encoding
        # dropped, the decoded length written (the request's was written above).
        if content_coding:
            response_raw = encoding.decode(response_raw, content_coding)
            if type(response_raw) is not bytes:
                raise _NotPlain("response content-encoding")
        response_headers.remove(b"content-encoding")
        _set_content(response_headers, response_raw)

    request = messages.request(
        http_version=_VERSIONS.get(http_version_req, b"HTTP/1.1") if type(http_version_req) is str else b"HTTP/1.1",
        headers=request_headers.headers(),
        content=request_raw,
        trailers=None,
        timestamp_start=timestamp_start,
        timestamp_end=timestamp_end,
        host=host,
        port=url_port,
        method=method_bytes,
        scheme=scheme.encode(),
        authority=b"",
        path=path,
    )
    response = messages.response(
        http_version=_VERSIONS.get(http_version_resp, b"HTTP/1.1") if type(http_version_resp) is str else b"HTTP/1.1",
        headers=response_headers.headers(),
        content=response_raw,
        trailers=None,
        timestamp_start=timestamp_start,
        timestamp_end=timestamp_end,
        status_code=response_code,
        reason=http.status_codes.RESPONSES.get(response_code, "").encode(),
    )
    flow.request = request
    flow.response = response
    return flow
