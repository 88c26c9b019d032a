"""Property-based fuzzing (issue 7): arbitrary flows through the auditor and every report
format, arbitrary policy documents through the loader.

Fixed seed (``derandomize``) and bounded example counts: the same examples on every run,
so CI stays fast and a failure is reproducible. What the fuzzer found is fixed at its
cause and pinned by a named regression test (see tests/test_hostile.py).
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mitmproxy import http
from mitmproxy.test import tflow

from statuslint import reports
from statuslint.auditor import Auditor
from statuslint.policy import Policy, load_policy
from statuslint.yamlsource import PolicyError

# More examples for a deeper local run: STATUSLINT_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py
EXAMPLES = int(os.environ.get("STATUSLINT_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# A policy that uses every predicate of the condition language, with small limits so
# values of the generated flows cross them.
FUZZ_POLICY = """\
extends: default
limits: {max_header_value: 64, max_body: 256, max_json_depth: 8}
endpoints: ["/v1/{thing}/{id}"]
scope:
  exclude: {hosts: ["*.skip.test"], paths: ["/skip*"], methods: [TRACE]}
rules:
  - id: fuzz-everything
    severity: warning
    summary: every predicate at once
    message: "{method:<6}{status!r:>4} {path} {host}"
    when:
      any:
        - {status: [4xx, 500-599, ">899", "<100"], status_registered: false}
        - all: [{host: "*.example.*"}, {path: ["/v1/*", "/[a-z]?/*"]}, {content_type: "*/*json"}]
        - not: {accept_satisfied: true}
        - {request_body: present, response_body: empty}
        - json: {has_key: [error, errors]}
        - json: {key: ok, equals: false}
    require:
      request_header: {X-Token: {matches: '^(a+)+$'}, Accept: present}
      response_header: {Vary: {has_token: accept}, Allow: {has_token: $method}, X-Mode: {equals: strict}}
"""


@functools.cache
def fuzz_policies() -> tuple[Policy, ...]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        path.write_text(FUZZ_POLICY, encoding="utf-8")
        return (load_policy(), load_policy(path))


# Flows ------------------------------------------------------------------------------

NAMES = [b"Content-Type", b"Content-Encoding", b"Accept", b"Allow", b"Vary", b"Location", b"X-Token", b"X-Mode"]
NAMES += [b"content-length", b"Set-Cookie", b"Authorization", b"Host", b"Transfer-Encoding", b"Retry-After"]
CONTENT_TYPES = [b"application/json", b"application/problem+json", b"text/html", b"*/*", b"application/", b";;"]
ENCODINGS = [b"gzip", b"br", b"deflate", b"zstd", b"identity", b"gzip, br", b"x-bogus", b""]
BODIES = [
    b"",
    b"{",
    b'{"error": "x"}',
    b'{"ok": false, "errors": []}',
    b"[" * 100_000,
    b"[" * 5_000 + b"]" * 5_000,
    b'{"a":' * 200 + b"1" + b"}" * 200,
    b"\x1f\x8b\x08\x00garbage",
    b"\xff\xfe\x00\xd8",
    b"null",
    b'"\\ud800"',
]

header_value = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(CONTENT_TYPES + ENCODINGS + [b"GET, PUT", b"Accept, Origin", b"strict", b"a" * 80 + b"!"]),
    st.builds(lambda c, n: c * n, st.sampled_from([b"a", b"\xe9", b",", b"["]), st.integers(0, 100_000)),
    st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
headers = st.lists(
    st.tuples(st.one_of(st.sampled_from(NAMES), st.binary(min_size=1, max_size=12)), header_value), max_size=8
)
body = st.one_of(st.sampled_from(BODIES), st.binary(max_size=300), st.none())


@st.composite
def flows(draw: st.DrawFn) -> http.HTTPFlow:
    method = draw(st.one_of(st.sampled_from([b"GET", b"HEAD", b"POST", b"DELETE", b"TRACE"]), st.binary(max_size=10)))
    path = draw(st.one_of(st.sampled_from([b"/", b"/v1/things/1", b"/skip/x", b"*"]), st.binary(max_size=60)))
    host = draw(st.one_of(st.sampled_from(["api.example.test", "a.skip.test", "", "[::1]"]), st.text(max_size=20)))
    request = http.Request(
        host=host,
        port=draw(st.integers(0, 65535)),
        method=method,
        scheme=draw(st.sampled_from([b"http", b"https", b""])),
        authority=draw(st.sampled_from([b"", b"api.example.test:8443", b"\xff"])),
        path=path,
        http_version=b"HTTP/1.1",
        headers=http.Headers(draw(headers)),
        content=draw(body),
        trailers=None,
        timestamp_start=1.0,
        timestamp_end=2.0,
    )
    response = None
    if draw(st.integers(0, 9)):  # one in ten: no response
        response = http.Response(
            http_version=b"HTTP/1.1",
            status_code=draw(st.integers(0, 999)),
            reason=draw(st.binary(max_size=10)),
            headers=http.Headers(draw(headers)),
            content=draw(body),
            trailers=None,
            timestamp_start=3.0,
            timestamp_end=4.0,
        )
    f = tflow.tflow(req=request, resp=response if response is not None else False)
    return f


def audited(policy: Policy, batch: list[tuple[http.HTTPFlow, bool]]) -> Auditor:
    auditor = Auditor(policy)
    for i, (f, har) in enumerate(batch):
        auditor.feed(f, i, "fuzz.har" if har else "fuzz.flows", har=har)
    return auditor


@FUZZ
@given(st.lists(st.tuples(flows(), st.booleans()), min_size=1, max_size=6))
def test_arbitrary_flows_never_break_the_audit_or_a_report(batch: list[tuple[http.HTTPFlow, bool]]) -> None:
    for policy in fuzz_policies():
        auditor = audited(policy, batch)
        model = reports.build_model(auditor, "fuzz")
        assert model["summary"]["internal_errors"] == {}
        for fmt in reports.FORMATS:  # formats added later are covered as they come
            assert isinstance(reports.render(model, fmt), str)


# Policies ------------------------------------------------------------------------------

TOKENS = [
    "rules:", "\n- ", "\n  ", "id: r", "severity: info", "summary: s", "when:", "require:", "check:", "not:",
    "any:", "all:", "status:", "method:", "path:", "host:", "json:", "{has_key: e}", "limits:", "max_body:",
    "extends:", "default", "scope:", "include:", "overrides:", "endpoints:", "message:", "matches:",
    "request_header:", "{X: {matches: '(a)\\1'}}", "&a ", "*a", "<<: *a", "{", "}", "[", "]", ": ", ", ",
    "'", '"', "\\u00e9", "\\ud800", "!!python/object:os.system", "!!binary", "? ", "|", ">", "#", "%YAML 1.1\n",
    "---\n", "...\n", "2024-13-45", "9" * 30, "1e400", "-1", ".nan", "\t", "\x07", "\r", "\ufeff", "{path:>99999}",
]  # fmt: skip


@functools.cache
def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="statuslint-fuzz-"))


def check_policy_text(text: str) -> None:
    path = workdir() / "policy.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        policy = load_policy(path)
    except PolicyError as e:
        message = str(e)
        assert message and "\n" not in message and "\r" not in message, message
        message.encode("utf-8")  # no lone surrogates: it can be printed
        return
    assert isinstance(policy, Policy)


RULE_START = "rules:\n- id: r\n  severity: info\n  summary: s\n  "
policy_text = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)


@FUZZ
@given(policy_text | policy_text.map(RULE_START.__add__) | st.text(max_size=200))
def test_arbitrary_policy_text_is_a_policy_or_one_line_error(text: str) -> None:
    check_policy_text(text)


KEYS = [
    "id", "severity", "summary", "when", "require", "check", "message", "enabled", "exclude_paths", "status",
    "method", "not", "any", "all", "json", "has_key", "key", "equals", "request_header", "response_header",
    "matches", "has_token", "content_type", "limits", "max_body", "max_json_depth", "max_header_value", "scope",
    "include", "exclude", "hosts", "paths", "methods", "overrides", "endpoints", "rules", "extends",
]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True),
    st.sampled_from(["info", "error", "GET", "4xx", ">599", "2xx", "*", "[a", "/v1/{x}", "(a+)+$", "(?=x)", "r"]),
    st.sampled_from(["{path:>2000000000}", "{status}", "{x}", "present", "absent", "empty", "default", "$method"]),
    st.text(max_size=12),
)
structures = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner),
    max_leaves=30,
)


@FUZZ
@given(
    st.one_of(
        structures,
        st.fixed_dictionaries({"rules": st.lists(st.dictionaries(st.sampled_from(KEYS), structures), max_size=3)}),
        st.fixed_dictionaries(
            {"rules": st.just([{"id": "r", "severity": "info", "summary": "s"}])},
            optional={"limits": structures, "scope": structures, "overrides": structures, "endpoints": structures},
        ),
    )
)
def test_arbitrary_policy_structures_are_a_policy_or_one_line_error(doc: Any) -> None:
    if isinstance(doc, dict) and "rules" in doc and isinstance(doc["rules"], list):
        for rule in doc["rules"]:
            if isinstance(rule, dict):
                rule.setdefault("id", "r")
                rule.setdefault("severity", "info")
                rule.setdefault("summary", "s")
    check_policy_text(yaml.safe_dump(doc, allow_unicode=True))


@pytest.fixture(scope="module", autouse=True)
def _clean_workdir() -> Iterator[None]:
    yield
    for p in workdir().iterdir():
        p.unlink()
    workdir().rmdir()
