"""Severities and findings: what a rule reports, about one flow or about the API."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .exchange import Packed

# A flow as state across flows remembers it: (source, index, method, status, url), the
# URL already redacted, printable and clipped (see Auditor.audit_response).
Seen = tuple[str, int, str, int, str]


class Severity(enum.IntEnum):
    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (expected one of: error, warning, info)") from None


SEVERITY_NAMES = tuple(s.label for s in sorted(Severity, reverse=True))


def parse_fail_on(text: str) -> Severity | None:
    """A --fail-on value: a severity, or ``none``/empty to never fail on findings."""
    if text.strip().lower() in ("", "none", "never"):
        return None
    try:
        return Severity.parse(text)
    except ValueError:
        raise ValueError(f"unknown value {text!r} (expected one of: {', '.join(SEVERITY_NAMES)}, none)") from None


@dataclass(frozen=True, slots=True)
class FlowRef:
    """Where a finding was seen. The URL is already redacted."""

    source: str
    index: int
    method: str
    url: str
    status: int

    def __reduce__(self) -> tuple[type[FlowRef], tuple[str, int, str, str, int]]:
        # By the constructor: see exchange.Packed.__reduce__.
        return (FlowRef, (self.source, self.index, self.method, self.url, self.status))

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "index": self.index,
            "method": self.method,
            "url": self.url,
            "status": self.status,
        }

    @classmethod
    def from_seen(cls, seen: Seen) -> FlowRef:
        source, index, method, status, url = seen
        return cls(source, index, method, url, status)


@dataclass(frozen=True, slots=True)
class Finding:
    """``flow`` is None for an API-level finding, which rests on ``evidence`` alone.
    ``exchange`` is the redacted, bounded snapshot of that flow (statuslint.exchange),
    packed, shared by the findings of one flow; None where the flow had gone by."""

    rule: str
    severity: Severity
    message: str
    reference: str
    flow: FlowRef | None
    endpoint: str
    evidence: tuple[FlowRef, ...] = ()
    details: dict[str, Any] | None = None
    # "inconclusive" where the source cannot prove it (a body seen only through a HAR).
    confidence: str = "certain"
    # The headers the rule looked at, as the flow had them (redacted; None: absent).
    headers: dict[str, dict[str, str | None]] | None = None
    # The pytest node id of the test that made the request (the pytest plugin sets it).
    test: str | None = None
    exchange: Packed | None = None

    def __reduce__(self) -> tuple[type[Finding], tuple[Any, ...]]:
        # By the constructor, every field in order: see exchange.Packed.__reduce__.
        return (
            Finding,
            (
                self.rule,
                self.severity,
                self.message,
                self.reference,
                self.flow,
                self.endpoint,
                self.evidence,
                self.details,
                self.confidence,
                self.headers,
                self.test,
                self.exchange,
            ),
        )

    def to_json(self, endpoint: str | None = None) -> dict[str, Any]:
        """``endpoint`` replaces the one recorded (templates learned later apply)."""
        out: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity.label,
            "message": self.message,
            "reference": self.reference,
            "endpoint": endpoint or self.endpoint,
            "flow": self.flow.to_json() if self.flow else None,
            "evidence": [e.to_json() for e in self.evidence],
            "confidence": self.confidence,
        }
        if self.headers:
            out["headers"] = self.headers
        if self.details:
            out["details"] = self.details
        if self.test is not None:
            out["test"] = self.test
        out["exchange"] = self.exchange.unpack() if self.exchange is not None else None
        return out
