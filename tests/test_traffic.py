"""--api-only: what counts as API traffic, and what is left out and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import CORPUS, http_flow, needs_corpus
from statuslint.auditor import Auditor
from statuslint.cli import main
from statuslint.flowview import FlowView
from statuslint.noise import api_only
from statuslint.policy import load_policy
from statuslint.traffic import non_api_kind
from statuslint.yamlsource import PolicyError


@pytest.mark.parametrize(
    ("method", "path", "ctype", "req_headers", "kind"),
    [
        ("GET", "/logo", "image/png", {}, "image"),
        ("GET", "/app", "application/javascript; charset=utf-8", {}, "script"),
        ("GET", "/site", "text/css", {}, "style"),
        ("GET", "/f", "font/woff2", {}, "font"),
        ("GET", "/f", "application/font-woff", {}, "font"),
        ("GET", "/", "text/html", {"Accept": "text/html,*/*;q=0.8"}, "page"),
        ("GET", "/clip", "video/mp4", {}, "media"),
        ("GET", "/pixel.gif", None, {}, "static file"),
        ("GET", "/x", None, {"Sec-Fetch-Dest": "image"}, "image"),
        ("POST", "/collect", None, {"Sec-Fetch-Mode": "no-cors"}, "beacon"),
        ("POST", "/log", None, {"Content-Type": "text/plain;charset=UTF-8"}, "beacon"),
        # API traffic, or possibly so: kept.
        ("GET", "/v1/books", "application/json", {}, None),
        ("GET", "/v1/books", "application/problem+json", {}, None),
        ("GET", "/v1/feed", "application/atom+xml", {}, None),
        ("GET", "/v1/error", "text/html", {"Accept": "application/json"}, None),
        ("POST", "/v1/books", None, {"Content-Type": "application/json"}, None),
        ("DELETE", "/v1/books/1", None, {}, None),
        ("GET", "/v1/x", None, {"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors"}, None),
    ],
)
def test_traffic_kinds(method: str, path: str, ctype: str | None, req_headers: dict, kind: str | None) -> None:
    resp_headers = {"Content-Type": ctype} if ctype else {}
    status = 204 if method == "DELETE" else 200
    f = http_flow(method, path, status, req_headers=req_headers, resp_headers=resp_headers, body=b"x")
    assert non_api_kind(FlowView(f)) == kind


def test_api_only_leaves_out_and_counts_by_kind() -> None:
    auditor = Auditor(api_only(load_policy()))
    flows = [
        http_flow("GET", "/logo.png", 200, resp_headers={"Content-Type": "image/png"}, body=b"\x89PNG"),
        http_flow("POST", "/v1/things", 201, body=b'{"id": 1}'),  # created-without-location
        http_flow("GET", "/app.js", 500, resp_headers={"Content-Type": "text/javascript"}, body=b"x"),
    ]
    found = [x.rule for i, f in enumerate(flows) for x in auditor.audit_response(f, i, "t")]
    assert found == ["created-without-location"]
    summary = auditor.summary()
    assert summary["audited"] == 1
    assert summary["not_audited"]["out_of_scope"] == 2
    assert summary["out_of_scope"] == {"image": 1, "script": 1}


def test_without_api_only_everything_is_audited() -> None:
    auditor = Auditor(load_policy())
    f = http_flow("GET", "/app.js", 500, resp_headers={"Content-Type": "text/javascript"}, body=b"x")
    assert [x.rule for x in auditor.audit_response(f, 0, "t")] == ["server-error"]
    assert auditor.summary()["out_of_scope"] == {}


def test_policy_scope_api_only_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("extends: default\nscope:\n  api_only: true\n  exclude: {paths: ['/health']}\n")
    policy = load_policy(path)
    assert policy.scope.api_only
    auditor = Auditor(policy)
    auditor.audit_response(http_flow("GET", "/health", 200), 0, "t")
    auditor.audit_response(http_flow("GET", "/i.gif", 200, resp_headers={"Content-Type": "image/gif"}), 1, "t")
    assert auditor.summary()["out_of_scope"] == {"image": 1, "scope": 1}
    path.write_text("extends: default\nscope:\n  api_only: yes please\n")
    with pytest.raises(PolicyError, match=r"p.yaml:3: 'api_only' must be true or false"):
        load_policy(path)


@needs_corpus
def test_cnn_page_load_keeps_its_api_calls(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["audit", str(CORPUS / "har" / "haralyzer-cnn-chrome.har"), "--api-only", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    why = report["summary"]["out_of_scope"]
    assert why["image"] > 100 and why["script"] > 40 and why["font"] >= 4
    # What is left is true, and rests on what a HAR shows: a request that accepted JSON only
    # answered with JavaScript, a POST answered 200 with content but no Content-Type.
    assert sorted((f["rule"], f["confidence"]) for f in report["findings"]) == [
        ("ignored-accept", "inconclusive"),
        ("missing-content-type", "inconclusive"),
    ]
    kept = {e["endpoint"] for e in report["summary"]["endpoints"]}
    assert "GET fastlane.rubiconproject.com /a/api/fastlane.json" in kept
    assert not [e for e in kept if e.endswith((".png", ".woff2", ".css"))]


def test_live_api_only_option(monkeypatch: pytest.MonkeyPatch) -> None:
    from mitmproxy import exceptions
    from mitmproxy.test import taddons

    from statuslint import addon as addon_module
    from statuslint.addon import StatusLint

    monkeypatch.setattr(addon_module.atexit, "register", lambda *a: None)
    sl = StatusLint()
    sl.print_summary = False
    with taddons.context(sl) as tctx:
        tctx.configure(sl, statuslint_api_only="true")
        f = http_flow("GET", "/app.js", 500, resp_headers={"Content-Type": "text/javascript"}, body=b"x")
        sl.requestheaders(f)
        sl.response(f)
        assert not f.marked
        assert sl.auditor is not None and sl.auditor.summary()["out_of_scope"] == {"script": 1}
        with pytest.raises(exceptions.OptionsError, match="statuslint_api_only: expected true or false"):
            tctx.configure(sl, statuslint_api_only="maybe")
