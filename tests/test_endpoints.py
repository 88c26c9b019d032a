"""Endpoint templates: ids become parameters, names stay, policy templates win."""

from __future__ import annotations

import pytest

from helpers import default_policy, http_flow
from statuslint.auditor import Auditor
from statuslint.endpoints import LITERAL_LIMIT, EndpointTable, PathTemplate, Templater, is_item, is_parameter


@pytest.mark.parametrize(
    "segment",
    [
        "123",
        "0",
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "3F2504E04F8911D39A0C0305E82C3301",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",  # sha1
        "507f1f77bcf86cd799439011",  # Mongo ObjectId
        "abc-9f",
        "my-first-post-123",
        "cus_9s6XKzkNRiz8i3",
        "2024-01-31",
        "usr123",
        "k3Jd9sLqPz0aXc",
        "QwErTyUiOpAsDfGhJkLzXcVbNm",  # a capability token of letters only
        "x" * 41,  # longer than any collection name
        "v" + "1" * 100_000 + "!",  # and no input makes the classifier backtrack
    ],
)
def test_identifiers_are_parameters(segment: str) -> None:
    assert is_parameter(segment)


@pytest.mark.parametrize(
    "segment",
    [
        "",
        "books",
        "v1",
        "v2beta1",
        "2.0",
        "api-v2",
        "oauth2",
        "ec2",
        "html5",
        "index.html",
        "deadbeef",
        "search",
        "me",
        "getUserProfileSettingsById",
    ],
)
def test_names_stay(segment: str) -> None:
    assert not is_parameter(segment)


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/users/123/posts/abc-9f", "/users/{id}/posts/{id}"),
        ("/v1/books", "/v1/books"),
        ("/v1/books/", "/v1/books/"),
        ("/", "/"),
        ("/v2/orders/3f2504e0-4f89-11d3-9a0c-0305e82c3301/items/7", "/v2/orders/{id}/items/{id}"),
        ("/api/v3/repos/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b", "/api/v3/repos/{id}"),
    ],
)
def test_guessed_templates(path: str, template: str) -> None:
    assert Templater().template("h", path) == template


def test_explicit_templates_win_in_order() -> None:
    t = Templater([PathTemplate.parse("/v1/orgs/{org}/repos/{repo}"), PathTemplate.parse("/v1/orgs/{org}")])
    assert t.template("h", "/v1/orgs/acme/repos/statuslint") == "/v1/orgs/{org}/repos/{repo}"
    assert t.template("h", "/v1/orgs/acme") == "/v1/orgs/{org}"
    assert t.template("h", "/v1/orgs/acme/members/12") == "/v1/orgs/acme/members/{id}"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("v1/orgs", "must start with '/'"),
        ("/v1/{a}/x/{a}", "names the parameter {a} twice"),
        ("/v1/org-{id}", "must be a whole segment"),
    ],
)
def test_bad_templates(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        PathTemplate.parse(text)


def test_high_cardinality_names_become_a_parameter() -> None:
    t = Templater()
    table = EndpointTable(t, limit=1000)
    names = [f"user{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(LITERAL_LIMIT + 5)]
    for name in names[:LITERAL_LIMIT]:
        table.get(f"GET h {t.template('h', f'/users/{name}/profile')}").requests += 1
    assert t.template("h", "/users/useraa/profile") == "/users/useraa/profile"
    # One more distinct name at the position: from now on it is a parameter...
    assert t.template("h", f"/users/{names[LITERAL_LIMIT]}/profile") == "/users/{id}/profile"
    assert t.template("h", "/users/useraa/profile") == "/users/{id}/profile"
    # ...the names handed out before are re-mapped, and the table merged their counts.
    assert t.canonical("h", "/users/useraa/profile") == "/users/{id}/profile"
    assert list(e for e, _ in table.items()) == ["GET h /users/{id}/profile"]
    assert table.stats["GET h /users/{id}/profile"].requests == LITERAL_LIMIT
    # Other hosts and positions are not affected.
    assert t.template("other", "/users/useraa/profile") == "/users/useraa/profile"
    assert t.template("h", "/teams/useraa") == "/teams/useraa"


def test_collection_names_under_the_limit_stay() -> None:
    t = Templater()
    for name in ("books", "authors", "tags", "users", "orders"):
        t.template("h", f"/v1/{name}")
    assert t.template("h", "/v1/books") == "/v1/books"


def test_is_item() -> None:
    assert is_item("/v1/books/{id}") and is_item("/v1/orgs/{org}")
    assert not is_item("/v1/books") and not is_item("/v1/books/{id}/cover")


def test_findings_carry_their_endpoint_and_policy_templates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from statuslint.policy import load_policy

    policy = tmp_path / "p.yaml"
    policy.write_text('extends: default\nendpoints: ["/v1/orgs/{org}/repos/{repo}"]\n')
    auditor = Auditor(load_policy(policy))
    [finding] = auditor.audit_response(http_flow("POST", "/v1/orgs/acme/repos/web", 201), 0, "t")
    assert finding.endpoint == "POST api.example.test /v1/orgs/{org}/repos/{repo}"
    assert finding.to_json()["endpoint"] == finding.endpoint
    default = Auditor(default_policy())
    [finding] = default.audit_response(http_flow("POST", "/v1/orgs/acme/repos/web", 201), 0, "t")
    assert finding.endpoint == "POST api.example.test /v1/orgs/acme/repos/web"


def test_endpoint_summary_counts_statuses() -> None:
    auditor = Auditor(default_policy())
    for i, status in enumerate([200, 200, 404, 500]):
        auditor.audit_response(http_flow("GET", f"/v1/books/{i}", status), i, "t")
    [row] = auditor.summary()["endpoints"]
    assert row == {
        "endpoint": "GET api.example.test /v1/books/{id}",
        "method": "GET",
        "host": "api.example.test",
        "path": "/v1/books/{id}",
        "requests": 4,
        "by_class": {"2xx": 2, "4xx": 1, "5xx": 1},
        "by_status": {"200": 2, "404": 1, "500": 1},
        "findings": 1,
    }


def test_very_deep_paths_are_cut() -> None:
    template = Templater().template("h", "/a" * 10_000)
    assert template.endswith("/…") and template.count("/") == 33  # 32 segments kept
