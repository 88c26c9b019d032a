"""Conditional requests against the representation a URL served last: what a 200's ETag,
Last-Modified and length say about a later If-None-Match and 304 on the same URL.

State is kept per (source, host:port, path, query) for the last 200 to a GET or HEAD
that carried a validator, and only what the checks compare: validators (long ones as a
digest), the length as an int, who asked and the request headers the answer varies by
(as a number). Bounded like the resource lifecycle's URLs.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

from ..findings import Seen
from ..lru import LRU
from ..urls import clip
from . import Hit, Observation, answered_at, sent_after

CONDITIONAL_IGNORED = "conditional-request-ignored"
DROPS_VALIDATOR = "not-modified-drops-validator"
WRONG_LENGTH = "not-modified-with-content-length"
CHECK_NAMES = (CONDITIONAL_IGNORED, DROPS_VALIDATOR, WRONG_LENGTH)
_BIT = {name: 1 << i for i, name in enumerate(CHECK_NAMES)}

# Validators longer than this are compared by digest (and shown clipped).
_VALIDATOR_LIMIT = 128
# Request headers named by Vary that are remembered (by value digest) per URL.
_VARY_LIMIT = 8
_ENTITY_TAG = re.compile(r'(?:W/)?"[^"]*"|[^\s,]+')


def _opaque(tag: str) -> str:
    """An entity tag for the weak comparison (RFC 9110 §8.8.3.2): without W/, bounded."""
    tag = tag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    if len(tag) > _VALIDATOR_LIMIT:
        tag = "#" + hashlib.blake2b(tag.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()
    return tag


def _tags(header: str) -> list[str]:
    return [_opaque(t) for t in _ENTITY_TAG.findall(header)[: _VARY_LIMIT * 4]]


def _content_length(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


class _Representation:
    __slots__ = ("answered_at", "caller", "etag", "last_modified", "length", "reported", "seen", "vary", "vary_key")

    def __init__(self) -> None:
        self.seen: Seen = ("", 0, "", 0, "")
        self.etag: str | None = None  # opaque tag
        self.last_modified: str | None = None
        self.length: int | None = None  # the octets a 200 sends (None: unknown)
        self.caller = 0
        self.vary: tuple[str, ...] = ()
        self.vary_key = 0
        self.answered_at: float | None = None
        self.reported = 0  # bits of _BIT: the checks already reported against this 200


def _vary_key(obs: Observation, names: tuple[str, ...]) -> int:
    headers = obs.view.request_headers
    return hash(tuple(headers.get(n, "") for n in names))


class Validators:
    def __init__(self, limit: int, enabled: set[str], evaluated: Counter[str]) -> None:
        self.urls: LRU[tuple[str, str, str, int], _Representation] = LRU(limit)
        self.enabled = enabled
        self.evaluated = evaluated

    def observe(self, obs: Observation) -> list[Hit]:
        view = obs.view
        if view.method not in ("GET", "HEAD"):
            return []
        query = view.request.path.partition("?")[2]
        key = (obs.seen[0], view.authority, view.state_path, hash(query))
        headers = view.request_headers
        hits: list[Hit] = []
        if view.status in (200, 304) and ("if-none-match" in headers or "if-modified-since" in headers):
            st = self.urls.get(key)
            if st is not None and self._comparable(obs, st):
                self._check(obs, st, hits)
        if view.status == 200:
            self._remember(obs, key)
        return hits

    @staticmethod
    def _comparable(obs: Observation, st: _Representation) -> bool:
        # Another caller, or other values of the headers the answer varies by, may rightly
        # get another representation; a request sent before the 200 arrived cannot know it.
        return (
            st.caller == obs.view.caller
            and st.vary_key == _vary_key(obs, st.vary)
            and sent_after(obs, st.seen, st.answered_at)
        )

    def _check(self, obs: Observation, st: _Representation, hits: list[Hit]) -> None:
        view = obs.view
        request, response = view.request_headers, view.response_headers
        inm = request.get("if-none-match")
        names_it = inm is not None and st.etag is not None and st.etag in _tags(inm)
        if inm is None and st.last_modified is not None:
            names_it = request.get("if-modified-since", "").strip() == st.last_modified
        if not names_it:
            return
        on = self.enabled
        shown = f"{st.seen[2]} answered 200 at #{st.seen[1]}"
        if view.status == 200 and inm is not None and CONDITIONAL_IGNORED in on:
            self.evaluated[CONDITIONAL_IGNORED] += 1
            etag = response.get("etag")
            if etag is not None and _opaque(etag) == st.etag and self._first(st, CONDITIONAL_IGNORED):
                hits.append(
                    self._hit(
                        CONDITIONAL_IGNORED,
                        obs,
                        f"{view.method} with If-None-Match naming the current ETag {clip(etag, 80)} answered 200 "
                        f"with that same ETag, as the URL returned before ({shown}): the condition is false, so the "
                        "server answers 304 Not Modified instead of sending the representation again",
                        st.seen,
                    )
                )
        if view.status != 304:
            return
        if DROPS_VALIDATOR in on:
            self.evaluated[DROPS_VALIDATOR] += 1
            dropped = None
            if st.etag is not None and "etag" not in response:
                dropped = "ETag"
            elif (
                st.etag is None
                and st.last_modified is not None
                and "etag" not in response
                and "last-modified" not in response
            ):
                dropped = "Last-Modified"
            if dropped and self._first(st, DROPS_VALIDATOR):
                hits.append(
                    self._hit(
                        DROPS_VALIDATOR,
                        obs,
                        f"304 Not Modified without the {dropped} the 200 carried ({shown}): a 304 sends the "
                        "validator a 200 would, so that caches keep the stored response current",
                        st.seen,
                    )
                )
        length = _content_length(response.get("content-length"))
        if WRONG_LENGTH in on and "content-length" in response and st.length is not None:
            self.evaluated[WRONG_LENGTH] += 1
            if length != st.length and self._first(st, WRONG_LENGTH):
                hits.append(
                    self._hit(
                        WRONG_LENGTH,
                        obs,
                        f"304 Not Modified with Content-Length: {clip(response.get('content-length', ''), 40)}, "
                        f"but the 200 is {st.length} bytes long ({shown}): a 304 carries no Content-Length, or "
                        "the length the 200 would have (a cache may store the wrong length)",
                        st.seen,
                    )
                )

    @staticmethod
    def _first(st: _Representation, check: str) -> bool:
        if st.reported & _BIT[check]:
            return False
        st.reported |= _BIT[check]
        return True

    @staticmethod
    def _hit(check: str, obs: Observation, message: str, earlier: Seen) -> Hit:
        return Hit(check, message, obs.seen, obs.view.path, obs.endpoint, (earlier,))

    def _remember(self, obs: Observation, key: tuple[str, str, str, int]) -> None:
        view = obs.view
        response = view.response_headers
        etag, last_modified = response.get("etag"), response.get("last-modified")
        vary = response.get("vary", "")
        if (etag is None and last_modified is None) or "*" in vary:
            # Nothing a later request can name; or a representation no request can predict.
            return
        st = self.urls.setdefault(key, _Representation)
        st.seen = obs.seen
        st.etag = _opaque(etag) if etag is not None else None
        st.last_modified = clip(last_modified.strip(), _VALIDATOR_LIMIT) if last_modified is not None else None
        st.length = _content_length(response.get("content-length"))
        if st.length is None and view.method == "GET" and not view.har:
            # Chunked or HTTP/2: the octets that crossed the wire (a HAR importer re-encodes them).
            raw = view.response.raw_content
            st.length = len(raw) if raw is not None else None
        st.caller = view.caller
        # The encoding changes the length: compare only answers to the same Accept-Encoding.
        names = [n.strip().lower() for n in vary.split(",") if n.strip()][:_VARY_LIMIT]
        st.vary = tuple(dict.fromkeys(["accept-encoding", *(clip(n, 64) for n in names)]))
        st.vary_key = _vary_key(obs, st.vary)
        st.answered_at = answered_at(obs)
        st.reported = 0
