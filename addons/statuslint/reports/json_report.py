"""The JSON report: the report model as it is, a contract other tools and CI jobs read."""

from __future__ import annotations

import json

from ..escape import escape_json
from .model import Model


def render(model: Model) -> str:
    # C1 controls and line separators as \u escapes: the same values, safe to cat.
    return escape_json(json.dumps(model, indent=2, ensure_ascii=False)) + "\n"
