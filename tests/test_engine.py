"""The engine's shortcuts (rules indexed by status, method and the headers their ``when``
needs; rules decided once per status and method) must find exactly what evaluating
every rule on every flow finds, and count the same coverage."""

from __future__ import annotations

import contextlib
import itertools
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mitmproxy.test import tflow

from helpers import CORPUS, ROOT
from statuslint import conditions
from statuslint import engine as engine_module
from statuslint.conditions import is_static, specialize
from statuslint.engine import Engine, _StatusAndMethod
from statuslint.flowview import FlowView, Undecidable
from statuslint.policy import load_policy
from statuslint.readers import InputError, read_flows, sniff_har
from statuslint.urls import authority

RECORDINGS = sorted((ROOT / "recordings").rglob("*.flows")) + sorted((ROOT / "recordings").rglob("*.har"))
CORPUS_HARS = sorted((CORPUS / "har").glob("*.har")) if (CORPUS / "har").is_dir() else []


def naive(policy, views):
    """Every enabled per-flow rule on every flow, no index, no plan."""
    found, evaluated, undecidable = [], Counter(), Counter()
    rules = [r for r in policy.enabled_rules if r.check is None]
    for i, view in enumerate(views):
        for rule in rules:
            if rule.methods is not None and view.method not in rule.methods:
                continue
            if rule.exclude_paths and rule.excludes(view.path):
                continue
            if rule.require is None:
                evaluated[rule.id] += 1
            if rule.statuses is not None and view.status not in rule.statuses:
                continue
            try:
                if not rule.when_rest(view):
                    continue
                if rule.require is None:
                    found.append((i, rule.id, rule.format_message(view)))
                    continue
                ok = rule.require(view)
                evaluated[rule.id] += 1
                if not ok:
                    found.append((i, rule.id, rule.format_message(view)))
            except Undecidable:
                undecidable[rule.id] += 1
    return found, evaluated, undecidable


def engine_run(policy, views):
    engine = Engine(policy)
    found = [(i, rule.id, message) for i, view in enumerate(views) for rule, message in engine.violations(view)]
    return found, engine.evaluated, engine.undecidable


def views_of(path: Path) -> list[FlowView]:
    har = sniff_har(path)
    views = []
    with open(path, "rb") as fo, contextlib.suppress(InputError):  # some corpus files have bad entries
        for f in read_flows(fo, har):
            if getattr(f, "response", None) is not None:
                views.append(FlowView(f, har=har))
    return views


# Rules the default policy has no example of, for every kind of step a plan makes:
# decided by status and method but with exclude_paths, without require and with
# exclude_paths, a static require behind a path, and all/any/not mixing static and
# per-flow operands (so that only some of them are answered by the plan).
SHORTCUTS_POLICY = """\
extends: default
rules:
  - id: static-with-excludes
    severity: info
    summary: s
    exclude_paths: ["/api/*", "/v1/*"]
    when: {status: 2xx}
    require: {status: [200, 204]}
  - id: when-only-with-excludes
    severity: info
    summary: s
    exclude_paths: ["/static/*", "/v1/*/*"]
    when: {method: GET, response_header: {Content-Type: present}}
  - id: static-require-behind-a-path
    severity: info
    summary: s
    when: {path: "/*/*"}
    require: {status: [200, 201, 404]}
  - id: mixed-all
    severity: info
    summary: s
    when: {all: [{status: 2xx}, {response_body: present}, {not: {method: [HEAD, OPTIONS]}}]}
    require: {any: [{method: POST}, {response_header: {Cache-Control: present}}, {status: 204}]}
  - id: mixed-not
    severity: info
    summary: s
    when: {not: {all: [{method: GET}, {response_header: {ETag: present}}]}}
    require: {any: [{json: {has_key: id}}, {status_registered: false}, {not: {status: [200, 201]}}]}
  - id: mixed-any-in-when
    severity: info
    summary: s
    when: {any: [{status: [404, 500]}, {all: [{method: DELETE}, {response_body: present}]}]}
    require: {all: [{status: 4xx}, {content_type: "*/json"}]}
"""


@pytest.fixture(scope="module")
def shortcuts_policy():
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shortcuts.yaml"
        path.write_text(SHORTCUTS_POLICY, encoding="utf-8")
        yield load_policy(path)


@pytest.mark.parametrize("path", RECORDINGS + CORPUS_HARS, ids=lambda p: p.name)
def test_same_findings_and_coverage_with_every_kind_of_step(path: Path, shortcuts_policy) -> None:
    views = views_of(path)
    expected = naive(shortcuts_policy, views)
    assert engine_run(shortcuts_policy, [FlowView(v.flow, har=v.har) for v in views]) == expected


@pytest.mark.parametrize("path", RECORDINGS + CORPUS_HARS, ids=lambda p: p.name)
def test_same_findings_and_coverage_as_every_rule_on_every_flow(path: Path) -> None:
    policy = load_policy()
    views = views_of(path)
    # A fresh view per run: both must start from an unasked flow.
    fresh = [FlowView(v.flow, har=v.har) for v in views]
    expected = naive(policy, views)
    assert engine_run(policy, fresh) == expected
    assert +expected[1] == +engine_run(policy, [FlowView(v.flow, har=v.har) for v in views])[1]


def test_static_rules_and_header_gates_are_used() -> None:
    """The shortcuts are really taken on the default policy (else the test above proves nothing)."""
    policy = load_policy()
    engine = Engine(policy)
    assert any(is_static(r.when_rest) and r.require is not None and is_static(r.require) for r in engine.rules)
    assert any(r.needs_headers for r in engine.rules)
    f = tflow.tflow(resp=True)
    response_gates, request_gates, _ = engine._entry(200, "GET")
    passed, steps, _ = engine.plan(200, "GET", engine._present(response_gates, request_gates, FlowView(f)))
    assert "status-out-of-range" in passed
    assert all(rule.id != "malformed-etag" for rule, *_ in steps)  # no ETag: never asked
    f.response.headers["ETag"] = "nope"
    view = FlowView(f)
    assert "malformed-etag" in {rule.id for rule, _ in engine.violations(view)}


@pytest.mark.parametrize("path", RECORDINGS + CORPUS_HARS, ids=lambda p: p.name)
def test_authority_is_what_the_url_says(path: Path) -> None:
    for view in views_of(path):
        assert view.authority == (authority(view.url) or view.host)


@pytest.mark.parametrize(
    ("scheme", "host", "port", "expected"),
    [
        ("http", "API.Example.test", 80, "api.example.test"),
        ("https", "api.example.test", 443, "api.example.test"),
        ("https", "api.example.test", 80, "api.example.test:80"),
        ("http", "127.0.0.1", 443, "127.0.0.1:443"),
        ("HTTP", "h", 80, "h"),
    ],
)
def test_authority_edges(scheme: str, host: str, port: int, expected: str) -> None:
    f = tflow.tflow(resp=True)
    f.request.scheme, f.request.host, f.request.port = scheme, host, port
    view = FlowView(f)
    assert view.authority == expected == (authority(view.url) or view.host)


@pytest.mark.parametrize("host", ["::1", "fe80::1", "a@b", ""])
def test_authority_of_odd_hosts_is_the_urls(host: str) -> None:
    f = tflow.tflow(resp=True)
    f.request.host, f.request.port = host, 8080
    view = FlowView(f)
    assert view.authority == (authority(view.url) or view.host)


ACCEPTS = [
    ["application/json"],
    ["application/*"],
    ["*/*;q=0"],
    ["text/html, application/json;q=0"],
    ["application/json;q=0.5, text/*"],
    ["APPLICATION/JSON"],
    ["text/html", "application/json"],  # two fields, joined
    [""],
    [],
    ["x" * 600 + "/json, application/json"],  # too long to be remembered
    ["y" * 9000],  # beyond limits.max_header_value
]
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/html", "application/problem+json", None]


def accept_satisfied_parsing_each_time(view: FlowView) -> bool:
    """The Accept test without remembered answers (as it was first written)."""
    accept = view.request_headers.get("accept")
    ctype = view.content_type
    if not accept or not ctype or not view.response_has_body:
        return True
    conditions.capped([accept], "Accept", view.limits.max_header_value)
    return any(conditions._media_matches(media, ctype) for media in conditions._acceptable(accept))


def test_remembered_accept_answers_are_the_parsed_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers kept per (Accept, media type) are those of parsing the Accept each time, in
    any order of asking; the cache stays within its bound."""
    conditions._admits.cache_clear()
    pairs = list(itertools.product(ACCEPTS, CONTENT_TYPES, [b"{}", b""]))
    seen = set()
    for accept, ctype, body in pairs + pairs[::-1] + pairs[::3]:
        f = tflow.tflow(resp=True)
        f.request.headers.pop("accept", None)
        for value in accept:
            f.request.headers.add("Accept", value)
        f.response.headers.pop("content-type", None)
        if ctype is not None:
            f.response.headers["Content-Type"] = ctype
        f.response.content = body
        outcomes = []
        for check in (conditions.accept_satisfied, accept_satisfied_parsing_each_time):
            try:
                outcomes.append(check(FlowView(f)))
            except Undecidable:
                outcomes.append(Undecidable)
        assert outcomes[0] == outcomes[1], (accept, ctype, body)
        seen.add(outcomes[0])
    assert seen == {True, False, Undecidable}
    info = conditions._admits.cache_info()
    assert info.hits and info.currsize <= info.maxsize


# Conditions mixing static operands (status, method, status_registered) with per-flow ones,
# one of which is undecidable on a streamed body.
_LEAVES = [
    "{status: 2xx}",
    "{status: [404, 500]}",
    "{method: GET}",
    "{method: [POST, PUT]}",
    "{status_registered: false}",
    "{response_header: {ETag: present}}",
    "{path: '/a/*'}",
    "{json: {has_key: error}}",
    "{response_body: present}",
]
_CONDITIONS = st.recursive(
    st.sampled_from(_LEAVES),
    lambda inner: (
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: "{all: [" + ", ".join(xs) + "]}")
        | st.lists(inner, min_size=1, max_size=3).map(lambda xs: "{any: [" + ", ".join(xs) + "]}")
        | inner.map(lambda x: "{not: " + x + "}")
    ),
    max_leaves=8,
)


def _views_for_specialize() -> list[FlowView]:
    views = []
    for status, method, path, etag, body in itertools.product(
        [200, 204, 404, 500, 599],
        ["GET", "POST", "DELETE"],
        ["/a/b", "/c"],
        [False, True],
        [b'{"error": 1}', b"{}", b"", None],
    ):
        f = tflow.tflow(resp=True)
        f.request.method, f.request.path, f.response.status_code = method, path, status
        f.response.headers["Content-Type"] = "application/json"
        if etag:
            f.response.headers["ETag"] = '"1"'
        if body is None:
            f.response.raw_content = None  # streamed: undecidable
        else:
            f.response.content = body
        views.append(FlowView(f))
    return views


_SPECIALIZE_VIEWS = _views_for_specialize()


def _outcome(pred, view: FlowView) -> object:
    if isinstance(pred, bool):
        return pred
    try:
        return pred(view)
    except Undecidable:
        return Undecidable


@given(_CONDITIONS)
@settings(
    max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
def test_specialized_conditions_answer_as_the_whole_condition(condition: str) -> None:
    """What the plan leaves of a condition for one status and method answers every flow
    of that status and method as the whole condition does, undecidable ones included."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.yaml"
        path.write_text(f"rules:\n  - {{id: r, severity: info, summary: s, require: {condition}}}\n")
        pred = load_policy(path).rules[0].require
    assert pred is not None
    specialized = {}
    for view in _SPECIALIZE_VIEWS:
        key = (view.status, view.method)
        if key not in specialized:
            specialized[key] = specialize(pred, _StatusAndMethod(*key))
        assert _outcome(specialized[key], view) == _outcome(pred, view), (condition, key, view.path)


def test_specialize_answers_static_operands_and_keeps_the_others() -> None:
    """The plan really drops what status and method decide (else the tests above prove little)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.yaml"
        path.write_text(SHORTCUTS_POLICY, encoding="utf-8")
        policy = load_policy(path)
    mixed_all = policy.rule("mixed-all")
    assert mixed_all is not None
    assert specialize(mixed_all.when_rest, _StatusAndMethod(404, "GET")) is False
    assert specialize(mixed_all.require, _StatusAndMethod(204, "GET")) is True
    residual = specialize(mixed_all.when_rest, _StatusAndMethod(200, "GET"))
    assert callable(residual) and residual is not mixed_all.when_rest
    engine = Engine(policy)
    _, steps, _ = engine.plan(200, "GET")
    step = next(s for s in steps if s[0].id == "static-require-behind-a-path")
    assert step[2] == engine_module.PASSES


def test_remembered_header_matches_are_the_searches(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``matches`` test answers from the values it has seen as searching each time does,
    whatever the order, across its memory being emptied, for values too long to be kept,
    several values of one header and raw bytes in a value."""
    monkeypatch.setattr(conditions, "_SEEN_LIMIT", 3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.yaml"
        path.write_text(
            "rules:\n  - {id: r, severity: info, summary: s,"
            " require: {response_header: {Content-Type: {matches: '^application/(json|x-[a-z]+)(;.*)?$'}}}}\n"
        )
        pred = load_policy(path).rules[0].require
    rx = conditions.compile_regex("^application/(json|x-[a-z]+)(;.*)?$")
    headers = [
        ["application/json"],
        ["application/jsonx"],
        ["text/html"],
        ["application/x-abc; charset=utf-8"],
        ["application/x-abc!"],
        ["application/x-" + "a" * 300],  # longer than what is kept
        ["text/plain" + "b" * 300],
        ["text/html", "application/json"],
        ["application/x-\udcff"],  # a raw byte, as HeaderMap decodes it
        [],
    ]
    answers = set()
    for values in headers * 3 + headers[::-1] * 2:
        f = tflow.tflow(resp=True)
        f.response.headers.pop("content-type", None)
        for value in values:
            f.response.headers.add("Content-Type", value.encode("utf-8", "surrogateescape"))
        view = FlowView(f)
        expected = conditions.search_values(rx, view.response_headers.by_name.get("content-type", []))
        assert pred(view) is expected, values
        answers.add(expected)
    assert answers == {True, False}
