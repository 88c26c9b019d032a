"""Rules that need state across flows, implemented in Python.

A policy rule names one of these with ``check: <name>``; its id, severity and
documentation stay in the policy like every other rule's. ``CHECKS`` says, for each, what
traffic it needs before it can say anything: the rule-coverage summary shows it for a
check that never ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..findings import Seen
from ..flowview import FlowView

CHECKS: dict[str, str] = {
    "served-after-delete": "a DELETE answered 2xx on one resource, then a GET, HEAD, PUT or PATCH on its URL",
    "location-not-found": "a 201 with a Location, then a GET on that Location",
    "not-found-for-unsupported-method": "a GET answered 2xx, then another method (not HEAD) on the same URL",
    "not-implemented-but-implemented": "a 501 answer",
    "allow-contradicts-traffic": "an Allow header on an endpoint where other requests succeeded",
    "head-get-mismatch": "a HEAD and a successful GET on the same URL",
    "inconsistent-status": "one kind of operation (DELETE, create, update, validation error) on two or more "
    "endpoints of a host",
    "put-created-without-201": "a GET or HEAD answered 404/410 (or a DELETE answered 200/204) on one URL, then a "
    "successful PUT on it",
    "conditional-request-ignored": "a GET answered 200 with an ETag, then a GET on the same URL with If-None-Match",
    "not-modified-drops-validator": "a GET answered 200 with an ETag or Last-Modified, then a 304 on the same URL",
    "not-modified-with-content-length": "a GET answered 200, then a 304 with Content-Length on the same URL",
    "allow-lists-failing-method": "an Allow header on an endpoint, then a 405 there",
    "cors-contradicts-traffic": "a CORS preflight (OPTIONS with Access-Control-Request-Method) answered 2xx, and a "
    "method other than GET, HEAD or POST succeeding on the same endpoint",
    "inconsistent-error-format": "error responses with a body on a host that answers mostly JSON or XML",
}


@dataclass(slots=True)
class Observation:
    """One audited flow, as the stateful checks see it."""

    view: FlowView
    seen: Seen
    template: str  # the path template of the endpoint
    endpoint: str  # METHOD authority template
    path: str  # the request path as shown in messages (redacted, printable)
    # (source, authority, state path): the URL as per-URL state is keyed, one tuple
    # shared by every tracker that keeps this URL (thousands are held at once).
    url_key: tuple[str, str, str]


@dataclass(slots=True)
class Hit:
    """A stateful check's violation. ``flow`` is None for an API-level one."""

    check: str
    message: str
    flow: Seen | None
    path: str  # the request path, for a rule's exclude_paths; "" for an API-level hit
    endpoint: str
    evidence: tuple[Seen, ...] = ()
    details: dict[str, Any] | None = None


def is_success(status: int) -> bool:
    return 200 <= status <= 299


def answered_at(obs: Observation) -> float | None:
    response = obs.view.response
    return response.timestamp_end or response.timestamp_start


def sent_after(obs: Observation, earlier: Seen, earlier_answered_at: float | None) -> bool:
    """Whether this request was sent after ``earlier`` was answered. A request sent
    before, or while, the earlier one was in flight (browsers fetch in parallel) may
    rightly have seen the old state, even if it was answered later."""
    if obs.seen[0] != earlier[0] or obs.seen[1] < earlier[1]:
        return False
    started = obs.view.request.timestamp_start
    return not (started and earlier_answered_at and started < earlier_answered_at)


def path_of(seen: Seen) -> str:
    """The path of a remembered flow's (redacted) URL."""
    try:
        return urlsplit(seen[4]).path or "/"
    except ValueError:
        return "?"


def where(seen: Seen) -> str:
    """A remembered flow as a finding's message cites it: ``DELETE /v1/x answered 200 (#7)``."""
    return f"{seen[2]} {path_of(seen)} answered {seen[3]} (#{seen[1]})"
