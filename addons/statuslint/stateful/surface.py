"""The API's surface: what one endpoint's answers say about another's, host by host.

State is kept per input (source) and host or endpoint, like every cross-flow check's: one
recording's answers are never held against another's, so an audit of several inputs says
the same whether they are read one after the other or in parallel processes and merged.
Only API-level findings (``inconsistent-status``, from the endpoint table) see all the
inputs. Hosts and endpoints are bounded like URLs are.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from ..endpoints import EndpointTable, endpoint_name, split_endpoint
from ..findings import Seen
from ..lru import LRU
from . import Hit, Observation, is_success, where

NOT_IMPLEMENTED = "not-implemented-but-implemented"
ALLOW_CONTRADICTS = "allow-contradicts-traffic"
INCONSISTENT = "inconsistent-status"
CHECK_NAMES = (NOT_IMPLEMENTED, ALLOW_CONTRADICTS, INCONSISTENT)

# Distinct methods remembered per host or endpoint (custom methods are unbounded).
_METHOD_LIMIT = 32
# Endpoints remembered per host as already reported.
_REPORTED_PER_HOST = 32
# 501s remembered per method until the method succeeds somewhere.
_PENDING_PER_METHOD = 8
# Methods a framework or CORS middleware answers for every path, whatever Allow says.
_ANSWERED_BY_MIDDLEWARE = frozenset({"OPTIONS", "CONNECT", "TRACE"})
# Methods that succeed only where nothing exists yet (RFC 4918 §9.3.1: MKCOL on an existing
# resource is 405): once one has created the resource, Allow rightly leaves it out.
_CREATION_ONLY = frozenset({"MKCOL", "MKCALENDAR", "MKWORKSPACE", "MKACTIVITY", "MKREDIRECTREF"})


class _HostMethods:
    __slots__ = ("pending", "reported", "succeeded")

    def __init__(self) -> None:
        self.succeeded: dict[str, Seen] = {}  # method -> its first 2xx on this host
        # method -> 501s not yet contradicted: (seen, path, endpoint)
        self.pending: dict[str, list[tuple[Seen, str, str]]] = {}
        # Endpoints already reported, oldest first (a dict: a set's order depends on the
        # hash seed, and which one is forgotten decides what is reported again).
        self.reported: dict[str, None] = {}


class MethodSupport:
    """not-implemented-but-implemented: 501 says *no* resource supports the method."""

    def __init__(self, limit: int, evaluated: Counter[str]) -> None:
        self.hosts: LRU[tuple[str, str], _HostMethods] = LRU(limit)  # (source, host:port)
        self.evaluated = evaluated

    def observe(self, obs: Observation) -> list[Hit]:
        view = obs.view
        method, status = view.method, view.status
        if status == 501:
            self.evaluated[NOT_IMPLEMENTED] += 1
            host = self.hosts.setdefault((obs.seen[0], view.authority), _HostMethods)
            other = host.succeeded.get(method)
            if other is not None:
                return self._report(host, obs.seen, view.path, obs.endpoint, other)
            waiting = host.pending.get(method)
            if waiting is None and len(host.pending) < _METHOD_LIMIT:
                waiting = host.pending[method] = []
            if waiting is not None and len(waiting) < _PENDING_PER_METHOD:
                waiting.append((obs.seen, view.path, obs.endpoint))
        elif is_success(status):
            host = self.hosts.setdefault((obs.seen[0], view.authority), _HostMethods)
            if method not in host.succeeded and len(host.succeeded) < _METHOD_LIMIT:
                host.succeeded[method] = obs.seen
            # The 501s came first; this success shows they were wrong.
            hits: list[Hit] = []
            for pending in host.pending.pop(method, ()):
                hits += self._report(host, *pending, obs.seen)
            return hits
        return []

    @staticmethod
    def _report(host: _HostMethods, seen: Seen, path: str, endpoint: str, other: Seen) -> list[Hit]:
        if endpoint in host.reported:
            return []
        if len(host.reported) >= _REPORTED_PER_HOST:
            del host.reported[next(iter(host.reported))]  # bounded: at worst an endpoint is reported twice
        host.reported[endpoint] = None
        method = seen[2]
        message = (
            f"{method} answered 501 Not Implemented, but {where(other)}: 501 means no resource of the "
            f"server supports {method}; a method this resource lacks is 405 Method Not Allowed"
        )
        return [Hit(NOT_IMPLEMENTED, message, seen, path, endpoint, (other,))]


class _EndpointMethods:
    __slots__ = ("allow", "allow_url", "reported", "succeeded")

    def __init__(self) -> None:
        self.succeeded: dict[str, Seen] = {}
        self.allow: tuple[frozenset[str], str, Seen, str, str] | None = None  # methods, header, seen, path, endpoint
        # The URL (state_path) of the latest Allow, while nothing deleted it since: a creating
        # method is only held against an Allow given at that URL before the creation.
        self.allow_url: str | None = None
        self.reported: set[str] = set()


def _allows(allowed: frozenset[str], method: str) -> bool:
    # Allow lists GET and leaves HEAD implied often enough not to hold it against a server.
    return method in allowed or (method == "HEAD" and "GET" in allowed)


class AllowedMethods:
    """allow-contradicts-traffic: Allow on an endpoint omits a method that succeeded there."""

    def __init__(self, limit: int, evaluated: Counter[str]) -> None:
        self.endpoints: LRU[tuple[str, str, str], _EndpointMethods] = LRU(limit)  # (source, host, template)
        self.evaluated = evaluated

    def observe(self, obs: Observation) -> list[Hit]:
        view = obs.view
        method = view.method
        key = (obs.seen[0], view.authority, obs.template)
        st = self.endpoints.get(key)
        succeeded_now = is_success(view.status) and method not in _ANSWERED_BY_MIDDLEWARE
        if method in _CREATION_ONLY and succeeded_now:
            return self._created(obs, st)
        if method == "DELETE" and st is not None and st.allow_url == view.state_path and is_success(view.status):
            st.allow_url = None  # what Allow said there was said of a resource now gone
        if succeeded_now:
            st = st or self.endpoints.setdefault(key, _EndpointMethods)
            if method not in st.succeeded and len(st.succeeded) < _METHOD_LIMIT:
                st.succeeded[method] = obs.seen
        header = view.response_headers.get("allow")
        if header is not None:
            st = st or self.endpoints.setdefault(key, _EndpointMethods)
            allowed = frozenset(t.strip().upper() for t in header.split(",") if t.strip())
            st.allow = (allowed, header, obs.seen, view.path, obs.endpoint)
            st.allow_url = view.state_path
            if not st.succeeded:
                return []
            self.evaluated[ALLOW_CONTRADICTS] += 1
            return self._contradictions(st, list(st.succeeded))
        if succeeded_now and st is not None and st.allow is not None:
            self.evaluated[ALLOW_CONTRADICTS] += 1
            return self._contradictions(st, [method])
        return []

    def _created(self, obs: Observation, st: _EndpointMethods | None) -> list[Hit]:
        """A creating method succeeded: the resource did not exist a moment ago. Only an
        Allow given at this very URL before (while nothing was there) is contradicted; any
        Allow given or to come where the resource exists rightly omits the method."""
        if st is None or st.allow is None or st.allow_url != obs.view.state_path:
            return []
        if obs.seen[1] < st.allow[2][1]:
            return []
        self.evaluated[ALLOW_CONTRADICTS] += 1
        return self._contradictions(st, [obs.view.method], {obs.view.method: obs.seen})

    @staticmethod
    def _contradictions(st: _EndpointMethods, methods: list[str], also: dict[str, Seen] | None = None) -> list[Hit]:
        assert st.allow is not None
        allowed, header, seen, path, endpoint = st.allow
        missing = [m for m in methods if not _allows(allowed, m) and m not in st.reported]
        if not missing:
            return []
        st.reported.update(missing)
        evidence = tuple((also or {}).get(m) or st.succeeded[m] for m in missing)
        shown = "; ".join(where(e) for e in evidence)
        message = (
            f"Allow: {header or '(empty)'} omits {', '.join(missing)}, which succeeded on this endpoint "
            f"({shown}): Allow lists every method the resource supports"
        )
        # The answer carrying Allow is the one that is wrong.
        return [Hit(ALLOW_CONTRADICTS, message, seen, path, endpoint, evidence)]


# inconsistent-status ---------------------------------------------------------------------

# kind -> (label, methods, the codes compared, preferred first: the guide's choice breaks ties)
OPERATIONS: dict[str, tuple[str, frozenset[str], tuple[int, ...]]] = {
    "delete": ("DELETE", frozenset({"DELETE"}), (204, 200)),
    "create": ("create (POST)", frozenset({"POST"}), (201, 200)),
    "update": ("update (PUT/PATCH)", frozenset({"PUT", "PATCH"}), (200, 204)),
    "validation": ("validation error", frozenset({"POST", "PUT", "PATCH"}), (422, 400)),
}
# Evidence flows listed per finding, and endpoints named in its message.
_EVIDENCE_LIMIT = 10
_NAMED_IN_MESSAGE = 3


def inconsistent_status(table: EndpointTable, evaluated: Counter[str]) -> list[Hit]:
    """API-level hits, one per host and kind of operation answered with different codes
    on different endpoints. Computed from the endpoint table, at any time."""
    by_host: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for endpoint, _ in table.items():
        method, host, path = split_endpoint(endpoint)
        by_host[host].append((endpoint, method, path))
    evaluated[INCONSISTENT] = 0
    hits: list[Hit] = []
    for host, endpoints in sorted(by_host.items()):
        paths = {path for _, _, path in endpoints}
        for kind, (label, methods, codes) in OPERATIONS.items():
            chosen: dict[str, int] = {}  # endpoint -> the code it answers this kind with
            flows = 0
            both = False
            for endpoint, method, path in endpoints:
                if method not in methods:
                    continue
                stats = table.stats[endpoint]
                counts = {c: stats.codes[c] for c in codes if stats.codes[c]}
                if not counts:
                    continue
                if kind == "create" and not _is_create(stats.codes, stats.location_seen, path, paths):
                    continue
                if kind == "validation" and _oauth_token(path):
                    continue
                both |= len(counts) > 1
                flows += sum(counts.values())
                chosen[endpoint] = max(counts, key=lambda c: (counts[c], -codes.index(c)))
            if len(chosen) < 2:
                continue
            evaluated[INCONSISTENT] += flows
            # An API that answers both 400 and 422 on one endpoint draws a line between
            # malformed and invalid requests: different codes elsewhere are that line.
            if kind == "validation" and both:
                continue
            groups: dict[int, list[str]] = defaultdict(list)
            for endpoint, code in chosen.items():
                groups[code].append(endpoint)
            if len(groups) < 2:
                continue
            hits.append(_inconsistency(table, host, kind, label, codes, groups))
    return hits


def _oauth_token(path: str) -> bool:
    """OAuth token endpoints must answer errors with 400 (RFC 6749 §5.2): not a choice."""
    last = path.rstrip("/").rsplit("/", 1)[-1].lower()
    return last == "token" or "oauth" in path.lower()


def _is_create(codes: Counter[int], location_seen: bool, path: str, paths: set[str]) -> bool:
    """A POST creates when it was answered 201, carried a Location, or posts to a
    collection whose items are seen in the traffic (``/books`` beside ``/books/{id}``)."""
    if codes[201] or location_seen:
        return True
    prefix = path.rstrip("/") + "/"
    return any(p.startswith(prefix) and p[len(prefix) :].split("/", 1)[0].startswith("{") for p in paths)


def _inconsistency(
    table: EndpointTable, host: str, kind: str, label: str, codes: tuple[int, ...], groups: dict[int, list[str]]
) -> Hit:
    order = sorted(groups, key=lambda c: (-len(groups[c]), codes.index(c)))
    majority, minority = order[0], order[1:]
    evidence: list[Seen] = []
    for code in [*minority, majority]:
        for endpoint in sorted(groups[code]):
            seen = table.stats[endpoint].examples.get(code)
            if seen is not None and len(evidence) < _EVIDENCE_LIMIT:
                evidence.append(seen)
    others = "; ".join(f"{code} on {len(groups[code])} ({_names(groups[code])})" for code in minority)
    message = (
        f"{label} is answered {majority} on {len(groups[majority])} endpoint(s) of {host} but {others}: "
        "use one code for one kind of operation across the API"
    )
    methods = "|".join(sorted(OPERATIONS[kind][1]))
    details = {
        "host": host,
        "operation": kind,
        "majority": {"status": majority, "endpoints": sorted(groups[majority])},
        "minority": [{"status": code, "endpoints": sorted(groups[code])} for code in minority],
    }
    return Hit(INCONSISTENT, message, None, "", endpoint_name(methods, host, "*"), tuple(evidence), details)


def _names(endpoints: list[str]) -> str:
    shown = [split_endpoint(e)[0] + " " + split_endpoint(e)[2] for e in sorted(endpoints)[:_NAMED_IN_MESSAGE]]
    more = len(endpoints) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
