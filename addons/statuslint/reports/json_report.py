"""The JSON report: the report model as it is, a contract other tools and CI jobs read."""

from __future__ import annotations

import json

from .model import Model


def render(model: Model) -> str:
    return json.dumps(model, indent=2, ensure_ascii=False) + "\n"
