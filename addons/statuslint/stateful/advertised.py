"""What an endpoint advertises against what it does: an Allow that lists a method the
endpoint then rejects with 405, and a CORS preflight whose Access-Control-Allow-Methods
leaves out a method that works there.

Like the API surface, state is kept per (input, host:port, endpoint template): one
recording's Allow or preflight is never held against another recording's traffic, so
inputs audited one after the other or in parallel give the same findings. Bounded like
endpoints; methods per endpoint are bounded too (custom methods are unbounded).
"""

from __future__ import annotations

from collections import Counter

from ..findings import Seen
from ..lru import LRU
from ..urls import clip
from . import Hit, Observation, answered_at, is_success, sent_after, where

ALLOW_LISTS_FAILING = "allow-lists-failing-method"
CORS_CONTRADICTS = "cors-contradicts-traffic"
CHECK_NAMES = (ALLOW_LISTS_FAILING, CORS_CONTRADICTS)

_METHOD_LIMIT = 32
# Methods that succeed only where nothing exists yet (RFC 4918 §9.3.1): an Allow given
# where nothing was may list MKCOL, and a 405 to it once the collection exists is right.
_CREATION_ONLY = frozenset({"MKCOL", "MKCALENDAR", "MKWORKSPACE", "MKACTIVITY", "MKREDIRECTREF"})
# Browsers send these cross-origin whatever Access-Control-Allow-Methods says (Fetch,
# "CORS-safelisted method"); OPTIONS is the preflight itself.
_SAFELISTED = frozenset({"GET", "HEAD", "POST", "OPTIONS"})


def _methods(header: str) -> frozenset[str]:
    return frozenset(t.strip().upper() for t in header.split(",")[:_METHOD_LIMIT] if t.strip())


class _Advertised:
    """One Allow or preflight answer, as much of it as a finding needs."""

    __slots__ = ("answered_at", "endpoint", "header", "methods", "path", "requested", "seen", "url")

    def __init__(self, obs: Observation, header: str, methods: frozenset[str], requested: str = "") -> None:
        self.methods = methods
        self.header = clip(header, 200)
        self.seen = obs.seen
        self.path = obs.view.path
        self.endpoint = obs.endpoint
        self.url: str | None = obs.view.state_path  # None once a creation happened there
        self.answered_at = answered_at(obs)
        self.requested = requested


class _AllowState:
    __slots__ = ("allow", "reported")

    def __init__(self) -> None:
        self.allow: _Advertised | None = None
        self.reported: dict[str, None] = {}  # methods already reported, in order


class AllowListsFailing:
    """allow-lists-failing-method: an Allow (on an OPTIONS answer or a 405) lists a method
    that the same endpoint then answers 405."""

    def __init__(self, limit: int, evaluated: Counter[str]) -> None:
        self.endpoints: LRU[tuple[str, str, str], _AllowState] = LRU(limit)  # (source, host, template)
        self.evaluated = evaluated

    def observe(self, obs: Observation) -> list[Hit]:
        view = obs.view
        method = view.method
        key = (obs.seen[0], view.authority, obs.template)
        st = self.endpoints.get(key)
        hits: list[Hit] = []
        allow = st.allow if st is not None else None
        if st is not None and allow is not None:
            here = view.state_path
            if (method in _CREATION_ONLY or method == "PUT") and is_success(view.status) and allow.url == here:
                allow.url = None  # what Allow said there was said of a resource not yet made
            # A creating method listed where nothing was is refused once something is: only
            # an Allow from this URL, before any creation there, is held to it.
            if (
                view.status == 405
                and method in allow.methods
                and (method not in _CREATION_ONLY or allow.url == here)
                and sent_after(obs, allow.seen, allow.answered_at)
            ):
                self.evaluated[ALLOW_LISTS_FAILING] += 1
                if method not in st.reported and len(st.reported) < _METHOD_LIMIT:
                    st.reported[method] = None
                    hits.append(self._hit(allow, method, obs.seen))
        header = view.response_headers.get("allow")
        if header is not None:
            st = st or self.endpoints.setdefault(key, _AllowState)
            st.allow = _Advertised(obs, header, _methods(header))
        return hits

    @staticmethod
    def _hit(allow: _Advertised, method: str, rejected: Seen) -> Hit:
        message = (
            f"Allow: {allow.header or '(empty)'} lists {method}, but {method} on this endpoint was then answered "
            f"405 Method Not Allowed ({where(rejected)}): Allow lists only the methods the resource supports"
        )
        # The answer carrying Allow is the one that is wrong.
        return Hit(ALLOW_LISTS_FAILING, message, allow.seen, allow.path, allow.endpoint, (rejected,))


class _CorsState:
    __slots__ = ("preflight", "reported", "succeeded")

    def __init__(self) -> None:
        self.preflight: _Advertised | None = None
        self.succeeded: dict[str, Seen] = {}  # method -> its first 2xx on this endpoint
        self.reported: dict[str, None] = {}


class CorsMethods:
    """cors-contradicts-traffic: a preflight's Access-Control-Allow-Methods omits a
    method that succeeds on the same endpoint, so browsers may not use it."""

    def __init__(self, limit: int, evaluated: Counter[str]) -> None:
        self.endpoints: LRU[tuple[str, str, str], _CorsState] = LRU(limit)  # (source, host, template)
        self.evaluated = evaluated

    def observe(self, obs: Observation) -> list[Hit]:
        view = obs.view
        method = view.method
        key = (obs.seen[0], view.authority, obs.template)
        request, response = view.request_headers, view.response_headers
        if method == "OPTIONS":
            requested = request.get("access-control-request-method")
            # A preflight the browser can use: answered 2xx and granting the origin.
            if requested is None or not is_success(view.status) or "access-control-allow-origin" not in response:
                return []
            st = self.endpoints.setdefault(key, _CorsState)
            header = response.get("access-control-allow-methods", "")
            st.preflight = _Advertised(obs, header, _methods(header), requested.strip().upper())
            return self._contradictions(st, list(st.succeeded))
        if method in _SAFELISTED or not is_success(view.status):
            return []
        st = self.endpoints.setdefault(key, _CorsState)
        if method not in st.succeeded and len(st.succeeded) < _METHOD_LIMIT:
            st.succeeded[method] = obs.seen
        return self._contradictions(st, [method])

    def _contradictions(self, st: _CorsState, methods: list[str]) -> list[Hit]:
        pre = st.preflight
        if pre is None or not methods:
            return []
        self.evaluated[CORS_CONTRADICTS] += 1
        if "*" in pre.methods:
            return []
        # A server that echoes the requested method grants each preflight its own method:
        # it says nothing about the others.
        echoes = pre.methods == {pre.requested}
        missing = [
            m for m in methods if m not in pre.methods and m not in st.reported and (not echoes or m == pre.requested)
        ]
        if not missing or len(st.reported) >= _METHOD_LIMIT:
            return []
        for m in missing:
            st.reported[m] = None
        evidence = tuple(st.succeeded[m] for m in missing)
        listed = pre.header or "(none)"
        message = (
            f"CORS preflight answered Access-Control-Allow-Methods: {listed}, which omits "
            f"{', '.join(missing)}, though it succeeded on this endpoint ({'; '.join(where(e) for e in evidence)}): "
            "browsers refuse that request cross-origin"
        )
        return [Hit(CORS_CONTRADICTS, message, pre.seen, pre.path, pre.endpoint, evidence)]
