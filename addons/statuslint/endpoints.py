"""Endpoints: flows grouped as ``METHOD host /path/{id}`` templates, with no spec.

A path segment becomes a parameter when it looks like an identifier (a number, a UUID, a
hex hash, a slug carrying digits), when a template of the policy says so, or when one
position of the path has shown more distinct values than any list of collection names
would have (usernames, slugs without digits). The last is learned from the traffic, so
it applies from the moment it is learned; ``canonical`` re-applies it to names handed
out before, and the endpoint table merges the entries it already had.
"""

from __future__ import annotations

import functools
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .findings import Seen

PARAM = "{id}"

# Distinct literal values one path position may show before it counts as a parameter.
# Above the number of collections an API has under one parent (GitHub's REST API has
# fewer than 40 at its root), far below the number of users or slugs.
LITERAL_LIMIT = 50
# Path positions whose distinct values are being counted, and positions learned to be
# parameters; least recently used dropped (a dropped parameter is learned again).
_POSITION_LIMIT = 2000
_COLLAPSED_LIMIT = 10000
# Longest template kept; longer ones are cut (a path of thousands of segments is one endpoint).
_TEMPLATE_LIMIT = 512
_SEGMENT_LIMIT = 32

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]{8,}$")
# Written so that no input makes it backtrack: it runs on every path segment, in the proxy.
_VERSION = re.compile(r"^(?:v\d+(?:\.\d+)*(?:[a-z]+\d*)?|\d+(?:\.\d+)+)$", re.IGNORECASE)
# Longer segments are tokens or ids, never the name of a collection.
_NAME_LIMIT = 40
_SEPARATORS = re.compile(r"[-_.~]")
_TEMPLATE_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def is_parameter(segment: str) -> bool:
    """Whether one path segment looks like an identifier rather than a name."""
    if not segment:
        return False
    if len(segment) > _NAME_LIMIT or segment.isdigit():
        return True
    return _looks_like_identifier(segment)


# Remembered: the names of an API's collections recur on every request.
@functools.lru_cache(maxsize=4096)
def _looks_like_identifier(segment: str) -> bool:
    if _UUID.match(segment):
        return True
    if _HEX.match(segment) and any(c.isdigit() for c in segment):
        return True
    if _VERSION.match(segment):
        return False
    digits = sum(c.isdigit() for c in segment)
    if not digits:
        # A random token of letters only ("QwErTyUiOpAsDfGhJkLz": about half upper case),
        # not a camelCase name ("getUserProfileSettingsById").
        upper = sum(c.isupper() for c in segment)
        return len(segment) >= 20 and len(segment) / 4 <= upper <= 3 * len(segment) / 4
    if _SEPARATORS.search(segment):
        # A slug with an id in it ("abc-9f", "my-post-123", "cus_9s6X", "2024-01-31"),
        # but not a versioned name ("api-v2").
        return any(any(c.isdigit() for c in part) and not _VERSION.match(part) for part in _SEPARATORS.split(segment))
    # "usr123" or a long token, but not a name with a digit ("oauth2", "ec2", "html5").
    return digits >= 3 or len(segment) >= 12


@dataclass(frozen=True)
class PathTemplate:
    """An explicit template from a policy: ``/v1/orgs/{org}/repos/{repo}``."""

    text: str
    regex: re.Pattern[str]

    @classmethod
    def parse(cls, text: str) -> PathTemplate:
        """ValueError with the reason when ``text`` is not a template."""
        if not text.startswith("/"):
            raise ValueError(f"endpoint template {text!r} must start with '/'")
        parts = []
        names: set[str] = set()
        for segment in text.split("/")[1:]:
            m = _TEMPLATE_PARAM.match(segment)
            if m:
                if m[1] in names:
                    raise ValueError(f"endpoint template {text!r} names the parameter {{{m[1]}}} twice")
                names.add(m[1])
                parts.append("[^/]+")
            elif "{" in segment or "}" in segment:
                raise ValueError(
                    f"endpoint template {text!r}: a parameter must be a whole segment like {{name}}, not {segment!r}"
                )
            else:
                parts.append(re.escape(segment))
        return cls(text, re.compile("^/" + "/".join(parts) + "$"))


class Templater:
    """Turns request paths into endpoint path templates."""

    def __init__(self, explicit: Iterable[PathTemplate] = (), literal_limit: int = LITERAL_LIMIT) -> None:
        self.explicit = tuple(explicit)
        self.literal_limit = literal_limit
        # (host, template of the path before the position) -> distinct values seen there
        self._values: OrderedDict[tuple[str, str], set[str]] = OrderedDict()
        self._collapsed: OrderedDict[tuple[str, str], None] = OrderedDict()
        # Told the host whenever one of its positions becomes a parameter.
        self.on_collapse: list[Callable[[str], None]] = []

    def template(self, host: str, path: str) -> str:
        for t in self.explicit:
            if t.regex.match(path):
                return t.text
        segments = path.split("/", _SEGMENT_LIMIT + 1)
        rest = segments.pop() if len(segments) > _SEGMENT_LIMIT + 1 else None
        out = [segments[0]]
        for segment in segments[1:]:
            if is_parameter(segment):
                out.append(PARAM)
                continue
            if not segment:
                out.append(segment)
                continue
            if len(out) == 1:
                # The first segment names the API's parts (and a site's pages): never
                # learned as a parameter, or every collection would become an item.
                out.append(segment)
                continue
            key = (host, "/".join(out))
            if key in self._collapsed:
                self._collapsed.move_to_end(key)
                out.append(PARAM)
            elif self._learn(key, segment):
                out.append(PARAM)
                for callback in self.on_collapse:
                    callback(host)
            else:
                out.append(segment)
        if rest is not None:
            out.append("…")
        template = "/".join(out)
        return template if len(template) <= _TEMPLATE_LIMIT else template[: _TEMPLATE_LIMIT - 1] + "…"

    def _learn(self, key: tuple[str, str], segment: str) -> bool:
        """Count a literal at a position; True when that makes the position a parameter."""
        values = self._values.get(key)
        if values is None:
            values = self._values[key] = set()
            if len(self._values) > _POSITION_LIMIT:
                self._values.popitem(last=False)
        else:
            self._values.move_to_end(key)
        values.add(segment)
        if len(values) <= self.literal_limit:
            return False
        del self._values[key]
        self._collapsed[key] = None
        if len(self._collapsed) > _COLLAPSED_LIMIT:
            self._collapsed.popitem(last=False)
        return True

    def learned(self) -> tuple[dict[tuple[str, str], set[str]], list[tuple[str, str]]]:
        """What was learned from the traffic (copies): values counted per path position,
        and the positions found to be parameters."""
        return {k: set(v) for k, v in self._values.items()}, list(self._collapsed)

    def merge_learned(self, values: dict[tuple[str, str], set[str]], collapsed: list[tuple[str, str]]) -> None:
        """Learn what another audit learned, as if its traffic had been seen here too."""
        hosts: set[str] = set()
        for key in collapsed:
            if key not in self._collapsed:
                self._values.pop(key, None)
                self._collapsed[key] = None
                if len(self._collapsed) > _COLLAPSED_LIMIT:
                    self._collapsed.popitem(last=False)
                hosts.add(key[0])
        for key, seen in values.items():
            if key in self._collapsed:
                continue
            for segment in sorted(seen):
                if self._learn(key, segment):
                    hosts.add(key[0])
                    break
        for host in sorted(hosts):
            for callback in self.on_collapse:
                callback(host)

    def canonical(self, host: str, template: str) -> str:
        """A template handed out earlier, with the parameters learned since applied."""
        if not self._collapsed or any(t.text == template for t in self.explicit):
            return template
        segments = template.split("/")
        out = [segments[0]]
        for segment in segments[1:]:
            if segment and segment != PARAM and (host, "/".join(out)) in self._collapsed:
                out.append(PARAM)
            else:
                out.append(segment)
        return "/".join(out)

    def canonical_endpoint(self, endpoint: str) -> str:
        method, host, template = split_endpoint(endpoint)
        if not template.startswith("/"):
            return endpoint
        return f"{method} {host} {self.canonical(host, template)}"


def endpoint_name(method: str, host: str, template: str) -> str:
    return f"{method} {host} {template}"


def split_endpoint(endpoint: str) -> tuple[str, str, str]:
    method, host, template = endpoint.split(" ", 2)
    return method, host, template


def is_item(template: str) -> bool:
    """Whether a template names one resource of a collection (its last segment is a
    parameter) rather than a collection or a singleton."""
    last = template.rstrip("/").rsplit("/", 1)[-1]
    return last.startswith("{") and last.endswith("}")


# Endpoint statistics -------------------------------------------------------------------

# Example flows kept per endpoint, one per status code, for evidence.
_EXAMPLES_PER_ENDPOINT = 8


@dataclass
class EndpointStats:
    requests: int = 0
    codes: Counter[int] = field(default_factory=Counter)
    findings: int = 0
    location_seen: bool = False  # a 2xx carried Location: a create, even when answered 200
    examples: dict[int, Seen] = field(default_factory=dict)

    def add(self, status: int, seen: Seen) -> None:
        self.requests += 1
        self.codes[status] += 1
        if status not in self.examples and len(self.examples) < _EXAMPLES_PER_ENDPOINT:
            self.examples[status] = seen

    def merge(self, other: EndpointStats) -> None:
        self.requests += other.requests
        self.codes.update(other.codes)
        self.findings += other.findings
        self.location_seen |= other.location_seen
        for status, seen in other.examples.items():
            if status not in self.examples and len(self.examples) < _EXAMPLES_PER_ENDPOINT:
                self.examples[status] = seen

    def by_class(self) -> dict[str, int]:
        classes: Counter[str] = Counter()
        for code, n in self.codes.items():
            classes[f"{code // 100}xx" if 100 <= code <= 599 else "other"] += n
        return dict(sorted(classes.items()))

    def to_json(self, endpoint: str) -> dict:
        method, host, path = split_endpoint(endpoint)
        return {
            "endpoint": endpoint,
            "method": method,
            "host": host,
            "path": path,
            "requests": self.requests,
            "by_class": self.by_class(),
            "by_status": {str(code): n for code, n in sorted(self.codes.items())},
            "findings": self.findings,
        }


class EndpointTable:
    """Per-endpoint counts, at most ``limit`` endpoints; the least recently used is folded
    into ``evicted`` so totals stay whole."""

    def __init__(self, templater: Templater, limit: int) -> None:
        self.templater = templater
        self.limit = limit
        self.stats: OrderedDict[str, EndpointStats] = OrderedDict()
        self.evicted = EndpointStats()
        self.evicted_endpoints = 0
        templater.on_collapse.append(self._recanonicalize)

    def get(self, endpoint: str) -> EndpointStats:
        stats = self.stats.get(endpoint)
        if stats is None:
            stats = self.stats[endpoint] = EndpointStats()
            while len(self.stats) > self.limit:
                _, old = self.stats.popitem(last=False)
                self.evicted.merge(old)
                self.evicted_endpoints += 1
        else:
            self.stats.move_to_end(endpoint)
        return stats

    def _recanonicalize(self, host: str) -> None:
        for endpoint in [e for e in self.stats if split_endpoint(e)[1] == host]:
            canonical = self.templater.canonical_endpoint(endpoint)
            old = self.stats.pop(endpoint, None) if canonical != endpoint else None
            if old is not None:
                self.get(canonical).merge(old)

    def merge(self, rows: Iterable[tuple[str, EndpointStats]], evicted: EndpointStats, evicted_endpoints: int) -> None:
        """Add another table's counts (its endpoints as this table's templater names them now)."""
        for endpoint, stats in rows:
            self.get(self.templater.canonical_endpoint(endpoint)).merge(stats)
        self.evicted.merge(evicted)
        self.evicted_endpoints += evicted_endpoints

    def items(self) -> Iterator[tuple[str, EndpointStats]]:
        return iter(self.stats.items())

    def __len__(self) -> int:
        return len(self.stats)
