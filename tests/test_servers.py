"""The per-flow rules on traffic recorded from real third-party servers (nginx, Express, Koa,
Fastify, Datasette, jupyter_server, aiohttp, Falcon) by recordings/servers/record_perflow.py.

Each recording is audited as committed (the servers need not be installed): the findings
are exactly the true ones a careful reader marks, and the false positives of issue 12 stay
away. The recorder's docstring says which versions were recorded.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from helpers import ROOT, default_policy
from statuslint.auditor import Auditor
from statuslint.readers import read_flows, sniff_har

SERVERS = ROOT / "recordings" / "servers"


def audit(path: Path) -> tuple[Auditor, list]:
    auditor = Auditor(default_policy())
    flows = []
    har = sniff_har(path)
    with path.open("rb") as fo:
        for i, f in enumerate(read_flows(fo, har)):
            flows.append(f)
            auditor.feed(f, i, str(path), har=har)
    return auditor, flows


def findings(path: Path) -> Counter[tuple[str, str, str, int]]:
    auditor, _ = audit(path)
    return Counter(
        (x.rule, x.flow.method, x.flow.url.split("/", 3)[-1], x.flow.status) for x in auditor.findings if x.flow
    )


EXPECTED: dict[str, dict[tuple[str, str, str, int], int]] = {
    # nginx 1.22 answers 405 without Allow (static files, PROPFIND on its dav module).
    "nginx.flows": {
        ("method-not-allowed-without-allow", "POST", "static/hello.txt", 405): 1,
        ("method-not-allowed-without-allow", "OPTIONS", "static/hello.txt", 405): 1,
        ("method-not-allowed-without-allow", "PROPFIND", "dav/", 405): 1,
    },
    # Express's default error handler (no NODE_ENV=production) shows the stack.
    "express.flows": {
        ("error-with-stack-trace", "POST", "items", 400): 1,
        ("error-with-stack-trace", "GET", "report", 500): 1,
        ("server-error", "GET", "report", 500): 1,
    },
    # Koa's allowedMethods(): 501 to PROPFIND, 405 with Allow, OPTIONS with Allow: all right.
    "koa.flows": {},
    # @fastify/cors: a plain OPTIONS answered 400, and its preflight 204 carries Content-Length: 0;
    # the preflight's Access-Control-Allow-Methods (GET, HEAD, POST by default) omits the DELETE
    # that succeeds there (the cross-flow rule of recordings/servers/*-crossflow.flows).
    "fastify.flows": {
        ("options-without-allow", "OPTIONS", "tasks", 400): 1,
        ("content-length-on-no-content", "OPTIONS", "tasks/1", 204): 1,
        ("cors-contradicts-traffic", "OPTIONS", "tasks/1", 204): 1,
    },
    # {"ok": true, "error": null} is no error; its POST without a CSRF token crashes (500).
    "datasette.flows": {("server-error", "POST", "data/books", 500): 1},
    # A 404 whose plain text is labelled application/json; a 403 to a request without a token.
    "jupyter_server.flows": {
        ("content-type-mismatch", "GET", "api/contents/missing.txt", 404): 1,
        ("forbidden-without-credentials", "GET", "api/contents", 403): 1,
    },
    "aiohttp.flows": {},
    # Falcon answers OPTIONS with Allow and 405 with Allow; under wsgiref its 204 gets
    # "Content-Length: 0" (the WSGI server adds it).
    "falcon.flows": {("content-length-on-no-content", "DELETE", "orders/1", 204): 1},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_server_findings(name: str) -> None:
    assert dict(findings(SERVERS / name)) == EXPECTED[name]


def test_every_server_recording_is_audited_here() -> None:
    # The *-crossflow.flows recordings are audited by tests/test_crossflow_servers.py.
    assert {p.name for p in SERVERS.glob("*.flows") if not p.stem.endswith("-crossflow")} == set(EXPECTED)
    for path in SERVERS.glob("*.*"):
        if path.suffix in (".flows", ".har"):
            assert path.stat().st_size < 100_000, path


def test_nginx_flows_and_their_har_twin_agree() -> None:
    """mitmdump wrote both of one session (-w and --set hardump)."""
    assert findings(SERVERS / "nginx.flows") == findings(SERVERS / "nginx.har")
    flows_audit, _ = audit(SERVERS / "nginx.flows")
    har_audit, _ = audit(SERVERS / "nginx.har")
    assert flows_audit.evaluated == har_audit.evaluated
    assert har_audit.undecidable == Counter()


def _flows(name: str, method: str, status: int) -> list:
    _, flows = audit(SERVERS / name)
    return [f for f in flows if f.request.method == method and f.response.status_code == status]


def test_the_false_positives_are_in_the_recordings() -> None:
    """Each must-not-fire case above is really there, so the empty findings mean something."""
    # Datasette's success envelope.
    ok = [f for f in _flows("datasette.flows", "GET", 200) if b'"error": null' in f.response.content]
    assert ok and b'"ok": true' in ok[0].response.content
    # 201 to PUT without Location (Express), 201 to PUT and MKCOL (nginx's dav).
    (put,) = _flows("express.flows", "PUT", 201)
    assert "location" not in put.response.headers
    assert _flows("nginx.flows", "MKCOL", 201) and _flows("nginx.flows", "PUT", 201)
    # Koa's 501 to a method it implements nowhere.
    assert len(_flows("koa.flows", "PROPFIND", 501)) == 2
    # Koa's and Express's OPTIONS answers carry Allow; Koa's 200 has no content.
    (koa_options,) = _flows("koa.flows", "OPTIONS", 200)
    assert koa_options.response.headers["allow"] and not koa_options.response.content


# Rules of issue 12 that the committed recordings show firing (demo and real servers).
DEMONSTRATED = {
    "range-not-satisfiable-without-range-request",
    "options-without-allow",
    "content-type-mismatch",
    "error-with-stack-trace",
    "error-without-explanation",
    "precondition-failed-without-condition",
    "not-modified-for-unsafe-method",
    "content-length-on-no-content",
    "content-rejected-without-content",
    "safe-method-unsafe-status",
    "bearer-error-missing",
    "bearer-error-status-mismatch",
    "upgrade-required-without-upgrade",
    "content-range-without-meaning",
    "partial-for-non-get",
    "unused-status",
    "location-without-meaning",
    "created-location-with-fragment",
    "length-required-with-length",
    "expectation-failed-without-expect",
    "precondition-required-with-condition",
    "retry-after-without-meaning",
    "allow-omits-accepted-method",
    "unsupported-patch-without-accept-patch",
    "redirect-to-self",
    "malformed-etag",
    "malformed-location",
    "malformed-retry-after",
    "malformed-content-range",
    "malformed-allow",
}


def test_recordings_demonstrate_the_new_rules() -> None:
    """Not shown: transfer-encoding-on-no-content (no recorded server sends it on a 204)
    and not-acceptable-without-negotiation (the recorder's urllib always sends
    Accept-Encoding, so its requests do negotiate)."""
    fired: set[str] = set()
    for path in [ROOT / "recordings" / "demo.flows", *sorted(SERVERS.glob("*.flows"))]:
        auditor, _ = audit(path)
        fired |= {rule for rule, n in auditor.by_rule.items() if n}
    assert DEMONSTRATED - fired == set()
