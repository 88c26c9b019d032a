"""Severities and findings: what a rule reports about one flow."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


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
    return Severity.parse(text)


@dataclass(frozen=True, slots=True)
class FlowRef:
    """Where a finding was seen. The URL is already redacted."""

    source: str
    index: int
    method: str
    url: str
    status: int

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "index": self.index,
            "method": self.method,
            "url": self.url,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    reference: str
    flow: FlowRef

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.label,
            "message": self.message,
            "reference": self.reference,
            "flow": self.flow.to_json(),
        }
