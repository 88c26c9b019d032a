"""A finding's evidence (the headers its rule looked at, redacted) and its confidence."""

from __future__ import annotations

import json

import pytest

from helpers import ROOT, http_flow
from statuslint.auditor import Auditor
from statuslint.cli import main
from statuslint.evidence import looks_at
from statuslint.policy import load_policy

DEMO_HAR = str(ROOT / "recordings" / "demo.har")
DEMO_FLOWS = str(ROOT / "recordings" / "demo.flows")


def findings(f, har: bool = False):  # type: ignore[no-untyped-def]
    return Auditor(load_policy()).audit_response(f, 0, "t", har=har)


def test_looks_at_reads_the_condition() -> None:
    seen = looks_at(
        {"status": 401, "any": [{"request_header": {"Authorization": "present"}}, {"not": {"json": {"has_key": "x"}}}]},
        {"response_header": {"WWW-Authenticate": "present"}, "content_type": "application/*"},
    )
    assert seen.request_headers == ("authorization",)
    assert set(seen.response_headers) == {"www-authenticate", "content-type"}
    assert seen.bodies


def test_headers_the_rule_looked_at_absent_and_present() -> None:
    (finding,) = findings(http_flow("POST", "/v1/things", 201))
    assert finding.rule == "created-without-location"
    assert finding.headers["response"] == {"location": None}
    assert finding.confidence == "certain"
    (finding,) = findings(
        http_flow(
            "POST",
            "/v1/things",
            200,
            resp_headers={"Location": "/v1/things/1?token=s3", "Content-Type": "application/json"},
        )
    )
    assert finding.rule == "create-ok-with-location"
    assert finding.headers == {"response": {"location": "/v1/things/1?token=REDACTED"}}


def test_request_header_values_are_never_shown_unless_harmless() -> None:
    f = http_flow("GET", "/v1/me", 403, req_headers={"Authorization": "Bearer s3cret-token"}, body=b"")
    f2 = http_flow("GET", "/v1/me", 403, req_headers={"Cookie": "sid=s3cret-cookie"}, body=b"")
    for flow in (f, f2):
        for finding in findings(flow):
            assert "s3cret" not in json.dumps(finding.to_json())


def test_body_rule_on_a_har_is_inconclusive_and_on_the_wire_certain() -> None:
    body = b'{"error": "boom"}'
    wire = [x for x in findings(http_flow(body=body)) if x.rule == "error-in-success"]
    har = [x for x in findings(http_flow(body=body), har=True) if x.rule == "error-in-success"]
    assert [x.confidence for x in wire] == ["certain"]
    assert [x.confidence for x in har] == ["inconclusive"]


def test_fail_on_counts_certain_findings_unless_asked(capsys: pytest.CaptureFixture[str]) -> None:
    # In the demo HAR, error-in-success (warning) rests on HAR bodies only.
    args = ["audit", DEMO_HAR, "-q", "--select", "error-in-success", "--fail-on", "warning"]
    assert main(args) == 0
    assert main([*args, "--fail-on-inconclusive"]) == 1
    assert main(["audit", DEMO_FLOWS, "-q", "--select", "error-in-success", "--fail-on", "warning"]) == 1
    out = capsys.readouterr().out
    assert "inconclusive" in out


def test_json_report_carries_confidence_and_headers(capsys: pytest.CaptureFixture[str]) -> None:
    main(["audit", DEMO_HAR, "--format", "json", "--fail-on", "none"])
    report = json.loads(capsys.readouterr().out)
    assert all(f["confidence"] in ("certain", "inconclusive") for f in report["findings"])
    assert report["summary"]["inconclusive"] == sum(f["confidence"] == "inconclusive" for f in report["findings"])
    unauthorized = next(f for f in report["findings"] if f["rule"] == "unauthorized-without-challenge")
    assert unauthorized["headers"] == {"response": {"www-authenticate": None}}


def test_terminal_line_shows_evidence_and_confidence(capsys: pytest.CaptureFixture[str]) -> None:
    main(["audit", DEMO_HAR, "--fail-on", "none", "--show-all"])
    lines = capsys.readouterr().out.splitlines()
    line = next(x for x in lines if "unauthorized-without-challenge" in x and "[response" in x)
    assert "www-authenticate: (absent)" in line
    assert any("error-in-success" in x and x.rstrip().endswith("(inconclusive)") for x in lines)
