"""Issue 12, per flow: the false positives found on real servers stay fixed, HAR entries'
declared body sizes decide emptiness, and the condition language's new predicates."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from helpers import default_policy, http_flow, rules_fired
from statuslint.auditor import Auditor
from statuslint.policy import load_policy
from statuslint.readers import read_flows
from statuslint.yamlsource import PolicyError

JSON = {"Content-Type": "application/json"}


# False positive 1: an error envelope needs a value -----------------------------------------


@pytest.mark.parametrize("value", [b"null", b"false", b'""', b"[]", b"{}"])
def test_empty_error_member_is_no_error(value: bytes) -> None:
    body = b'{"ok": true, "error": ' + value + b"}"
    assert "error-in-success" not in rules_fired(http_flow(body=body))
    assert "error-in-success" not in rules_fired(http_flow(body=b'{"rows": [], "errors": ' + value + b"}"))


def test_error_member_with_a_value_is_an_error() -> None:
    assert "error-in-success" in rules_fired(http_flow(body=b'{"ok": false, "error": "no such table"}'))
    assert "error-in-success" in rules_fired(http_flow(body=b'{"errors": [{"code": 1}]}'))


# False positive 2: a 201 whose URL the client named ------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH", "MKCOL"])
def test_created_at_the_target_uri_needs_no_location(method: str) -> None:
    assert "created-without-location" not in rules_fired(http_flow(method, status=201))


@pytest.mark.parametrize("method", ["COPY", "MOVE"])
def test_copy_move_name_the_created_resource_in_destination(method: str) -> None:
    named = http_flow(method, status=201, req_headers={"Destination": "/dav/b.txt"})
    assert "created-without-location" not in rules_fired(named)
    assert "created-without-location" in rules_fired(http_flow(method, status=201))


def test_post_creation_still_needs_location() -> None:
    assert "created-without-location" in rules_fired(http_flow("POST", status=201))


# False positive 3: 501 on its own terms --------------------------------------------------------


def test_not_implemented_method_is_not_a_server_error() -> None:
    fired = rules_fired(http_flow("PROPFIND", status=501, body=b"Not Implemented", resp_headers={}))
    assert "server-error" not in fired
    assert "not-implemented-for-get-head" not in fired
    assert "server-error" in rules_fired(http_flow("POST", status=500))
    assert "server-error" in rules_fired(http_flow("POST", status=502))
    assert "not-implemented-for-get-head" in rules_fired(http_flow("GET", status=501))


# False positive 6: Content-Range is owed to a range request only ------------------------------


def test_416_without_range_is_the_finding_not_its_content_range() -> None:
    fired = rules_fired(http_flow(status=416))
    assert "range-not-satisfiable-without-content-range" not in fired
    assert "range-not-satisfiable-without-range-request" in fired


# False positive 7: an accurate message for each method ---------------------------------------


def messages(f: Any, rule: str) -> list[str]:
    return [x.message for x in Auditor(default_policy()).audit_response(f, 0, "t") if x.rule == rule]


def test_method_changing_redirect_words_each_method_accurately() -> None:
    loc = {"Location": "/v2/x"}
    (post,) = messages(http_flow("POST", status=302, body=b"", resp_headers=loc), "method-changing-redirect")
    assert "re-send it as a GET" in post
    for method in ("PUT", "PATCH", "DELETE"):
        (msg,) = messages(http_flow(method, status=301, body=b"", resp_headers=loc), "method-changing-redirect")
        assert f"RFC 9110 has clients keep {method}" in msg and "re-send it as a GET" not in msg
    (other,) = messages(http_flow("PROPFIND", status=302, body=b"", resp_headers=loc), "method-changing-redirect")
    assert "only 307/308 keep the method" in other
    assert messages(http_flow("GET", status=302, body=b"", resp_headers=loc), "method-changing-redirect") == []


# False positives 5 and 8: what a HAR entry declares about its body ---------------------------


def har_entry(
    status: int, method: str = "GET", headers: dict[str, str] | None = None, **content: Any
) -> dict[str, Any]:
    body_size = content.pop("bodySize", -1)
    return {
        "startedDateTime": "2026-01-01T00:00:00.000Z",
        "time": 1,
        "request": {
            "method": method,
            "url": "http://api.example.test/v1/things/1",
            "httpVersion": "HTTP/1.1",
            "headers": [],
            "queryString": [],
            "cookies": [],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": status,
            "statusText": "",
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": k, "value": v} for k, v in (headers or {}).items()],
            "cookies": [],
            "content": {"mimeType": "", **content},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": body_size,
        },
        "cache": {},
        "timings": {"send": 0, "wait": 0, "receive": 0},
    }


def audit_har(*entries: dict[str, Any]) -> Auditor:
    doc = json.dumps({"log": {"version": "1.2", "entries": list(entries)}}).encode()
    auditor = Auditor(default_policy())
    for i, f in enumerate(read_flows(io.BytesIO(doc), har=True)):
        auditor.feed(f, i, "t.har", har=True)
    return auditor


def test_har_204_declared_empty_is_decided() -> None:
    a = audit_har(har_entry(204, "DELETE", bodySize=0, size=0, text=""))
    assert a.evaluated["no-content-with-body"] == 1 and a.undecidable["no-content-with-body"] == 0
    assert a.by_rule["no-content-with-body"] == 0


def test_har_204_declared_non_empty_fires() -> None:
    a = audit_har(har_entry(204, "DELETE", {"Content-Type": "application/json"}, size=12))
    assert a.by_rule["no-content-with-body"] == 1


def test_har_gzip_body_declared_without_text_is_content() -> None:
    """A gzip answer whose entry says content.size 2 and no text: known non-empty."""
    a = audit_har(har_entry(200, "POST", {"Content-Encoding": "gzip"}, bodySize=44, size=2))
    assert a.by_rule["missing-content-type"] == 1


def test_har_content_length_zero_is_known_empty() -> None:
    """mitmproxy's own HAR export, and many servers: framing says the body is empty."""
    a = audit_har(har_entry(200, "PUT", {"Content-Length": "0", "Content-Type": "application/json"}))
    assert a.by_rule["ok-without-body"] == 1


def test_har_body_with_no_size_is_still_undecidable() -> None:
    a = audit_har(har_entry(200, "PUT", {"Content-Type": "application/json"}))
    assert a.by_rule["ok-without-body"] == 0 and a.undecidable["ok-without-body"] == 1


def test_har_declared_size_without_text_leaves_content_rules_undecided() -> None:
    """The size says there was a body; what it said is unknown: no JSON or trace verdict."""
    a = audit_har(har_entry(500, "GET", {"Content-Type": "application/json"}, size=300))
    assert a.by_rule["content-type-mismatch"] == 0 and a.undecidable["content-type-mismatch"] == 1
    assert a.undecidable["error-with-stack-trace"] == 1
    assert a.by_rule["error-without-explanation"] == 0


def test_har_head_and_304_are_never_given_a_body_by_content_length() -> None:
    a = audit_har(
        har_entry(200, "HEAD", {"Content-Length": "500", "Content-Type": "text/html"}),
        har_entry(304, "GET", {"Content-Length": "500"}),
    )
    assert a.by_rule["head-with-body"] == 0 and a.by_rule["not-modified-with-body"] == 0


# The condition language's new predicates -------------------------------------------------------


def policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_new_predicates_in_a_user_policy(tmp_path: Path) -> None:
    p = load_policy(
        policy(
            tmp_path,
            """
            rules:
              - id: etag-ok
                severity: info
                summary: s
                require: {response_header: {ETag: {valid: entity-tag}}}
              - id: bearer
                severity: info
                summary: s
                when: {response_header: {WWW-Authenticate: {challenge: Bearer error=invalid_token}}}
              - id: trace
                severity: info
                summary: s
                when: {response_body: {looks_like: stack-trace}}
              - id: bad-json
                severity: info
                summary: s
                when: {json_valid: false}
              - id: has-value
                severity: info
                summary: s
                when: {json: {has_value: detail}}
            """,
        )
    )
    fired = set(
        rules_fired(
            http_flow(
                status=401,
                body=b'Traceback (most recent call last):\n  File "a.py", line 1, in f\n',
                resp_headers={**JSON, "ETag": "unquoted", "WWW-Authenticate": 'Bearer error="invalid_token"'},
            ),
            p,
        )
    )
    assert fired == {"etag-ok", "bearer", "trace", "bad-json"}
    assert set(rules_fired(http_flow(body=b'{"detail": "x"}', resp_headers={**JSON, "ETag": '"q"'}), p)) == {
        "has-value"
    }


@pytest.mark.parametrize(
    ("condition", "error"),
    [
        ("{response_header: {ETag: {valid: etag}}}", "p.yaml:5: unknown grammar 'etag' (known: entity-tag,"),
        ("{response_body: {looks_like: trace}}", "p.yaml:5: unknown looks_like 'trace' (known: stack-trace)"),
        ("{response_body: {length_agrees_with: ETag}}", "p.yaml:5: length_agrees_with takes Content-Range"),
        ("{json_valid: maybe}", "p.yaml:5: 'json_valid' takes true or false"),
        (
            "{response_header: {WWW-Authenticate: {challenge: 'Bearer error=a b'}}}",
            "p.yaml:5: challenge for 'WWW-Authenticate' takes 'SCHEME [PARAM[=VALUE]]'",
        ),
    ],
)
def test_new_predicates_refuse_bad_arguments_with_the_line(tmp_path: Path, condition: str, error: str) -> None:
    text = f"rules:\n  - id: r\n    severity: info\n    summary: s\n    when: {condition}\n"
    with pytest.raises(PolicyError) as info:
        load_policy(policy(tmp_path, text))
    assert error in str(info.value)


def test_messages_pick_the_first_matching_case(tmp_path: Path) -> None:
    p = load_policy(
        policy(
            tmp_path,
            """
            rules:
              - id: r
                severity: info
                summary: s
                message: "fallback {status}"
                messages:
                  - when: {method: POST}
                    message: "post {status}"
                  - when: {status: 404}
                    message: "missing {path}"
                when: {status: 4xx}
            """,
        )
    )
    said = lambda f: [x.message for x in Auditor(p).audit_response(f, 0, "t")]  # noqa: E731
    assert said(http_flow("POST", status=404)) == ["post 404"]
    assert said(http_flow("GET", status=404)) == ["missing /v1/things/1"]
    assert said(http_flow("GET", status=400)) == ["fallback 400"]


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ("messages: []", "p.yaml:5: 'messages' of rule 'r' takes a list"),
        ("messages: [{when: {status: 404}}]", "p.yaml:5: each of 'messages' of rule 'r' is {when: ..., message: TEXT}"),
        ("messages: [{when: {status: 404}, message: '{nope}'}]", "unknown placeholder '{nope}'"),
    ],
)
def test_broken_messages_are_refused(tmp_path: Path, messages: str, error: str) -> None:
    text = f"rules:\n  - id: r\n    severity: info\n    summary: s\n    {messages}\n    when: {{status: 4xx}}\n"
    with pytest.raises(PolicyError) as info:
        load_policy(policy(tmp_path, text))
    assert error in str(info.value)


def test_content_range_length_is_the_content_as_sent() -> None:
    ok = http_flow(
        status=206,
        req_headers={"Range": "bytes=0-8"},
        resp_headers={**JSON, "Content-Range": "bytes 0-8/100"},
    )
    assert "malformed-content-range" not in rules_fired(ok)
    # In a HAR the coded length is not known: only the syntax is checked.
    coded = http_flow(
        status=206,
        req_headers={"Range": "bytes=0-99"},
        resp_headers={**JSON, "Content-Encoding": "identity", "Content-Range": "bytes 0-99/100"},
    )
    assert "malformed-content-range" in rules_fired(coded)
    assert "malformed-content-range" not in rules_fired(coded, har=True)


@pytest.mark.parametrize(
    "rule_id",
    [
        "range-not-satisfiable-without-range-request",
        "options-without-allow",
        "error-with-stack-trace",
        "malformed-allow",
    ],
)
def test_statuslint_rules_shows_a_new_rule(rule_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    from statuslint.cli import main

    assert main(["rules", rule_id]) == 0
    out = capsys.readouterr().out
    rule = default_policy().rule(rule_id)
    assert rule is not None and rule.summary.split()[0] in out and "Reference" in out


@pytest.mark.parametrize(
    ("method", "status", "location", "headers", "fires"),
    [
        ("GET", 302, "/v1/things/1", {}, True),
        ("GET", 308, "/v1/things/1#top", {}, True),
        ("PUT", 307, "1", {}, True),  # relative: resolves to /v1/things/1
        ("GET", 302, "/v1/things/1?page=2", {}, False),
        ("POST", 302, "/v1/things/1", {}, False),  # Post/Redirect/Get
        ("GET", 303, "/v1/things/1", {}, False),
        ("GET", 302, "/v1/things/1", {"Set-Cookie": "consent=1"}, False),
        ("GET", 302, "http://api.example.test/v1/things/1", {}, False),  # another scheme
    ],
)
def test_redirect_to_self(method: str, status: int, location: str, headers: dict, fires: bool) -> None:
    f = http_flow(method, status=status, body=b"", resp_headers={"Location": location, **headers})
    assert ("redirect-to-self" in rules_fired(f)) is fires
