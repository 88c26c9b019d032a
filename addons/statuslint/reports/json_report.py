"""The JSON report: the report model, a contract other tools and CI jobs read."""

from __future__ import annotations

import json

from .model import Model


def render(model: Model) -> str:
    # Suppressed findings leave the JSON report; summary.suppressed counts them.
    doc = {k: v for k, v in model.items() if k != "suppressed_findings"}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
