"""JUnit XML, for CI test reports (GitLab's ``artifacts:reports:junit``, Jenkins, ...).

One test case per (rule, endpoint) pair with findings, failing, the findings in the
failure's body (method, URL, status, message, fix): GitLab shows the body and ignores
``message``. One passing test case per rule that was evaluated and held, so a clean
report still shows what was checked; a rule that met nothing it applies to is a skipped
case saying what it needs. Names are unique within the file (GitLab keeps only the first
of duplicates): a failing case is ``rule on endpoint``, a passing or skipped one the rule.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from .model import Model, group_findings, rules_by_id, where

SUITE = "statuslint"


def render(model: Model) -> str:
    rules = rules_by_id(model)
    cases: list[ET.Element] = []
    failures = skipped = 0
    groups = group_findings(model["findings"])
    for rule_id, endpoint, findings in groups:
        case = _case(rule_id, f"{rule_id} on {endpoint}")
        severity = findings[0]["severity"]
        first = findings[0]["message"]
        failure = ET.SubElement(
            case,
            "failure",
            message=_clean(f"{len(findings)} finding(s): {first}"),
            type=severity,
        )
        failure.text = _clean(_failure_body(rule_id, endpoint, findings, rules.get(rule_id)))
        cases.append(case)
        failures += 1

    coverage = model["summary"]["coverage"]
    never = {row["rule"]: row["needs"] for row in coverage["never_applicable"]}
    failed_rules = {rule_id for rule_id, _, _ in groups}
    for row in coverage["rules"]:
        rule_id = row["rule"]
        if rule_id in failed_rules or row["violated"]:
            continue
        case = _case(rule_id, rule_id)
        if rule_id in never:
            ET.SubElement(case, "skipped", message=_clean(f"never applied: needs {never[rule_id]}"))
            skipped += 1
        else:
            out = ET.SubElement(case, "system-out")
            out.text = _clean(f"held on all {row['evaluated']} flow(s) it was evaluated on")
        cases.append(case)

    total = len(cases)
    root = ET.Element("testsuites", name=SUITE, tests=str(total), failures=str(failures), errors="0")
    root.set("skipped", str(skipped))
    suite = ET.SubElement(
        root,
        "testsuite",
        name=f"{SUITE} ({model['policy']})",
        tests=str(total),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("policy", model["policy"]),
        ("flows", model["summary"]["flows"]),
        ("audited", model["summary"]["audited"]),
        ("inputs", ", ".join(i["source"] for i in model["inputs"])),
    ):
        ET.SubElement(props, "property", name=name, value=_clean(str(value)))
    suite.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _case(rule_id: str, name: str) -> ET.Element:
    return ET.Element("testcase", classname=f"{SUITE}.{rule_id}", name=_clean(name))


def _failure_body(rule_id: str, endpoint: str, findings: list[dict[str, Any]], rule: dict[str, Any] | None) -> str:
    lines = [f"{rule_id} ({findings[0]['severity']}) on {endpoint}: {len(findings)} finding(s)"]
    if rule:
        lines.append(f"rule: {rule['summary']}")
    lines.append("")
    for finding in findings:
        lines.append(f"- {where(finding)}")
        lines.append(f"  {finding['message']}")
        for e in finding.get("evidence") or []:
            lines.append(f"  evidence: {e['source']}#{e['index']} {e['method']} {e['url']} {e['status']}")
    if rule and rule.get("fix"):
        lines += ["", "fix:", *("  " + line for line in rule["fix"].splitlines())]
    if rule and rule.get("reference"):
        lines += ["", f"reference: {rule['reference']}"]
    return "\n".join(lines)


def _clean(text: str) -> str:
    """XML 1.0 cannot carry most control characters, even escaped: traffic may hold them."""
    return "".join(
        ch if ch in "\t\n\r" or (" " <= ch <= "\ud7ff") or ("\ue000" <= ch <= "\ufffd") or ch > "\uffff" else "\ufffd"
        for ch in text
    )
