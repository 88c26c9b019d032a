"""What a finding rests on: the headers its rule looked at (redacted), and whether the
source could prove it (``confidence``).

A rule's condition says what it reads, so that is read off the rule's ``when`` and
``require`` once a finding is made, never on the clean per-flow path. A HAR export cannot
prove a body (exports leave bodies out or keep a cached one) nor headers a browser
rewrites (framing, encodings, cookies): findings resting on those are "inconclusive".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .flowview import FlowView
from .redact import MASK, Redactor, redact_url
from .urls import clip, printable

CERTAIN, INCONCLUSIVE = "certain", "inconclusive"

# Predicates that read a body, and the headers some predicates read implicitly.
_BODY_PREDICATES = {"response_body", "request_body", "json", "accept_satisfied"}
_IMPLIED_RESPONSE_HEADERS = {"content_type": ("content-type",), "accept_satisfied": ("content-type",)}
_IMPLIED_REQUEST_HEADERS = {"accept_satisfied": ("accept",)}
# What browsers rewrite or hide in what their HAR export shows.
_REWRITTEN_IN_HAR = {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive"}
_REWRITTEN_IN_HAR |= {"set-cookie", "cookie", "host"}
# Request headers whose values say nothing secret; others are shown as present or absent.
_SHOWN_REQUEST_HEADERS = {
    "accept",
    "accept-encoding",
    "accept-language",
    "content-type",
    "content-length",
    "range",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "if-range",
    "origin",
    "access-control-request-method",
    "access-control-request-headers",
    "upgrade",
    "expect",
    "destination",
}
_SECRET_RESPONSE_HEADERS = {"set-cookie", "authorization", "proxy-authorization"}
_URL_HEADERS = {"location", "content-location", "link"}
_VALUE_LIMIT = 200


@dataclass(frozen=True)
class LooksAt:
    request_headers: tuple[str, ...]
    response_headers: tuple[str, ...]
    bodies: bool


def looks_at(when: Any, require: Any) -> LooksAt:
    """The headers and bodies a rule's condition reads (YAML as the policy wrote it)."""
    request: dict[str, None] = {}
    response: dict[str, None] = {}
    bodies = False
    for key, value in _entries(when, require):
        if key == "request_header" and isinstance(value, dict):
            request.update(dict.fromkeys(str(n).lower() for n in value))
        elif key == "response_header" and isinstance(value, dict):
            response.update(dict.fromkeys(str(n).lower() for n in value))
        bodies |= key in _BODY_PREDICATES
        response.update(dict.fromkeys(_IMPLIED_RESPONSE_HEADERS.get(key, ())))
        request.update(dict.fromkeys(_IMPLIED_REQUEST_HEADERS.get(key, ())))
    return LooksAt(tuple(request), tuple(response), bodies)


def _entries(*nodes: Any) -> Iterator[tuple[str, Any]]:
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                yield str(key), value
                if key in ("all", "any", "not"):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)


def confidence(view: FlowView, seen: LooksAt) -> str:
    if view.har and (seen.bodies or _REWRITTEN_IN_HAR.intersection(seen.response_headers + seen.request_headers)):
        return INCONCLUSIVE
    return CERTAIN


def headers(view: FlowView, seen: LooksAt, redactor: Redactor | None = None) -> dict[str, dict[str, str | None]]:
    """The looked-at headers as the flow had them (None: absent), redacted and clipped.
    ``redactor`` (the policy's ``redact:`` lists) masks values as the exchange does."""
    out: dict[str, dict[str, str | None]] = {}
    if seen.response_headers:
        out["response"] = {
            name: _response_value(name, view.response_headers.get_all(name), redactor) for name in seen.response_headers
        }
    if seen.request_headers:
        out["request"] = {
            name: _request_value(name, view.request_headers.get_all(name), redactor) for name in seen.request_headers
        }
    return out


def _response_value(name: str, values: list[str], redactor: Redactor | None = None) -> str | None:
    if not values:
        return None
    if redactor is not None:
        values = [redactor.header(name, v) for v in values]
    elif name in _SECRET_RESPONSE_HEADERS:
        return MASK
    elif name in _URL_HEADERS:
        values = [redact_url(v) for v in values]
    return clip(printable(", ".join(values)), _VALUE_LIMIT)


def _request_value(name: str, values: list[str], redactor: Redactor | None = None) -> str | None:
    if not values:
        return None
    if name not in _SHOWN_REQUEST_HEADERS:
        return "(present)"
    if redactor is not None:
        values = [redactor.header(name, v) for v in values]
    return clip(printable(", ".join(values)), _VALUE_LIMIT)
