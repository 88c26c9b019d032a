"""The per-finding exchange snapshot (bounded, redacted, taken only for flows with
findings) and the redaction it relies on, including the policy's ``redact:`` lists."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from helpers import default_policy, http_flow
from statuslint import auditor as auditor_module
from statuslint import exchange
from statuslint.auditor import Auditor, Limits
from statuslint.policy import load_policy
from statuslint.redact import RedactConfig, Redactor
from statuslint.yamlsource import PolicyError

# Redaction --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("Authorization", True),
        ("Proxy-Authorization", True),
        ("Cookie", True),
        ("Set-Cookie", True),
        ("X-Api-Key", True),
        ("X-Auth-Token", True),
        ("X-CSRF-Token", True),
        ("X-Session-Id", True),
        ("apiKey", True),
        ("client_secret", True),
        ("refreshToken", True),
        ("new_password", True),
        ("WWW-Authenticate", False),
        ("Proxy-Authenticate", False),
        ("Access-Control-Allow-Credentials", False),
        ("author", False),
        ("authorId", False),
        ("keyboard", False),
        ("Keep-Alive", False),
        ("Content-Type", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    r = Redactor()
    assert r.header_is_secret(name) is secret
    if not name.lower().startswith("access-control"):
        assert r.field_is_secret(name) is secret or name.lower() in ("cookie", "set-cookie", "proxy-authorization")


def test_header_values_keep_what_is_not_secret() -> None:
    r = Redactor()
    assert r.header("Authorization", "Bearer abc.def") == "Bearer [redacted]"
    assert r.header("Authorization", "abcdef") == "[redacted]"
    assert r.header("Cookie", "a=1; b=2") == "a=[redacted]; b=[redacted]"
    assert r.header("Set-Cookie", "sid=x; Path=/; Secure") == "sid=[redacted]; Path=/; Secure"
    assert r.header("X-Api-Key", "k") == "[redacted]"
    assert r.header("Location", "/next?token=t&page=2") == "/next?token=REDACTED&page=2"
    assert r.header("Link", "</p?access_token=t>; rel=next") == "</p?access_token=[redacted]>; rel=next"
    assert r.header("WWW-Authenticate", 'Bearer realm="api"') == 'Bearer realm="api"'
    assert r.header("Cache-Control", "max-age=60") == "max-age=60"


def test_bodies_are_redacted_by_field_name() -> None:
    r = Redactor(RedactConfig(json_fields=("pin*",)))
    doc = {"user": {"password": "p", "author": "a", "tokens": [1]}, "items": [{"pinCode": 1, "id": 2}]}
    assert r.json(doc) == {
        "user": {"password": "[redacted]", "author": "a", "tokens": "[redacted]"},
        "items": [{"pinCode": "[redacted]", "id": 2}],
    }
    assert r.form("user=a&password=p&x=1") == "user=a&password=[redacted]&x=1"
    # JSON cut short, or inside other text: the pairs are still found.
    assert r.text('{"access_token": "abc\\"d", "b": 1, "secret": "cut sho') == (
        '{"access_token": "[redacted]", "b": 1, "secret": "[redacted]"'
    )
    assert r.text("see https://x.test/?api_key=zz&q=1") == "see https://x.test/?api_key=[redacted]&q=1"


def test_policy_lists_extend_the_built_in_ones() -> None:
    r = Redactor(RedactConfig(headers=("X-Tenant",), query=("tid",), json_fields=("ssn",)))
    assert r.header("x-tenant", "t1") == "[redacted]"
    assert r.url("https://a.test/x?tid=1&api_key=2&q=3") == "https://a.test/x?tid=REDACTED&api_key=REDACTED&q=3"
    assert r.json({"SSN": "1", "name": "n"}) == {"SSN": "[redacted]", "name": "n"}
    assert Redactor().url("https://a.test/x?tid=1") == "https://a.test/x?tid=1"


def _policy(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_redact_key_in_a_policy_extends_its_parent(tmp_path: Path) -> None:
    _policy(tmp_path, "extends: default\nredact:\n  headers: [X-One]\n  json_fields: [a]\n", "base.yaml")
    child = _policy(tmp_path, "extends: base.yaml\nredact:\n  headers: [X-Two, X-One]\n  query: [q*]\n")
    policy = load_policy(child)
    assert policy.redact == RedactConfig(headers=("X-One", "X-Two"), query=("q*",), json_fields=("a",))
    assert load_policy().redact == RedactConfig()


@pytest.mark.parametrize(
    ("text", "line", "error"),
    [
        ("redact: [a]\n", 1, "'redact' takes a mapping of headers, query and/or json_fields"),
        ("redact:\n  header: [a]\n", 2, "unknown key 'header' in redact (did you mean 'headers'?)"),
        ("redact:\n  query: token\n", 2, "'redact.query' takes a list of names"),
        (
            "redact:\n  json_fields:\n    - ok\n    - 3\n",
            4,
            "'redact.json_fields' entries must be non-empty names, not 3",
        ),
        ("redact:\n  headers: ['']\n", 2, "entries must be non-empty names"),
        ("redact:\n  headers: ['X Y']\n", 2, "a name has no spaces"),
    ],
)
def test_redact_errors_name_file_and_line(tmp_path: Path, text: str, line: int, error: str) -> None:
    path = _policy(tmp_path, "extends: default\n" + text)
    with pytest.raises(PolicyError) as e:
        load_policy(path)
    assert str(e.value).startswith(f"{path}:{line + 1}: ")
    assert error in str(e.value)


# The snapshot --------------------------------------------------------------------------------


def _findings(*flows, policy=None, limits=None):
    a = Auditor(policy or default_policy(), limits)
    out = []
    for i, f in enumerate(flows):
        out.extend(a.audit_response(f, i, "t"))
    return a, out


def test_exchange_is_captured_redacted_and_shared_by_the_flows_findings() -> None:
    f = http_flow(
        "GET",
        "/v1/things?access_token=tok",
        201,
        req_headers={"Authorization": "Bearer tok", "Content-Type": "application/json"},
        req_body=b'{"name": "n", "password": "pw"}',
        resp_headers={"Content-Type": "application/json"},
        body=b'{"id": 1, "secret": "s"}',
    )
    f.response.reason = "Created"
    _, found = _findings(f)
    assert len(found) >= 2  # safe-method-created, created-without-location
    packed = found[0].exchange
    assert packed is not None and all(x.exchange is packed for x in found)
    ex = packed.unpack()
    assert ex["request"]["method"] == "GET"
    assert ex["request"]["target"] == "/v1/things?access_token=REDACTED"
    assert ex["request"]["http_version"] == "HTTP/1.1"
    assert ["Authorization", "Bearer [redacted]"] in ex["request"]["headers"]
    assert json.loads(ex["request"]["body"]["text"]) == {"name": "n", "password": "[redacted]"}
    assert (ex["response"]["status"], ex["response"]["reason"]) == (201, "Created")
    assert json.loads(ex["response"]["body"]["text"]) == {"id": 1, "secret": "[redacted]"}
    assert found[0].to_json()["exchange"] == ex


def test_exchange_is_bounded() -> None:
    big = b"x" * 1_000_000
    many = {f"X-H{i}": "v" * 5000 for i in range(200)}
    f = http_flow(status=500, resp_headers={"Content-Type": "text/plain", **many}, body=big)
    (finding, *_) = _findings(f)[1]
    ex = finding.exchange.unpack()
    body = ex["response"]["body"]
    assert body["size"] == 1_000_000 and body["truncated"] is True
    assert len(body["text"]) == exchange.RESPONSE_BODY_LIMIT
    headers = ex["response"]["headers"]
    assert headers[-1] == ["…", f"{201 - (len(headers) - 1)} more headers not kept"]
    assert max(len(v) for _, v in headers) <= exchange.HEADER_VALUE_LIMIT
    kept = sum(len(n) + len(v) for n, v in headers[:-1])
    assert exchange.HEADER_BYTES_LIMIT <= kept <= exchange.HEADER_BYTES_LIMIT + exchange.HEADER_VALUE_LIMIT + 128
    # Many short headers: at most HEADER_LIMIT of them.
    short = http_flow(status=500, resp_headers={f"X-S{i}": "v" for i in range(100)})
    headers = _findings(short)[1][0].exchange.unpack()["response"]["headers"]
    assert len(headers) == exchange.HEADER_LIMIT + 1
    assert headers[-1] == ["…", f"{100 - exchange.HEADER_LIMIT} more headers not kept"]
    assert len(json.dumps(ex)) < 64 * 1024


def test_binary_and_streamed_bodies_are_described_not_shown() -> None:
    png = http_flow(status=500, resp_headers={"Content-Type": "image/png"}, body=b"\x89PNG\r\n\x1a\n" + bytes(5000))
    body = _findings(png)[1][0].exchange.unpack()["response"]["body"]
    assert body == {"size": 5008, "text": None, "truncated": False, "note": "image/png body, 5,008 bytes (not shown)"}
    streamed = http_flow(status=500)
    streamed.response.raw_content = None
    body = _findings(streamed)[1][0].exchange.unpack()["response"]["body"]
    assert body["size"] is None and body["text"] is None and "streamed" in body["note"]


def test_clean_flows_never_pay_for_a_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(auditor_module, "capture", lambda *a: calls.append(a) or exchange.capture(*a))
    _, found = _findings(*(http_flow(path=f"/v1/things/{i}") for i in range(20)))
    assert found == [] and calls == []
    _findings(http_flow(status=500))
    assert len(calls) == 1


def test_no_snapshot_once_the_findings_list_is_full() -> None:
    a, found = _findings(http_flow(status=500), http_flow(status=500), limits=Limits(max_findings=1))
    assert found[0].exchange is not None
    assert found[-1].exchange is None and a.summary()["limits"]["findings_omitted"] >= 1


def test_a_finding_about_an_earlier_flow_has_no_snapshot() -> None:
    # head-get-mismatch: a HEAD that failed is reported once the GET on its URL works;
    # the HEAD has gone by, and the GET's exchange is not the HEAD's.
    head = http_flow("HEAD", "/v1/things/7", 404, body=b"")
    get = http_flow("GET", "/v1/things/7", 200)
    _, found = _findings(head, get)
    (mismatch,) = [x for x in found if x.rule == "head-get-mismatch"]
    assert mismatch.flow is not None and mismatch.flow.index == 0
    assert mismatch.exchange is None


def test_a_packed_exchange_comes_back_exactly_and_takes_a_fraction_of_its_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Findings hold their exchange packed until a report expands it: the report gets the
    dict that was captured (key order, strings, numbers, None), in far fewer bytes."""
    captured = []
    monkeypatch.setattr(auditor_module, "capture", lambda *a: captured.append(exchange.capture(*a)) or captured[-1])
    items = [{"id": i, "name": f"item-{i}", "ok": True, "note": None} for i in range(300)]
    long = http_flow("POST", "/v1/things", 500, req_body=b'{"name": "caf\xc3\xa9"}', body=json.dumps(items).encode())
    short = http_flow("DELETE", "/v1/things/1", 500, resp_headers={"X-Odd": "tab\there \u00e9"}, body=b"")
    _, found = _findings(long, short)
    packed = {id(x.exchange): x.exchange for x in found if x.exchange is not None}
    assert len(packed) == len(captured) == 2
    for original, held in zip(captured, packed.values(), strict=True):
        assert held.unpack() == original
        assert json.dumps(held.unpack()) == json.dumps(original)  # key order too
        assert held.size == exchange.size(original)
        assert len(held.data) * 3 < held.size
    long_held = next(iter(packed.values()))
    assert len(long_held.data) * 10 < long_held.size
    assert found[0].to_json()["exchange"] == captured[0]


def test_the_findings_kept_share_the_strings_and_headers_they_repeat() -> None:
    """Thousands of findings of a few rules repeat a few endpoint names and evidence-header
    sets: the findings list holds each once, and the report is the same."""
    flows = [http_flow("POST", "/v1/things", 201, req_headers={"Accept": "application/json"}) for _ in range(5)]
    a, found = _findings(*flows)
    kept = [x for x in a.findings if x.rule == "created-without-location"]
    assert len(kept) == 5 and kept[0].headers == {"response": {"location": None}, "request": {"destination": None}}
    assert all(x.headers is kept[0].headers and x.endpoint is kept[0].endpoint for x in kept)
    made = [x for x in found if x.rule == "created-without-location"]
    assert len({id(x.headers) for x in made}) == 5  # made one by one, shared once kept
    assert [x.to_json() for x in a.findings] == [x.to_json() for x in found]


def test_exchanges_stop_at_the_budget_and_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """However large the traffic, the exchanges an audit holds stay under a fixed budget;
    the findings beyond it are kept without one, and the summary says how many."""
    monkeypatch.setattr(exchange, "BUDGET", 20_000)
    huge = {f"X-H{i}": "v" * 5000 for i in range(200)}
    flows = [
        http_flow(status=500, resp_headers={"Content-Type": "text/plain", **huge}, body=b"x" * 10**5) for _ in range(10)
    ]
    a, found = _findings(*flows)
    kept = [x.exchange for x in found if x.exchange]
    # The first exchange is whole; each one is at most ~8 KB of headers per message plus the bodies.
    assert 1 <= len(kept) < len(found)
    assert all(x.size == exchange.size(x.unpack()) for x in kept)
    assert all(x.size <= 3 * (exchange.HEADER_BYTES_LIMIT + exchange.HEADER_VALUE_LIMIT) + 8192 for x in kept)
    assert a.exchange_chars < 20_000 + max(x.size for x in kept)
    assert a.summary()["limits"]["exchanges_omitted"] == len(found) - len(kept)


def test_evidence_headers_follow_the_policys_redact_lists(tmp_path: Path) -> None:
    """The headers a rule looked at (Finding.headers) are masked like the exchange."""
    policy = _policy(
        tmp_path,
        """
        extends: default
        redact: {headers: ["X-Internal-*"]}
        rules:
          - id: no-internal-headers
            severity: info
            summary: internal headers leak out
            require: {response_header: {X-Internal-Trace: absent, Set-Cookie: absent}}
        """,
    )
    f = http_flow(resp_headers={"Content-Type": "application/json", "X-Internal-Trace": "t-1", "Set-Cookie": "sid=s"})
    (finding,) = [x for x in _findings(f, policy=load_policy(policy))[1] if x.rule == "no-internal-headers"]
    assert finding.headers == {"response": {"x-internal-trace": "[redacted]", "set-cookie": "sid=[redacted]"}}


# A long JSON body is serialised only as far as the report keeps it -------------------------


def _whole_body_text(body: bytes) -> tuple[str, bool]:
    """What the snapshot held when the whole document was serialised, then cut."""
    from statuslint.urls import printable

    redactor = Redactor()
    text = printable(json.dumps(redactor.json(json.loads(body)), indent=2, ensure_ascii=False))
    return text[: exchange.RESPONSE_BODY_LIMIT], len(text) > exchange.RESPONSE_BODY_LIMIT


@pytest.mark.parametrize(
    "doc",
    [
        {"id": 1, "name": "small"},
        # About the limit either side: the cut lands on the boundary or just past it.
        {"items": [{"n": i, "token": "s3cr3t", "name": "x" * 20} for i in range(40)]},
        {"items": [{"n": i, "token": "s3cr3t", "name": "x" * 20} for i in range(60)]},
        {"items": [{"n": i, "apiKey": "k", "text": "é" * 50} for i in range(2000)]},
        # Escaped surrogates that printable() joins into one character per four.
        {"blob": "\udcf0\udc9f\udc98\udc80" * 3000},
        ["\udcc3\udca9" * 7, *(f"v{i}" for i in range(5000))],
    ],
    ids=["small", "under-limit", "over-limit", "large", "joined-surrogates", "long-list"],
)
def test_long_json_bodies_keep_what_the_whole_serialisation_kept(doc: object) -> None:
    body = json.dumps(doc).encode()
    f = http_flow(body=body, status=200)
    from statuslint.flowview import FlowView

    captured = exchange.capture(FlowView(f), Redactor())["response"]["body"]
    text, longer = _whole_body_text(body)
    assert captured["text"] == text
    assert captured["truncated"] == longer
    assert "s3cr3t" not in (captured["text"] or "")


def test_findings_cross_a_pipe_whole() -> None:
    """Finding, FlowRef and Packed pickle by their constructors (three times faster than
    the dataclass default): every field comes back, and a field added to the class
    without its place in __reduce__ fails here."""
    import dataclasses
    import pickle

    from statuslint.findings import Finding, FlowRef, Severity

    ref = FlowRef("a.flows", 3, "POST", "http://127.0.0.1/items", 201)
    other = FlowRef("a.flows", 2, "GET", "http://127.0.0.1/items/1", 404)
    finding = Finding(
        rule="created-without-location",
        severity=Severity.WARNING,
        message="201 without Location",
        reference="RFC 9110 15.3.2",
        flow=ref,
        endpoint="/items",
        evidence=(other,),
        details={"k": [1, 2]},
        confidence="inconclusive",
        headers={"response": {"location": None}},
        test="tests/test_x.py::test_y",
        exchange=exchange.pack(
            {
                "request": {"method": "POST", "url": "http://127.0.0.1/items", "headers": [], "body": {"text": "{}"}},
                "response": {"status": 201, "headers": [["content-type", "application/json"]], "body": {"text": ""}},
            }
        ),
    )
    for value in (finding, ref, finding.exchange):
        assert all(
            getattr(value, f.name) != f.default
            for f in dataclasses.fields(value)
            if f.default is not dataclasses.MISSING
        ), "give every field a value other than its default"
        assert len(value.__reduce__()[1]) == len(dataclasses.fields(value))
        again = pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
        assert again == value and type(again) is type(value)
    assert pickle.loads(pickle.dumps(finding)).to_json() == finding.to_json()
