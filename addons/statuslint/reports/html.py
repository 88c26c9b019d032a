"""The HTML report: one self-contained page (no network, no external scripts, fonts or
styles) to read an audit in a browser.

An overview with charts drawn as inline SVG (findings per rule and severity, status
classes per endpoint), a findings table that sorts and filters, and per finding its
exchange, evidence flows and the rule's documentation. Rendered with Jinja2, autoescape
on: traffic never becomes markup. What the page's script needs travels as JSON in a
``<script type="application/json">`` block through Jinja's ``tojson`` filter, which
escapes ``<``, ``>``, ``&`` and ``'`` so recorded text cannot end the block.
"""

from __future__ import annotations

import http
from functools import cache
from pathlib import PurePath
from typing import Any

import jinja2

from .model import Model

SEVERITIES = ("error", "warning", "info")
_RANK = {"error": 3, "warning": 2, "info": 1}
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "other")
# Chart geometry (SVG user units; the SVG scales to the page width).
_BAR_WIDTH = 420
_ROW_HEIGHT = 22
_ENDPOINTS_CHARTED = 25
_LABEL_CHARS = 46  # endpoint labels longer than this lose their middle


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("statuslint.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(model: Model) -> str:
    return _environment().get_template("report.html.j2").render(**view(model))


def view(model: Model) -> dict[str, Any]:
    """What the template shows, computed here so the template only lays it out."""
    summary = model["summary"]
    rules = {r["id"]: r for r in model.get("rules", [])}
    findings = model["findings"]
    rows = [_row(i, f) for i, f in enumerate(findings)]
    by_severity = summary.get("by_severity", {})
    return {
        "tool": model["tool"],
        "policy": model["policy"],
        "inputs": model["inputs"],
        "summary": summary,
        "totals": {s: by_severity.get(s, 0) for s in SEVERITIES},
        "findings_total": sum(by_severity.get(s, 0) for s in SEVERITIES),
        "rows": rows,
        "rule_chart": _rule_chart(summary.get("by_rule", {}), rules, findings),
        "endpoint_chart": _endpoint_chart(summary.get("endpoints", [])),
        "status_classes": STATUS_CLASSES,
        "filters": {
            "severities": [s for s in SEVERITIES if any(r["severity"] == s for r in rows)],
            "rules": sorted({r["rule"] for r in rows}),
            "endpoints": sorted({r["endpoint"] for r in rows}),
        },
        "omitted": summary.get("limits", {}).get("findings_omitted", 0),
        # Noise control (suppress:, --baseline), where the audit had it.
        "suppressed": [s for s in summary.get("suppressed") or [] if s.get("count")],
        "stale": [s for s in summary.get("suppressed") or [] if s.get("stale")],
        "baseline": summary.get("baseline"),
        "never_applicable": summary.get("coverage", {}).get("never_applicable", []),
        "data": {
            "findings": [_finding_data(f) for f in findings],
            "rules": {rid: rules[rid] for rid in sorted({f["rule"] for f in findings}) if rid in rules},
        },
    }


def _row(i: int, f: dict[str, Any]) -> dict[str, Any]:
    ref = f.get("flow")
    return {
        "i": i,
        "severity": f["severity"],
        "rank": _RANK.get(f["severity"], 0),
        "rule": f["rule"],
        "endpoint": f["endpoint"],
        "status": ref["status"] if ref else "",
        # The file name fits the column; the full source and the URL show on hover.
        "where": f"{PurePath(ref['source']).name} #{ref['index']}" if ref else "API",
        "title": f"{ref['source']} #{ref['index']}: {ref['method']} {ref['url']}" if ref else "",
        "message": f["message"],
    }


def _finding_data(f: dict[str, Any]) -> dict[str, Any]:
    exchange = f.get("exchange")
    if exchange:
        req, resp = exchange["request"], exchange["response"]
        reason = resp["reason"] or _phrase(resp["status"])
        exchange = {
            **exchange,
            "request_line": f"{req['method']} {req['target']} {req['http_version']}",
            "status_line": f"{resp['http_version']} {resp['status']} {reason}".rstrip(),
        }
    return {
        "rule": f["rule"],
        "severity": f["severity"],
        "message": f["message"],
        "reference": f.get("reference", ""),
        "endpoint": f["endpoint"],
        "flow": f.get("flow"),
        "evidence": f.get("evidence", []),
        "details": f.get("details"),
        "exchange": exchange,
    }


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _rule_chart(by_rule: dict[str, int], rules: dict[str, Any], findings: list[dict[str, Any]]) -> dict[str, Any]:
    severity = {f["rule"]: f["severity"] for f in findings}
    severity.update({rid: r["severity"] for rid, r in rules.items()})
    items = sorted(by_rule.items(), key=lambda kv: (-_RANK.get(severity.get(kv[0], ""), 0), -kv[1], kv[0]))
    top = max((n for _, n in items), default=1) or 1
    bars = [
        {
            "rule": rule,
            "count": n,
            "severity": severity.get(rule, "info"),
            "y": i * _ROW_HEIGHT,
            "width": max(2.0, round(n / top * _BAR_WIDTH, 1)),
        }
        for i, (rule, n) in enumerate(items)
    ]
    return {"bars": bars, "height": max(1, len(bars)) * _ROW_HEIGHT, "bar_width": _BAR_WIDTH}


def _endpoint_chart(endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    shown = endpoints[:_ENDPOINTS_CHARTED]
    top = max((e["requests"] for e in shown), default=1) or 1
    rows = []
    for i, e in enumerate(shown):
        x = 0.0
        segments = []
        for cls in STATUS_CLASSES:
            n = e.get("by_class", {}).get(cls, 0)
            if not n:
                continue
            width = round(n / top * _BAR_WIDTH, 1)
            segments.append({"cls": cls, "count": n, "x": x, "width": max(width, 1.0)})
            x += width
        label = e["endpoint"]
        rows.append(
            {
                "endpoint": label,
                "label": _shorten(label, _LABEL_CHARS),
                "requests": e["requests"],
                "findings": e.get("findings", 0),
                "y": i * _ROW_HEIGHT,
                "end": x,
                "segments": segments,
            }
        )
    return {
        "rows": rows,
        "height": max(1, len(rows)) * _ROW_HEIGHT,
        "more": max(0, len(endpoints) - len(shown)),
        "bar_width": _BAR_WIDTH,
    }


def _shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: its start (method, host) and its end
    (the last path segments) with an ellipsis between."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 5
    return text[:head] + "…" + text[len(text) - (limit - head - 1) :]
