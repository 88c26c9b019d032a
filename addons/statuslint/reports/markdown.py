"""Markdown for a pull-request comment: totals, a table per severity with each (rule,
endpoint) once (its count and one example), the rule coverage, and the long parts
(fixes, rules that never applied, endpoints) collapsed in ``<details>``.

Everything that comes from traffic (URLs, paths, messages quoting them) is escaped: a
recorded path may hold ``|``, backticks, HTML or an ``@mention``, and must render as
the text it is. A comment has a size limit (GitHub: 65,536 characters), so each table
shows at most ``MAX_ROWS`` groups and says how many more there are, and fewer where the
comment would not fit (``MAX_CHARS``); an example cell is cut at ``MAX_CELL`` characters.
"""

from __future__ import annotations

import re
from typing import Any

from .model import Model, doc_url, group_findings, rules_by_id, where

MAX_ROWS = 50
MAX_CHARS = 60_000
MAX_CELL = 300
SEVERITIES = (("error", "Errors"), ("warning", "Warnings"), ("info", "Info"))
# Inline markup only: table cells never start a line, so list and heading marks are inert.
_MARKDOWN_PUNCT = re.compile(r"([\\`*_\[\]~|])")


def escape(text: Any) -> str:
    """Traffic-derived text as literal Markdown text, on one line."""
    text = (
        str(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("@", "&#64;")
        .replace("#", "&#35;")
    )
    text = _MARKDOWN_PUNCT.sub(r"\\\1", text)
    return " ".join(text.replace("\r", "\n").split("\n")).strip()


def render(model: Model) -> str:
    rows = MAX_ROWS
    text = _render(model, rows)
    while len(text) > MAX_CHARS and rows > 5:
        rows //= 2
        text = _render(model, rows)
    return text


def _render(model: Model, max_rows: int) -> str:
    summary = model["summary"]
    rules = rules_by_id(model)
    sev = summary["by_severity"]
    total = sum(sev.values())
    out = [f"## statuslint: {_plural(total, 'finding')}", ""]
    out.append(
        f"**{sev['error']} error**, **{sev['warning']} warning**, **{sev['info']} info** in "
        f"{summary['audited']} audited of {_plural(summary['flows'], 'flow')} "
        f"({', '.join(escape(i['source']) for i in model['inputs']) or 'no input'}; policy {escape(model['policy'])})."
    )
    suppressed = summary.get("suppressed") or []
    if suppressed:
        count = sum(s["count"] for s in suppressed)
        out.append(f"{_plural(count, 'finding')} suppressed:")
        out += [f"- {s['rule']}: {s['count']} ({escape(s['reason'])})" for s in suppressed]
    errors = [i for i in model["inputs"] if i.get("error")]
    for info in errors:
        out.append(f"> input error: {escape(info['source'])}: {escape(info['error'])}")
    omitted = summary.get("limits", {}).get("findings_omitted", 0)
    if omitted:
        out.append(f"{omitted} more findings were counted but not kept (--max-findings).")
    out.append("")

    groups = group_findings(model["findings"])
    for severity, title in SEVERITIES:
        mine = [g for g in groups if g[2][0]["severity"] == severity]
        if not mine:
            continue
        count = sum(len(items) for _, _, items in mine)
        out += [f"### {title}: {_plural(count, 'finding')} in {_plural(len(mine), 'group')}", ""]
        out += ["| rule | endpoint | count | example |", "|---|---|---:|---|"]
        for rule_id, endpoint, items in mine[:max_rows]:
            example = escape(_clip(f"{where(items[0])}: {items[0]['message']}"))
            out.append(f"| {_rule_link(rule_id, rules)} | {escape(_clip(endpoint))} | {len(items)} | {example} |")
        if len(mine) > max_rows:
            out.append(f"\n_and {len(mine) - max_rows} more (rule, endpoint) groups of this severity_")
        out.append("")
    if not groups:
        out += ["No findings." if summary["audited"] else "No HTTP answer was audited, so no rule ran.", ""]

    out += _coverage(summary)
    fired = [rules[r] for r in dict.fromkeys(g[0] for g in groups) if r in rules and rules[r].get("fix")]
    if fired:
        out += ["<details><summary>How to fix what fired</summary>", ""]
        for rule in fired:
            out += [f"**{rule['id']}**: {escape(rule['summary'])}", "", _fence(rule["fix"]), ""]
        out += ["</details>", ""]
    out += _never_applied(summary)
    out += _endpoints(summary, max_rows)
    return "\n".join(out).rstrip() + "\n"


def _coverage(summary: dict[str, Any]) -> list[str]:
    coverage = summary["coverage"]
    rows = coverage["rules"]
    applied = [r for r in rows if r["evaluated"] or r["violated"]]
    clean = [r for r in applied if not r["violated"]]
    line = f"**Rule coverage**: {len(applied)} of {len(rows)} rules met traffic they apply to"
    if applied:
        line += f", {len(clean)} of them passed on every flow"
    never = coverage["never_applicable"]
    if never and summary["audited"]:
        line += f"; {_plural(len(never), 'rule')} never applied ({_never_reason(never)})"
    return [line + ".", ""]


def _never_reason(never: list[dict[str, Any]]) -> str:
    shown = "; ".join(escape(row["needs"]) for row in never[:3])
    more = f"; {len(never) - 3} more below" if len(never) > 3 else ""
    return f"none of these was seen: {shown}{more}"


def _never_applied(summary: dict[str, Any]) -> list[str]:
    never = summary["coverage"]["never_applicable"]
    if not never or not summary["audited"]:
        return []
    out = [f"<details><summary>{_plural(len(never), 'rule')} never applied</summary>", ""]
    out += ["| rule | needs |", "|---|---|"]
    out += [f"| {row['rule']} | {escape(row['needs'])} |" for row in never]
    return [*out, "", "</details>", ""]


def _endpoints(summary: dict[str, Any], max_rows: int) -> list[str]:
    rows = summary["endpoints"]
    if not rows:
        return []
    shown = sorted(rows, key=lambda r: (-r["findings"], -r["requests"], r["endpoint"]))[:max_rows]
    out = [f"<details><summary>{_plural(len(rows), 'endpoint')}</summary>", ""]
    out += ["| endpoint | requests | statuses | findings |", "|---|---:|---|---:|"]
    for row in shown:
        codes = " ".join(f"{code}:{n}" for code, n in row["by_status"].items())
        out.append(f"| {escape(row['endpoint'])} | {row['requests']} | {escape(codes)} | {row['findings']} |")
    if len(rows) > len(shown):
        out.append(f"\n_and {len(rows) - len(shown)} more endpoints_")
    return [*out, "", "</details>", ""]


def _rule_link(rule_id: str, rules: dict[str, dict[str, Any]]) -> str:
    url = doc_url(rules[rule_id]) if rule_id in rules else None
    # Rule ids are policy data, lower-case words joined by '-': nothing to escape.
    return f"[{rule_id}]({url})" if url else rule_id


def _fence(text: str) -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}http\n{text}\n{ticks}"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
