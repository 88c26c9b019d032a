"""Rules that need state across flows, implemented in Python.

A policy rule names one of these with ``check: <name>``; its id, severity and
documentation stay in the policy like every other rule's. ``CHECKS`` says, for each, what
traffic it needs before it can say anything: the rule-coverage summary shows it for a
check that never ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
}


@dataclass(slots=True)
class Observation:
    """One audited flow, as the stateful checks see it."""

    view: FlowView
    seen: Seen
    template: str  # the path template of the endpoint
    endpoint: str  # METHOD authority template
    path: str  # the request path as shown in messages (redacted, printable)


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
