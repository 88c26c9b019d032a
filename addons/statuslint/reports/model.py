"""The report model: one plain document built once from a finished audit.

Every report format is a small renderer over this model (``render(model) -> str``), so a
new format touches nothing else. The model is exactly the JSON report, a contract other
tools read: its fields are kept stable.
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..auditor import Auditor

Model = dict[str, Any]


def build(auditor: Auditor, policy_label: str, *, partial: bool = False) -> Model:
    """``partial``: the audit was interrupted, and covers only what was read by then."""
    return {
        "tool": {"name": "statuslint", "version": __version__},
        "policy": policy_label,
        "inputs": [{"source": i.source, "flows": i.flows, "error": i.error} for i in auditor.inputs],
        "findings": [f.to_json(auditor.endpoint_of(f)) for f in auditor.ordered_findings()],
        "summary": auditor.summary(),
        "partial": partial,
    }
