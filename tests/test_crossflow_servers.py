"""The cross-flow checks on traffic recorded from real third-party servers
(recordings/servers/record_crossflow.py made these files; the servers are not needed here).

Each recording is audited as a whole: the cross-flow findings must be exactly the ones a
careful reader marks in it, and nothing else, so a false positive fails as surely as a
missed violation.
"""

from __future__ import annotations

import pytest
from mitmproxy import io

from helpers import ROOT, default_policy
from statuslint.auditor import Auditor

SERVERS = ROOT / "recordings" / "servers"
# The rules that compare flows with each other, and the one whose false positive (issue 12,
# item 4) WsgiDAV's MKCOL showed.
CROSS_FLOW = {
    "put-created-without-201",
    "conditional-request-ignored",
    "not-modified-drops-validator",
    "not-modified-with-content-length",
    "allow-lists-failing-method",
    "cors-contradicts-traffic",
    "inconsistent-error-format",
    "allow-contradicts-traffic",
}

# server -> the (flow index or None for API-level, rule) findings of the cross-flow rules
EXPECTED: dict[str, set[tuple[int | None, str]]] = {
    # S3 answers 200 to a PUT that creates a bucket or an object; revalidation is right.
    "moto": {(1, "put-created-without-201"), (3, "put-created-without-201")},
    # 304 drops the ETag and says Content-Length: 0 for a 9-byte file. Allow after MKCOL
    # made the collection rightly omits MKCOL (no allow-contradicts-traffic).
    "wsgidav": {(6, "not-modified-drops-validator"), (6, "not-modified-with-content-length")},
    # OPTIONS lists every method it knows, POST and MKCOL included, on a collection that
    # answers both 405.
    "radicale": {(0, "allow-lists-failing-method")},
    # @fastify/cors grants GET,HEAD,POST by default: PUT and DELETE work but browsers may not send them.
    "fastify": {(1, "cors-contradicts-traffic"), (3, "cors-contradicts-traffic")},
    # A JSON API whose unknown routes and thrown errors get Express's HTML pages.
    "express": {(None, "inconsistent-error-format")},
    # A handler-set ETag is not evaluated (aiohttp does that for files only); HTTPNotFound is text/plain.
    "aiohttp": {(2, "conditional-request-ignored"), (None, "inconsistent-error-format")},
    # Static file servers that revalidate by the book.
    "nginx": set(),
    "http-server": set(),
}


def _audit(name: str) -> Auditor:
    auditor = Auditor(default_policy())
    path = SERVERS / f"{name}-crossflow.flows"
    with path.open("rb") as fo:
        for index, f in enumerate(io.FlowReader(fo).stream()):
            auditor.feed(f, index, str(path))
    return auditor


def _cross_flow(auditor: Auditor) -> set[tuple[int | None, str]]:
    return {(f.flow.index if f.flow else None, f.rule) for f in auditor.ordered_findings() if f.rule in CROSS_FLOW}


def test_every_recording_is_checked() -> None:
    assert {p.name.removesuffix("-crossflow.flows") for p in SERVERS.glob("*-crossflow.flows")} == set(EXPECTED)
    for path in SERVERS.glob("*-crossflow.flows"):
        assert path.stat().st_size < 100_000, path


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cross_flow_findings_on_real_servers(name: str) -> None:
    auditor = _audit(name)
    assert auditor.counts["audited"] >= 5
    assert _cross_flow(auditor) == EXPECTED[name]
    assert auditor.summary()["internal_errors"] == {}


def test_radicale_allow_is_held_to_each_rejected_method() -> None:
    found = [f for f in _audit("radicale").findings if f.rule == "allow-lists-failing-method"]
    assert sorted((f.evidence[0].method, f.evidence[0].status) for f in found) == [("MKCOL", 405), ("POST", 405)]


def test_express_error_format_names_the_html_endpoints() -> None:
    [finding] = [f for f in _audit("express").api_findings() if f.rule == "inconsistent-error-format"]
    assert finding.details is not None
    assert finding.details["majority"]["media_type"] == "application/json"
    [minority] = finding.details["minority"]
    assert minority["media_type"] == "text/html" and minority["responses"] == 2
    assert [e.split(" ", 2)[2] for e in minority["endpoints"]] == ["/authors", "/books/{id}/cover"]


def test_moto_authorization_never_shown() -> None:
    auditor = _audit("moto")
    text = repr([f.to_json() for f in auditor.ordered_findings()])
    assert "Signature=0000" not in text and "Credential=testing" not in text


@pytest.mark.parametrize("name", ["demo.flows", "demo.har"])
def test_demo_recording_demonstrates_the_cross_flow_rules(name: str) -> None:
    path = ROOT / "recordings" / name
    auditor = Auditor(default_policy())
    with path.open("rb") as fo:
        for index, f in enumerate(io.FlowReader(fo).stream()):
            auditor.feed(f, index, str(path), har=name.endswith(".har"))
    shown = {rule for _, rule in _cross_flow(auditor)}
    # Werkzeug strips Content-Length from every 304: WsgiDAV's recording shows that rule.
    assert shown == CROSS_FLOW - {"not-modified-with-content-length"}
