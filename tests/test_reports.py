"""Report formats (SARIF, JUnit, GitHub annotations, Markdown) and the terminal output,
from ``make audit``'s recordings through the CLI, and from hand-built report models for
what the recordings do not hold (suppressions, hostile text, GitHub's result limit)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, needs_sarif_schema, sarif_schema_errors
from statuslint import reports
from statuslint.cli import main
from statuslint.policy import load_policy
from statuslint.reports import github, junit, markdown, sarif
from statuslint.reports.model import SEVERITY_ORDER, fix_summary, rule_json, where

INPUTS = ("recordings/demo.flows", "recordings/demo.har")
# The credentials the demo API was called with when the recordings were made.
SECRETS = (
    "demo-secret-token-123",
    "demo-readonly-token-456",
    "demo-api-key-7f3a9c",
    "demo-session-cookie-abc123",
    "demo-password-hunter2",
)
FILES = {"json": "r.json", "sarif": "r.sarif", "junit": "r.xml", "markdown": "r.md"}
RULES_DOC = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")


@contextlib.contextmanager
def in_checkout() -> Iterator[None]:
    """Run as CI does, from the root of the checkout (SARIF paths are relative to it)."""
    before = Path.cwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(before)


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with in_checkout(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One `statuslint audit` of make audit's recordings writing every file format at once,
    plus the github format on stdout."""
    tmp = tmp_path_factory.mktemp("reports")
    outputs = [a for name in FILES.values() for a in ("--output", str(tmp / name))]
    code, out, err = run_cli("audit", *INPUTS, "--fail-on", "none", *outputs)
    assert code == 0, err
    texts = {fmt: (tmp / name).read_text(encoding="utf-8") for fmt, name in FILES.items()}
    gh_code, texts["github"], gh_err = run_cli("audit", *INPUTS, "--fail-on", "none", "--format", "github")
    assert gh_code == 0, gh_err
    return {"texts": texts, "report": json.loads(texts["json"]), "terminal": out}


# Every format ----------------------------------------------------------------------------


def test_one_run_writes_every_format_and_says_where(demo: dict[str, Any]) -> None:
    for fmt, name in FILES.items():
        assert re.search(rf"^{fmt} report written to .*{re.escape(name)}$", demo["terminal"], re.M), fmt
    # --output does not silence the findings list.
    assert "(rule, endpoint) groups" in demo["terminal"]


@pytest.mark.parametrize("fmt", [*FILES, "github"])
def test_no_secret_reaches_any_format(demo: dict[str, Any], fmt: str) -> None:
    text = demo["texts"][fmt]
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{leaked} in the {fmt} report"
    assert not [s for s in SECRETS if s in demo["terminal"]]


def test_registry_maps_suffixes_to_renderers() -> None:
    assert reports.SUFFIXES == {
        ".json": "json",
        ".sarif": "sarif",
        ".xml": "junit",
        ".md": "markdown",
        ".html": "html",
        ".htm": "html",
    }
    assert set(reports.FORMATS) >= {"json", "sarif", "junit", "github", "markdown", "html"}
    assert all(fmt in reports.FORMATS for fmt in reports.SUFFIXES.values())


def test_the_model_documents_every_rule(demo: dict[str, Any]) -> None:
    policy = load_policy()
    assert [r["id"] for r in demo["report"]["rules"]] == [r.id for r in policy.rules]
    created = next(r for r in demo["report"]["rules"] if r["id"] == "created-without-location")
    assert created.keys() >= {"id", "severity", "summary", "why", "example", "fix", "reference", "origin", "enabled"}
    source, line = created["origin"].rsplit(":", 1)
    assert (
        Path(source).read_text(encoding="utf-8").splitlines()[int(line) - 1].strip() == "- id: created-without-location"
    )


def test_fix_summary_is_one_line_of_the_whole_fix() -> None:
    fix = "POST /v1/books  ->  HTTP/1.1 201 Created\n                    Location: /v1/books/42\n"
    assert fix_summary(fix) == "POST /v1/books -> HTTP/1.1 201 Created; Location: /v1/books/42"
    for rule in load_policy().rules:
        summary = rule_json(rule)["fix_summary"]
        assert summary and "\n" not in summary, rule.id


# SARIF -----------------------------------------------------------------------------------


@needs_sarif_schema
def test_sarif_from_recordings_is_valid_and_complete(demo: dict[str, Any]) -> None:
    doc = json.loads(demo["texts"]["sarif"])
    assert sarif_schema_errors(doc) == []
    assert doc["version"] == "2.1.0" and len(doc["runs"]) == 1
    run = doc["runs"][0]
    report = demo["report"]

    rules = run["tool"]["driver"]["rules"]
    enabled = [r.id for r in load_policy().enabled_rules]
    assert [r["id"] for r in rules] == enabled
    for rule in rules:
        assert rule["name"] and rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
        assert "Fix:" in rule["help"]["markdown"] and "Reference:" in rule["help"]["markdown"]
        assert rule["helpUri"].endswith(f"docs/rules.md#{rule['id']}")
        assert f"\n## {rule['id']}\n" in RULES_DOC  # the anchor exists

    results = run["results"]
    assert len(results) == len(report["findings"]) > 40
    levels = {"error": "error", "warning": "warning", "info": "note"}
    for result, finding in zip(results, report["findings"], strict=True):
        assert result["ruleId"] == finding["rule"]
        assert rules[result["ruleIndex"]]["id"] == finding["rule"]
        assert result["level"] == levels[finding["severity"]]
        (location,) = result["locations"]
        artifact = location["physicalLocation"]["artifactLocation"]
        # API-level findings (no flow of their own) too: the recording of their evidence.
        ref = finding["flow"] or finding["evidence"][0]
        assert artifact == {"uri": ref["source"], "uriBaseId": "%SRCROOT%"}
        assert (ROOT / artifact["uri"]).is_file()
        assert location["physicalLocation"]["region"]["startLine"] >= 1
        assert location["logicalLocations"][0]["fullyQualifiedName"] == finding["endpoint"]
    assert any(f["flow"] is None for f in report["findings"])
    assert run["properties"]["results"] == {"total": len(results), "reported": len(results), "omitted": 0}


def test_sarif_fingerprints_name_the_finding_not_the_flow(demo: dict[str, Any]) -> None:
    results = json.loads(demo["texts"]["sarif"])["runs"][0]["results"]
    by_key: dict[tuple[str, str], set[str]] = {}
    for result in results:
        key = (result["ruleId"], result["properties"]["endpoint"])
        by_key.setdefault(key, set()).add(result["partialFingerprints"][sarif.FINGERPRINT_KEY])
    # The same (rule, endpoint) from another flow and from the other recording: one alert.
    assert all(len(prints) == 1 for prints in by_key.values())
    assert len({next(iter(p)) for p in by_key.values()}) == len(by_key)
    assert sarif.fingerprint("r", "GET h:1 /a/{id}") != sarif.fingerprint("r", "POST h:1 /a/{id}")
    assert sarif.fingerprint("r", "GET h:1 /a/{id}") != sarif.fingerprint("r", "GET h:2 /a/{id}")


def _finding(rule: str, severity: str, index: int, path: str = "/v1/items/1", **extra: Any) -> dict[str, Any]:
    url = f"http://127.0.0.1:8000{path}"
    return {
        "rule": rule,
        "severity": severity,
        "message": f"{rule} message",
        "reference": "RFC 9110",
        "endpoint": "GET 127.0.0.1:8000 /v1/items/{id}",
        "flow": {"source": "live", "index": index, "method": "GET", "url": url, "status": 200},
        "evidence": [],
        **extra,
    }


def hand_model(findings: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A report model as model.build makes it, over the built-in policy, for live traffic."""
    rules = [rule_json(r) for r in load_policy().rules]
    coverage = [
        {"rule": r["id"], "severity": r["severity"], "evaluated": 1, "violated": 0, "undecidable": 0}
        for r in rules
        if r["enabled"]
    ]
    for f in findings:
        row = next(c for c in coverage if c["rule"] == f["rule"])
        row["violated"] += 1
    by_severity = Counter(f["severity"] for f in findings)
    model = {
        "tool": {"name": "statuslint", "version": "0.1.0"},
        "policy": "default",
        "inputs": [{"source": "live", "flows": len(findings), "error": None}],
        "findings": findings,
        "summary": {
            "flows": len(findings),
            "audited": len(findings),
            "by_rule": dict(Counter(f["rule"] for f in findings)),
            "by_severity": {s: by_severity.get(s, 0) for s in ("error", "warning", "info")},
            "endpoints": [],
            "coverage": {"rules": coverage, "never_applicable": [], "disabled": []},
            "limits": {"findings_omitted": 0},
        },
        "rules": rules,
    }
    model.update(extra)
    return model


def suppressed_model() -> dict[str, Any]:
    kept = [_finding("server-error", "warning", 0)]
    suppressed = [
        {
            **_finding("created-without-location", "warning", i),
            "suppression": {"rule": "created-without-location", "reason": "ADR-12: ids in the body"},
        }
        for i in (1, 2)
    ]
    model = hand_model(kept, suppressed_findings=suppressed)
    model["summary"]["suppressed"] = [
        {"rule": "created-without-location", "reason": "ADR-12: ids in the body", "count": 2}
    ]
    return model


@needs_sarif_schema
def test_sarif_carries_suppressed_findings_with_their_justification() -> None:
    doc = sarif.build(suppressed_model(), root=ROOT)
    assert sarif_schema_errors(doc) == []
    results = doc["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["server-error", "created-without-location", "created-without-location"]
    assert "suppressions" not in results[0]
    for result in results[1:]:
        assert result["suppressions"] == [{"kind": "external", "justification": "ADR-12: ids in the body"}]


@needs_sarif_schema
def test_sarif_live_results_point_at_the_rule_in_the_policy() -> None:
    doc = sarif.build(hand_model([_finding("server-error", "warning", 0)]), root=ROOT)
    assert sarif_schema_errors(doc) == []
    physical = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "policies/default.yaml", "uriBaseId": "%SRCROOT%"}
    line = physical["region"]["startLine"]
    assert (ROOT / "policies" / "default.yaml").read_text().splitlines()[line - 1].strip() == "- id: server-error"
    # Never a localhost URI (GitHub refuses an upload with one).
    assert "http" not in json.dumps(doc["runs"][0].get("artifacts", []))


@needs_sarif_schema
def test_sarif_keeps_the_most_severe_within_githubs_limit() -> None:
    assert sarif.MAX_RESULTS == 25_000
    findings = [_finding("server-error", "warning", i) for i in range(6)]
    findings += [_finding("unauthorized-without-challenge", "error", 6 + i) for i in range(3)]
    findings += [_finding("retry-after-missing", "info", 9 + i) for i in range(3)]
    doc = sarif.build(hand_model(findings), max_results=5, root=ROOT)
    assert sarif_schema_errors(doc) == []
    run = doc["runs"][0]
    levels = [r["level"] for r in run["results"]]
    assert levels == ["warning", "warning", "error", "error", "error"]  # input order kept
    assert run["properties"]["results"] == {"total": 12, "reported": 5, "omitted": 7}
    assert "most severe" in run["properties"]["truncated"]


@needs_sarif_schema
def test_sarif_outside_the_checkout_and_odd_paths() -> None:
    finding = _finding("server-error", "warning", 0)
    finding["flow"]["source"] = "/elsewhere/my recs/a b.flows"
    odd = _finding("server-error", "warning", 1)
    odd["flow"]["source"] = "recordings/odd name #1.har"
    model = hand_model([finding, odd])
    model["inputs"] = [{"source": "/elsewhere/my recs/a b.flows", "flows": 1, "error": None}]
    doc = sarif.build(model, root=ROOT)
    assert sarif_schema_errors(doc) == []
    first, second = (r["locations"][0]["physicalLocation"]["artifactLocation"] for r in doc["runs"][0]["results"])
    assert first == {"uri": "file:///elsewhere/my%20recs/a%20b.flows"}
    assert second == {"uri": "recordings/odd%20name%20%231.har", "uriBaseId": "%SRCROOT%"}


# JUnit -----------------------------------------------------------------------------------


def test_junit_from_recordings_parses_and_counts_match_the_json(demo: dict[str, Any]) -> None:
    report = demo["report"]
    root = ET.fromstring(demo["texts"]["junit"])
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    names = [c.get("name") for c in cases]
    assert len(names) == len(set(names)), "duplicate test case names"

    pairs = Counter((f["rule"], f["endpoint"]) for f in report["findings"])
    failing = [c for c in cases if c.find("failure") is not None]
    assert len(failing) == len(pairs) == int(suite.get("failures")) == int(root.get("failures"))
    for case in failing:
        failure = case.find("failure")
        rule = case.get("classname").removeprefix("statuslint.")
        endpoint = case.get("name").removeprefix(f"{rule} on ")
        count = pairs[(rule, endpoint)]
        assert failure.get("message").startswith(f"{count} finding(s): ")
        body = failure.text
        assert body.count("\n- ") == count  # each finding in the body, not only in message
        assert "fix:" in body
    coverage = report["summary"]["coverage"]
    held = [r["rule"] for r in coverage["rules"] if r["evaluated"] and not r["violated"]]
    never = [r["rule"] for r in coverage["never_applicable"]]
    passing = [c.get("name") for c in cases if len(c.findall("failure")) + len(c.findall("skipped")) == 0]
    skipped = [c.get("name") for c in cases if c.find("skipped") is not None]
    assert passing == held and held
    assert skipped == never and int(suite.get("skipped")) == len(never)
    assert int(suite.get("tests")) == len(cases) == len(pairs) + len(held) + len(never)


def test_junit_failure_body_holds_method_url_status_message_fix() -> None:
    model = hand_model([_finding("unauthorized-without-challenge", "error", 3, "/v1/items/1?x=\x01")])
    root = ET.fromstring(junit.render(model))
    (case,) = [c for c in root.iter("testcase") if c.find("failure") is not None]
    body = case.find("failure").text
    for part in (
        "GET",
        "http://127.0.0.1:8000/v1/items/1",
        " 200",
        "unauthorized-without-challenge message",
        "WWW-Authenticate: Bearer",
    ):
        assert part in body
    assert "\x01" not in body  # XML 1.0 cannot carry it


# GitHub annotations ----------------------------------------------------------------------


def test_github_annotations_from_recordings(demo: dict[str, Any]) -> None:
    lines = demo["texts"]["github"].splitlines()
    findings = demo["report"]["findings"]
    assert len(lines) == len(findings)
    commands = {"error": "error", "warning": "warning", "info": "notice"}
    seen: list[tuple[str, str, str]] = []
    for line in lines:
        match = re.fullmatch(r"::(\w+) title=statuslint \(([a-z0-9-]+)\),file=([^,:]+),line=(\d+)::(.*)", line)
        assert match, line
        finding = next(
            f
            for f in findings
            if f["rule"] == match[2] and where(f).replace("%", "%25") in match[5] and f["message"] in match[5]
        )
        assert match[1] == commands[finding["severity"]]
        assert match[3] == (finding["flow"] or finding["evidence"][0])["source"]
        seen.append((finding["severity"], finding["rule"], finding["endpoint"]))
    # GitHub shows the first 10 of each kind: the most severe first, each problem before any repeat.
    pairs = len(Counter((f["rule"], f["endpoint"]) for f in findings))
    assert len(set(seen[:pairs])) == pairs
    ranks = [SEVERITY_ORDER[s] for s, _, _ in seen[:pairs]]
    assert ranks == sorted(ranks, reverse=True)


def test_github_escaping() -> None:
    assert github.escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    finding = _finding("server-error", "warning", 0, "/v1/items/1")
    finding["message"] = "line one\nline two: 100%"
    finding["flow"]["source"] = "recs/a,b:c.flows"
    line = github.render(hand_model([finding])).rstrip("\n")
    assert "\n" not in line
    assert ",file=recs/a%2Cb%3Ac.flows,line=1::" in line
    assert "line one%0Aline two: 100%25" in line


# Markdown --------------------------------------------------------------------------------


def test_markdown_from_recordings(demo: dict[str, Any]) -> None:
    text = demo["texts"]["markdown"]
    report = demo["report"]
    total = sum(report["summary"]["by_severity"].values())
    assert text.startswith(f"## statuslint: {total} findings\n")
    pairs = Counter((f["rule"], f["endpoint"]) for f in report["findings"])
    rows = [line for line in text.splitlines() if re.match(r"^\| \[[a-z0-9-]+\]\(", line)]
    assert len(rows) == len(pairs)  # each (rule, endpoint) once
    for severity, title in (("error", "Errors"), ("warning", "Warnings"), ("info", "Info")):
        assert f"### {title}: {report['summary']['by_severity'][severity]} findings" in text
    assert "**Rule coverage**" in text and "never applied" in text
    assert text.count("<details>") == text.count("</details>") >= 2


def test_markdown_escapes_traffic_text() -> None:
    hostile = "/v1/a|b`c<script>alert(1)</script>@team#1\n| injected | row |"
    finding = _finding("server-error", "warning", 0, hostile)
    finding["message"] = "text with ``` and *stars* and [link](http://x)"
    text = markdown.render(hand_model([finding]))
    (row,) = [line for line in text.splitlines() if line.startswith("| [server-error]")]
    assert "<script>" not in text and "&lt;script&gt;" in row
    assert "@team" not in text and "#1" not in row
    # Only the table's own pipes split the row: the four columns survive.
    assert len(re.findall(r"(?<!\\)\|", row)) == 5
    assert "\\`" in row and "```" not in row and "\\*stars\\*" in row and "\\[link\\]" in row


def test_markdown_and_text_count_suppressed_findings(capsys: pytest.CaptureFixture[str]) -> None:
    model = suppressed_model()
    text = markdown.render(model)
    assert "2 findings suppressed:" in text and "created-without-location: 2 (ADR-12: ids in the body)" in text

    from statuslint.auditor import Auditor
    from statuslint.terminal import console_for, print_summary

    print_summary(Auditor(load_policy()), console_for(None), summary=model["summary"] | _empty_summary_parts())
    out = capsys.readouterr().out
    assert "2 findings suppressed: created-without-location (ADR-12: ids in the body): 2" in out


def _empty_summary_parts() -> dict[str, Any]:
    return {
        "not_audited": {},
        "websocket_messages": 0,
        "internal_errors": {},
        "limits": {"findings_omitted": 0, "endpoints_folded": 0, "urls_forgotten": 0},
    }


# Terminal --------------------------------------------------------------------------------


def test_text_groups_each_rule_and_endpoint_once_with_its_fix(
    demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # a CI log: no terminal, no width set (xdist sets 80)
    code, out, _ = run_cli("audit", *INPUTS)
    assert code == 1
    report = demo["report"]
    pairs = Counter((f["rule"], f["endpoint"]) for f in report["findings"])
    rules = {r["id"]: r for r in report["rules"]}
    group_lines = [line for line in out.splitlines() if re.match(r"^(error|warning|info) [a-z0-9-]+ ", line)]
    assert len(group_lines) == len(pairs)
    for (rule, endpoint), count in pairs.items():
        (line,) = [g for g in group_lines if g.startswith(f"{rules[rule]['severity']} {rule} {endpoint} x")]
        assert f" x{count} first: " in line
        assert line.endswith(f" | fix: {rules[rule]['fix_summary']}")
    # Not a terminal (a CI log): nothing is wrapped at 80 columns, tables keep their widest form.
    assert max(len(line) for line in group_lines) > 200
    inconclusive = next(line for line in out.splitlines() if " findings are inconclusive " in line)
    assert len(inconclusive) > 120 and inconclusive.endswith("--fail-on-inconclusive")
    assert re.search(r"│ server-error +│ warning +│ +\d+ │ +\d+ │ Server error \(5xx\) +│", out)
    errors = report["summary"]["by_severity"]["error"]
    assert out.rstrip().endswith(f"exit 1: {errors} findings at or above --fail-on error")
    # No report was written, so none is referred to.
    assert "JSON report" not in out and "report written" not in out


def test_show_all_lists_every_finding(demo: dict[str, Any]) -> None:
    code, out, _ = run_cli("audit", *INPUTS, "--show-all", "--fail-on", "none")
    assert code == 0
    lines = [line for line in out.splitlines() if re.match(r"^(recordings/demo\.\w+#\d+|API) ", line)]
    assert len(lines) == len(demo["report"]["findings"])
    assert "(rule, endpoint) groups" not in out


def test_summary_names_the_report_listing_every_endpoint(tmp_path: Path) -> None:
    code, out, _ = run_cli("audit", *INPUTS, "--fail-on", "none", "-q", "--output", str(tmp_path / "r.sarif"))
    assert code == 0
    assert "more endpoints not shown (a .json report lists them all)" in out
    code, out, _ = run_cli("audit", *INPUTS, "--fail-on", "none", "-q", "--output", str(tmp_path / "r.json"))
    assert f"more endpoints listed in {tmp_path / 'r.json'}" in out


def test_paths_are_never_broken_across_lines_at_any_width(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A narrow terminal (COLUMNS) wraps tables, not the paths of the reports written: one
    line each, to copy whole."""
    monkeypatch.setenv("COLUMNS", "40")
    deep = tmp_path / ("a-rather-long-directory-name-" * 3)
    deep.mkdir()
    out_json, out_md = deep / "r.json", deep / "r.md"
    outputs = ("--output", str(out_json), "--output", str(out_md))
    code, out, _ = run_cli("audit", *INPUTS, "--fail-on", "none", "-q", *outputs)
    assert code == 0
    lines = out.splitlines()
    assert f"json report written to {out_json}" in lines
    assert f"markdown report written to {out_md}" in lines
    assert any(line.endswith(f"more endpoints listed in {out_json}") for line in lines)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--output", "a.json", "--output", "a.json"], "--output: a.json is given twice"),
        (["--format", "json", "--output", "a.json", "--output", "b.sarif"], "--format applies to a single --output"),
        (["--output", "a.json", "--output", "b.txt"], "cannot tell the report format of 'b.txt'"),
        (["--output", "a.json", "--output", "/nonexistent-dir/b.md"], "directory /nonexistent-dir does not exist"),
    ],
)
def test_output_usage_errors(tmp_path: Path, args: list[str], error: str) -> None:
    code, _, err = run_cli("audit", INPUTS[0], *args)
    assert code == 2
    assert error in err and err.count("\n") == 1
    assert not (ROOT / "a.json").exists()


def test_format_github_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "annotations.txt"
    code, _, err = run_cli("audit", INPUTS[0], "--fail-on", "none", "--format", "github", "--output", str(target))
    assert code == 0, err
    assert target.read_text().startswith("::")


@needs_sarif_schema
def test_every_format_renders_an_empty_report() -> None:
    model = hand_model([])
    model["summary"]["audited"] = model["summary"]["flows"] = 3
    for fmt in reports.FORMATS:
        assert isinstance(reports.render(copy.deepcopy(model), fmt), str), fmt
    assert sarif_schema_errors(sarif.build(model)) == []
    assert sarif.build(model)["runs"][0]["results"] == []
    assert "No findings." in markdown.render(model)
    assert github.render(model) == ""


def test_a_broken_format_costs_no_other_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(model: dict[str, Any]) -> str:
        raise KeyError("boom")

    monkeypatch.setitem(reports.FORMATS, "junit", broken)
    code, out, err = run_cli(
        "audit",
        INPUTS[0],
        "--fail-on",
        "none",
        "-q",
        "--output",
        str(tmp_path / "r.xml"),
        "--output",
        str(tmp_path / "r.sarif"),
    )
    assert code == 2
    assert err == "statuslint: internal error rendering the junit report: KeyError: 'boom'\n"
    assert (tmp_path / "r.sarif").is_file() and not (tmp_path / "r.xml").exists()
    assert "sarif report written to" in out
    assert out.rstrip().endswith("exit 2: a report could not be rendered or written")


def test_markdown_fits_a_pull_request_comment() -> None:
    findings = []
    for i in range(3000):
        f = _finding(
            ("server-error", "unauthorized-without-challenge", "retry-after-missing")[i % 3],
            ("warning", "error", "info")[i % 3],
            i,
            f"/v1/items/{i}?q={'x' * 400}",
        )
        f["endpoint"] = f"GET 127.0.0.1:8000 /v1/items{i}/{{id}}"
        findings.append(f)
    text = markdown.render(hand_model(findings))
    assert len(text) <= markdown.MAX_CHARS < 65_536
    assert "more (rule, endpoint) groups of this severity" in text
    assert max(len(line) for line in text.splitlines()) < 1000
