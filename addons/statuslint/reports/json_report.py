"""The JSON report: a contract other tools and CI jobs read. Keep its fields stable."""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from ..auditor import Auditor


def build(auditor: Auditor, policy_label: str) -> dict[str, Any]:
    return {
        "tool": {"name": "statuslint", "version": __version__},
        "policy": policy_label,
        "inputs": [{"source": i.source, "flows": i.flows, "error": i.error} for i in auditor.inputs],
        "findings": [f.to_json(auditor.endpoint_of(f)) for f in auditor.ordered_findings()],
        "summary": auditor.summary(),
    }


def render(auditor: Auditor, policy_label: str) -> str:
    return json.dumps(build(auditor, policy_label), indent=2, ensure_ascii=False) + "\n"
