"""Where each client library's exchanges are caught, and how they become flows.

None of these libraries has a process-wide hook, so each is hooked at the one public
method every exchange passes through, at the level where the client hands its response
back (after redirects, with ``history``):

- requests: ``Session.send``, where a session dispatches its response hooks; every
  Session (also one made before the plugin started, or against a live server) goes through it.
- httpx: ``Client.send`` / ``AsyncClient.send``, whatever the transport: the network, the
  ASGI/WSGI transports, and Starlette's and FastAPI's ``TestClient`` (an ``httpx.Client``).
- Django: ``django.test.Client.request`` (and ``AsyncClient.request``): one call per hop,
  also for DRF's ``APIClient``, which subclasses it.
- Werkzeug: ``werkzeug.test.Client.open``, also for Flask's ``FlaskClient``.

The methods are replaced only while the plugin is on, and put back at the end of the session
(``Patches.undo``). A hook copies what it needs off the client's objects into ``Exchange``
values there and then (a test may change a response, or read a streamed one, afterwards);
the session builds and audits the flows a little later. A hook never breaks a test: what
goes wrong while capturing an exchange is counted and shown in the summary, and the test
gets its response untouched.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import importlib.util
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from mitmproxy import http

from .exchanges import Captured, Exchange, build_flow, http_version

logger = logging.getLogger(__name__)

Record = Callable[[Callable[[], list[Captured]]], None]

# Inside a client call already (redirects re-enter open/send): only the outermost call
# records, once, the whole chain it returns. A context variable, so threads and asyncio
# tasks each have their own.
_INSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("statuslint_inside", default=False)


class Patches:
    """Methods replaced on classes, and how to put them back."""

    def __init__(self) -> None:
        self._undo: list[tuple[type, str, Any]] = []
        self.hooked: list[str] = []

    def replace(self, owner: type, name: str, make: Callable[[Any], Any]) -> None:
        original = owner.__dict__[name]
        setattr(owner, name, functools.wraps(original)(make(original)))
        self._undo.append((owner, name, original))

    def undo(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()
        self.hooked.clear()


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def install(patches: Patches, record: Record) -> None:
    """Hook every client library that is installed."""
    for name, hook in (
        ("requests", _hook_requests),
        ("httpx", _hook_httpx),
        ("django", _hook_django),
        ("werkzeug", _hook_werkzeug),
    ):
        if not _installed(name):
            continue
        try:
            hook(patches, record)
        except Exception as e:  # an unknown version: say so, audit the others
            logger.warning("statuslint: cannot hook %s: %s", name, e)
            continue
        patches.hooked.append(name)


def _chain(started: float, answered: float, n: int) -> Iterator[tuple[float, float]]:
    """Times for the n hops of one redirect chain: one after another, each sent after the
    previous one was answered, as it was."""
    step = (answered - started) / max(n, 1)
    for i in range(n):
        yield started + i * step, started + (i + 0.5) * step


def _outermost(call: Callable[[], Any]) -> tuple[bool, Any]:
    if _INSIDE.get():
        return False, call()
    token = _INSIDE.set(True)
    try:
        return True, call()
    finally:
        _INSIDE.reset(token)


# requests ------------------------------------------------------------------------------


def _hook_requests(patches: Patches, record: Record) -> None:
    import requests

    def make(original):  # type: ignore[no-untyped-def]
        def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
            started = time.time()
            outer, response = _outermost(lambda: original(self, request, **kwargs))
            if outer:
                answered = time.time()
                record(lambda: _requests_exchanges(response, bool(kwargs.get("stream")), started, answered))
            return response

        return send

    patches.replace(requests.Session, "send", make)


def _requests_exchanges(response: Any, stream: bool, started: float, answered: float) -> list[Exchange]:
    hops = [*response.history, response]
    exchanges = []
    for hop, (t0, t1) in zip(hops, _chain(started, answered, len(hops)), strict=True):
        request = hop.request
        body = request.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif body is not None and not isinstance(body, bytes):
            body = None  # a file or generator, streamed
        raw = getattr(hop, "raw", None)
        raw_headers = getattr(raw, "headers", None)
        # urllib3 keeps repeated headers apart (Set-Cookie); requests' dict joins them.
        header_items = list(raw_headers.items()) if hasattr(raw_headers, "getlist") else list(hop.headers.items())
        exchanges.append(
            Exchange(
                method=request.method or "GET",
                url=request.url,
                request_headers=list(request.headers.items()),
                request_body=body if body is not None else (b"" if request.body is None else None),
                status=hop.status_code,
                reason=hop.reason or "",
                response_headers=header_items,
                response_body=None if (stream and hop is response) else hop.content,
                body_decoded=True,
                started=t0,
                answered=t1,
                version=http_version(getattr(raw, "version", None)),
            )
        )
    return exchanges


# httpx ---------------------------------------------------------------------------------


def _hook_httpx(patches: Patches, record: Record) -> None:
    import httpx

    capture = _httpx_hops if _httpx_layout_known(httpx) else _httpx_exchanges

    def make_sync(original):  # type: ignore[no-untyped-def]
        def send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
            started = time.time()
            response = original(self, request, *args, **kwargs)
            answered = time.time()
            record(lambda: capture(httpx, response, started, answered))
            return response

        return send

    def make_async(original):  # type: ignore[no-untyped-def]
        async def send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
            started = time.time()
            response = await original(self, request, *args, **kwargs)
            answered = time.time()
            record(lambda: capture(httpx, response, started, answered))
            return response

        return send

    patches.replace(httpx.Client, "send", make_sync)
    patches.replace(httpx.AsyncClient, "send", make_async)


# The capture runs right after the app answered, on caches the app has filled: each
# property, each function it goes through costs a few cache misses, several times what
# it costs warm. So where the installed httpx keeps its messages as known here (checked
# once, when hooking), the hook reads the attributes behind the properties and copies
# the header lists as they are (_HttpxHop); the rest waits for the batch. Otherwise it
# goes through the public properties (_httpx_exchanges).


def _httpx_layout_known(httpx: Any) -> bool:
    try:
        request = httpx.Request("POST", "http://a.test/", headers={"X-A": "1"}, content=b"q")
        response = httpx.Response(201, headers={"X-B": "2"}, content=b"r", request=request)
        streamed = httpx.Response(200, stream=httpx.ByteStream(b""), request=request)
        return (
            response._request is request
            and request._content == request.content == b"q"
            and response._content == response.content == b"r"
            and not hasattr(streamed, "_content")
            and [(k, v) for k, _, v in request.headers._list] == request.headers.raw
            and [(k, v) for k, _, v in response.headers._list] == response.headers.raw
            and type(request.headers._list) is list
        )
    except Exception:
        return False


@dataclasses.dataclass(slots=True)
class _HttpxHop:
    """One httpx hop as the hook copies it: the header lists as httpx keeps them (name,
    lower-case name, value), reason and version as the transport said them (None: it did
    not), the URL as httpx's immutable URL object."""

    method: str
    url: Any
    request_headers: list[tuple[bytes, bytes, bytes]]
    request_body: bytes | None
    status: int
    reason_phrase: bytes | None
    response_headers: list[tuple[bytes, bytes, bytes]]
    response_body: bytes | None
    http_version: bytes | None
    started: float
    answered: float
    httpx: Any

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent to the audit process (offload.py): the URL as its text (its str() is cheaper
        # than its pickle), without the module, which is imported again there.
        # Spelt out: a loop over the fields doubles what pickling a hop costs the test.
        return (
            _HttpxHop,
            (
                self.method,
                str(self.url),
                self.request_headers,
                self.request_body,
                self.status,
                self.reason_phrase,
                self.response_headers,
                self.response_body,
                self.http_version,
                self.started,
                self.answered,
                None,
            ),
        )

    def flow(self) -> http.HTTPFlow:
        httpx = self.httpx if self.httpx is not None else importlib.import_module("httpx")
        return build_flow(
            self.method,
            self.url,
            [(k, v) for k, _, v in self.request_headers],
            self.request_body,
            self.status,
            _httpx_reason(httpx, self.status, self.reason_phrase),
            [(k, v) for k, _, v in self.response_headers],
            self.response_body,
            True,
            self.started,
            self.answered,
            _httpx_version(self.http_version),
        )


def _httpx_hops(httpx: Any, response: Any, started: float, answered: float) -> list[Captured]:
    if response.history:
        return list(_httpx_exchanges(httpx, response, started, answered))
    request = response._request
    extensions = response.extensions
    return [
        _HttpxHop(
            request.method,
            request.url,
            list(request.headers._list),
            getattr(request, "_content", None),  # None: not read, streamed
            response.status_code,
            extensions.get("reason_phrase"),
            list(response.headers._list),
            getattr(response, "_content", None),  # None: client.stream(...), status and headers only
            extensions.get("http_version"),
            started,
            started + 0.5 * (answered - started),  # _chain's, for one hop
            httpx,
        )
    ]


def _httpx_exchanges(httpx: Any, response: Any, started: float, answered: float) -> list[Exchange]:
    hops = [*response.history, response]
    return [
        _httpx_exchange(httpx, hop, t0, t1)
        for hop, (t0, t1) in zip(hops, _chain(started, answered, len(hops)), strict=True)
    ]


def _httpx_exchange(httpx: Any, hop: Any, started: float, answered: float) -> Exchange:
    request = hop.request
    try:
        request_body: bytes | None = request.content
    except httpx.RequestNotRead:
        request_body = None
    try:
        body: bytes | None = hop.content
    except httpx.ResponseNotRead:
        body = None  # client.stream(...): status and headers only
    extensions = hop.extensions
    status = hop.status_code
    return Exchange(
        method=request.method,
        url=request.url,  # immutable: made into text with its batch
        request_headers=request.headers.raw,
        request_body=request_body,
        status=status,
        reason=_httpx_reason(httpx, status, extensions.get("reason_phrase")),
        response_headers=hop.headers.raw,
        response_body=body,
        body_decoded=True,
        started=started,
        answered=answered,
        version=_httpx_version(extensions.get("http_version")),
    )


# Response.reason_phrase and .http_version, from what they are read from, through tables:
# the properties look the status up in an enum and decode the version, for each response.
_HTTPX_REASONS: dict[int, str] = {}
_HTTPX_VERSIONS: dict[bytes | None, str] = {}
_TABLE_LIMIT = 1024


def _httpx_reason(httpx: Any, status: int, phrase: bytes | None) -> str:
    if phrase is not None:  # as the server sent it (network transports)
        return phrase.decode("ascii", errors="ignore")
    reason = _HTTPX_REASONS.get(status)
    if reason is None:
        reason = httpx.codes.get_reason_phrase(status)
        if len(_HTTPX_REASONS) < _TABLE_LIMIT:
            _HTTPX_REASONS[status] = reason
    return reason


def _httpx_version(raw: bytes | None) -> str:
    version = _HTTPX_VERSIONS.get(raw)
    if version is None:
        version = http_version((b"HTTP/1.1" if raw is None else raw).decode("ascii", errors="ignore"))
        if len(_HTTPX_VERSIONS) < _TABLE_LIMIT:
            _HTTPX_VERSIONS[raw] = version
    return version


# Django --------------------------------------------------------------------------------


def _hook_django(patches: Patches, record: Record) -> None:
    from django.test import client

    def make_sync(original):  # type: ignore[no-untyped-def]
        def request(self, **environ):  # type: ignore[no-untyped-def]
            payload = environ.get("wsgi.input")
            started = time.time()
            response = original(self, **environ)
            answered = time.time()
            record(lambda: [_django_exchange(response, payload, started, answered)])
            return response

        return request

    def make_async(original):  # type: ignore[no-untyped-def]
        async def request(self, **scope):  # type: ignore[no-untyped-def]
            started = time.time()
            response = await original(self, **scope)
            answered = time.time()
            record(lambda: [_django_exchange(response, None, started, answered)])
            return response

        return request

    patches.replace(client.Client, "request", make_sync)
    patches.replace(client.AsyncClient, "request", make_async)


def _django_request_body(request: Any, payload: Any) -> bytes | None:
    # The view may have read the body as a stream (DRF's parsers do), after which Django
    # refuses ``request.body``: the test client's payload still holds the bytes sent.
    content = getattr(payload, "_FakePayload__content", None)
    if content is not None and hasattr(content, "getvalue"):
        return content.getvalue()
    try:
        return request.body
    except Exception:
        return None


def _django_exchange(response: Any, payload: Any, started: float, answered: float) -> Exchange:
    # The sync client's response carries the WSGIRequest, the async one's the ASGIRequest.
    request = getattr(response, "wsgi_request", None) or response.asgi_request
    meta = request.META
    host = meta.get("HTTP_HOST") or f"{meta.get('SERVER_NAME', 'testserver')}:{meta.get('SERVER_PORT', '80')}"
    scheme = "https" if request.is_secure() else "http"
    request_headers: list[tuple[str, str]] = []
    for key, value in meta.items():
        if key.startswith("HTTP_"):
            request_headers.append((key[5:].replace("_", "-").title(), str(value)))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            request_headers.append((key.replace("_", "-").title(), str(value)))
    response_headers = list(response.items())
    response_headers += [("Set-Cookie", morsel.OutputString()) for morsel in response.cookies.values()]
    return Exchange(
        method=request.method,
        url=f"{scheme}://{host}{request.get_full_path()}",
        request_headers=request_headers,
        request_body=_django_request_body(request, payload),
        status=response.status_code,
        reason=response.reason_phrase,
        response_headers=response_headers,
        # A streaming response is left for the test to read: status and headers only.
        response_body=None if response.streaming else response.content,
        body_decoded=False,
        started=started,
        answered=answered,
    )


# Werkzeug (Flask) ----------------------------------------------------------------------


def _hook_werkzeug(patches: Patches, record: Record) -> None:
    from werkzeug import test

    def make(original):  # type: ignore[no-untyped-def]
        def open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            started = time.time()
            outer, response = _outermost(lambda: original(self, *args, **kwargs))
            if outer:
                answered = time.time()
                record(lambda: _werkzeug_exchanges(response, started, answered))
            return response

        return open

    patches.replace(test.Client, "open", make)


def _werkzeug_exchanges(response: Any, started: float, answered: float) -> list[Exchange]:
    hops = [*getattr(response, "history", ()), response]
    exchanges = []
    for hop, (t0, t1) in zip(hops, _chain(started, answered, len(hops)), strict=True):
        request = hop.request
        request_body = _werkzeug_request_body(request)
        reason = hop.status.split(" ", 1)[1] if " " in hop.status else ""
        exchanges.append(
            Exchange(
                method=request.method,
                url=request.url,
                request_headers=list(request.headers.items()),
                request_body=request_body,
                status=hop.status_code,
                reason=reason,
                response_headers=list(hop.headers.items()),
                response_body=hop.get_data() if _werkzeug_body_known(hop, request.method) else None,
                body_decoded=False,
                started=t0,
                answered=t1,
            )
        )
    return exchanges


def _werkzeug_body_known(response: Any, method: str) -> bool:
    """Whether reading the body is safe. The test client hands back the app's iterator
    unread; Werkzeug sets Content-Length on every buffered response, so one without it
    (and with a body allowed) is a stream, maybe endless: it is left for the test to read."""
    return (
        response.is_sequence
        or "content-length" in response.headers
        or response.status_code in (204, 304)
        or method == "HEAD"
    )


def _werkzeug_request_body(request: Any) -> bytes | None:
    # The app read the input stream; the test client's BytesIO still holds it, unless the
    # client closed it (the hops of a followed redirect, which send no body).
    stream = request.environ.get("wsgi.input")
    try:
        return stream.getvalue() if hasattr(stream, "getvalue") else None
    except ValueError:
        return b"" if not request.content_length else None
