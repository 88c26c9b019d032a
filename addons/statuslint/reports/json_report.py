"""The JSON report: the report model, a contract other tools and CI jobs read."""

from __future__ import annotations

import json

from ..escape import escape_json
from .model import Model


def render(model: Model) -> str:
    # Suppressed findings leave the JSON report; summary.suppressed counts them. C1 controls
    # and line separators as \u escapes: the same values, safe to cat.
    doc = {k: v for k, v in model.items() if k != "suppressed_findings"}
    return escape_json(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n"
