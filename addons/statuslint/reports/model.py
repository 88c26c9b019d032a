"""The report model: one plain document built once from a finished audit.

Every report format is a small renderer over this model (``render(model) -> str``), so a
new format touches nothing else. The model is exactly the JSON report, a contract other
tools read: its fields are kept stable (new ones may be added, none changed).

``rules`` carries each rule's documentation for the formats that show it (SARIF's rule
metadata, the fix on a terminal line): the report then stands on its own, without the
policy file that produced it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import __version__
from ..auditor import Auditor
from ..policy import Rule

Model = dict[str, Any]
SEVERITY_ORDER = {"error": 3, "warning": 2, "info": 1}
# Where docs/rules.md is published (each rule is a section of it, anchored by its id).
RULES_DOC_URL = "https://github.com/statuslint/statuslint/blob/main/docs/rules.md"


def build(auditor: Auditor, policy_label: str, *, partial: bool = False) -> Model:
    """The report. ``suppressed_findings`` (present only when a suppression held findings
    back) is for formats that can carry them as suppressed, like SARIF; the others leave
    them out, as a suppressed finding leaves every output. ``partial``: the audit was
    interrupted, and covers only what was read by then."""
    model: Model = {
        "tool": {"name": "statuslint", "version": __version__},
        "policy": policy_label,
        "inputs": [{"source": i.source, "flows": i.flows, "error": i.error} for i in auditor.inputs],
        "findings": [f.to_json(auditor.endpoint_of(f)) for f in auditor.ordered_findings()],
        "summary": auditor.summary(),
        "rules": [rule_json(r) for r in auditor.policy.rules],
        "partial": partial,
    }
    suppressed = auditor.all_suppressed()
    if suppressed:
        rows = auditor.gate.suppressions
        model["suppressed_findings"] = [
            {
                **f.to_json(auditor.endpoint_of(f)),
                "suppression": {"rule": rows[i].rule, "reason": rows[i].reason, "origin": rows[i].origin},
            }
            for f, i in suppressed
        ]
    return model


def rule_json(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "severity": rule.severity.label,
        "enabled": rule.enabled,
        "summary": rule.summary,
        "why": rule.why,
        "example": rule.example,
        "fix": rule.fix,
        "fix_summary": fix_summary(rule.fix),
        "reference": rule.reference,
        "origin": rule.origin,
        "needs": rule.needs(),
    }


def fix_summary(fix: str) -> str:
    """The fix on one line, for a terminal line or a table cell. A rule's ``fix`` is the
    right exchange, several lines of HTTP; its first line alone ("HTTP/1.1 401
    Unauthorized") would drop the header that is the point, so all of its lines are
    kept, joined, with runs of blanks (alignment in the YAML) squeezed."""
    joined = "; ".join(" ".join(line.split()) for line in fix.splitlines() if line.strip())
    return joined.replace("; ->", " ->")


def origin_parts(origin: str) -> tuple[str, int | None]:
    """``source:line`` of Rule.origin split (a Windows path keeps its drive colon)."""
    source, sep, line = origin.rpartition(":")
    if sep and line.isdigit():
        return source, int(line)
    return origin, None


def doc_url(rule: dict[str, Any]) -> str | None:
    """The rule's section of docs/rules.md; None for a rule of a policy of your own
    (docs/rules.md documents the built-in policy only)."""
    source, _ = origin_parts(rule.get("origin", ""))
    path = Path(source)
    if path.name == "default.yaml" and path.parent.name == "policies":
        return f"{RULES_DOC_URL}#{rule['id']}"
    return None


def endpoint_parts(endpoint: str) -> tuple[str, str, str]:
    """``METHOD host /path/{id}`` (or ``METHOD host *`` for an API-level finding) as
    (method, host, path template)."""
    parts = endpoint.split(" ", 2)
    while len(parts) < 3:
        parts.append("")
    return parts[0], parts[1], parts[2]


def rules_by_id(model: Model) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in model.get("rules", [])}


def group_findings(findings: list[dict[str, Any]]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """Findings grouped by (rule, endpoint), in order of first appearance."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for finding in findings:
        groups.setdefault((finding["rule"], finding["endpoint"]), []).append(finding)
    return [(rule, endpoint, items) for (rule, endpoint), items in groups.items()]


def where(finding: dict[str, Any]) -> str:
    """The flow a finding is about, as a person reads it: ``demo.flows#61 POST url 201``;
    for an API-level finding its endpoint and first evidence flow."""
    ref = finding.get("flow")
    if ref:
        return f"{ref['source']}#{ref['index']} {ref['method']} {ref['url']} {ref['status']}"
    evidence = finding.get("evidence") or []
    if evidence:
        e = evidence[0]
        return f"{finding['endpoint']} (e.g. {e['source']}#{e['index']} {e['method']} {e['url']} {e['status']})"
    return finding["endpoint"]


def fail_count(model: Model, threshold: str | None) -> int:
    """Findings at or above a severity, as the exit code counts them."""
    if threshold is None:
        return 0
    floor = SEVERITY_ORDER[threshold]
    return sum(n for sev, n in model["summary"]["by_severity"].items() if SEVERITY_ORDER.get(sev, 0) >= floor)
