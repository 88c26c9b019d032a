"""Every built-in rule: a flow that fires it and a near-identical flow that must not.

The table is checked against the policy, httplint-style: a rule without a firing case
and a passing case fails the suite.
"""

from __future__ import annotations

from typing import Any

import pytest

from helpers import default_policy, http_flow, rules_fired

JSON = {"Content-Type": "application/json"}
EMPTY: dict[str, Any] = {"body": b"", "resp_headers": {}}

# rule id -> (kwargs of a flow that fires it, kwargs of a near-identical one that must not)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "status-out-of-range": ({"status": 600}, {"status": 599}),
    "status-unregistered": ({"status": 419}, {"status": 418}),
    "informational-final": (
        {"status": 100, **EMPTY},
        {"status": 101, "body": b"", "resp_headers": {"Upgrade": "websocket"}},
    ),
    "switching-protocols-without-upgrade": (
        {"status": 101, **EMPTY},
        {"status": 101, "body": b"", "resp_headers": {"Upgrade": "websocket"}},
    ),
    "created-without-location": (
        {"method": "POST", "status": 201},
        {"method": "POST", "status": 201, "resp_headers": {**JSON, "Location": "/v1/things/2"}},
    ),
    "accepted-without-status-link": (
        {"method": "POST", "status": 202, **EMPTY},
        {"method": "POST", "status": 202, "body": b"", "resp_headers": {"Location": "/v1/jobs/1"}},
    ),
    "safe-method-created": (
        {"method": "GET", "status": 201, "resp_headers": {**JSON, "Location": "/x"}},
        {"method": "POST", "status": 201, "resp_headers": {**JSON, "Location": "/x"}},
    ),
    "no-content-with-body": ({"status": 204}, {"status": 204, **EMPTY}),
    "partial-without-content-range": (
        {"status": 206, "req_headers": {"Range": "bytes=0-1"}},
        {
            "status": 206,
            "req_headers": {"Range": "bytes=0-1"},
            "resp_headers": {**JSON, "Content-Range": "bytes 0-1/9"},
        },
    ),
    "partial-without-range-request": (
        {"status": 206, "resp_headers": {**JSON, "Content-Range": "bytes 0-1/9"}},
        {
            "status": 206,
            "req_headers": {"Range": "bytes=0-1"},
            "resp_headers": {**JSON, "Content-Range": "bytes 0-1/9"},
        },
    ),
    "delete-ok-with-body": ({"method": "DELETE", "status": 200}, {"method": "DELETE", "status": 200, **EMPTY}),
    "ok-without-body": ({"method": "PUT", "status": 200, **EMPTY}, {"method": "PUT", "status": 200}),
    "create-ok-with-location": (
        {"method": "POST", "status": 200, "resp_headers": {**JSON, "Location": "/v1/things/2"}},
        {"method": "POST", "status": 200},
    ),
    "ignored-accept": (
        {"req_headers": {"Accept": "application/json"}, "resp_headers": {"Content-Type": "text/html"}},
        {"req_headers": {"Accept": "application/json"}, "resp_headers": {"Content-Type": "application/json"}},
    ),
    "error-in-success": ({"body": b'{"error": "not found"}'}, {"body": b'{"data": {"error_count": 0}}'}),
    "redirect-without-location": (
        {"status": 302, **EMPTY},
        {"status": 302, "body": b"", "resp_headers": {"Location": "/y"}},
    ),
    "method-changing-redirect": (
        {"method": "POST", "status": 301, "body": b"", "resp_headers": {"Location": "/y"}},
        {"method": "POST", "status": 308, "body": b"", "resp_headers": {"Location": "/y"}},
    ),
    "not-modified-with-body": (
        {"status": 304, "req_headers": {"If-None-Match": '"v1"'}},
        {"status": 304, "req_headers": {"If-None-Match": '"v1"'}, **EMPTY},
    ),
    "not-modified-without-condition": (
        {"status": 304, **EMPTY},
        {"status": 304, "req_headers": {"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}, **EMPTY},
    ),
    "head-with-body": ({"method": "HEAD"}, {"method": "HEAD", "body": b"", "resp_headers": JSON}),
    "not-implemented-for-get-head": ({"method": "GET", "status": 501}, {"method": "PATCH", "status": 501}),
    "unauthorized-without-challenge": (
        {"status": 401},
        {"status": 401, "resp_headers": {**JSON, "WWW-Authenticate": 'Bearer realm="api"'}},
    ),
    "proxy-auth-without-challenge": (
        {"status": 407},
        {"status": 407, "resp_headers": {**JSON, "Proxy-Authenticate": 'Basic realm="p"'}},
    ),
    "forbidden-without-credentials": (
        {"status": 403},
        {"status": 403, "req_headers": {"Authorization": "Bearer secret-token"}},
    ),
    "method-not-allowed-without-allow": (
        {"method": "PATCH", "status": 405},
        {"method": "PATCH", "status": 405, "resp_headers": {**JSON, "Allow": "GET, HEAD"}},
    ),
    "allow-lists-rejected-method": (
        {"method": "POST", "status": 405, "resp_headers": {**JSON, "Allow": "GET, POST"}},
        {"method": "POST", "status": 405, "resp_headers": {**JSON, "Allow": "GET, HEAD, POSTING"}},
    ),
    "range-not-satisfiable-without-content-range": (
        {"status": 416, "req_headers": {"Range": "bytes=900-"}},
        {
            "status": 416,
            "req_headers": {"Range": "bytes=900-"},
            "resp_headers": {**JSON, "Content-Range": "bytes */10"},
        },
    ),
    "retry-after-missing": ({"status": 429}, {"status": 429, "resp_headers": {**JSON, "Retry-After": "30"}}),
    "server-error": ({"method": "POST", "status": 500}, {"method": "POST", "status": 422}),
    "missing-content-type": ({"resp_headers": {}}, {"resp_headers": {"Content-Type": "application/json"}}),
    "range-not-satisfiable-without-range-request": (
        {"status": 416, "resp_headers": {**JSON, "Content-Range": "bytes */10"}},
        {
            "status": 416,
            "req_headers": {"Range": "bytes=900-"},
            "resp_headers": {**JSON, "Content-Range": "bytes */10"},
        },
    ),
    "options-without-allow": (
        {"method": "OPTIONS", "status": 204, **EMPTY},
        {"method": "OPTIONS", "status": 204, "body": b"", "resp_headers": {"Allow": "GET, HEAD, OPTIONS"}},
    ),
    "content-type-mismatch": ({"status": 404, "body": b"404 page not found"}, {"status": 404, "body": b'"not found"'}),
    "error-with-stack-trace": (
        {"status": 500, "body": b'{"stack": "Error: x\\n    at f (/srv/a.js:1:2)\\n    at g (/srv/b.js:3:4)"}'},
        {"status": 500, "body": b'{"stack": "Error: x\\n    at f (/srv/a.js:1:2)"}'},
    ),
    "error-without-explanation": ({"status": 400, **EMPTY}, {"status": 400, "method": "HEAD", **EMPTY}),
    "precondition-failed-without-condition": (
        {"method": "PUT", "status": 412},
        {"method": "PUT", "status": 412, "req_headers": {"If-Match": '"v1"'}},
    ),
    "not-modified-for-unsafe-method": (
        {"method": "PUT", "status": 304, "req_headers": {"If-None-Match": '"v1"'}, **EMPTY},
        {"method": "GET", "status": 304, "req_headers": {"If-None-Match": '"v1"'}, **EMPTY},
    ),
    "content-length-on-no-content": (
        {"status": 204, "body": b"", "resp_headers": {"Content-Length": "0"}},
        {"status": 204, "body": b"", "resp_headers": {"Content-Type": "application/json"}},
    ),
    "transfer-encoding-on-no-content": (
        {"status": 204, "body": b"", "resp_headers": {"Transfer-Encoding": "chunked"}},
        {"status": 200, "resp_headers": {**JSON, "Transfer-Encoding": "chunked"}},
    ),
    "content-rejected-without-content": ({"status": 415}, {"status": 415, "req_body": b"<book/>"}),
    "not-acceptable-without-negotiation": (
        {"status": 406},
        {"status": 406, "req_headers": {"Accept": "application/xml"}},
    ),
    "safe-method-unsafe-status": ({"method": "GET", "status": 202}, {"method": "POST", "status": 202}),
    "bearer-error-missing": (
        {
            "status": 401,
            "req_headers": {"Authorization": "Bearer tok"},
            "resp_headers": {**JSON, "WWW-Authenticate": 'Bearer realm="api"'},
        },
        {
            "status": 401,
            "req_headers": {"Authorization": "Bearer tok"},
            "resp_headers": {**JSON, "WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'},
        },
    ),
    "bearer-error-status-mismatch": (
        {"status": 401, "resp_headers": {**JSON, "WWW-Authenticate": 'Bearer error="insufficient_scope"'}},
        {"status": 403, "resp_headers": {**JSON, "WWW-Authenticate": 'Bearer error="insufficient_scope"'}},
    ),
    "upgrade-required-without-upgrade": (
        {"status": 426},
        {"status": 426, "resp_headers": {**JSON, "Upgrade": "HTTP/2.0"}},
    ),
    "content-range-without-meaning": (
        {"status": 200, "resp_headers": {**JSON, "Content-Range": "bytes 0-8/9"}},
        {
            "status": 206,
            "req_headers": {"Range": "bytes=0-8"},
            "resp_headers": {**JSON, "Content-Range": "bytes 0-8/9"},
        },
    ),
    "partial-for-non-get": (
        {
            "method": "POST",
            "status": 206,
            "req_headers": {"Range": "bytes=0-8"},
            "resp_headers": {**JSON, "Content-Range": "bytes 0-8/9"},
        },
        {
            "method": "GET",
            "status": 206,
            "req_headers": {"Range": "bytes=0-8"},
            "resp_headers": {**JSON, "Content-Range": "bytes 0-8/9"},
        },
    ),
    "unused-status": ({"status": 402}, {"status": 403}),
    "location-without-meaning": (
        {"method": "PUT", "resp_headers": {**JSON, "Location": "/v1/things/1"}},
        {"method": "PUT", "status": 201, "resp_headers": {**JSON, "Location": "/v1/things/1"}},
    ),
    "created-location-with-fragment": (
        {"method": "POST", "status": 201, "resp_headers": {**JSON, "Location": "/v1/things#2"}},
        {"method": "POST", "status": 201, "resp_headers": {**JSON, "Location": "/v1/things/2"}},
    ),
    "length-required-with-length": (
        {"method": "POST", "status": 411, "req_headers": {"Content-Length": "2"}, "req_body": b"{}"},
        {"method": "POST", "status": 411},
    ),
    "expectation-failed-without-expect": (
        {"method": "POST", "status": 417},
        {"method": "POST", "status": 417, "req_headers": {"Expect": "100-continue"}},
    ),
    "precondition-required-with-condition": (
        {"method": "PUT", "status": 428, "req_headers": {"If-Match": '"v1"'}},
        {"method": "PUT", "status": 428},
    ),
    "retry-after-without-meaning": (
        {"status": 500, "resp_headers": {**JSON, "Retry-After": "60"}},
        {"status": 503, "resp_headers": {**JSON, "Retry-After": "60"}},
    ),
    "allow-omits-accepted-method": (
        {"method": "PUT", "resp_headers": {**JSON, "Allow": "GET, HEAD"}},
        {"method": "PUT", "resp_headers": {**JSON, "Allow": "GET, HEAD, PUT"}},
    ),
    "unsupported-patch-without-accept-patch": (
        {"method": "PATCH", "status": 415, "req_body": b"{}"},
        {
            "method": "PATCH",
            "status": 415,
            "req_body": b"{}",
            "resp_headers": {**JSON, "Accept-Patch": "application/merge-patch+json"},
        },
    ),
    "redirect-to-self": (
        {"status": 301, "body": b"", "resp_headers": {"Location": "https://api.example.test/v1/things/1"}},
        {"status": 301, "body": b"", "resp_headers": {"Location": "https://api.example.test/v1/things/1/"}},
    ),
    "malformed-etag": ({"resp_headers": {**JSON, "ETag": 'W/"a"b"'}}, {"resp_headers": {**JSON, "ETag": 'W/"a-b"'}}),
    "malformed-location": (
        {"status": 302, "body": b"", "resp_headers": {"Location": "/v1/my things"}},
        {"status": 302, "body": b"", "resp_headers": {"Location": "/v1/my%20things"}},
    ),
    "malformed-retry-after": (
        {"status": 429, "resp_headers": {**JSON, "Retry-After": "1.5s"}},
        {"status": 429, "resp_headers": {**JSON, "Retry-After": "2"}},
    ),
    "malformed-content-range": (
        {
            "status": 206,
            "req_headers": {"Range": "bytes=0-99"},
            "resp_headers": {**JSON, "Content-Range": "bytes 0-99/2048"},
        },
        {
            "status": 206,
            "req_headers": {"Range": "bytes=0-99"},
            "resp_headers": {**JSON, "Content-Range": "bytes 0-8/2048"},
        },
    ),
    "malformed-allow": (
        {"method": "PATCH", "status": 405, "resp_headers": {**JSON, "Allow": "GET HEAD"}},
        {"method": "PATCH", "status": 405, "resp_headers": {**JSON, "Allow": "GET, HEAD"}},
    ),
}


def test_every_rule_has_a_firing_and_a_passing_case() -> None:
    # Stateful rules (``check``) have their sequences in test_stateful.py.
    assert set(CASES) == {r.id for r in default_policy().rules if r.check is None}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires(rule_id: str) -> None:
    assert rule_id in rules_fired(http_flow(**CASES[rule_id][0]))


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_does_not_fire_on_near_identical_flow(rule_id: str) -> None:
    assert rule_id not in rules_fired(http_flow(**CASES[rule_id][1]))


def test_clean_api_traffic_has_no_findings() -> None:
    clean = [
        http_flow(),
        http_flow("POST", "/v1/things", 201, resp_headers={**JSON, "Location": "/v1/things/2"}),
        http_flow("DELETE", status=204, **EMPTY),
        http_flow("PUT", status=204, **EMPTY),
        http_flow("GET", status=304, req_headers={"If-None-Match": '"a"'}, **EMPTY),
        http_flow(
            "GET", status=404, body=b'{"title": "not found"}', resp_headers={"Content-Type": "application/problem+json"}
        ),
        http_flow("HEAD", body=b""),
    ]
    for f in clean:
        assert rules_fired(f) == [], f.request.method


@pytest.mark.parametrize(
    "body",
    [b'{"errors": [{"code": 1}]}', b'{"success": false}', b'{"status": "error", "message": "x"}'],
)
def test_error_envelopes(body: bytes) -> None:
    assert "error-in-success" in rules_fired(http_flow(body=body))


@pytest.mark.parametrize(
    "body",
    [b'{"success": true}', b'{"status": "ok"}', b'[{"error": 1}]', b"not json", b'{"success": 0}'],
)
def test_not_error_envelopes(body: bytes) -> None:
    assert "error-in-success" not in rules_fired(http_flow(body=body))


def test_error_envelope_only_in_json() -> None:
    assert "error-in-success" not in rules_fired(
        http_flow(body=b'{"error": 1}', resp_headers={"Content-Type": "text/plain"})
    )
    assert "error-in-success" in rules_fired(
        http_flow(body=b'{"error": 1}', resp_headers={"Content-Type": "application/vnd.api+json; charset=utf-8"})
    )


def test_error_envelope_on_4xx_is_fine() -> None:
    assert "error-in-success" not in rules_fired(http_flow(status=400, body=b'{"error": "bad"}'))


def test_status_out_of_range_below_100() -> None:
    assert "status-out-of-range" in rules_fired(http_flow(status=99))


def test_multipart_byteranges_206_needs_no_content_range() -> None:
    f = http_flow(
        status=206,
        req_headers={"Range": "bytes=0-1,5-6"},
        resp_headers={"Content-Type": "multipart/byteranges; boundary=X"},
    )
    assert "partial-without-content-range" not in rules_fired(f)


@pytest.mark.parametrize(
    ("accept", "ctype", "fires"),
    [
        ("application/json", "text/html", True),
        ("application/json;q=0, text/html", "application/json", True),
        ("text/*", "text/html", False),
        ("*/*", "image/png", False),
        ("application/json, text/html;q=0.5", "text/html; charset=utf-8", False),
        ("", "text/html", False),
    ],
)
def test_ignored_accept_media_ranges(accept: str, ctype: str, fires: bool) -> None:
    headers = {"Accept": accept} if accept else {}
    f = http_flow(req_headers=headers, resp_headers={"Content-Type": ctype})
    assert ("ignored-accept" in rules_fired(f)) is fires


def test_ignored_accept_not_on_errors() -> None:
    f = http_flow(status=404, req_headers={"Accept": "application/json"}, resp_headers={"Content-Type": "text/html"})
    assert "ignored-accept" not in rules_fired(f)


def test_forbidden_with_cookie_or_api_key_is_authenticated() -> None:
    assert "forbidden-without-credentials" not in rules_fired(http_flow(status=403, req_headers={"Cookie": "s=1"}))
    assert "forbidden-without-credentials" not in rules_fired(http_flow(status=403, req_headers={"X-Api-Key": "k"}))


def test_allow_token_match_is_exact_and_case_insensitive() -> None:
    f = http_flow("POST", status=405, resp_headers={"Allow": "get, post"})
    assert "allow-lists-rejected-method" in rules_fired(f)


def test_ok_without_body_not_for_head() -> None:
    assert "ok-without-body" not in rules_fired(http_flow("HEAD", body=b"", resp_headers={}))


def test_gzip_of_empty_body_is_empty() -> None:
    """mitmproxy's HAR import re-encodes an empty body; decide emptiness decoded."""
    from mitmproxy.net import encoding

    f = http_flow(status=204, resp_headers={"Content-Encoding": "gzip"}, body=b"")
    f.response.raw_content = encoding.encode(b"", "gzip")
    assert len(f.response.raw_content) > 0
    assert "no-content-with-body" not in rules_fired(f)


def test_corrupt_gzip_body_counts_as_content() -> None:
    f = http_flow(status=204, resp_headers={"Content-Encoding": "gzip"}, body=b"")
    f.response.raw_content = b"definitely not gzip"
    assert "no-content-with-body" in rules_fired(f)


def test_har_304_cached_body_does_not_count() -> None:
    """Browsers store the cached body on a 304 HAR entry; it never crossed the wire."""
    f = http_flow(status=304, req_headers={"If-None-Match": '"a"'}, resp_headers={})
    assert "not-modified-with-body" in rules_fired(f, har=False)
    fired = rules_fired(f, har=True)
    assert "not-modified-with-body" not in fired
    assert "missing-content-type" not in fired


def test_har_entry_without_body_text_is_undecidable() -> None:
    """A HAR export may leave bodies out: an empty body there proves nothing."""
    f = http_flow("PUT", **EMPTY)
    assert "ok-without-body" in rules_fired(f, har=False)
    assert "ok-without-body" not in rules_fired(f, har=True)
    # ... while a rule that is decided by a header still fires.
    g = http_flow("POST", status=202, body=b"", resp_headers={"Location": "/jobs/1"})
    assert "accepted-without-status-link" not in rules_fired(g, har=True)


def test_streamed_body_skips_body_rules_only() -> None:
    f = http_flow("DELETE", status=200, resp_headers={})
    f.response.stream = True
    f.response.raw_content = None
    fired = rules_fired(f)
    assert "delete-ok-with-body" not in fired
    assert "missing-content-type" not in fired
    g = http_flow(status=401, resp_headers={})
    g.response.raw_content = None
    assert "unauthorized-without-challenge" in rules_fired(g)
