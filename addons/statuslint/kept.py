"""The findings kept for the report when ``--max-findings`` caps them.

Every finding is counted and logged; the report keeps at most the cap, the most severe
first and, within a severity, the earliest. The cap bounds memory too: never more than
the cap is held, so a finding is dropped the moment a more severe one needs its place.

What thousands of findings repeat is held once: the endpoint name, and the evidence
headers (most rules look at one or two headers, mostly absent, so a few sets recur).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace

from .findings import Finding, Severity

# Least severe first: where a finding makes room for a more severe one.
_ASCENDING = tuple(sorted(Severity))
_DESCENDING = tuple(reversed(_ASCENDING))
# Distinct evidence-header sets shared; beyond them (values that differ per flow, like a
# Location), a finding keeps its own.
_SHARED_HEADERS = 512


class KeptFindings:
    """At most ``limit`` findings (0: all). Per severity a list in arrival order: the one
    to give up when the cap is hit is always the last of the least severe list, so no
    heap is needed and dropping is O(1)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lists: dict[Severity, list[tuple[int, Finding]]] = {s: [] for s in Severity}
        self._arrived = 0
        self._size = 0
        self.omitted: Counter[str] = Counter()  # severity label -> findings not kept
        self._headers: dict[tuple, dict[str, dict[str, str | None]]] = {}

    def __len__(self) -> int:
        return self._size

    def add(self, finding: Finding) -> None:
        self._arrived += 1
        if self.limit and self._size >= self.limit:
            lowest = self._least_severe()
            if lowest is None or finding.severity <= lowest:
                # As severe as the least severe kept and later than all of them, or less severe.
                self.omitted[finding.severity.label] += 1
                return
            self._drop(lowest)
        self._lists[finding.severity].append((self._arrived, self._shared(finding)))
        self._size += 1

    def _shared(self, finding: Finding) -> Finding:
        """The finding with what others repeat shared with them, not a copy per finding.
        (Nothing changes these once made: a report reads them.)"""
        endpoint = sys.intern(finding.endpoint)
        headers = finding.headers
        if headers is not None:
            key = tuple((side, tuple(values.items())) for side, values in headers.items())
            try:
                held = self._headers.get(key)
            except TypeError:  # a value that cannot be a key (not one evidence.headers makes)
                held = None
            else:
                if held is None and len(self._headers) < _SHARED_HEADERS:
                    self._headers[key] = headers
            headers = held or headers
        if endpoint is finding.endpoint and headers is finding.headers:
            return finding
        return replace(finding, endpoint=endpoint, headers=headers)

    def set_limit(self, limit: int) -> None:
        self.limit = limit
        while limit and self._size > limit:
            lowest = self._least_severe()
            assert lowest is not None
            self._drop(lowest)

    def _least_severe(self) -> Severity | None:
        return next((s for s in _ASCENDING if self._lists[s]), None)

    def _drop(self, severity: Severity) -> None:
        self._lists[severity].pop()
        self._size -= 1
        self.omitted[severity.label] += 1

    def findings(self) -> list[Finding]:
        """The findings held, in arrival order."""
        held = sorted((pair for items in self._lists.values() for pair in items), key=lambda p: p[0])
        return [f for _, f in held]

    def select(self, api: Iterable[Finding]) -> tuple[list[Finding], list[Finding], Counter[str]]:
        """What the report keeps once the API-level findings (computed at the end, so the
        latest of their severity) are added: (flow findings kept, in arrival order; API
        findings kept, in their order; omitted per severity label)."""
        api = list(api)
        room = self.limit or None
        kept: list[tuple[int, Finding]] = []
        api_room: dict[Severity, int] = {}
        omitted = Counter(self.omitted)
        for severity in _DESCENDING:
            held = self._lists[severity]
            extra = sum(1 for f in api if f.severity is severity)
            if room is None:
                kept += held
                api_room[severity] = extra
                continue
            take = min(room, len(held))
            take_api = min(room - take, extra)
            kept += held[:take]
            api_room[severity] = take_api
            room -= take + take_api
            omitted[severity.label] += len(held) - take + extra - take_api
        kept_api = []
        for finding in api:
            if api_room[finding.severity]:
                api_room[finding.severity] -= 1
                kept_api.append(finding)
        kept.sort(key=lambda p: p[0])
        return [f for _, f in kept], kept_api, omitted
