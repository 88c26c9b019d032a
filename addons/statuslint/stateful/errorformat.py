"""inconsistent-error-format: across one API (host:port), errors that come in another
format than the API's own (a JSON API answering some errors with HTML pages).

An API-level finding like inconsistent-status: computed from counts per host and format
family at any time, with the majority format, the minority ones and example flows. Hosts
are bounded; so are the endpoints and examples kept per family.
"""

from __future__ import annotations

from collections import Counter

from ..endpoints import endpoint_name, split_endpoint
from ..findings import Seen
from ..flowview import Undecidable
from ..lru import LRU
from . import Hit, Observation, is_success

INCONSISTENT_ERROR_FORMAT = "inconsistent-error-format"
CHECK_NAMES = (INCONSISTENT_ERROR_FORMAT,)

# Formats an API speaks (the majority must be one of these to call the host an API).
_API_FORMATS = ("json", "xml")
_ORDER = ("json", "xml", "html", "text")
_ENDPOINTS_PER_FORMAT = 32
_EXAMPLES_PER_FORMAT = 5
_EVIDENCE_LIMIT = 10
_NAMED_IN_MESSAGE = 3


def family(media_type: str | None) -> str | None:
    """The format family of a media type: json, xml, html, text, or None for the rest
    (images, files, streams: not a format an error would be written in)."""
    if not media_type:
        return None
    if media_type in ("text/html", "application/xhtml+xml"):
        return "html"
    if media_type.endswith("/json") or media_type.endswith("+json"):
        return "json"
    if media_type.endswith("/xml") or media_type.endswith("+xml"):
        return "xml"
    if media_type == "text/plain":
        return "text"
    return None


def _accepted_families(accept: str) -> set[str]:
    out = set()
    for part in accept.split(",")[:32]:
        fam = family(part.split(";", 1)[0].strip().lower())
        if fam is not None:
            out.add(fam)
    return out


class _Group:
    __slots__ = ("count", "endpoints", "examples", "media_type")

    def __init__(self, media_type: str) -> None:
        self.count = 0
        self.media_type = media_type  # the first seen: what the family is called in the report
        self.endpoints: dict[str, None] = {}
        self.examples: list[Seen] = []

    def add(self, obs: Observation) -> None:
        self.count += 1
        if obs.endpoint not in self.endpoints and len(self.endpoints) < _ENDPOINTS_PER_FORMAT:
            self.endpoints[obs.endpoint] = None
        if len(self.examples) < _EXAMPLES_PER_FORMAT:
            self.examples.append(obs.seen)

    def merge(self, other: _Group) -> None:
        """Another audit's responses of this family (a merged, sharded audit)."""
        self.count += other.count
        for endpoint in other.endpoints:
            if len(self.endpoints) >= _ENDPOINTS_PER_FORMAT:
                break
            self.endpoints.setdefault(endpoint, None)
        self.examples.extend(other.examples[: max(0, _EXAMPLES_PER_FORMAT - len(self.examples))])


class _HostFormats:
    __slots__ = ("errors", "successes")

    def __init__(self) -> None:
        self.errors: dict[str, _Group] = {}
        self.successes: dict[str, _Group] = {}


class ErrorFormats:
    def __init__(self, limit: int, evaluated: Counter[str]) -> None:
        self.hosts: LRU[str, _HostFormats] = LRU(limit)
        self.evaluated = evaluated

    def observe(self, obs: Observation) -> list[Hit]:
        view = obs.view
        status = view.status
        if view.method == "HEAD" or not (is_success(status) or status >= 400) or status == 204:
            return []
        media_type = view.content_type or ""
        fam = family(media_type)
        if fam is None:
            return []
        try:
            if not view.response_has_body:
                return []
        except Undecidable:
            return []
        error = status >= 400
        if error and fam in _accepted_families(view.request_headers.get("accept", "") or ""):
            # Asked for this format by name (a browser navigating asks for HTML): negotiation at work.
            return []
        host = self.hosts.setdefault(view.authority, _HostFormats)
        groups = host.errors if error else host.successes
        group = groups.get(fam)
        if group is None:
            group = groups[fam] = _Group(media_type[:100])
        group.add(obs)
        if error:
            self.evaluated[INCONSISTENT_ERROR_FORMAT] += 1
        return []

    def hits(self) -> list[Hit]:
        """API-level hits, one per host whose errors come in more than its own format."""
        out: list[Hit] = []
        for name, host in sorted(self.hosts.items()):
            hit = self._host_hit(name, host)
            if hit is not None:
                out.append(hit)
        return out

    @staticmethod
    def _host_hit(name: str, host: _HostFormats) -> Hit | None:
        totals: Counter[str] = Counter()
        for groups in (host.errors, host.successes):
            for fam, group in groups.items():
                totals[fam] += group.count
        if not totals:
            return None
        majority = max(_ORDER, key=lambda f: (totals[f], -_ORDER.index(f)))
        if majority not in _API_FORMATS:
            return None  # a web site, or a host of files: not held to one error format
        minority = [f for f in _ORDER if f != majority and f in host.errors]
        deviant = sum(host.errors[f].count for f in minority)
        if not minority or totals[majority] <= deviant:
            return None
        own = [g for g in (host.errors.get(majority), host.successes.get(majority)) if g is not None]
        evidence: list[Seen] = []
        for group in [host.errors[f] for f in minority] + own:
            for seen in group.examples:
                if len(evidence) < _EVIDENCE_LIMIT and seen not in evidence:
                    evidence.append(seen)
        own_endpoints = sorted({e for g in own for e in g.endpoints})
        media_type = own[0].media_type
        others = "; ".join(
            f"{host.errors[f].media_type} on {len(host.errors[f].endpoints)} endpoint(s) "
            f"({_names(list(host.errors[f].endpoints))})"
            for f in minority
        )
        message = (
            f"errors of {name} come as {others}, while the API answers {media_type} "
            f"({totals[majority]} responses): clients parse one error format across the API"
        )
        details = {
            "host": name,
            "majority": {"media_type": media_type, "responses": totals[majority], "endpoints": own_endpoints},
            "minority": [
                {
                    "media_type": host.errors[f].media_type,
                    "responses": host.errors[f].count,
                    "endpoints": sorted(host.errors[f].endpoints),
                }
                for f in minority
            ],
        }
        return Hit(
            INCONSISTENT_ERROR_FORMAT, message, None, "", endpoint_name("*", name, "*"), tuple(evidence), details
        )


def _names(endpoints: list[str]) -> str:
    shown = [split_endpoint(e)[0] + " " + split_endpoint(e)[2] for e in sorted(endpoints)[:_NAMED_IN_MESSAGE]]
    more = len(endpoints) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
