"""The statuslint section at the end of a pytest run, in pytest's own style: findings
grouped by rule and endpoint, with the tests that triggered them."""

from __future__ import annotations

from collections.abc import Iterable

from ..findings import Finding, Severity
from .session import AuditSession

# Tests named per endpoint line; the rest are counted.
_TESTS_SHOWN = 3


def finding_line(finding: Finding) -> str:
    """One finding on one line (a strict-mode failure, the grouped section's details)."""
    where = f"{finding.flow.method} {finding.flow.url} {finding.flow.status}" if finding.flow else finding.endpoint
    return f"{finding.severity.label} {finding.rule}: {where}: {finding.message}"


def section_lines(session: AuditSession, findings: Iterable[Finding]) -> list[str]:
    """Per rule (worst severity first), per endpoint: how often, and by which tests."""
    auditor = session.auditor
    groups: dict[str, dict[str, list[Finding]]] = {}
    severity: dict[str, Severity] = {}
    for finding in findings:
        severity[finding.rule] = finding.severity
        groups.setdefault(finding.rule, {}).setdefault(auditor.endpoint_of(finding), []).append(finding)
    lines: list[str] = []
    for rule_id in sorted(groups, key=lambda r: (-severity[r], r)):
        rule = auditor.policy.rule(rule_id)
        summary = f": {rule.summary}" if rule else ""
        lines.append(f"{rule_id} ({severity[rule_id].label}){summary}")
        for endpoint, found in sorted(groups[rule_id].items()):
            tests: list[str] = []
            for finding in found:
                for test in session.tests_of(finding):
                    if test not in tests:
                        tests.append(test)
            shown = ", ".join(tests[:_TESTS_SHOWN]) or "(outside any test)"
            if len(tests) > _TESTS_SHOWN:
                shown += f" and {len(tests) - _TESTS_SHOWN} more"
            lines.append(f"    {endpoint}  x{len(found)}  {shown}")
            if found[0].flow is None:
                # API-level: the message names the endpoints that differ.
                lines.append(f"        {found[0].message}")
    return lines


def totals_line(session: AuditSession, tests_seen: int) -> str:
    summary = session.auditor.summary()
    sev = summary["by_severity"]
    total = sum(sev.values())
    parts = [
        f"{summary['audited']} exchanges audited from {tests_seen} tests",
        f"{total} findings ({sev['error']} error, {sev['warning']} warning, {sev['info']} info)",
    ]
    silenced = session.auditor.counts["silenced"]
    if silenced:
        parts.append(f"{silenced} silenced by markers")
    if session.exchanges_skipped:
        parts.append(f"{session.exchanges_skipped} exchanges of opted-out tests not audited")
    omitted = summary["limits"]["findings_omitted"]
    if omitted:
        parts.append(f"{omitted} findings counted but not listed (max findings)")
    return "statuslint: " + ", ".join(parts)
