"""The rules that need state across flows: sequences that fire them and, as important,
sequences that must not."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import default_policy, http_flow
from statuslint.auditor import Auditor, Limits
from statuslint.findings import Finding
from statuslint.stateful import CHECKS

JSON = {"Content-Type": "application/json"}
NO_BODY: dict[str, Any] = {"body": b"", "resp_headers": {}}
HTML = {"Content-Type": "text/html; charset=utf-8"}
PREFLIGHT = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "DELETE"}
CORS = {"Access-Control-Allow-Origin": "https://app.example.com"}


def step(method: str, path: str, status: int, **kw: Any) -> dict[str, Any]:
    if status in (204, 304) or method == "HEAD":
        kw.setdefault("body", b"")
        kw.setdefault("resp_headers", {})
    return {"method": method, "path": path, "status": status, **kw}


def audit(steps: list[dict[str, Any]], auditor: Auditor | None = None, source: str = "test", start: int = 0) -> Auditor:
    auditor = auditor or Auditor(default_policy())
    for i, kw in enumerate(steps, start):
        auditor.audit_response(http_flow(**kw), i, source)
    return auditor


def stateful(auditor: Auditor) -> list[tuple[int | None, str]]:
    """(flow index, rule) of every stateful finding, API-level ones with index None."""
    out = []
    for f in auditor.ordered_findings():
        if f.rule in CHECKS:
            out.append((f.flow.index if f.flow else None, f.rule))
    return out


def fired(steps: list[dict[str, Any]], rule: str) -> list[Finding]:
    return [f for f in audit(steps).ordered_findings() if f.rule == rule]


# rule id -> (a sequence that fires it, the flow index it fires on, a near-identical sequence that must not)
ITEM = "/v1/books/42"
SEQUENCES: dict[str, tuple[list[dict[str, Any]], int | None, list[dict[str, Any]]]] = {
    "served-after-delete": (
        [step("GET", ITEM, 200), step("DELETE", ITEM, 204), step("GET", ITEM, 200)],
        2,
        [step("GET", ITEM, 200), step("DELETE", ITEM, 204), step("GET", ITEM, 404)],
    ),
    "location-not-found": (
        [
            step("POST", "/v1/books", 201, resp_headers={**JSON, "Location": "/v1/book/42"}),
            step("GET", "/v1/book/42", 404),
        ],
        1,
        [step("POST", "/v1/books", 201, resp_headers={**JSON, "Location": "/v1/books/42"}), step("GET", ITEM, 200)],
    ),
    "not-found-for-unsupported-method": (
        [step("GET", ITEM, 200), step("PATCH", ITEM, 404)],
        1,
        [step("GET", ITEM, 200), step("PATCH", ITEM, 405, resp_headers={**JSON, "Allow": "GET, HEAD"})],
    ),
    "not-implemented-but-implemented": (
        [step("PATCH", "/v1/books/1", 200), step("PATCH", "/v1/authors/7", 501)],
        1,
        [step("PUT", "/v1/books/1", 200), step("PATCH", "/v1/authors/7", 501)],
    ),
    "allow-contradicts-traffic": (
        [step("PUT", ITEM, 200), step("POST", ITEM, 405, resp_headers={**JSON, "Allow": "GET, DELETE"})],
        1,
        [step("PUT", ITEM, 200), step("POST", ITEM, 405, resp_headers={**JSON, "Allow": "GET, PUT, DELETE"})],
    ),
    "head-get-mismatch": (
        [step("GET", ITEM, 200), step("HEAD", ITEM, 405)],
        1,
        [step("GET", ITEM, 200), step("HEAD", ITEM, 200)],
    ),
    "inconsistent-status": (
        [
            step("DELETE", "/v1/books/1", 204),
            step("DELETE", "/v1/books/2", 204),
            step("DELETE", "/v1/authors/1", 204),
            step("DELETE", "/v1/tags/1", 200, body=b""),
        ],
        None,
        [step("DELETE", "/v1/books/1", 204), step("DELETE", "/v1/authors/1", 204), step("DELETE", "/v1/tags/1", 204)],
    ),
    "put-created-without-201": (
        [step("GET", ITEM, 404), step("PUT", ITEM, 200)],
        1,
        [step("GET", ITEM, 404), step("PUT", ITEM, 201, resp_headers={**JSON, "Location": ITEM})],
    ),
    "conditional-request-ignored": (
        [
            step("GET", ITEM, 200, resp_headers={**JSON, "ETag": '"v7"'}),
            step("GET", ITEM, 200, req_headers={"If-None-Match": '"v7"'}, resp_headers={**JSON, "ETag": '"v7"'}),
        ],
        1,
        [
            step("GET", ITEM, 200, resp_headers={**JSON, "ETag": '"v7"'}),
            step("GET", ITEM, 200, req_headers={"If-None-Match": '"v6"'}, resp_headers={**JSON, "ETag": '"v7"'}),
        ],
    ),
    "not-modified-drops-validator": (
        [
            step("GET", ITEM, 200, resp_headers={**JSON, "ETag": '"v7"'}),
            step("GET", ITEM, 304, req_headers={"If-None-Match": '"v7"'}),
        ],
        1,
        [
            step("GET", ITEM, 200, resp_headers={**JSON, "ETag": '"v7"'}),
            step("GET", ITEM, 304, req_headers={"If-None-Match": '"v7"'}, resp_headers={"ETag": '"v7"'}),
        ],
    ),
    "not-modified-with-content-length": (
        [
            step("GET", ITEM, 200, resp_headers={**JSON, "ETag": '"v7"', "Content-Length": "9"}),
            step(
                "GET",
                ITEM,
                304,
                req_headers={"If-None-Match": '"v7"'},
                resp_headers={"ETag": '"v7"', "Content-Length": "0"},
            ),
        ],
        1,
        [
            step("GET", ITEM, 200, resp_headers={**JSON, "ETag": '"v7"', "Content-Length": "9"}),
            step(
                "GET",
                ITEM,
                304,
                req_headers={"If-None-Match": '"v7"'},
                resp_headers={"ETag": '"v7"', "Content-Length": "9"},
            ),
        ],
    ),
    "allow-lists-failing-method": (
        [
            step("OPTIONS", ITEM, 200, body=b"", resp_headers={"Allow": "GET, PUT, POST"}),
            step("POST", ITEM, 405, resp_headers={**JSON, "Allow": "GET, PUT"}),
        ],
        0,
        [
            step("OPTIONS", ITEM, 200, body=b"", resp_headers={"Allow": "GET, PUT"}),
            step("POST", ITEM, 405, resp_headers={**JSON, "Allow": "GET, PUT"}),
        ],
    ),
    "cors-contradicts-traffic": (
        [
            step(
                "OPTIONS",
                ITEM,
                204,
                req_headers=PREFLIGHT,
                resp_headers={**CORS, "Access-Control-Allow-Methods": "GET,HEAD,POST"},
            ),
            step("DELETE", ITEM, 204),
        ],
        0,
        [
            step(
                "OPTIONS",
                ITEM,
                204,
                req_headers=PREFLIGHT,
                resp_headers={**CORS, "Access-Control-Allow-Methods": "GET,HEAD,POST,DELETE"},
            ),
            step("DELETE", ITEM, 204),
        ],
    ),
    "inconsistent-error-format": (
        [
            step("GET", "/v1/books", 200),
            step("GET", "/v1/books/1", 404, body=b'{"error": "no such book"}'),
            step("GET", "/v1/authors/x", 500, body=b"<h1>Internal Server Error</h1>", resp_headers=HTML),
        ],
        None,
        [
            step("GET", "/v1/books", 200),
            step("GET", "/v1/books/1", 404, body=b'{"error": "no such book"}'),
            step("GET", "/v1/authors/x", 500, body=b'{"error": "internal"}'),
        ],
    ),
}


def test_every_stateful_rule_has_sequences() -> None:
    stateful_ids = {r.id for r in default_policy().rules if r.check}
    assert stateful_ids == set(SEQUENCES) == set(CHECKS)


@pytest.mark.parametrize("rule_id", sorted(SEQUENCES))
def test_sequence_fires(rule_id: str) -> None:
    steps, index, _ = SEQUENCES[rule_id]
    assert (index, rule_id) in stateful(audit(steps))


@pytest.mark.parametrize("rule_id", sorted(SEQUENCES))
def test_near_identical_sequence_does_not_fire(rule_id: str) -> None:
    assert [x for x in stateful(audit(SEQUENCES[rule_id][2])) if x[1] == rule_id] == []


# served-after-delete ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "steps",
    [
        # A second DELETE answered 404 is right; so is the GET after it.
        [step("DELETE", ITEM, 204), step("DELETE", ITEM, 404), step("GET", ITEM, 404)],
        # Re-created by PUT 201, then served.
        [
            step("DELETE", ITEM, 204),
            step("PUT", ITEM, 201, resp_headers={**JSON, "Location": ITEM}),
            step("GET", ITEM, 200),
        ],
        # Re-created by a POST whose 201 names it.
        [
            step("DELETE", ITEM, 204),
            step("POST", "/v1/books", 201, resp_headers={**JSON, "Location": "https://api.example.test/v1/books/42"}),
            step("GET", ITEM, 200),
        ],
        # The DELETE failed: the resource is still there.
        [step("DELETE", ITEM, 403), step("GET", ITEM, 200)],
        [step("DELETE", ITEM, 500), step("GET", ITEM, 200)],
        # A collection DELETE empties it; the empty collection is still served.
        [step("DELETE", "/v1/books", 204), step("GET", "/v1/books", 200)],
        # POST and DELETE are not "served": only GET/HEAD/PUT/PATCH are.
        [step("DELETE", ITEM, 204), step("POST", ITEM, 200)],
    ],
    ids=[
        "second-delete-404",
        "put-recreates",
        "post-location-recreates",
        "delete-403",
        "delete-500",
        "collection",
        "post",
    ],
)
def test_served_after_delete_must_not_fire(steps: list[dict[str, Any]]) -> None:
    assert fired(steps, "served-after-delete") == []


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "PATCH"])
def test_served_after_delete_for_each_method(method: str) -> None:
    found = fired(
        [step("DELETE", ITEM, 200, body=b""), step(method, ITEM, 204 if method != "GET" else 200)],
        "served-after-delete",
    )
    assert len(found) == 1
    assert found[0].flow is not None and found[0].flow.method == method
    assert [(e.method, e.index) for e in found[0].evidence] == [("DELETE", 0)]


def test_served_after_delete_once_per_deletion() -> None:
    steps = [step("DELETE", ITEM, 204), step("GET", ITEM, 200), step("GET", ITEM, 200)]
    assert len(fired(steps, "served-after-delete")) == 1
    # A second deletion is a second chance to get it wrong.
    steps += [step("DELETE", ITEM, 204), step("GET", ITEM, 200)]
    assert [f.flow.index for f in fired(steps, "served-after-delete")] == [1, 4]  # type: ignore[union-attr]


def test_query_string_is_the_same_resource() -> None:
    steps = [step("DELETE", ITEM + "?force=1", 204), step("GET", ITEM + "?fields=id", 200)]
    assert len(fired(steps, "served-after-delete")) == 1


def test_hosts_and_sources_are_separate() -> None:
    steps = [step("DELETE", ITEM, 204), step("GET", ITEM, 200, host="other.example.test")]
    assert fired(steps, "served-after-delete") == []
    # Two recordings of the same session, audited one after the other, are two timelines.
    auditor = audit([step("DELETE", ITEM, 204)], source="one.flows")
    audit([step("GET", ITEM, 200)], auditor, source="two.flows")
    assert stateful(auditor) == []


# location-not-found ------------------------------------------------------------------------


def test_location_not_found_absolute_and_relative() -> None:
    for location in ("https://api.example.test/v1/book/42", "book/42", "/v1/book/42?x=1"):
        steps = [
            step("POST", "/v1/books", 201, resp_headers={**JSON, "Location": location}),
            step("GET", "/v1/book/42", 404),
        ]
        found = fired(steps, "location-not-found")
        assert len(found) == 1, location
        assert found[0].evidence[0].status == 201


@pytest.mark.parametrize(
    "steps",
    [
        # Deleted in between: a 404 is right.
        [
            step("POST", "/v1/books", 201, resp_headers={**JSON, "Location": ITEM}),
            step("DELETE", ITEM, 204),
            step("GET", ITEM, 404),
        ],
        # Seen alive first; a later 404 (deleted by someone else) is not the Location's fault.
        [
            step("POST", "/v1/books", 201, resp_headers={**JSON, "Location": ITEM}),
            step("GET", ITEM, 200),
            step("GET", ITEM, 404),
        ],
        # Another host.
        [
            step("POST", "/v1/books", 201, resp_headers={**JSON, "Location": "https://cdn.example.test/v1/books/42"}),
            step("GET", ITEM, 404),
        ],
    ],
    ids=["deleted", "seen-alive", "other-host"],
)
def test_location_not_found_must_not_fire(steps: list[dict[str, Any]]) -> None:
    assert fired(steps, "location-not-found") == []


# not-found-for-unsupported-method -----------------------------------------------------------


@pytest.mark.parametrize(
    "steps",
    [
        # Deleted: a 404 for anything is right, a second DELETE included.
        [step("GET", ITEM, 200), step("DELETE", ITEM, 204), step("DELETE", ITEM, 404), step("PATCH", ITEM, 404)],
        # Never seen to exist.
        [step("PATCH", ITEM, 404)],
        # Gone (a GET says so) before the other method.
        [step("GET", ITEM, 200), step("GET", ITEM, 404), step("PUT", ITEM, 404)],
        # HEAD is head-get-mismatch's business.
        [step("GET", ITEM, 200), step("HEAD", ITEM, 404)],
    ],
    ids=["deleted", "never-seen", "gone", "head"],
)
def test_not_found_for_unsupported_method_must_not_fire(steps: list[dict[str, Any]]) -> None:
    assert fired(steps, "not-found-for-unsupported-method") == []


def test_not_found_for_unsupported_method_once_per_method() -> None:
    steps = [step("GET", ITEM, 200), step("PATCH", ITEM, 404), step("PATCH", ITEM, 404), step("POST", ITEM, 404)]
    assert [(f.flow.method, f.flow.index) for f in fired(steps, "not-found-for-unsupported-method")] == [  # type: ignore[union-attr]
        ("PATCH", 1),
        ("POST", 3),
    ]


# not-implemented-but-implemented -----------------------------------------------------------


def test_not_implemented_either_order() -> None:
    # The 501 first: the later success shows it; the finding is still on the 501.
    found = fired(
        [step("PATCH", "/v1/authors/7", 501), step("PATCH", "/v1/books/1", 200)], "not-implemented-but-implemented"
    )
    assert [(f.flow.index, f.evidence[0].index) for f in found] == [(0, 1)]  # type: ignore[union-attr]


def test_not_implemented_must_not_fire() -> None:
    # Failed elsewhere too, or on another host: 501 may be true.
    assert (
        fired(
            [step("PATCH", "/v1/books/1", 404), step("PATCH", "/v1/authors/7", 501)], "not-implemented-but-implemented"
        )
        == []
    )
    assert (
        fired(
            [step("PATCH", "/v1/books/1", 200, host="a.example.test"), step("PATCH", "/v1/authors/7", 501)],
            "not-implemented-but-implemented",
        )
        == []
    )


# allow-contradicts-traffic -----------------------------------------------------------------


def test_allow_checked_against_later_success() -> None:
    steps = [step("POST", ITEM, 405, resp_headers={**JSON, "Allow": "GET"}), step("PATCH", "/v1/books/7", 200)]
    found = fired(steps, "allow-contradicts-traffic")
    # The answer carrying Allow is the wrong one; the success is the evidence.
    assert [(f.flow.index, [e.index for e in f.evidence]) for f in found] == [(0, [1])]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "steps",
    [
        # HEAD is implied by GET; OPTIONS is answered by CORS middleware everywhere.
        [
            step("HEAD", ITEM, 200),
            step("OPTIONS", ITEM, 204),
            step("POST", ITEM, 405, resp_headers={**JSON, "Allow": "GET"}),
        ],
        # A method that failed is not held against Allow.
        [step("PUT", ITEM, 403), step("POST", ITEM, 405, resp_headers={**JSON, "Allow": "GET"})],
        # Another endpoint.
        [step("PUT", "/v1/authors/1", 200), step("POST", ITEM, 405, resp_headers={**JSON, "Allow": "GET"})],
    ],
    ids=["implied", "failed", "other-endpoint"],
)
def test_allow_contradicts_must_not_fire(steps: list[dict[str, Any]]) -> None:
    assert fired(steps, "allow-contradicts-traffic") == []


def test_allow_reported_once_per_method() -> None:
    allow = {**JSON, "Allow": "GET"}
    steps = [
        step("PUT", ITEM, 200),
        step("POST", ITEM, 405, resp_headers=allow),
        step("POST", ITEM, 405, resp_headers=allow),
    ]
    assert len(fired(steps, "allow-contradicts-traffic")) == 1


# head-get-mismatch ---------------------------------------------------------------------------


def test_head_failing_before_get() -> None:
    found = fired([step("HEAD", ITEM, 404), step("GET", ITEM, 200)], "head-get-mismatch")
    assert [(f.flow.method, f.flow.index) for f in found] == [("HEAD", 0)]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "steps",
    [
        # Caller-dependent answers say nothing about HEAD support.
        [step("GET", ITEM, 200), step("HEAD", ITEM, 401)],
        [step("GET", ITEM, 200), step("HEAD", ITEM, 429)],
        # Deleted between GET and HEAD.
        [step("GET", ITEM, 200), step("DELETE", ITEM, 204), step("HEAD", ITEM, 404)],
        # Created between a failed HEAD and the GET.
        [
            step("HEAD", ITEM, 404),
            step("PUT", ITEM, 201, resp_headers={**JSON, "Location": ITEM}),
            step("GET", ITEM, 200),
        ],
        # The GET failed too.
        [step("GET", ITEM, 404), step("HEAD", ITEM, 404)],
    ],
    ids=["401", "429", "deleted", "created", "both-fail"],
)
def test_head_get_mismatch_must_not_fire(steps: list[dict[str, Any]]) -> None:
    assert fired(steps, "head-get-mismatch") == []


# inconsistent-status -------------------------------------------------------------------------


def test_inconsistent_status_is_api_level() -> None:
    steps, _, _ = SEQUENCES["inconsistent-status"]
    [finding] = fired(steps, "inconsistent-status")
    assert finding.flow is None
    assert finding.endpoint == "DELETE api.example.test *"
    assert finding.details == {
        "host": "api.example.test",
        "operation": "delete",
        "majority": {
            "status": 204,
            "endpoints": ["DELETE api.example.test /v1/authors/{id}", "DELETE api.example.test /v1/books/{id}"],
        },
        "minority": [{"status": 200, "endpoints": ["DELETE api.example.test /v1/tags/{id}"]}],
    }
    # Minority examples first.
    assert (finding.evidence[0].method, finding.evidence[0].url, finding.evidence[0].status) == (
        "DELETE",
        "https://api.example.test/v1/tags/1",
        200,
    )
    assert "204 on 2 endpoint(s)" in finding.message and "200 on 1 (DELETE /v1/tags/{id})" in finding.message
    data = finding.to_json()
    assert data["flow"] is None and len(data["evidence"]) == 3


def test_inconsistent_status_once_per_kind_and_host() -> None:
    steps = [step("DELETE", f"/v1/r{i}/1", 204) for i in range(5)] + [
        step("DELETE", f"/v1/s{i}/1", 200, body=b"") for i in range(2)
    ]
    steps += [
        step("DELETE", "/v1/r0/1", 200, host="b.example.test", body=b""),
        step("DELETE", "/v1/r1/1", 204, host="b.example.test"),
    ]
    found = fired(steps, "inconsistent-status")
    assert sorted(f.details["host"] for f in found) == ["api.example.test", "b.example.test"]  # type: ignore[index]


def test_inconsistent_create_update_validation() -> None:
    loc = {**JSON, "Location": "/x/1"}
    steps = [
        # create: 201 on two collections, 200 (with Location) on a third
        step("POST", "/v1/books", 201, resp_headers=loc),
        step("POST", "/v1/authors", 201, resp_headers=loc),
        step("POST", "/v1/tags", 200, resp_headers=loc),
        # update: 200 vs 204
        step("PUT", "/v1/books/1", 200),
        step("PATCH", "/v1/authors/1", 204),
        step("PATCH", "/v1/tags/1", 204),
        # validation: 422 vs 400
        step("POST", "/v1/books/1/notes", 422),
        step("POST", "/v1/authors/1/notes", 400),
        step("PUT", "/v1/tags/1/meta", 422),
    ]
    kinds = {f.details["operation"]: f.details for f in fired(steps, "inconsistent-status")}  # type: ignore[index]
    assert kinds["create"]["majority"]["status"] == 201
    assert kinds["update"]["majority"]["status"] == 204
    assert kinds["validation"]["majority"]["status"] == 422
    assert kinds["validation"]["minority"] == [
        {"status": 400, "endpoints": ["POST api.example.test /v1/authors/{id}/notes"]}
    ]


@pytest.mark.parametrize(
    "steps",
    [
        # A POST that creates nothing addressable (a search, a login) is not a create.
        [
            step("POST", "/v1/books", 201, resp_headers={**JSON, "Location": "/v1/books/1"}),
            step("POST", "/v1/search", 200),
        ],
        # 202 is not compared with 200/204.
        [step("DELETE", "/v1/books/1", 204), step("DELETE", "/v1/authors/1", 202)],
        # One endpoint is not an API surface.
        [step("DELETE", "/v1/books/1", 204), step("DELETE", "/v1/books/2", 200, body=b"")],
        # An API answering 400 and 422 on one endpoint tells malformed from invalid.
        [step("POST", "/v1/books", 400), step("POST", "/v1/books", 422), step("POST", "/v1/authors", 400)],
    ],
    ids=["search-is-not-create", "202", "one-endpoint", "400-and-422"],
)
def test_inconsistent_status_must_not_fire(steps: list[dict[str, Any]]) -> None:
    assert fired(steps, "inconsistent-status") == []


def test_post_to_collection_with_items_in_traffic_is_a_create() -> None:
    steps = [
        step("POST", "/v1/books", 201, resp_headers={**JSON, "Location": "/v1/books/1"}),
        step("POST", "/v1/authors", 201, resp_headers={**JSON, "Location": "/v1/authors/1"}),
        step("POST", "/v1/tags", 200),
        step("GET", "/v1/tags/9", 200),
    ]
    [finding] = fired(steps, "inconsistent-status")
    assert finding.details["minority"][0]["endpoints"] == ["POST api.example.test /v1/tags"]  # type: ignore[index]


# Robustness, limits, coverage ------------------------------------------------------------------


def test_a_failing_check_never_breaks_the_audit(monkeypatch: pytest.MonkeyPatch) -> None:
    auditor = Auditor(default_policy())

    def boom(obs: object) -> list:
        raise RuntimeError("boom")

    monkeypatch.setattr(auditor.lifecycle, "observe", boom)
    found = auditor.audit_response(http_flow("POST", status=201), 0, "t")
    assert [f.rule for f in found] == ["created-without-location"]
    auditor.audit_response(http_flow("POST", status=201), 1, "t")
    assert auditor.summary()["internal_errors"] == {"ResourceLifecycle": "RuntimeError: boom"}


def test_state_is_bounded() -> None:
    limits = Limits(max_urls=50, max_endpoints=20, max_findings=30)
    auditor = Auditor(default_policy(), limits)
    for i in range(2000):
        # Distinct URLs and endpoints (slugs without digits are names, so each is its own endpoint
        # until the position has shown too many of them).
        name = "".join(chr(97 + int(d)) for d in str(i))
        auditor.audit_response(http_flow("DELETE", f"/v1/{name}/{i}", 200), 2 * i, "t")
        auditor.audit_response(http_flow("GET", f"/v1/{name}/{i}", 200), 2 * i + 1, "t")
    assert len(auditor.lifecycle.urls) <= 50
    assert len(auditor.endpoints) <= 20
    assert len(auditor.findings) == 30
    summary = auditor.summary()
    # The cap holds for the report as a whole, API-level findings included.
    assert len(auditor.ordered_findings()) == 30
    assert summary["limits"]["findings_omitted"] == sum(summary["by_severity"].values()) - 30
    # Counts stay whole: what was folded is summed up, not lost.
    requests = sum(e["requests"] for e in summary["endpoints"]) + summary["limits"]["folded_requests"]
    assert requests == 4000
    # Each DELETE answered 200 with a body, then served: both rules counted every time.
    assert summary["by_rule"]["delete-ok-with-body"] == 2000
    assert summary["by_rule"]["served-after-delete"] == 2000


def test_lifecycle_state_forgets_least_recently_used() -> None:
    auditor = Auditor(default_policy(), Limits(max_urls=2))
    audit([step("DELETE", "/v1/a/1", 204), step("DELETE", "/v1/a/2", 204), step("DELETE", "/v1/a/3", 204)], auditor)
    audit([step("GET", "/v1/a/1", 200), step("GET", "/v1/a/3", 200)], auditor, start=3)
    served = [f.flow.url for f in auditor.findings if f.rule == "served-after-delete"]  # type: ignore[union-attr]
    assert served == ["https://api.example.test/v1/a/3"]
    assert auditor.lifecycle.urls.evicted >= 1


def test_coverage_names_rules_that_never_ran() -> None:
    auditor = audit(
        [step("GET", "/v1/books", 200), step("POST", "/v1/books", 201, resp_headers={**JSON, "Location": ITEM})]
    )
    coverage = auditor.summary()["coverage"]
    rows = {r["rule"]: r for r in coverage["rules"]}
    never = {r["rule"]: r["needs"] for r in coverage["never_applicable"]}
    assert rows["created-without-location"] == {
        "rule": "created-without-location",
        "severity": "warning",
        "evaluated": 1,
        "violated": 0,
        "undecidable": 0,
    }
    assert rows["status-out-of-range"]["evaluated"] == 2
    assert never["delete-ok-with-body"] == "a DELETE request answered 200"
    assert never["served-after-delete"] == CHECKS["served-after-delete"]
    assert "created-without-location" not in never and "location-not-found" in never
    # A rule that ran on a flow it could not decide (a HAR without body text) says so.
    har_auditor = Auditor(default_policy())
    har_auditor.audit_response(http_flow("DELETE", ITEM, 200, body=b""), 0, "x.har", har=True)
    rows = {r["rule"]: r for r in har_auditor.summary()["coverage"]["rules"]}
    assert rows["delete-ok-with-body"]["undecidable"] == 1 and rows["delete-ok-with-body"]["evaluated"] == 0


def test_disabled_stateful_rule_stays_silent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from statuslint.policy import load_policy

    policy_file = tmp_path / "p.yaml"
    policy_file.write_text(
        "extends: default\n"
        "overrides:\n"
        "  served-after-delete: {enabled: false}\n"
        "  head-get-mismatch: {exclude_paths: ['/v1/books/*']}\n"
    )
    auditor = Auditor(load_policy(policy_file))
    audit(
        [
            step("GET", ITEM, 200),
            step("DELETE", ITEM, 204),
            step("GET", ITEM, 200),
            step("GET", "/v1/a/1", 200),
            step("HEAD", "/v1/a/1", 405),
            step("GET", "/v1/books/2", 200),
            step("HEAD", "/v1/books/2", 405),
        ],
        auditor,
    )
    assert [(i, r) for i, r in stateful(auditor)] == [(4, "head-get-mismatch")]
    assert "served-after-delete" in auditor.summary()["coverage"]["disabled"]


# Real traffic is messier -----------------------------------------------------------------


def test_second_delete_and_its_neighbours_fire_nothing() -> None:
    steps = [
        step("GET", ITEM, 200),
        step("DELETE", ITEM, 204),
        step("DELETE", ITEM, 204),  # an idempotent repeat is not "served"
        step("DELETE", ITEM, 404),
        step("GET", ITEM, 404),
        step("HEAD", ITEM, 404),
    ]
    assert stateful(audit(steps)) == []


def test_ports_are_separate_apis() -> None:
    steps = [step("DELETE", ITEM, 204, host="localhost:8000"), step("GET", ITEM, 200, host="localhost:3000")]
    auditor = audit(steps)
    assert stateful(auditor) == []
    assert {e["endpoint"] for e in auditor.summary()["endpoints"]} == {
        "DELETE localhost:8000 /v1/books/{id}",
        "GET localhost:3000 /v1/books/{id}",
    }
    # The scheme's default port is no port at all.
    steps = [step("DELETE", ITEM, 204, host="api.example.test:443"), step("GET", ITEM, 200)]
    assert fired(steps, "served-after-delete") != []


def test_a_read_sent_before_the_delete_was_answered_is_not_after_it() -> None:
    auditor = Auditor(default_policy())
    delete, read = http_flow(**step("DELETE", ITEM, 204)), http_flow(**step("GET", ITEM, 200))
    # Sent while the DELETE was in flight, answered after it (browsers fetch in parallel).
    read.request.timestamp_start = delete.request.timestamp_start + 1
    auditor.audit_response(delete, 0, "t")
    auditor.audit_response(read, 1, "t")
    assert stateful(auditor) == []
    # Sent before it (a lower index), answered after it.
    auditor = Auditor(default_policy())
    auditor.audit_response(http_flow(**step("DELETE", ITEM, 204)), 1, "t")
    auditor.audit_response(http_flow(**step("GET", ITEM, 200)), 0, "t")
    assert stateful(auditor) == []


def test_names_at_the_first_segment_never_become_parameters() -> None:
    steps = [step("GET", f"/page{chr(97 + i // 26)}{chr(97 + i % 26)}", 200) for i in range(60)]
    steps += [step("DELETE", "/cart", 204), step("GET", "/cart", 200)]
    assert fired(steps, "served-after-delete") == []


def test_delete_accepted_or_recreated_by_patch() -> None:
    assert fired([step("DELETE", ITEM, 202, body=b""), step("GET", ITEM, 200)], "served-after-delete") == []
    steps = [step("DELETE", ITEM, 204), step("PATCH", ITEM, 201, resp_headers={**JSON, "Location": ITEM})]
    assert fired([*steps, step("GET", ITEM, 200)], "served-after-delete") == []


def test_trailing_slash_is_the_same_resource() -> None:
    assert len(fired([step("DELETE", ITEM + "/", 204), step("GET", ITEM, 200)], "served-after-delete")) == 1


def test_head_probe_then_create_through_the_collection() -> None:
    steps = [
        step("HEAD", "/v1/files/42", 404),
        step("POST", "/v1/files", 201, resp_headers={**JSON, "Location": "/v1/files/42"}),
        step("GET", "/v1/files/42", 200),
    ]
    assert fired(steps, "head-get-mismatch") == []


@pytest.mark.parametrize("status", [406, 412, 416, 502])
def test_head_answers_about_conditions_or_gateways_are_not_held_against_head(status: int) -> None:
    assert fired([step("GET", ITEM, 200), step("HEAD", ITEM, status)], "head-get-mismatch") == []


def test_head_500_where_get_works_fires() -> None:
    assert len(fired([step("GET", ITEM, 200), step("HEAD", ITEM, 500)], "head-get-mismatch")) == 1


def test_another_caller_may_not_see_the_resource() -> None:
    alice, bob = {"Authorization": "Bearer alice"}, {"Authorization": "Bearer bob"}
    steps = [step("GET", ITEM, 200, req_headers=alice), step("DELETE", ITEM, 404, req_headers=bob)]
    assert fired(steps, "not-found-for-unsupported-method") == []
    steps = [step("GET", ITEM, 200, req_headers=alice), step("DELETE", ITEM, 404, req_headers=alice)]
    assert len(fired(steps, "not-found-for-unsupported-method")) == 1
    steps = [
        step("POST", "/v1/books", 201, req_headers=alice, resp_headers={**JSON, "Location": ITEM}),
        step("GET", ITEM, 404, req_headers=bob),
    ]
    assert fired(steps, "location-not-found") == []
    # CORS preflights are answered by middleware, resource or not.
    assert fired([step("GET", ITEM, 200), step("OPTIONS", ITEM, 404)], "not-found-for-unsupported-method") == []


def test_every_pending_501_is_reported() -> None:
    steps = [step("PATCH", "/v1/a/1", 501), step("PATCH", "/v1/b/1", 501), step("PATCH", "/v1/c/1", 200)]
    found = fired(steps, "not-implemented-but-implemented")
    assert sorted(f.flow.index for f in found) == [0, 1]  # type: ignore[union-attr]


def test_oauth_token_endpoints_must_answer_400() -> None:
    steps = [step("POST", "/oauth/token", 400), step("POST", "/v1/books", 422), step("POST", "/v1/authors", 422)]
    assert fired(steps, "inconsistent-status") == []


def test_session_in_path_parameters_never_shown() -> None:
    steps = [
        step("GET", "/v1/books/42;jsessionid=SECRETSESSION", 200),
        step("PATCH", "/v1/books/42;jsessionid=SECRETSESSION", 404),
    ]
    [finding] = fired(steps, "not-found-for-unsupported-method")
    text = str(finding.to_json())
    assert "SECRETSESSION" not in text and "jsessionid=REDACTED" in text


def test_raw_query_secrets_are_not_kept_in_state() -> None:
    auditor = audit([step("GET", "/v1/books/42?api_key=SECRETKEY", 200)])
    [state] = list(auditor.lifecycle.urls._data.values())
    assert state.exists is not None and "SECRETKEY" not in state.exists[4]


# A creation changes what is allowed (issue 12, false positive 4) -------------------------------

DAV_ALLOW = {"Allow": "OPTIONS, GET, HEAD, DELETE, PROPFIND, PUT, COPY, MOVE", "Content-Length": "0"}


@pytest.mark.parametrize(
    "steps",
    [
        # MKCOL created the collection; now it exists, MKCOL is rightly not allowed there.
        [
            step("MKCOL", "/dav/col/", 201, body=b""),
            step("OPTIONS", "/dav/col/", 200, body=b"", resp_headers=DAV_ALLOW),
        ],
        # ... and a second MKCOL is rightly refused, with the same Allow.
        [
            step("MKCOL", "/dav/col/", 201, body=b""),
            step("MKCOL", "/dav/col/", 405, body=b"", resp_headers=DAV_ALLOW),
        ],
        # A PUT created the resource; a MKCOL elsewhere on the endpoint succeeded before.
        [
            step("MKCOL", "/dav/a1/", 201, body=b""),
            step("PUT", "/dav/b2/", 201, body=b""),
            step("OPTIONS", "/dav/b2/", 200, body=b"", resp_headers=DAV_ALLOW),
        ],
        # Refused while it existed, then deleted and made again.
        [
            step("MKCOL", "/dav/col/", 405, body=b"", resp_headers=DAV_ALLOW),
            step("DELETE", "/dav/col/", 204),
            step("MKCOL", "/dav/col/", 201, body=b""),
        ],
    ],
    ids=["options-after-mkcol", "second-mkcol", "put-created", "deleted-and-remade"],
)
def test_allow_after_a_creation_may_omit_the_creating_method(steps: list[dict[str, Any]]) -> None:
    assert fired(steps, "allow-contradicts-traffic") == []


def test_allow_omitting_mkcol_where_mkcol_then_succeeds_fires() -> None:
    # The Allow came while the collection did not exist, on the same URL: it was wrong.
    allow = {"Allow": "OPTIONS, PUT", "Content-Length": "0"}
    steps = [step("OPTIONS", "/dav/new/", 200, body=b"", resp_headers=allow), step("MKCOL", "/dav/new/", 201, body=b"")]
    found = fired(steps, "allow-contradicts-traffic")
    assert [(f.flow.index, [e.index for e in f.evidence]) for f in found] == [(0, [1])]  # type: ignore[union-attr]


# put-created-without-201 -------------------------------------------------------------------------


def test_put_after_delete_of_an_item_fires_once() -> None:
    steps = [step("DELETE", ITEM, 204), step("PUT", ITEM, 204), step("PUT", ITEM, 200)]
    found = fired(steps, "put-created-without-201")
    assert [(f.flow.index, [e.index for e in f.evidence]) for f in found] == [(1, [0])]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "steps",
    [
        # Another caller was told 404 (the API hides what it does not own).
        [step("GET", ITEM, 404, req_headers={"Authorization": "Bearer a"}), step("PUT", ITEM, 200)],
        # It exists again by the time of the PUT.
        [
            step("GET", ITEM, 404),
            step("POST", "/v1/books", 201, resp_headers={**JSON, "Location": ITEM}),
            step("PUT", ITEM, 200),
        ],
        [step("GET", ITEM, 404), step("GET", ITEM, 200), step("PUT", ITEM, 200)],
        # A collection emptied by DELETE still exists.
        [step("DELETE", "/v1/books", 204), step("PUT", "/v1/books", 200)],
        # The PUT failed; a later one may create it with 201.
        [
            step("GET", ITEM, 404),
            step("PUT", ITEM, 400),
            step("PUT", ITEM, 201, resp_headers={**JSON, "Location": ITEM}),
        ],
    ],
    ids=["other-caller", "created-by-post", "seen-alive", "collection", "failed-put"],
)
def test_put_created_must_not_fire(steps: list[dict[str, Any]]) -> None:
    assert fired(steps, "put-created-without-201") == []


def test_put_sent_while_the_404_was_in_flight_is_not_after_it() -> None:
    auditor = Auditor(default_policy())
    probe, put = http_flow(**step("GET", ITEM, 404)), http_flow(**step("PUT", ITEM, 200))
    put.request.timestamp_start = probe.request.timestamp_start + 1
    auditor.audit_response(probe, 0, "t")
    auditor.audit_response(put, 1, "t")
    assert stateful(auditor) == []


# Conditional requests ------------------------------------------------------------------------------

ETAG = {**JSON, "ETag": '"v7"'}


def test_weak_comparison_and_query_strings() -> None:
    steps = [
        step("GET", ITEM + "?fields=id", 200, resp_headers={**JSON, "ETag": 'W/"v7"'}),
        step("GET", ITEM + "?fields=id", 200, req_headers={"If-None-Match": '"v6", "v7"'}, resp_headers=ETAG),
    ]
    assert len(fired(steps, "conditional-request-ignored")) == 1
    # Another query string is another representation.
    steps[1] = step("GET", ITEM + "?fields=all", 200, req_headers={"If-None-Match": '"v7"'}, resp_headers=ETAG)
    assert fired(steps, "conditional-request-ignored") == []


@pytest.mark.parametrize(
    "steps",
    [
        # The representation changed: a new ETag with 200 is right.
        [
            step("GET", ITEM, 200, resp_headers=ETAG),
            step("GET", ITEM, 200, req_headers={"If-None-Match": '"v7"'}, resp_headers={**JSON, "ETag": '"v8"'}),
        ],
        # Another caller, or another negotiated representation.
        [
            step("GET", ITEM, 200, resp_headers=ETAG),
            step(
                "GET", ITEM, 200, req_headers={"If-None-Match": '"v7"', "Authorization": "Bearer b"}, resp_headers=ETAG
            ),
        ],
        [
            step("GET", ITEM, 200, req_headers={"Accept": "application/json"}, resp_headers={**ETAG, "Vary": "Accept"}),
            step("GET", ITEM, 200, req_headers={"Accept": "text/csv", "If-None-Match": '"v7"'}, resp_headers=ETAG),
        ],
        # Vary: * is a representation no request can predict.
        [
            step("GET", ITEM, 200, resp_headers={**ETAG, "Vary": "*"}),
            step("GET", ITEM, 200, req_headers={"If-None-Match": '"v7"'}, resp_headers=ETAG),
        ],
        # A plain re-read.
        [step("GET", ITEM, 200, resp_headers=ETAG), step("GET", ITEM, 200, resp_headers=ETAG)],
    ],
    ids=["changed", "other-caller", "vary", "vary-star", "unconditional"],
)
def test_conditional_request_ignored_must_not_fire(steps: list[dict[str, Any]]) -> None:
    assert fired(steps, "conditional-request-ignored") == []


def test_last_modified_is_the_validator_without_an_etag() -> None:
    lm = "Tue, 03 Nov 2026 10:00:00 GMT"
    steps = [
        step("GET", ITEM, 200, resp_headers={**JSON, "Last-Modified": lm}),
        step("GET", ITEM, 304, req_headers={"If-Modified-Since": lm}),
    ]
    assert len(fired(steps, "not-modified-drops-validator")) == 1
    steps[1] = step("GET", ITEM, 304, req_headers={"If-Modified-Since": lm}, resp_headers={"Last-Modified": lm})
    assert fired(steps, "not-modified-drops-validator") == []


@pytest.mark.parametrize(
    "steps",
    [
        # The condition named another ETag: this 304 is not about the 200 we saw.
        [step("GET", ITEM, 200, resp_headers=ETAG), step("GET", ITEM, 304, req_headers={"If-None-Match": '"v1"'})],
        # Another URL.
        [
            step("GET", ITEM, 200, resp_headers=ETAG),
            step("GET", "/v1/books/43", 304, req_headers={"If-None-Match": '"v7"'}),
        ],
    ],
    ids=["other-etag", "other-url"],
)
def test_not_modified_drops_validator_must_not_fire(steps: list[dict[str, Any]]) -> None:
    assert fired(steps, "not-modified-drops-validator") == []


def test_not_modified_length_compared_with_the_same_encoding_only() -> None:
    gzip = {"Accept-Encoding": "gzip"}
    steps = [
        step("GET", ITEM, 200, req_headers=gzip, resp_headers={**ETAG, "Content-Length": "9"}),
        step(
            "GET",
            ITEM,
            304,
            req_headers={"If-None-Match": '"v7"'},
            resp_headers={"ETag": '"v7"', "Content-Length": "31"},
        ),
    ]
    assert fired(steps, "not-modified-with-content-length") == []
    steps[1]["req_headers"] = {**gzip, "If-None-Match": '"v7"'}
    assert len(fired(steps, "not-modified-with-content-length")) == 1
    # No Content-Length on the 304 at all is right.
    steps[1]["resp_headers"] = {"ETag": '"v7"'}
    assert fired(steps, "not-modified-with-content-length") == []


def test_not_modified_length_of_a_chunked_200_is_its_body() -> None:
    steps = [
        step("GET", ITEM, 200, resp_headers={**ETAG, "Transfer-Encoding": "chunked"}, body=b'{"id": 42}'),
        step(
            "GET",
            ITEM,
            304,
            req_headers={"If-None-Match": '"v7"'},
            resp_headers={"ETag": '"v7"', "Content-Length": "10"},
        ),
    ]
    assert fired(steps, "not-modified-with-content-length") == []
    steps[1]["resp_headers"] = {"ETag": '"v7"', "Content-Length": "0"}
    assert len(fired(steps, "not-modified-with-content-length")) == 1


def test_validator_state_keeps_no_long_etag_and_no_secret() -> None:
    long_tag = '"' + "x" * 5000 + '"'
    auditor = audit([step("GET", ITEM + "?api_key=SECRETKEY", 200, resp_headers={**JSON, "ETag": long_tag})])
    [(key, state)] = auditor.validators.urls.items()
    assert "SECRETKEY" not in repr(key) and "SECRETKEY" not in state.seen[4]
    assert state.etag is not None and len(state.etag) < 100


# allow-lists-failing-method -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "steps",
    [
        # MKCOL is listed where nothing is; once MKCOL has made the collection, a second is refused.
        [
            step("OPTIONS", "/dav/col/", 200, body=b"", resp_headers={"Allow": "OPTIONS, MKCOL, PUT"}),
            step("MKCOL", "/dav/col/", 201, body=b""),
            step("MKCOL", "/dav/col/", 405, body=b""),
        ],
        # The 405's own Allow is allow-lists-rejected-method's business, not this rule's.
        [step("POST", ITEM, 405, resp_headers={**JSON, "Allow": "GET, POST"})],
        # Allow on another endpoint.
        [
            step("OPTIONS", "/v1/authors", 200, body=b"", resp_headers={"Allow": "GET, POST"}),
            step("POST", ITEM, 405, resp_headers={**JSON, "Allow": "GET"}),
        ],
    ],
    ids=["mkcol-made", "own-allow", "other-endpoint"],
)
def test_allow_lists_failing_method_must_not_fire(steps: list[dict[str, Any]]) -> None:
    assert fired(steps, "allow-lists-failing-method") == []


def test_allow_lists_failing_method_once_per_method() -> None:
    allow = {"Allow": "GET, POST, PATCH"}
    steps = [
        step("OPTIONS", ITEM, 200, body=b"", resp_headers=allow),
        step("POST", ITEM, 405, resp_headers={**JSON, **allow}),
        step("POST", ITEM, 405, resp_headers={**JSON, **allow}),
        step("PATCH", "/v1/books/7", 405, resp_headers={**JSON, **allow}),
    ]
    found = fired(steps, "allow-lists-failing-method")
    assert [(f.flow.index, f.evidence[0].index) for f in found] == [(0, 1), (2, 3)]  # type: ignore[union-attr]


# cors-contradicts-traffic ----------------------------------------------------------------------------


def test_cors_success_before_the_preflight() -> None:
    steps = [
        step("PATCH", ITEM, 200),
        step(
            "OPTIONS",
            ITEM,
            204,
            req_headers={**PREFLIGHT, "Access-Control-Request-Method": "PUT"},
            resp_headers={**CORS, "Access-Control-Allow-Methods": "GET,HEAD,PUT,POST"},
        ),
    ]
    [finding] = fired(steps, "cors-contradicts-traffic")
    assert finding.flow is not None and finding.flow.index == 1 and "omits PATCH" in finding.message


@pytest.mark.parametrize(
    "steps",
    [
        # A server that echoes the requested method grants each preflight its own.
        [
            step(
                "OPTIONS",
                ITEM,
                204,
                req_headers={**PREFLIGHT, "Access-Control-Request-Method": "PUT"},
                resp_headers={**CORS, "Access-Control-Allow-Methods": "PUT"},
            ),
            step("DELETE", ITEM, 204),
        ],
        [
            step(
                "OPTIONS", ITEM, 204, req_headers=PREFLIGHT, resp_headers={**CORS, "Access-Control-Allow-Methods": "*"}
            ),
            step("DELETE", ITEM, 204),
        ],
        # A refused preflight is not a grant that omits something.
        [step("OPTIONS", ITEM, 403, req_headers=PREFLIGHT), step("DELETE", ITEM, 204)],
        # The method does not work there anyway; POST needs no listing.
        [
            step(
                "OPTIONS",
                ITEM,
                204,
                req_headers=PREFLIGHT,
                resp_headers={**CORS, "Access-Control-Allow-Methods": "GET"},
            ),
            step("DELETE", ITEM, 404),
            step("POST", ITEM, 200),
        ],
        # A plain OPTIONS is no preflight.
        [
            step(
                "OPTIONS",
                ITEM,
                200,
                body=b"",
                resp_headers={**CORS, "Allow": "GET", "Access-Control-Allow-Methods": "GET"},
            ),
            step("DELETE", ITEM, 204),
        ],
    ],
    ids=["echo", "star", "refused", "failed-or-safelisted", "not-preflight"],
)
def test_cors_contradicts_traffic_must_not_fire(steps: list[dict[str, Any]]) -> None:
    assert fired(steps, "cors-contradicts-traffic") == []


# inconsistent-error-format ----------------------------------------------------------------------------


def test_inconsistent_error_format_is_api_level() -> None:
    steps, _, _ = SEQUENCES["inconsistent-error-format"]
    [finding] = fired(steps, "inconsistent-error-format")
    assert finding.flow is None and finding.endpoint == "* api.example.test *"
    assert finding.details == {
        "host": "api.example.test",
        "majority": {
            "media_type": "application/json",
            "responses": 2,
            "endpoints": ["GET api.example.test /v1/books", "GET api.example.test /v1/books/{id}"],
        },
        "minority": [{"media_type": "text/html", "responses": 1, "endpoints": ["GET api.example.test /v1/authors/x"]}],
    }
    # Minority examples first.
    assert [(e.index, e.status) for e in finding.evidence] == [(2, 500), (1, 404), (0, 200)]
    assert finding.to_json()["flow"] is None


@pytest.mark.parametrize(
    "steps",
    [
        # A browser navigating asked for HTML by name.
        [
            step("GET", "/v1/books", 200),
            step("GET", "/v1/books/1", 404, body=b'{"error": "no such book"}'),
            step(
                "GET",
                "/favicon.ico",
                404,
                body=b"<h1>Not Found</h1>",
                resp_headers=HTML,
                req_headers={"Accept": "text/html,*/*;q=0.8"},
            ),
        ],
        # A web site: mostly HTML, a JSON error or two.
        [
            step("GET", "/", 200, body=b"<html></html>", resp_headers=HTML),
            step("GET", "/about", 200, body=b"<html></html>", resp_headers=HTML),
            step("GET", "/api/x", 404, body=b'{"error": "no"}'),
        ],
        # As many odd errors as answers in the API's format: no majority to hold them to.
        [step("GET", "/v1/books", 200), step("GET", "/v1/authors/x", 500, body=b"<h1>Error</h1>", resp_headers=HTML)],
        # Errors without a body say nothing about format.
        [
            step("GET", "/v1/books", 200),
            step("GET", "/v1/books/1", 404),
            step("GET", "/v1/x", 404, body=b"", resp_headers=HTML),
        ],
    ],
    ids=["negotiated", "web-site", "no-majority", "no-body"],
)
def test_inconsistent_error_format_must_not_fire(steps: list[dict[str, Any]]) -> None:
    assert fired(steps, "inconsistent-error-format") == []


def test_new_trackers_are_bounded() -> None:
    limits = Limits(max_urls=20, max_endpoints=10, max_findings=10)
    auditor = Auditor(default_policy(), limits)
    for i in range(300):
        name = "".join(chr(97 + int(d)) for d in str(i))
        for kw in (
            step("GET", f"/v1/{name}/{i}", 404),
            step("PUT", f"/v1/{name}/{i}", 200, resp_headers={**JSON, "ETag": f'"{i}"', "Allow": "GET, POST"}),
            step("GET", f"/v1/{name}/{i}", 200, resp_headers={**JSON, "ETag": f'"{i}"'}),
            step(
                "OPTIONS",
                f"/v1/{name}/{i}",
                204,
                req_headers=PREFLIGHT,
                resp_headers={**CORS, "Access-Control-Allow-Methods": "GET"},
            ),
            step("POST", f"/v1/{name}/{i}", 405, resp_headers=HTML, body=b"<p>no</p>"),
        ):
            audit([kw], auditor, start=auditor.counts["audited"])
    assert len(auditor.put_creation.urls) <= 20 and len(auditor.validators.urls) <= 20
    assert len(auditor.allow_lists_failing.endpoints) <= 10 and len(auditor.cors_methods.endpoints) <= 10
    assert auditor.rule_counts()["put-created-without-201"] == 300
    assert auditor.rule_counts()["allow-lists-failing-method"] >= 1


@pytest.mark.parametrize("rule_id", sorted(CHECKS))
def test_statuslint_rules_shows_each_stateful_rule(rule_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    from statuslint.cli import main

    rule = next(r for r in default_policy().rules if r.id == rule_id)
    assert main(["rules", rule_id]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for part in ("Why it matters", "Fix", rule.summary, f"check: {rule_id}"):
        assert " ".join(part.split()) in out, part


def test_conditional_findings_report_no_request_header_value() -> None:
    # The README's contract: no header value of the request is ever reported.
    steps = [
        step("GET", ITEM, 200, resp_headers={**JSON, "ETag": '"v7"'}),
        step(
            "GET",
            ITEM,
            200,
            req_headers={"If-None-Match": '"v6", "v7", "CLIENT-ONLY-TAG"'},
            resp_headers={**JSON, "ETag": '"v7"'},
        ),
    ]
    [finding] = fired(steps, "conditional-request-ignored")
    # The message and evidence never quote the request; only the exchange shows its headers.
    shown = {k: v for k, v in finding.to_json().items() if k != "exchange"}
    assert "CLIENT-ONLY-TAG" not in str(shown) and '"v7"' in finding.message


def test_new_limits_reach_the_cross_flow_trackers() -> None:
    auditor = Auditor(default_policy())
    auditor.set_limits(Limits(max_urls=7, max_endpoints=5, max_findings=0))
    assert auditor.put_creation.urls.limit == auditor.validators.urls.limit == 7
    assert auditor.allow_lists_failing.endpoints.limit == auditor.cors_methods.endpoints.limit == 5
