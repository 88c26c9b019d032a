"""The engine's shortcuts (rules indexed by status, method and the headers their ``when``
needs; rules decided once per status and method) must find exactly what evaluating
every rule on every flow finds, and count the same coverage."""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter
from pathlib import Path

import pytest
from mitmproxy.test import tflow

from helpers import CORPUS, ROOT
from statuslint import conditions
from statuslint.conditions import is_static
from statuslint.engine import Engine
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
    passed, steps = engine.plan(200, "GET", engine._present(FlowView(f)))
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
    any order of asking, across the cache being emptied when full."""
    monkeypatch.setattr(conditions, "_ACCEPTS_LIMIT", 7)
    monkeypatch.setattr(conditions, "_ACCEPTS", {})
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
    assert len(conditions._ACCEPTS) <= 7
