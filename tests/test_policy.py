"""The policy language: predicates, extends, overrides, scope, exclusions, and the
one-line errors for broken policies."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from helpers import http_flow, rules_fired
from statuslint.findings import Severity
from statuslint.policy import load_policy
from statuslint.yamlsource import LineDict, LineList, PolicyError


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def one_rule(tmp_path: Path, when: str = "", require: str = "") -> Path:
    body = "rules:\n  - id: r\n    severity: warning\n    summary: test rule\n"
    if when:
        body += "    when:\n" + textwrap.indent(textwrap.dedent(when).strip(), "      ") + "\n"
    if require:
        body += "    require:\n" + textwrap.indent(textwrap.dedent(require).strip(), "      ") + "\n"
    return write(tmp_path, body)


def fires(policy_path: Path, /, **flow_kwargs) -> bool:
    return "r" in rules_fired(http_flow(**flow_kwargs), load_policy(policy_path))


# Predicates ------------------------------------------------------------------------------

PREDICATES = [
    # (when-condition, flow that matches, flow that does not)
    ("method: DELETE", {"method": "DELETE"}, {"method": "GET"}),
    ("method: [put, PATCH]", {"method": "PATCH"}, {"method": "POST"}),
    ("status: 404", {"status": 404}, {"status": 405}),
    ("status: [204, 205]", {"status": 205}, {"status": 200}),
    ("status: 4xx", {"status": 499}, {"status": 500}),
    ("status: 500-503", {"status": 503}, {"status": 504}),
    ('status: ">599"', {"status": 600}, {"status": 599}),
    ('status: "<=101"', {"status": 101}, {"status": 102}),
    ("status_registered: false", {"status": 420}, {"status": 422}),
    ("host: '*.example.test'", {"host": "api.example.test"}, {"host": "example.org"}),
    ("host: API.EXAMPLE.TEST", {"host": "api.example.test"}, {"host": "api2.example.test"}),
    ("path: /v1/*", {"path": "/v1/things?q=1"}, {"path": "/v2/things"}),
    ("path: ['/a', '/b/?']", {"path": "/b/x"}, {"path": "/b/xy"}),
    ("request_header: {Authorization: present}", {"req_headers": {"authorization": "x"}}, {}),
    ("request_header: {Authorization: absent}", {}, {"req_headers": {"Authorization": "x"}}),
    (
        "response_header: {X-Mode: {equals: strict}}",
        {"resp_headers": {"X-Mode": "strict"}},
        {"resp_headers": {"X-Mode": "Strict"}},
    ),
    (
        "response_header: {Cache-Control: {matches: 'max-age=\\d+'}}",
        {"resp_headers": {"Cache-Control": "public, max-age=60"}},
        {"resp_headers": {"Cache-Control": "no-store"}},
    ),
    (
        "response_header: {Vary: {has_token: accept}}",
        {"resp_headers": {"Vary": "Origin, Accept"}},
        {"resp_headers": {"Vary": "Accept-Encoding"}},
    ),
    (
        "response_header: {Allow: {has_token: $method}}",
        {"method": "PUT", "resp_headers": {"Allow": "GET, PUT"}},
        {"method": "PUT", "resp_headers": {"Allow": "GET"}},
    ),
    ("response_body: empty", {"body": b""}, {"body": b"x"}),
    ("response_body: present", {"body": b"x"}, {"body": b""}),
    ("request_body: present", {"req_body": b"{}"}, {"req_body": b""}),
    (
        "content_type: 'application/*json'",
        {"resp_headers": {"Content-Type": "application/problem+json; charset=utf-8"}},
        {"resp_headers": {"Content-Type": "text/plain"}},
    ),
    (
        "accept_satisfied: false",
        {"req_headers": {"Accept": "image/png"}},
        {"req_headers": {"Accept": "application/json"}},
    ),
    ("json: {has_key: [error, errors]}", {"body": b'{"errors": []}'}, {"body": b'{"data": []}'}),
    ("json: {key: ok, equals: false}", {"body": b'{"ok": false}'}, {"body": b'{"ok": 0}'}),
    ("not: {status: 2xx}", {"status": 404}, {"status": 200}),
    ("any: [{status: 401}, {status: 403}]", {"status": 403}, {"status": 404}),
    ("all: [{method: GET}, {status: 200}]", {"method": "GET"}, {"method": "POST"}),
]


@pytest.mark.parametrize(("when", "match", "miss"), PREDICATES, ids=[p[0] for p in PREDICATES])
def test_predicate(tmp_path: Path, when: str, match: dict, miss: dict) -> None:
    path = one_rule(tmp_path, when=when)
    assert fires(path, **match)
    assert not fires(path, **miss)


def test_require_is_what_must_hold(tmp_path: Path) -> None:
    path = one_rule(tmp_path, when="status: 201", require="response_header: {Location: present}")
    assert fires(path, status=201)
    assert not fires(path, status=201, resp_headers={"Location": "/x"})
    assert not fires(path, status=200)


def test_require_alone_applies_to_every_flow(tmp_path: Path) -> None:
    path = one_rule(tmp_path, require="response_header: {X-Request-Id: present}")
    assert fires(path, status=500)
    assert not fires(path, resp_headers={"X-Request-Id": "1"})


def test_message_template(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        rules:
          - id: r
            severity: info
            summary: s
            message: "{method} {path} on {host} answered {status}"
            when: {status: 418}
        """,
    )
    from statuslint.auditor import Auditor

    auditor = Auditor(load_policy(path))
    (finding,) = auditor.audit_response(http_flow(status=418, path="/tea?x=1"), 0, "t")
    assert finding.message == "GET /tea on api.example.test answered 418"


# extends, overrides, scope, exclusions -----------------------------------------------------


def test_extends_default_and_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        extends: default
        overrides:
          server-error: {severity: error}
          ok-without-body: {enabled: false}
          created-without-location: {exclude_paths: ["/v1/tokens*"]}
        rules:
          - id: teapot
            severity: info
            summary: No teapots
            when: {status: 418}
        """,
    )
    policy = load_policy(path)
    assert policy.rule("server-error").severity is Severity.ERROR
    assert not policy.rule("ok-without-body").enabled
    assert len(policy.rules) == len(load_policy().rules) + 1
    assert "teapot" in rules_fired(http_flow(status=418), policy)
    assert "ok-without-body" not in rules_fired(http_flow("PUT", body=b"", resp_headers={}), policy)
    assert "created-without-location" not in rules_fired(http_flow("POST", "/v1/tokens", 201), policy)
    assert "created-without-location" in rules_fired(http_flow("POST", "/v1/books", 201), policy)


def test_extends_a_relative_path_chain(tmp_path: Path) -> None:
    write(tmp_path, "extends: default\noverrides:\n  server-error: {enabled: false}\n", "base.yaml")
    (tmp_path / "team").mkdir()
    path = write(
        tmp_path, "extends: ../base.yaml\noverrides:\n  retry-after-missing: {severity: error}\n", "team/p.yaml"
    )
    policy = load_policy(path)
    assert not policy.rule("server-error").enabled
    assert policy.rule("retry-after-missing").severity is Severity.ERROR


def test_scope_include_and_exclude(tmp_path: Path) -> None:
    base = write(tmp_path, "scope:\n  exclude: {paths: ['/health']}\n", "base.yaml")
    path = write(
        tmp_path,
        f"""
        extends: {base.name}
        scope:
          include: {{hosts: ['*.example.test'], methods: [GET, POST]}}
          exclude: {{paths: ['/internal/*']}}
        rules:
          - id: r
            severity: error
            summary: every 5xx
            when: {{status: 5xx}}
        """,
    )
    policy = load_policy(path)
    assert rules_fired(http_flow(status=500), policy) == ["r"]
    assert rules_fired(http_flow(status=500, host="other.test"), policy) == []
    assert rules_fired(http_flow("DELETE", status=500), policy) == []
    assert rules_fired(http_flow(status=500, path="/internal/x"), policy) == []
    assert rules_fired(http_flow(status=500, path="/health"), policy) == []  # parent's scope holds too


def test_out_of_scope_flows_are_counted(tmp_path: Path) -> None:
    from statuslint.auditor import Auditor

    path = write(tmp_path, "extends: default\nscope:\n  exclude: {paths: ['/health']}\n")
    auditor = Auditor(load_policy(path))
    auditor.feed(http_flow(status=500, path="/health"), 0, "t")
    assert auditor.summary()["not_audited"]["out_of_scope"] == 1
    assert auditor.summary()["audited"] == 0


def test_rule_exclude_paths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        rules:
          - id: r
            severity: error
            summary: s
            exclude_paths: ["/legacy/*", "/old"]
            when: {status: 500}
        """,
    )
    assert fires(path, status=500, path="/v1/x")
    assert not fires(path, status=500, path="/legacy/x")
    assert not fires(path, status=500, path="/old")


def test_disabled_rule_never_runs(tmp_path: Path) -> None:
    path = write(tmp_path, "rules:\n  - {id: r, severity: info, summary: s, enabled: false, when: {status: 200}}\n")
    assert not fires(path)


# Broken policies ---------------------------------------------------------------------------

RULE = "rules:\n  - id: r\n    severity: warning\n    summary: s\n"
BROKEN = [
    ("bad yaml", "rules: [\n", r"p\.yaml:2: invalid YAML"),
    ("not a mapping", "- a\n- b\n", r"p\.yaml:1: a policy must be a mapping"),
    ("unknown top key", "rule: []\n", r"p\.yaml:1: unknown key 'rule' in policy \(did you mean 'rules'\?\)"),
    (
        "unknown rule key",
        RULE + "    whn: {status: 200}\n",
        r"p\.yaml:5: unknown key 'whn' in rule 'r' \(did you mean 'when'\?\)",
    ),
    (
        "bad severity",
        "rules:\n  - id: r\n    severity: fatal\n    summary: s\n    when: {status: 1}\n",
        r"p\.yaml:3: unknown severity 'fatal'",
    ),
    (
        "missing summary",
        "rules:\n  - id: r\n    severity: info\n    when: {status: 500}\n",
        r"p\.yaml:2: rule 'r' has no 'summary'",
    ),
    ("no when/require", RULE, r"p\.yaml:2: rule 'r' needs 'when', 'require' or both"),
    ("bad id", "rules:\n  - id: Bad_ID\n    severity: info\n    summary: s\n", r"p\.yaml:2: rule id 'Bad_ID' must be"),
    ("unknown predicate", RULE + "    when: {stauts: 200}\n", r"p\.yaml:5: unknown predicate 'stauts'"),
    ("bad status", RULE + "    when: {status: 2xxx}\n", r"p\.yaml:5: bad status '2xxx'"),
    (
        "bad status in list",
        RULE + "    when:\n      status:\n        - 200\n        - abc\n",
        r"p\.yaml:8: bad status 'abc'",
    ),
    (
        "bad regex",
        RULE + "    require:\n      response_header: {Allow: {matches: '(GET'}}\n",
        r"p\.yaml:6: bad regex '\(GET' for header 'Allow'",
    ),
    ("bad glob", RULE + "    when: {path: '/v1/[abc'}\n", r"p\.yaml:5: bad glob '/v1/\[abc'"),
    (
        "wrong type enabled",
        RULE + "    enabled: 'no'\n    when: {status: 1}\n",
        r"p\.yaml:5: 'enabled' must be true or false",
    ),
    (
        "wrong type summary",
        "rules:\n  - id: r\n    severity: info\n    summary: 42\n    when: {status: 1}\n",
        r"p\.yaml:4: 'summary' must be a string",
    ),
    (
        "unknown override",
        "extends: default\noverrides:\n  server-eror: {enabled: false}\n",
        r"p\.yaml:3: override for unknown rule id 'server-eror' \(did you mean 'server-error'\?\)",
    ),
    (
        "bad override key",
        "extends: default\noverrides:\n  server-error: {level: error}\n",
        r"p\.yaml:3: unknown key 'level' in override for 'server-error'",
    ),
    (
        "duplicate id",
        "extends: default\nrules:\n  - {id: server-error, severity: info, summary: s, when: {status: 500}}\n",
        r"p\.yaml:3: rule 'server-error' is already defined at .*default\.yaml:\d+",
    ),
    ("duplicate key", RULE + "    when: {status: 200}\n    when: {status: 201}\n", r"p\.yaml:6: duplicate key 'when'"),
    ("missing parent", "extends: nowhere.yaml\n", r"p\.yaml:1: cannot extend 'nowhere\.yaml': policy file not found"),
    ("python tag", "rules: !!python/object:os.system {}\n", r"p\.yaml:1: invalid YAML: tags are not allowed"),
    (
        "bad header test",
        RULE + "    require: {response_header: {Location: exists}}\n",
        r"p\.yaml:5: header test for 'Location' must be",
    ),
    ("bad method", RULE + "    when: {method: 'GET POST'}\n", r"p\.yaml:5: 'GET POST' is not an HTTP method token"),
    (
        "bad placeholder",
        RULE + "    message: '{url} failed'\n    when: {status: 1}\n",
        r"p\.yaml:5: unknown placeholder '\{url\}'",
    ),
    ("bad scope key", "scope:\n  include: {urls: ['/x']}\n", r"p\.yaml:2: unknown key 'urls' in scope\.include"),
    ("empty policy", "", r"p\.yaml:1: policy is empty"),
    ("json bad form", RULE + "    when: {json: {has: error}}\n", r"p\.yaml:5: 'json' unknown key 'has'"),
    (
        "unknown check",
        RULE + "    check: served-after-deletion\n",
        r"p\.yaml:5: unknown check 'served-after-deletion' \(did you mean 'served-after-delete'\?\)",
    ),
    (
        "check with when",
        RULE + "    check: head-get-mismatch\n    when: {method: HEAD}\n",
        r"p\.yaml:6: rule 'r': 'when' cannot be combined with 'check'",
    ),
    ("no condition", RULE, r"p\.yaml:2: rule 'r' needs 'when', 'require' or both \(or a 'check'\)"),
    ("endpoints not a list", "endpoints: /v1/x\n", r"p\.yaml:1: 'endpoints' takes a list of path templates"),
    ("endpoint relative", "endpoints:\n  - /ok/{a}\n  - v1/x\n", r"p\.yaml:3: endpoint template 'v1/x' must start"),
    ("endpoint partial param", "endpoints: ['/v1/org-{id}']\n", r"p\.yaml:1: .* must be a whole segment"),
    ("endpoint twice", "endpoints: ['/a/{x}', '/a/{x}']\n", r"p\.yaml:1: endpoint template '/a/\{x\}' is listed twice"),
    ("endpoint not text", "endpoints: [12]\n", r"p\.yaml:1: an endpoint template must be a string"),
]


@pytest.mark.parametrize(("name", "text", "error"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_policy_one_line_error(tmp_path: Path, name: str, text: str, error: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    import re

    assert re.search(error, message), message


def test_extends_cycle(tmp_path: Path) -> None:
    write(tmp_path, "extends: b.yaml\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\n", "b.yaml")
    with pytest.raises(PolicyError, match="cycle"):
        load_policy(tmp_path / "a.yaml")


def test_error_in_parent_names_the_parent(tmp_path: Path) -> None:
    write(tmp_path, "rules:\n  - {id: r, severity: oops, summary: s, when: {status: 1}}\n", "base.yaml")
    path = write(tmp_path, "extends: base.yaml\n")
    with pytest.raises(PolicyError, match=r"base\.yaml:2: unknown severity 'oops'"):
        load_policy(path)


def test_default_policy_rules_are_fully_documented() -> None:
    for rule in load_policy().rules:
        for field in ("summary", "why", "example", "fix", "reference"):
            assert getattr(rule, field).strip(), f"{rule.id} lacks {field}"
        assert rule.reference.startswith("RFC"), rule.id


def test_readme_example_policy_loads_and_works(tmp_path: Path) -> None:
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(extends: default\n.*?)```", readme, re.S)
    assert block, "README lost its example policy"
    path = write(tmp_path, block.group(1))
    policy = load_policy(path)
    html_error = http_flow(status=500, host="a.internal.example", resp_headers={"Content-Type": "text/html"})
    assert "problem-json-errors" in rules_fired(html_error, policy)
    assert rules_fired(http_flow(status=500, host="elsewhere.example"), policy) == []


def test_docs_rules_md_is_current() -> None:
    from statuslint.catalog import catalog_markdown

    docs = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
    assert docs.read_text(encoding="utf-8") == catalog_markdown(load_policy()), (
        "docs/rules.md is stale: statuslint rules --markdown > docs/rules.md"
    )


def test_user_rule_can_use_a_check(tmp_path: Path) -> None:
    from helpers import http_flow
    from statuslint.auditor import Auditor

    path = write(
        tmp_path,
        "extends: default\n"
        "overrides:\n  served-after-delete: {enabled: false}\n"
        "rules:\n  - {id: zombie, severity: info, summary: Still there, check: served-after-delete}\n",
    )
    policy = load_policy(path)
    auditor = Auditor(policy)
    auditor.audit_response(http_flow("DELETE", "/v1/x/1", 204, body=b"", resp_headers={}), 0, "t")
    found = auditor.audit_response(http_flow("GET", "/v1/x/1"), 1, "t")
    assert [(f.rule, f.severity.label) for f in found] == [("zombie", "info")]
    assert policy.rule("zombie").condition_text() == "check: served-after-delete"  # type: ignore[union-attr]


def test_endpoint_templates_inherit_child_first(tmp_path: Path) -> None:
    write(tmp_path, "endpoints: ['/v1/{a}/x', '/v1/b/{c}']\n", "base.yaml")
    path = write(tmp_path, "extends: base.yaml\nendpoints: ['/v1/b/{mine}']\n")
    assert [t.text for t in load_policy(path).endpoints] == ["/v1/b/{mine}", "/v1/{a}/x", "/v1/b/{c}"]


@pytest.mark.parametrize(
    ("when", "needs"),
    [
        ("{method: DELETE, status: 200}", "a DELETE request answered 200"),
        ("{status: [204, 205]}", "a request answered 204 or 205"),
        ("{method: [PUT, PATCH, POST], response_body: present}", "a PATCH, POST or PUT request (as its 'when' says)"),
    ],
)
def test_needs_says_what_a_rule_waits_for(tmp_path: Path, when: str, needs: str) -> None:
    path = write(tmp_path, f"rules:\n  - {{id: r, severity: info, summary: s, when: {when}}}\n")
    assert load_policy(path).rules[0].needs() == needs


def _with_lines(value: object) -> object:
    if isinstance(value, LineDict):
        return ("map", value.line, value.key_lines, {k: _with_lines(v) for k, v in value.items()})
    if isinstance(value, LineList):
        return ("seq", value.line, value.item_lines, [_with_lines(v) for v in value])
    return (type(value).__name__, value)


def test_builtin_policy_parses_alike_with_libyaml() -> None:
    # The built-in policy is parsed by libyaml where PyYAML has it: the same values, types
    # and lines as the bounded Python loader every other policy goes through.
    from statuslint import yamlsource
    from statuslint.policy import builtin_policy_path

    path = builtin_policy_path()
    fast = yamlsource.load_yaml(path, str(path), trusted=True)
    assert _with_lines(fast) == _with_lines(yamlsource.load_yaml(path, str(path)))
    if yaml.__with_libyaml__:
        assert yamlsource._TrustedLoader is not None
