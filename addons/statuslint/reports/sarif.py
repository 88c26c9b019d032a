"""SARIF 2.1.0, as GitHub code scanning accepts it (github/codeql-action/upload-sarif).

What GitHub needs, and how statuslint gives it:

- every result has a physical location with a repository-relative URI and
  ``uriBaseId: %SRCROOT%`` (ZAP's uploads are refused for ``http://localhost`` URIs):
  the recording a finding came from, or, for live traffic, the policy file at the line
  of the rule. A recording is not text, so its results sit on line 1 (GitHub wants a
  ``region.startLine``); the flow is in the message and the result's properties;
- the endpoint (``GET host /v1/users/{id}``) is the logical location;
- ``partialFingerprints`` hash (rule, method, host, endpoint template), never a line or a
  flow index, so the same finding is the same alert from one run to the next;
- at most 25,000 results per run: above that the most severe are kept, and the run's
  properties say how many were left out.

Paths are made relative to the root of the checkout (the nearest directory above the
working directory holding ``.git``; else the working directory), where CI runs.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .model import RULES_DOC_URL, SEVERITY_ORDER, Model, doc_url, endpoint_parts, origin_parts, rules_by_id

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
# GitHub code scanning's limit on results per run.
MAX_RESULTS = 25_000
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
SRCROOT = "%SRCROOT%"
_INDENT_UP_TO = 2_000
FINGERPRINT_KEY = "statuslintEndpoint/v1"
LIVE_SOURCES = ("live",)


def render(model: Model, *, max_results: int = MAX_RESULTS, root: Path | None = None) -> str:
    doc = build(model, max_results=max_results, root=root)
    # Indented for a person reading a small report; compact above that, where json's C
    # encoder (which indenting gives up) is ten times faster.
    indent = 2 if len(doc["runs"][0]["results"]) <= _INDENT_UP_TO else None
    return json.dumps(doc, indent=indent, ensure_ascii=False) + "\n"


def build(model: Model, *, max_results: int = MAX_RESULTS, root: Path | None = None) -> dict[str, Any]:
    root = (root or checkout_root()).resolve()
    rules = rules_by_id(model)
    enabled = [r for r in model.get("rules", []) if r["enabled"]]
    # A finding of a rule the model does not document (a report of an older policy)
    # still gets a descriptor: ruleIndex must point somewhere.
    for finding in [*model["findings"], *model.get("suppressed_findings", [])]:
        if finding["rule"] not in {r["id"] for r in enabled}:
            doc = rules.get(finding["rule"]) or _bare_rule(finding)
            enabled.append(doc)
            rules[finding["rule"]] = doc
    index = {r["id"]: i for i, r in enumerate(enabled)}

    candidates = [(f, None) for f in model["findings"]]
    candidates += [(f, f.get("suppression")) for f in model.get("suppressed_findings", [])]
    kept = _most_severe(candidates, max_results)
    results = [_result(f, suppression, index, rules, root) for f, suppression in kept]

    properties: dict[str, Any] = {
        "policy": model["policy"],
        "results": {"total": len(candidates), "reported": len(results), "omitted": len(candidates) - len(results)},
    }
    if len(results) < len(candidates):
        properties["truncated"] = (
            f"{len(candidates) - len(results)} of {len(candidates)} results left out: GitHub code scanning takes at "
            f"most {max_results} per run; the most severe were kept (--format json lists them all)"
        )
    omitted = model["summary"].get("limits", {}).get("findings_omitted", 0)
    if omitted:
        properties["findings_not_kept"] = f"{omitted} findings were counted but not kept (--max-findings)"

    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "statuslint",
                "version": model["tool"]["version"],
                "semanticVersion": model["tool"]["version"],
                "informationUri": RULES_DOC_URL.rsplit("/blob/", 1)[0],
                "rules": [_descriptor(r) for r in enabled],
            }
        },
        "automationDetails": {"id": "statuslint/"},
        "columnKind": "unicodeCodePoints",
        "results": results,
        "properties": properties,
    }
    artifacts = [i for i in model["inputs"] if i["source"] not in LIVE_SOURCES]
    if artifacts:
        run["artifacts"] = [{"location": _artifact_location(i["source"], root)} for i in artifacts]
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def checkout_root(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / ".git").exists():
            return directory
    return here


def fingerprint(rule: str, endpoint: str) -> str:
    """(rule, method, host, endpoint template): what makes two findings the same alert."""
    method, host, template = endpoint_parts(endpoint)
    key = "\x1f".join((rule, method, host, template))
    return hashlib.sha256(key.encode("utf-8", "backslashreplace")).hexdigest()


def _most_severe(candidates: list[tuple[dict, Any]], limit: int) -> list[tuple[dict, Any]]:
    if len(candidates) <= limit:
        return candidates
    # Unsuppressed before suppressed, then by severity; input order within a severity.
    ranked = sorted(
        range(len(candidates)),
        key=lambda i: (candidates[i][1] is not None, -SEVERITY_ORDER.get(candidates[i][0]["severity"], 0), i),
    )
    keep = sorted(ranked[:limit])
    return [candidates[i] for i in keep]


def _descriptor(rule: dict[str, Any]) -> dict[str, Any]:
    descriptor: dict[str, Any] = {
        "id": rule["id"],
        "name": _pascal(rule["id"]),
        "shortDescription": {"text": rule["summary"]},
        "fullDescription": {"text": rule.get("why") or rule["summary"]},
        "help": {"text": _help_text(rule), "markdown": _help_markdown(rule)},
        "defaultConfiguration": {"level": LEVELS[rule["severity"]]},
        "properties": {"tags": ["http", "api"], "severity": rule["severity"]},
    }
    url = doc_url(rule)
    if url:
        descriptor["helpUri"] = url
    return descriptor


def _pascal(rule_id: str) -> str:
    return "".join(part.capitalize() for part in rule_id.split("-"))


def _help_text(rule: dict[str, Any]) -> str:
    parts = [rule["summary"], rule.get("why", "")]
    if rule.get("fix"):
        parts.append("Fix:\n" + rule["fix"])
    if rule.get("reference"):
        parts.append("Reference: " + rule["reference"])
    return "\n\n".join(p for p in parts if p)


def _help_markdown(rule: dict[str, Any]) -> str:
    parts = [f"**{rule['summary']}**"]
    if rule.get("why"):
        parts.append(rule["why"])
    if rule.get("example"):
        parts.append("Violation:\n\n" + _fence(rule["example"]))
    if rule.get("fix"):
        parts.append("Fix:\n\n" + _fence(rule["fix"]))
    if rule.get("reference"):
        parts.append(f"Reference: {rule['reference']}")
    return "\n\n".join(parts)


def _fence(text: str) -> str:
    # A fence longer than any run of backticks inside it.
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}http\n{text}\n{ticks}"


def _bare_rule(finding: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": finding["rule"],
        "severity": finding["severity"],
        "enabled": True,
        "summary": finding["rule"],
        "why": "",
        "example": "",
        "fix": "",
        "reference": finding.get("reference", ""),
        "origin": "",
    }


def _artifact_location(path: str, root: Path) -> dict[str, Any]:
    """A repository-relative URI against %SRCROOT%; a file outside the checkout keeps its
    absolute file: URI (no base: GitHub cannot show it in the code, but takes the result)."""
    # Thousands of results share a handful of files.
    return dict(_cached_location(path, root, os.getcwd()))


@functools.lru_cache(maxsize=256)
def _cached_location(path: str, root: Path, cwd: str) -> dict[str, Any]:
    # Both sides resolved: a checkout reached through a symlink is still the checkout.
    absolute = Path(cwd, path).resolve()
    try:
        relative = absolute.relative_to(root)
    except ValueError:
        return {"uri": absolute.as_uri()}
    return {"uri": quote(relative.as_posix()), "uriBaseId": SRCROOT}


def _physical_location(finding: dict[str, Any], rules: dict[str, dict[str, Any]], root: Path) -> dict[str, Any]:
    ref = finding.get("flow") or next(iter(finding.get("evidence") or []), None)
    source = ref["source"] if ref else None
    if source and source not in LIVE_SOURCES:
        return {"artifactLocation": _artifact_location(source, root), "region": {"startLine": 1}}
    # Live traffic has no file: the result points at the rule in the policy.
    policy_file, line = origin_parts(rules.get(finding["rule"], {}).get("origin", ""))
    if policy_file:
        return {"artifactLocation": _artifact_location(policy_file, root), "region": {"startLine": line or 1}}
    return {"artifactLocation": {"uri": "statuslint-live-traffic", "uriBaseId": SRCROOT}, "region": {"startLine": 1}}


def _result(
    finding: dict[str, Any],
    suppression: dict[str, Any] | None,
    index: dict[str, int],
    rules: dict[str, dict[str, Any]],
    root: Path,
) -> dict[str, Any]:
    ref = finding.get("flow")
    if ref:
        text = f"{finding['message']} ({ref['method']} {ref['url']} answered {ref['status']}; flow #{ref['index']})"
    else:
        text = f"{finding['message']} ({finding['endpoint']})"
    properties: dict[str, Any] = {"endpoint": finding["endpoint"], "flow": ref, "evidence": finding.get("evidence", [])}
    if finding.get("details"):
        properties["details"] = finding["details"]
    result: dict[str, Any] = {
        "ruleId": finding["rule"],
        "ruleIndex": index[finding["rule"]],
        "level": LEVELS.get(finding["severity"], "warning"),
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": _physical_location(finding, rules, root),
                "logicalLocations": [
                    {"name": finding["endpoint"], "fullyQualifiedName": finding["endpoint"], "kind": "resource"}
                ],
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding["rule"], finding["endpoint"])},
        "properties": properties,
    }
    if suppression is not None:
        result["suppressions"] = [{"kind": "external", "justification": str(suppression.get("reason", ""))}]
    return result
