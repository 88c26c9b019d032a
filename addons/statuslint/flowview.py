"""A read-only view of one HTTP request/response pair, as the rules see it.

Everything a predicate needs is computed at most once per flow and only when asked
for: most flows meet few rules, and decoding a body is the costliest thing here.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload
from urllib.parse import urljoin, urlsplit

from mitmproxy import http
from mitmproxy import version as mitmproxy_version

from .decoding import decode_bounded
from .syntax import json_loads
from .urls import authority, state_path

# flow.metadata key: the body sizes a HAR entry declared (set by statuslint's HAR reader).
HAR_BODY_KEY = "statuslint.har_body"
# mitmproxy 12's HAR import decodes each body and rewrites the framing headers.
MITMPROXY_DECODES_HAR = int(mitmproxy_version.VERSION.split(".")[0]) >= 12

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Request headers that say who is calling (compared, never stored or shown).
_CREDENTIAL_HEADERS = ("authorization", "x-api-key", "api-key", "proxy-authorization")


T = TypeVar("T")


class once(Generic[T]):
    """``functools.cached_property`` without its lock (Python 3.11 takes an RLock on every
    first access; a view is never shared between threads): the value is stored in the
    instance's ``__dict__``, so later reads never reach this descriptor."""

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> once[T]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...
    def __get__(self, instance: object | None, owner: type | None = None) -> T | once[T]:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


# Header name -> its lookup key, for the names asked for.
_KEYS: dict[str, str] = {}
_KEYS_LIMIT = 1024


class HeaderMap:
    """A message's headers as mitmproxy's ``Headers`` answers ``get``, ``get_all`` and
    ``in`` (case-insensitive names, values decoded as UTF-8 with surrogate escapes,
    repeated fields joined by ", "), indexed once per flow: ``Headers`` scans every
    field on every lookup, and a flow meets dozens of lookups."""

    __slots__ = ("by_name",)

    def __init__(self, headers: http.Headers) -> None:
        values: dict[str, list[str]] = {}
        for name, value in headers.fields:
            key = name.lower().decode("utf-8", "surrogateescape")
            text = value.decode("utf-8", "surrogateescape")
            seen = values.get(key)
            if seen is None:
                values[key] = [text]
            else:
                seen.append(text)
        self.by_name = values  # lower-cased name -> values

    @staticmethod
    def _key(name: str) -> str:
        key = _KEYS.get(name)
        if key is None:
            # bytes.lower() folds ASCII only, as Headers does: so must a non-ASCII name here.
            if name.isascii():
                key = name.lower()
            else:
                key = name.encode("utf-8", "surrogateescape").lower().decode("utf-8", "surrogateescape")
            if len(_KEYS) < _KEYS_LIMIT:  # the names statuslint asks for: a few dozen
                _KEYS[name] = key
        return key

    def get_all(self, name: str) -> list[str]:
        return list(self.by_name.get(self._key(name), ()))

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.by_name.get(self._key(name))
        return ", ".join(values) if values else default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._key(name) in self.by_name


# Remembered: most traffic repeats a few credentials.
@functools.lru_cache(maxsize=256)
def _caller_number(credentials: str) -> int:
    # A digest, not hash(): the same input must give the same report under any hash seed.
    digest = hashlib.blake2b(credentials.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class Undecidable(Exception):
    """The flow lacks what a predicate needs (e.g. a streamed body): the rule is skipped."""


@dataclass(frozen=True)
class ValueLimits:
    """How much of a flow a rule may inspect (a policy's ``limits:``). A value beyond
    a limit makes the predicate that needs it undecidable: a hostile client can make a
    flow unauditable, never make it cost the proxy unbounded time or memory."""

    max_header_value: int = 8192  # characters of one header value
    max_body: int = 1024 * 1024  # bytes of a decoded body that JSON predicates parse
    max_json_depth: int = 64  # nesting of [ and { in a JSON body

    FIELDS = ("max_header_value", "max_body", "max_json_depth")


DEFAULT_LIMITS = ValueLimits()

# What is left of a JSON text's nesting once strings are gone: "[" and "]" ("{" and "}"
# become them; a mismatch only matters to invalid JSON, which json.loads refuses).
_BRACKETS_ONLY = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_nesting(body: bytes, limit: int) -> int | None:
    """How deep a JSON text nests, found without recursion (Python's json module recurses
    once per level and raises RecursionError): ``limit + 1`` for anything deeper than
    ``limit``, None where the brackets do not balance (not JSON). Each pass deletes the
    innermost ``[]``/``{}`` pairs, so the passes count the levels."""
    openers = body.count(b"[") + body.count(b"{")
    if openers <= limit:
        return openers  # an upper bound is enough here
    # Outside strings: escapes go first (an escaped backslash, then an escaped quote,
    # left to right as JSON reads them), then every other quote-delimited run is a string.
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(unescaped.split(b'"')[::2]).translate(_BRACKETS_ONLY, _NOT_BRACKETS)
    for depth in range(limit + 1):
        if not brackets:
            return depth
        # bytes.replace does not rescan what it produced: one pass, one level.
        shorter = brackets.replace(b"[]", b"")
        if len(shorter) == len(brackets):
            return None
        brackets = shorter
    return limit + 1


class FlowView:
    """One HTTP flow with a response. ``har`` marks flows imported from a browser HAR."""

    def __init__(self, flow: http.HTTPFlow, har: bool = False, limits: ValueLimits = DEFAULT_LIMITS) -> None:
        assert flow.response is not None
        self.limits = limits
        self.flow = flow
        self.request = flow.request
        self.response = flow.response
        self.har = har
        self.method: str = flow.request.method.upper()
        self.status: int = flow.response.status_code

    @once
    def request_headers(self) -> HeaderMap:
        return HeaderMap(self.request.headers)

    @once
    def response_headers(self) -> HeaderMap:
        return HeaderMap(self.response.headers)

    @once
    def host(self) -> str:
        """The server the request was sent to: the request line's or the connection's
        target (in reverse mode the upstream), never the Host header, which a client may
        make up (pretty_host prefers it)."""
        return self.request.host.lower()

    @once
    def url(self) -> str:
        """The URL of the server the request was sent to (unredacted: never shown as is)."""
        return self.request.url

    @once
    def authority(self) -> str:
        """``host[:port]`` of the server the request was sent to (the port only when not
        the default): what endpoints and cross-flow state are keyed by. What
        ``urls.authority`` makes of ``url``, without parsing the URL mitmproxy built."""
        request = self.request
        host = self.host
        if not host or request.first_line_format == "authority" or any(c in host for c in ":@/[]"):
            # IPv6 and odd hosts: as the URL spells them (mitmproxy versions differ there).
            return authority(self.url) or host
        port = request.port
        return host if _DEFAULT_PORTS.get(request.scheme.lower()) == port else f"{host}:{port}"

    @once
    def caller(self) -> int:
        """Who asked, as a number: the credentials a request carried. Two requests with
        different credentials may rightly see different answers for one URL."""
        headers = self.request_headers.by_name
        parts = [", ".join(headers.get(name, ())) for name in _CREDENTIAL_HEADERS]
        parts.append("cookie" if "cookie" in headers else "")
        return _caller_number("\0".join(parts))

    @once
    def path(self) -> str:
        """The request path without its query string."""
        return self.request.path.split("?", 1)[0]

    @once
    def state_path(self) -> str:
        """The path as per-URL state is keyed by it (``urls.state_path``)."""
        return state_path(self.path)

    @once
    def location_target(self) -> tuple[str, str] | None:
        """What the response's Location names, as per-URL state is keyed: (authority,
        state path); None without a Location or when it is not a URL."""
        location = self.response_headers.get("location")
        if not location:
            return None
        try:
            target = urlsplit(urljoin(self.url, location.strip()))
        except ValueError:
            return None
        return authority(target.geturl()), state_path(target.path or "/")

    @once
    def response_content(self) -> bytes:
        """The decoded response body. A browser HAR keeps the *cached* body on a 304
        entry, which never crossed the wire: such a body does not count."""
        if self.har and self.status == 304:
            return b""
        return _decoded(self.response, self.response_headers, self.limits.max_body)

    @once
    def request_content(self) -> bytes:
        return _decoded(self.request, self.request_headers, self.limits.max_body)

    @once
    def response_has_body(self) -> bool:
        raw = self.response.raw_content
        if raw is None:
            raise Undecidable("response body was streamed")
        if self.har and self.status == 304:
            return False
        if raw and "content-encoding" not in self.response_headers:
            return True
        # Decode: an empty body re-encoded by an importer (gzip of b"" is 20 bytes) is empty.
        if raw and self.response_content:
            return True
        if self.har:
            # HAR exports often leave a body out (images, large files, a browser
            # setting): what the entry declares about it decides, where it does.
            known = declared_has_body(
                self.flow.metadata.get(HAR_BODY_KEY), self.response_headers, self.method, self.status
            )
            if known is None:
                raise Undecidable("HAR entry has no body text and declares no size")
            return known
        return False

    @once
    def request_has_body(self) -> bool:
        raw = self.request.raw_content
        if raw is None:
            raise Undecidable("request body was streamed")
        if not raw or "content-encoding" not in self.request_headers:
            return bool(raw)
        return bool(self.request_content)

    @once
    def content_type(self) -> str | None:
        """The response's media type, lower-cased, without parameters."""
        value = self.response_headers.get("content-type")
        if value is None:
            return None
        return value.split(";", 1)[0].strip().lower()

    @once
    def json_body(self) -> Any:
        """The response body parsed as JSON, or None where it is not JSON."""
        ctype = self.content_type or ""
        if not (ctype.endswith("/json") or ctype.endswith("+json")):
            return None
        if not self.response_has_body:
            return None
        body = self.response_content
        limits = self.limits
        if len(body) > limits.max_body:
            raise Undecidable(f"JSON body larger than limits.max_body ({limits.max_body} bytes)")
        limit = limits.max_json_depth
        # json_nesting's own first answer, without its call: a body with no more
        # brackets than the limit cannot nest deeper (most bodies).
        if len(body) > limit and body.count(b"[") + body.count(b"{") > limit:
            depth = json_nesting(body, limit)
            if depth is None:
                return None
            if depth > limit:
                raise Undecidable(f"JSON body nested deeper than limits.max_json_depth ({limit})")
        try:
            return json_loads(body)
        except ValueError:
            return None


def declared_has_body(
    sizes: dict[str, Any] | None, headers: http.Headers | HeaderMap, method: str, status: int
) -> bool | None:
    """Whether a HAR response without body text had a body on the wire: known empty
    (False), known non-empty (True) or unknown (None). ``sizes`` are what the entry
    declared (``text``: a text member was there; ``size``: content.size; ``body_size``:
    bodySize; None where absent or -1); mitmproxy's own HAR import keeps none of them,
    so there only the framing headers speak. The entry's own framing headers are in
    ``sizes`` too: mitmproxy 12's import decodes the body, drops Content-Encoding and
    writes a Content-Length of its own."""
    if sizes and "content_length" in sizes:
        length, encoded = (sizes["content_length"] or "").strip(), bool(sizes.get("encoded"))
    elif MITMPROXY_DECODES_HAR:
        # A Content-Length of 0 may be the import's own, for an encoded body left out.
        return None
    else:
        length, encoded = headers.get("content-length", "").strip(), "content-encoding" in headers
    if length == "0":
        return False
    if sizes:
        size, body_size = sizes.get("size"), sizes.get("body_size")
        if sizes.get("text"):
            # The export kept bodies and this text is empty: empty, unless a size says
            # the text was left out anyway. (mitmproxy writes the *encoded* size, so an
            # encoded empty body may declare 20 bytes: undecidable.)
            if (size or 0) > 0 or (body_size or 0) > 0:
                return None if encoded else True
            return False
        if size is not None:
            return size > 0  # content.size is the decoded length
        if body_size is not None:
            return False if body_size == 0 else (None if encoded else True)
    # Content-Length states the length of a GET's content on HEAD and 304, and a 1xx or
    # 204 has none whatever it says.
    if length.isdigit() and not encoded and method != "HEAD" and status >= 200 and status not in (204, 304):
        return True
    return None


def _decoded(message: http.Message, headers: HeaderMap, limit: int) -> bytes:
    """The decoded body, at most ``limit`` + 1 bytes of it: enough for every predicate to
    see that a body is larger than the limit, never a decompression bomb inflated whole."""
    raw = message.raw_content
    if raw is None:
        raise Undecidable("body was streamed")
    encoding = headers.get("content-encoding", "") or ""
    if not raw or not encoding.strip():
        return raw
    decoded = decode_bounded(raw, encoding, limit + 1)
    # Unknown codings and corrupt data stay as they are, as mitmproxy's get_content(strict=False) keeps them.
    return raw if decoded is None else decoded
