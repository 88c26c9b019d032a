"""The report model: one plain document built once from a finished audit.

Every report format is a small renderer over this model (``render(model) -> str``), so a
new format touches nothing else. The model is exactly the JSON report, a contract other
tools read: its fields are kept stable.
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..auditor import Auditor
from ..policy import Policy

Model = dict[str, Any]


def build(auditor: Auditor, policy_label: str) -> Model:
    """The report. ``suppressed_findings`` (present only when a suppression held findings
    back) is for formats that can carry them as suppressed, like SARIF; the others leave
    them out, as a suppressed finding leaves every output."""
    model: Model = {
        "tool": {"name": "statuslint", "version": __version__},
        "policy": policy_label,
        "inputs": [{"source": i.source, "flows": i.flows, "error": i.error} for i in auditor.inputs],
        "findings": [f.to_json(auditor.endpoint_of(f)) for f in auditor.ordered_findings()],
        "summary": auditor.summary(),
        "rules": rule_docs(auditor.policy),
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


def rule_docs(policy: Policy) -> list[dict[str, Any]]:
    """Every rule's documentation, so a report (the HTML view) explains its findings
    without the policy file that produced it."""
    return [
        {
            "id": r.id,
            "severity": r.severity.label,
            "enabled": r.enabled,
            "summary": r.summary,
            "why": r.why,
            "example": r.example,
            "fix": r.fix,
            "reference": r.reference,
        }
        for r in policy.rules
    ]
