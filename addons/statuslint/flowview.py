"""A read-only view of one HTTP request/response pair, as the rules see it.

Everything a predicate needs is computed at most once per flow and only when asked
for: most flows meet few rules, and decoding a body is the costliest thing here.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Any

from mitmproxy import http

from .urls import authority

# Request headers that say who is calling (compared, never stored or shown).
_CREDENTIAL_HEADERS = ("authorization", "x-api-key", "api-key", "proxy-authorization")


class Undecidable(Exception):
    """The flow lacks what a predicate needs (e.g. a streamed body): the rule is skipped."""


class FlowView:
    """One HTTP flow with a response. ``har`` marks flows imported from a browser HAR."""

    def __init__(self, flow: http.HTTPFlow, har: bool = False) -> None:
        assert flow.response is not None
        self.flow = flow
        self.request = flow.request
        self.response = flow.response
        self.har = har
        self.method: str = flow.request.method.upper()
        self.status: int = flow.response.status_code

    @cached_property
    def host(self) -> str:
        """The server the request was sent to: the request line's or the connection's
        target (in reverse mode the upstream), never the Host header, which a client may
        make up (pretty_host prefers it)."""
        return self.request.host.lower()

    @cached_property
    def url(self) -> str:
        """The URL of the server the request was sent to (unredacted: never shown as is)."""
        return self.request.url

    @cached_property
    def authority(self) -> str:
        """``host[:port]`` of the server the request was sent to (the port only when not
        the default): what endpoints and cross-flow state are keyed by."""
        return authority(self.url) or self.host

    @cached_property
    def caller(self) -> int:
        """Who asked, as a number: the credentials a request carried. Two requests with
        different credentials may rightly see different answers for one URL."""
        headers = self.request.headers
        parts = [headers.get(name, "") for name in _CREDENTIAL_HEADERS]
        parts.append("cookie" if "cookie" in headers else "")
        # A digest, not hash(): the same input must give the same report under any hash seed.
        digest = hashlib.blake2b("\0".join(parts).encode("utf-8", "surrogateescape"), digest_size=8).digest()
        return int.from_bytes(digest, "big")

    @cached_property
    def path(self) -> str:
        """The request path without its query string."""
        return self.request.path.split("?", 1)[0]

    @cached_property
    def response_content(self) -> bytes:
        """The decoded response body. A browser HAR keeps the *cached* body on a 304
        entry, which never crossed the wire: such a body does not count."""
        if self.har and self.status == 304:
            return b""
        return _decoded(self.response)

    @cached_property
    def request_content(self) -> bytes:
        return _decoded(self.request)

    @cached_property
    def response_has_body(self) -> bool:
        raw = self.response.raw_content
        if raw is None:
            raise Undecidable("response body was streamed")
        if self.har and self.status == 304:
            return False
        if raw and "content-encoding" not in self.response.headers:
            return True
        # Decode: an empty body re-encoded by an importer (gzip of b"" is 20 bytes) is empty.
        if raw and self.response_content:
            return True
        if self.har:
            # HAR exports often leave a body out (images, large files, a browser
            # setting), and mitmproxy's import does not keep the declared size.
            raise Undecidable("HAR entry has no body text")
        return False

    @cached_property
    def request_has_body(self) -> bool:
        raw = self.request.raw_content
        if raw is None:
            raise Undecidable("request body was streamed")
        if not raw or "content-encoding" not in self.request.headers:
            return bool(raw)
        return bool(self.request_content)

    @cached_property
    def content_type(self) -> str | None:
        """The response's media type, lower-cased, without parameters."""
        value = self.response.headers.get("content-type")
        if value is None:
            return None
        return value.split(";", 1)[0].strip().lower()

    @cached_property
    def json_body(self) -> Any:
        """The response body parsed as JSON, or None where it is not JSON."""
        ctype = self.content_type or ""
        if not (ctype.endswith("/json") or ctype.endswith("+json")):
            return None
        if not self.response_has_body:
            return None
        try:
            return json.loads(self.response_content)
        except ValueError:
            return None


def _decoded(message: http.Message) -> bytes:
    content = message.get_content(strict=False)
    if content is None:
        raise Undecidable("body was streamed")
    return content
