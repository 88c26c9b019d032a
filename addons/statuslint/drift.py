"""Drift between two audits of the same API: per endpoint template, the status codes
before and after, endpoints that appeared or vanished, and findings new and fixed.

``statuslint diff before after`` audits each side on its own (lifecycle state never
spans the two) and compares the audits; ``statuslint replay`` compares a recording with
the answers a server gives now. The drift model is a plain document, rendered as JSON
or for the terminal like every other report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from . import __version__
from .auditor import Auditor
from .endpoints import split_endpoint
from .findings import Finding, Severity
from .noise import finding_key

# An endpoint's status codes, as the report prints them: {"204": 3}.
Codes = dict[str, int]


@dataclass
class Side:
    """One side of a comparison: its audit, and how its endpoints are keyed."""

    auditor: Auditor
    label: str

    def hosts(self) -> list[str]:
        return sorted({split_endpoint(e)[1] for e, _ in self.auditor.endpoints.items()})


def _keyed(endpoint: str, ignore_host: bool) -> str:
    if not ignore_host:
        return endpoint
    method, _, template = split_endpoint(endpoint)
    return f"{method} * {template}"


def _codes(side: Side, ignore_host: bool) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for endpoint, stats in side.auditor.endpoints.items():
        key = _keyed(endpoint, ignore_host)
        counts = out.setdefault(key, Counter())
        for code, n in stats.codes.items():
            counts[str(code)] += n
    return out


def _findings(side: Side, ignore_host: bool) -> dict[tuple[str, str, str, str], tuple[Finding, str, int]]:
    """Findings by key: the first of each with its (canonical) endpoint, and the count."""
    out: dict[tuple[str, str, str, str], tuple[Finding, str, int]] = {}
    for finding in side.auditor.ordered_findings():
        endpoint = side.auditor.endpoint_of(finding)
        key = finding_key(finding.rule, _keyed(endpoint, ignore_host))
        first, shown, n = out.get(key, (finding, endpoint, 0))
        out[key] = (first, shown, n + 1)
    return out


def _change(before: Codes, after: Codes) -> str:
    if not before:
        return "appeared"
    if not after:
        return "vanished"
    if set(before) != set(after):
        return "codes changed"
    return "same codes"


def _finding_row(finding: Finding, endpoint: str, before: int, after: int) -> dict[str, Any]:
    row = finding.to_json(endpoint)
    row["count_before"] = before
    row["count_after"] = after
    return row


def compare(before: Side, after: Side, ignore_host: bool | None = None) -> dict[str, Any]:
    """The drift model. ``ignore_host`` None: endpoints are matched without their host
    when each side talks to exactly one (the same API recorded on two ports)."""
    hosts_before, hosts_after = before.hosts(), after.hosts()
    if ignore_host is None:
        ignore_host = len(hosts_before) == 1 and len(hosts_after) == 1 and hosts_before != hosts_after
    codes_before, codes_after = _codes(before, ignore_host), _codes(after, ignore_host)
    endpoints = []
    for key in sorted(codes_before.keys() | codes_after.keys(), key=lambda e: (split_endpoint(e)[2], e)):
        b = dict(sorted(codes_before.get(key, Counter()).items()))
        a = dict(sorted(codes_after.get(key, Counter()).items()))
        change = _change(b, a)
        endpoints.append(
            {
                "endpoint": key,
                "before": b,
                "after": a,
                "change": change,
                "codes_added": sorted(set(a) - set(b)) if b and a else [],
                "codes_removed": sorted(set(b) - set(a)) if b and a else [],
            }
        )
    found_before, found_after = _findings(before, ignore_host), _findings(after, ignore_host)
    new = [
        _finding_row(f, ep, 0, n) for key, (f, ep, n) in found_after.items() if key not in found_before
    ]  # in the after side's order
    fixed = [_finding_row(f, ep, n, 0) for key, (f, ep, n) in found_before.items() if key not in found_after]
    changed = [e for e in endpoints if e["change"] != "same codes"]
    return {
        "tool": {"name": "statuslint", "version": __version__},
        "kind": "drift",
        "policy": before.auditor.policy.name,
        "before": {"label": before.label, "inputs": _inputs(before), "hosts": hosts_before},
        "after": {"label": after.label, "inputs": _inputs(after), "hosts": hosts_after},
        "matched_without_host": ignore_host,
        "endpoints": endpoints,
        "findings": {"new": new, "fixed": fixed},
        "summary": {
            "endpoints": len(endpoints),
            "appeared": sum(1 for e in endpoints if e["change"] == "appeared"),
            "vanished": sum(1 for e in endpoints if e["change"] == "vanished"),
            "codes_changed": sum(1 for e in endpoints if e["change"] == "codes changed"),
            "findings_new": len(new),
            "findings_fixed": len(fixed),
            "drift": bool(changed or new or fixed),
        },
    }


def _inputs(side: Side) -> list[dict[str, Any]]:
    return [{"source": i.source, "flows": i.flows, "error": i.error} for i in side.auditor.inputs]


def worst_new(model: dict[str, Any]) -> Severity | None:
    severities = [Severity.parse(f["severity"]) for f in model["findings"]["new"]]
    return max(severities) if severities else None
