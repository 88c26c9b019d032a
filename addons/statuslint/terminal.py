"""Everything statuslint shows people in a terminal: the audit summary and rule docs."""

from __future__ import annotations

import io
import os
from typing import IO, Any

from rich.console import Console, Group
from rich.rule import Rule as HorizontalRule
from rich.table import Table
from rich.text import Text

from .auditor import Auditor
from .escape import escape
from .findings import Finding, Severity
from .policy import Policy, Rule
from .reports.model import SEVERITY_ORDER, group_findings, rules_by_id, where

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
# Not a terminal (a CI log, a pipe): lines are as long as they are, never wrapped at 80.
UNWRAPPED_WIDTH = 4096
# Horizontal rules stay this wide on an unwrapped console.
_RULE_WIDTH = 100


def console_for(stream: IO[str] | None = None) -> Console:
    console = Console(file=stream, highlight=False, soft_wrap=False)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(file=stream, highlight=False, soft_wrap=False, width=UNWRAPPED_WIDTH)
    return console


def print_summary(
    auditor: Auditor,
    console: Console,
    top: int = 10,
    summary: dict[str, Any] | None = None,
    full_report: str | None = None,
) -> None:
    """``summary``: the report model's (so the summary shows what the reports say);
    ``full_report``: a written report that lists every endpoint, named where the
    summary cuts the list short."""
    summary = summary if summary is not None else auditor.summary(top=top)
    console.print()
    console.print(HorizontalRule("[bold]statuslint audit summary"), width=min(console.width, _RULE_WIDTH))
    sev = summary["by_severity"]
    total = sum(sev.values())
    head = Text()
    head.append(f"{summary['flows']} flows, {summary['audited']} audited, {total} findings: ")
    for i, name in enumerate(("error", "warning", "info")):
        if i:
            head.append(", ")
        head.append(f"{sev[name]} {name}", style=SEVERITY_STYLE[name] if sev[name] else "dim")
    console.print(head)
    skipped = {k: v for k, v in summary["not_audited"].items() if v}
    if skipped or summary["websocket_messages"]:
        parts = [f"{v} {k.replace('_', ' ')}" for k, v in skipped.items()]
        if summary["websocket_messages"]:
            parts.append(f"{summary['websocket_messages']} websocket messages")
        console.print(Text("not audited as HTTP answers: " + ", ".join(parts), style="dim"))
    why = summary.get("out_of_scope") or {}
    if why:
        parts = [f"{n} {'outside the policy scope' if kind == 'scope' else kind}" for kind, n in why.items()]
        console.print(Text("out of scope: " + ", ".join(parts), style="dim"))
    for info in auditor.inputs:
        if info.error:
            console.print(Text(f"input error: {escape(info.source)}: {escape(info.error)}", style="bold red"))

    _print_noise(summary, console)

    coverage = {row["rule"]: row for row in summary["coverage"]["rules"]}
    if summary["by_rule"]:
        table = Table(title="Findings by rule", title_justify="left", expand=False)
        # Rule ids are what users copy into overrides: never cut them.
        width = max(len(r) for r in summary["by_rule"])
        table.add_column("rule", no_wrap=True, min_width=width)
        table.add_column("severity", no_wrap=True)
        table.add_column("findings", justify="right", no_wrap=True)
        table.add_column("of flows", justify="right", no_wrap=True)
        # The summary only where it fits: the ids say enough on a narrow terminal.
        wide = console.width >= width + 70
        if wide:
            table.add_column("summary", overflow="fold")
        for rule_id, count in summary["by_rule"].items():
            rule = auditor.policy.rule(rule_id)
            label = rule.severity.label if rule else "?"
            evaluated = coverage.get(rule_id, {}).get("evaluated")
            cells = [
                rule_id,
                Text(label, style=SEVERITY_STYLE.get(label, "")),
                str(count),
                "" if evaluated is None else str(evaluated),
            ]
            if wide:
                cells.append(Text(rule.summary if rule else ""))
            table.add_row(*cells)
        console.print(table)

    _print_endpoints(summary, console, top, full_report)
    _print_coverage(summary, console)

    limits = summary["limits"]
    if limits["findings_omitted"] or limits["endpoints_folded"] or limits["urls_forgotten"]:
        console.print(
            Text(
                f"state limits reached: {limits['findings_omitted']} findings counted but not kept for the report "
                f"(max {limits['max_findings']}, the most severe kept; {_omitted(limits)}), "
                f"{limits['endpoints_folded']} endpoints summed up as 'other' "
                f"(max {limits['max_endpoints']}), {limits['urls_forgotten']} URLs forgotten by the lifecycle "
                f"checks (max {limits['max_urls']})",
                style="dim",
            )
        )
    for rule_id, error in summary["internal_errors"].items():
        console.print(
            Text(f"internal error in {escape(rule_id)}: {escape(error)} (it was skipped where it failed)", style="red")
        )
    if summary.get("inconclusive"):
        console.print(
            Text(
                f"{summary['inconclusive']} findings are inconclusive (the source cannot prove them, e.g. a body seen "
                "only through a HAR export): --fail-on counts them only with --fail-on-inconclusive",
                style="dim",
            )
        )
    if not total and summary["audited"]:
        console.print(Text("No findings.", style="green"))


def _print_noise(summary: dict, console: Console) -> None:
    """What suppressions and the baseline held back: a quiet report still says so."""
    baseline = summary.get("baseline")
    if baseline is not None:
        console.print(
            Text(
                f"baseline: {baseline['new']} new findings reported, {baseline['known']} known (in the baseline), "
                f"{baseline['fixed']} baseline entries not seen again"
            )
        )
    rows = summary.get("suppressed") or []
    held = sum(r["count"] for r in rows)
    if held:
        parts = "; ".join(f"{row['rule']} ({row['reason']}): {row['count']}" for row in rows if row["count"])
        console.print(Text(escape(f"{held} findings suppressed: {parts}"), style="dim"))
    for row in rows:
        if row.get("stale"):
            where = f"stale suppression at {row['origin']}"
            console.print(Text(escape(f"{where}: {row['rule']} matched no finding (remove it?)"), style="yellow"))


def _omitted(limits: dict) -> str:
    by_severity = limits.get("findings_omitted_by_severity", {})
    return "omitted: " + ", ".join(f"{by_severity.get(s, 0)} {s}" for s in ("error", "warning", "info"))


def _print_endpoints(summary: dict, console: Console, top: int, full_report: str | None = None) -> None:
    rows = summary["endpoints"]
    if not rows:
        return
    # The endpoints with findings first, then the busiest.
    shown = sorted(rows, key=lambda r: (-r["findings"], -r["requests"], r["endpoint"]))[: max(top, 15)]
    table = Table(title="Endpoints", title_justify="left", expand=False)
    table.add_column("endpoint", overflow="fold", ratio=3)
    table.add_column("requests", justify="right", no_wrap=True)
    table.add_column("statuses", overflow="fold", ratio=2)
    table.add_column("findings", justify="right", no_wrap=True)
    for row in shown:
        codes = " ".join(f"{code}:{n}" for code, n in row["by_status"].items())
        # Traffic data is text, never rich markup: a path may well contain "[/x]".
        table.add_row(
            Text(escape(row["endpoint"])),
            str(row["requests"]),
            codes,
            Text(str(row["findings"]), style="yellow" if row["findings"] else "dim"),
        )
    console.print(table)
    if len(rows) > len(shown):
        where = f"listed in {full_report}" if full_report else "not shown (a .json report lists them all)"
        console.print(Text(f"{len(rows) - len(shown)} more endpoints {where}", style="dim"), soft_wrap=True)


def _print_coverage(summary: dict, console: Console) -> None:
    coverage = summary["coverage"]
    rows = coverage["rules"]
    applied = [r for r in rows if r["evaluated"] or r["violated"]]
    clean = [r for r in applied if not r["violated"]]
    line = Text(f"Rule coverage: {len(applied)} of {len(rows)} rules met traffic they apply to")
    if applied:
        line.append(f"; {len(clean)} of those passed on every flow")
    console.print(line)
    undecided = {r["rule"]: r["undecidable"] for r in rows if r["undecidable"]}
    if undecided:
        parts = ", ".join(f"{rule} ({n})" for rule, n in undecided.items())
        console.print(Text(f"could not decide on some flows (no body recorded, streamed): {parts}", style="dim"))
    if not summary["audited"]:
        console.print(Text("No HTTP answer was audited, so no rule ran.", style="dim"))
        return
    if coverage["never_applicable"]:
        table = Table(title="Rules that never ran (nothing they apply to was seen)", title_justify="left", expand=False)
        table.add_column("rule", no_wrap=True, min_width=max(len(r["rule"]) for r in coverage["never_applicable"]))
        table.add_column("needs", overflow="fold")
        for row in coverage["never_applicable"]:
            table.add_row(row["rule"], Text(row["needs"]))
        console.print(table)


def print_finding_groups(model: dict[str, Any], console: Console) -> None:
    """The findings, each (rule, endpoint) once: its count, its first flow and message,
    and the rule's fix on one line. Most severe first; in order of appearance within a
    severity. (``--show-all`` lists every finding instead, as it is found.)"""
    groups = group_findings(model["findings"])
    if not groups:
        return
    rules = rules_by_id(model)
    groups.sort(key=lambda g: -SEVERITY_ORDER.get(g[2][0]["severity"], 0))
    count = sum(len(items) for _, _, items in groups)
    console.print(
        Text(f"{count} findings in {len(groups)} (rule, endpoint) groups; --show-all lists each one", style="dim")
    )
    for rule_id, endpoint, items in groups:
        first = items[0]
        line = Text()
        line.append(first["severity"], style=SEVERITY_STYLE.get(first["severity"], ""))
        line.append(" ")
        line.append(rule_id, style="magenta")
        # Traffic data is text, never rich markup.
        line.append(f" {escape(endpoint)} ")
        line.append(f"x{len(items)}", style="bold")
        line.append(escape(f" first: {where(first)}: {first['message']}"))
        fix = rules.get(rule_id, {}).get("fix_summary")
        if fix:
            line.append(" | fix: ", style="dim")
            line.append(fix, style="green")
        console.print(line, soft_wrap=True)


def summary_text(auditor: Auditor, width: int = 110) -> str:
    """The summary as plain text, for mitmproxy's event log."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, no_color=True, highlight=False, soft_wrap=False, emoji=False)
    print_summary(auditor, console)
    return buffer.getvalue().rstrip()


def print_catalog(policy: Policy, console: Console) -> None:
    table = Table(title=Text(f"Rules of policy '{policy.name}' ({policy.source})"), title_justify="left")
    table.add_column("id", no_wrap=True, min_width=max((len(r.id) for r in policy.rules), default=2))
    table.add_column("severity")
    table.add_column("summary", overflow="fold")
    for rule in policy.rules:
        label = rule.severity.label
        sev = Text(label, style=SEVERITY_STYLE[label])
        if not rule.enabled:
            sev = Text(f"{label} (disabled)", style="dim")
        table.add_row(rule.id, sev, Text(rule.summary))
    console.print(table)


def print_rule(rule: Rule, console: Console) -> None:
    # Imported here: markdown-it and pygments cost every audit's start-up otherwise.
    from rich.markdown import Markdown
    from rich.panel import Panel
    from rich.syntax import Syntax

    status = "" if rule.enabled else " (disabled)"
    title = Text.assemble((rule.id, "bold"), "  ", (rule.severity.label + status, SEVERITY_STYLE[rule.severity.label]))
    parts: list = [Text(rule.summary, style="bold"), Text()]
    if rule.why:
        parts += [Markdown("**Why it matters**"), Text(rule.why), Text()]
    if rule.example:
        parts += [Markdown("**Example (violation)**"), Syntax(rule.example, "http", theme="ansi_dark"), Text()]
    if rule.fix:
        parts += [Markdown("**Fix**"), Syntax(rule.fix, "http", theme="ansi_dark"), Text()]
    parts += [
        Markdown("**Checked as**"),
        Syntax(rule.condition_text(), "yaml", theme="ansi_dark"),
    ]
    if rule.check is not None:
        parts += [Text(f"A stateful check, implemented in statuslint/stateful/. It needs {rule.needs()}.", style="dim")]
    if rule.reference:
        parts += [Text(), Text.assemble(("Reference: ", "bold"), rule.reference)]
    parts += [Text(f"Defined at {rule.origin}", style="dim")]
    console.print(Panel(Group(*parts), title=title, title_align="left"))


def severity_text(severity: Severity) -> Text:
    return Text(severity.label, style=SEVERITY_STYLE[severity.label])


def print_drift(model: dict, console: Console) -> None:
    """The drift between two audits (``statuslint diff``, ``statuslint replay``)."""
    summary = model["summary"]
    console.print()
    console.rule("[bold]statuslint drift")
    before, after = model["before"], model["after"]
    console.print(
        Text(
            escape(
                f"before: {', '.join(i['source'] for i in before['inputs'])}; "
                f"after: {', '.join(i['source'] for i in after['inputs'])}"
            )
            + (" (endpoints matched without their host)" if model["matched_without_host"] else "")
        )
    )
    changed = [e for e in model["endpoints"] if e["change"] != "same codes"]
    if changed:
        table = Table(title="Endpoints that changed", title_justify="left", expand=False)
        table.add_column("endpoint", overflow="fold")
        table.add_column("change", no_wrap=True)
        table.add_column("before", overflow="fold")
        table.add_column("after", overflow="fold")
        for row in changed:
            table.add_row(
                Text(escape(row["endpoint"])),
                row["change"],
                " ".join(f"{code}:{n}" for code, n in row["before"].items()),
                " ".join(f"{code}:{n}" for code, n in row["after"].items()),
            )
        console.print(table)
    for kind, style in (("new", "yellow"), ("fixed", "green")):
        rows = model["findings"][kind]
        if not rows:
            continue
        console.print(Text(f"Findings {kind} ({len(rows)}):", style=f"bold {style}"))
        for row in rows:
            count = row["count_after"] if kind == "new" else row["count_before"]
            console.print(
                Text.assemble(
                    "  ",
                    (row["severity"], SEVERITY_STYLE[row["severity"]]),
                    " ",
                    (row["rule"], "magenta"),
                    escape(f" {row['endpoint']} (x{count}): {row['message']}"),
                ),
                soft_wrap=True,
            )
    console.print(
        Text(
            f"{summary['endpoints']} endpoints: {summary['appeared']} appeared, {summary['vanished']} vanished, "
            f"{summary['codes_changed']} with changed status codes; findings: {summary['findings_new']} new, "
            f"{summary['findings_fixed']} fixed"
        )
    )
    if not summary["drift"]:
        console.print(Text("No drift.", style="green"))


def print_replay_drift(drift: list[dict], answered: int, unanswered: int, console: Console) -> None:
    """What ``statuslint replay`` found changed since the recording."""
    console.print()
    console.rule("[bold]statuslint replay drift")
    if drift:
        table = Table(title="Requests whose answer drifted", title_justify="left", expand=False)
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("request", overflow="fold")
        table.add_column("changed", overflow="fold")
        table.add_column("before", no_wrap=True)
        table.add_column("after", no_wrap=True)
        for row in drift:
            before, after = row["before"], row["after"]
            failed = Text(escape(after.get("error", "-")), style="red")
            table.add_row(
                str(row["index"]),
                Text(escape(f"{row['method']} {row['url']}")),
                ", ".join(row["changed"]),
                str(before["status"]),
                str(after["status"]) if after["status"] is not None else failed,
            )
        console.print(table)
    line = f"{answered} requests replayed, {len(drift)} drifted"
    if unanswered:
        line += f", {unanswered} never answered"
    console.print(Text(line, style="yellow" if drift or unanswered else "green"))


def evidence_suffix(finding: Finding) -> str:
    """What a finding line adds after its message: the headers its rule looked at, and
    whether the source could prove it."""
    parts = []
    for side, headers in (finding.headers or {}).items():
        shown = ", ".join(f"{name}: {'(absent)' if value is None else value}" for name, value in headers.items())
        parts.append(f"{side} {shown}")
    text = f" [{'; '.join(parts)}]" if parts else ""
    if finding.confidence != "certain":
        text += f" ({finding.confidence})"
    return escape(text)
