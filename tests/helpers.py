"""Shared test helpers: building flows, finding tools and the shared corpus."""

from __future__ import annotations

import itertools
import json
import socket
import sys
from pathlib import Path

import pytest
from mitmproxy import http
from mitmproxy.test import tflow, tutils

from statuslint.auditor import Auditor
from statuslint.policy import Policy, load_policy

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
BIN = Path(sys.executable).parent

needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason="../shared/corpus is not beside this checkout (CI always has it)"
)

_DEFAULT_POLICY: Policy | None = None


def default_policy() -> Policy:
    global _DEFAULT_POLICY
    if _DEFAULT_POLICY is None:
        _DEFAULT_POLICY = load_policy()
    return _DEFAULT_POLICY


def http_flow(
    method: str = "GET",
    path: str = "/v1/things/1",
    status: int = 200,
    req_headers: dict[str, str] | None = None,
    resp_headers: dict[str, str] | None = None,
    body: bytes = b'{"id": 1}',
    req_body: bytes = b"",
    host: str = "api.example.test",
) -> http.HTTPFlow:
    """A finished HTTP flow; the response defaults to a clean JSON 200."""
    if resp_headers is None:
        resp_headers = {"Content-Type": "application/json"}
    req = tutils.treq(
        method=method.encode(),
        host=host,
        port=443,
        scheme=b"https",
        path=path.encode("utf-8", "surrogateescape"),
        headers=http.Headers([(k.encode(), v.encode()) for k, v in {"Host": host, **(req_headers or {})}.items()]),
        content=req_body,
    )
    resp = tutils.tresp(
        status_code=status,
        headers=http.Headers([(k.encode(), v.encode()) for k, v in resp_headers.items()]),
        content=body,
    )
    f = tflow.tflow(req=req, resp=resp)
    # One after another, as sequential traffic is: each request sent after the last answer.
    start = next(_CLOCK) * 10.0
    f.request.timestamp_start, f.request.timestamp_end = start, start + 1
    f.response.timestamp_start, f.response.timestamp_end = start + 2, start + 3
    return f


_CLOCK = itertools.count(946681200)


def rules_fired(f: http.HTTPFlow, policy: Policy | None = None, har: bool = False) -> list[str]:
    auditor = Auditor(policy or default_policy())
    return [x.rule for x in auditor.audit_response(f, 0, "test", har=har)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_report(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


SARIF_SCHEMA = SHARED / "schemas" / "sarif-schema-2.1.0.json"
needs_sarif_schema = pytest.mark.skipif(
    not SARIF_SCHEMA.is_file(), reason="../shared/schemas is not beside this checkout (CI always has it)"
)


def sarif_schema_errors(doc: dict) -> list[str]:
    """Where a SARIF document breaks the official SARIF 2.1.0 schema (empty: valid)."""
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in validator.iter_errors(doc)]
