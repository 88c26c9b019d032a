"""Everything statuslint shows people in a terminal: the audit summary and rule docs."""

from __future__ import annotations

from typing import IO

from rich.console import Console, Group
from rich.markdown import Markdown
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from .auditor import Auditor
from .findings import Severity
from .policy import Policy, Rule

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def console_for(stream: IO[str] | None = None) -> Console:
    return Console(file=stream, highlight=False, soft_wrap=False)


def print_summary(auditor: Auditor, console: Console, top: int = 10) -> None:
    summary = auditor.summary(top=top)
    console.print()
    console.rule("[bold]statuslint audit summary")
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
    for info in auditor.inputs:
        if info.error:
            console.print(Text(f"input error: {info.source}: {info.error}", style="bold red"))

    if summary["by_rule"]:
        table = Table(title="Findings by rule", title_justify="left", expand=False)
        # Rule ids are what users copy into overrides: never cut them.
        table.add_column("rule", no_wrap=True, min_width=max(len(r) for r in summary["by_rule"]))
        table.add_column("severity")
        table.add_column("count", justify="right")
        table.add_column("summary", overflow="fold")
        for rule_id, count in summary["by_rule"].items():
            rule = auditor.policy.rule(rule_id)
            label = rule.severity.label if rule else "?"
            table.add_row(
                rule_id, Text(label, style=SEVERITY_STYLE.get(label, "")), str(count), rule.summary if rule else ""
            )
        console.print(table)

    if summary["top_endpoints"]:
        table = Table(title="Top offending endpoints", title_justify="left", expand=False)
        table.add_column("endpoint", overflow="fold")
        table.add_column("findings", justify="right")
        for row in summary["top_endpoints"]:
            table.add_row(row["endpoint"], str(row["findings"]))
        console.print(table)

    for rule_id, error in summary["internal_errors"].items():
        console.print(
            Text(f"internal error in rule {rule_id}: {error} (the rule was skipped where it failed)", style="red")
        )
    if not total and summary["audited"]:
        console.print(Text("No findings.", style="green"))


def print_catalog(policy: Policy, console: Console) -> None:
    table = Table(title=f"Rules of policy '{policy.name}' ({policy.source})", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=max((len(r.id) for r in policy.rules), default=2))
    table.add_column("severity")
    table.add_column("summary", overflow="fold")
    for rule in policy.rules:
        label = rule.severity.label
        sev = Text(label, style=SEVERITY_STYLE[label])
        if not rule.enabled:
            sev = Text(f"{label} (disabled)", style="dim")
        table.add_row(rule.id, sev, rule.summary)
    console.print(table)


def print_rule(rule: Rule, console: Console) -> None:
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
    if rule.reference:
        parts += [Text(), Text.assemble(("Reference: ", "bold"), rule.reference)]
    parts += [Text(f"Defined at {rule.origin}", style="dim")]
    console.print(Panel(Group(*parts), title=title, title_align="left"))


def severity_text(severity: Severity) -> Text:
    return Text(severity.label, style=SEVERITY_STYLE[severity.label])
