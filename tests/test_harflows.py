"""statuslint's HAR conversion (harflows.py) must build, for every entry, the flow that
mitmproxy's own ``request_to_flow`` builds with the installed mitmproxy (11 and 12
differ: 12 decodes bodies and writes Content-Length), or fail with its error. Compared
attribute by attribute, types included, on every entry of the shared corpus, the
project's recordings and hand-made edge cases; only the random ids and the wall-clock
creation time may differ."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from mitmproxy.io.har import request_to_flow

from helpers import CORPUS, ROOT, needs_corpus
from statuslint import harflows, messages
from statuslint.harflows import har_flow

_RANDOM = {"id", "timestamp_created"}


def fields(obj: Any) -> Any:
    """Everything an object holds, as comparable plain values (with their types)."""
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        return (
            type(obj).__name__,
            {k: fields(v) for k, v in vars(obj).items() if k not in _RANDOM},
        )
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [fields(v) for v in obj])
    if isinstance(obj, dict):
        return {k: fields(v) for k, v in obj.items()}
    return (type(obj).__name__, obj)


def outcome(convert, entry: Any) -> Any:
    try:
        return fields(convert(copy.deepcopy(entry)))
    except Exception as e:
        return ("error", type(e).__name__, str(e))


def for_audit(entry: Any) -> Any:
    return har_flow(entry, connections=False)


def audited_outcome(convert, entry: Any) -> Any:
    """``outcome`` less the connections, which a conversion for an audit leaves out."""
    result = outcome(convert, entry)
    if result[0] == "HTTPFlow":
        result[1].pop("client_conn")
        result[1].pop("server_conn")
    return result


def plain_taken(entry: Any) -> bool:
    try:
        harflows._plain_flow(copy.deepcopy(entry))
    except Exception:
        return False
    return True


def corpus_entries() -> list[tuple[str, int, Any]]:
    paths = sorted(CORPUS.glob("har/*.har")) if CORPUS.is_dir() else []
    paths += sorted((ROOT / "recordings").glob("*.har"))
    out = []
    for path in paths:
        entries = json.loads(path.read_text(encoding="utf-8-sig"))["log"]["entries"]
        out += [(path.name, i, e) for i, e in enumerate(entries)]
    return out


def test_direct_construction_is_available() -> None:
    # Else every entry silently takes the slow path and the figures in benchmarks/ fall.
    assert harflows._DIRECT


@needs_corpus
def test_corpus_entries_convert_as_mitmproxy_does() -> None:
    entries = corpus_entries()
    plain = 0
    for name, index, entry in entries:
        expected = outcome(request_to_flow, entry)
        assert outcome(har_flow, entry) == expected, f"{name} entry {index}"
        assert audited_outcome(for_audit, entry) == audited_outcome(request_to_flow, entry), f"{name} entry {index}"
        if plain_taken(entry):
            plain += 1
            assert outcome(harflows._plain_flow, entry) == expected, f"{name} entry {index}"
    assert len(entries) > 1000
    # The fast path must be the common one, or it buys nothing.
    assert plain > len(entries) // 2, (plain, len(entries))


def entry(**changes: Any) -> dict[str, Any]:
    """A plain entry, with ``request.X``/``response.X``/``content.X`` keys changed
    (None deletes)."""
    base: dict[str, Any] = {
        "startedDateTime": "2024-01-02T03:04:05.678Z",
        "time": 12.5,
        "serverIPAddress": "10.0.0.1",
        "request": {
            "method": "POST",
            "url": "https://api.example.test/v1/items?x=1",
            "httpVersion": "HTTP/1.1",
            "headers": [
                {"name": "Host", "value": "api.example.test"},
                {"name": "Content-Type", "value": "application/json"},
            ],
            "postData": {"mimeType": "application/json", "text": '{"name": "caf\u00e9"}'},
        },
        "response": {
            "status": 201,
            "statusText": "Created",
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": "Content-Type", "value": "application/json"}],
            "content": {"size": 2, "mimeType": "application/json", "text": "{}"},
        },
    }
    for key, value in changes.items():
        where, _, name = key.partition("__")
        target = {
            "entry": base,
            "request": base["request"],
            "response": base["response"],
            "content": base["response"]["content"],
        }[where]
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    return base


def hdrs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in pairs]


URLS = [
    "http://api.example.test/",
    "http://api.example.test",
    "https://api.example.test:8443/a/b?c=d&e=f",
    "https://api.example.test:443/a",
    "http://api.example.test:80/a",
    "http://api.example.test:0/a",
    "http://api.example.test:00080/a",
    "https://api.example.test:65535/a",
    "https://api.example.test:65536/a",
    "https://api.example.test:/a",
    "https://api.example.test?q=1",
    "https://api.example.test/a?",
    "https://api.example.test/a??",
    "https://api.example.test/a?b?",
    "https://api.example.test/a#frag",
    "https://api.example.test/a;p=1?q",
    "https://api.example.test//double",
    "https://api.example.test/%7Euser/caf%C3%A9",
    "https://api.example.test/a b",
    "https://api.example.test/caf\u00e9",
    "https://API.Example.test/a",
    "HTTPS://api.example.test/a",
    "https://user:pw@api.example.test/a",
    "https://[::1]:8080/a",
    "https://127.0.0.1:8080/a",
    "https://under_score.example.test/a",
    "https://xn--caf-dma.example.test/a",
    "https://caf\u00e9.example.test/a",
    "https://" + "a" * 64 + ".test/a",
    "https://" + ".".join(["a" * 60] * 5) + "/a",
    "https://a..b/a",
    "https://example.test./a",
    "ftp://example.test/a",
    "https:///a",
    "/relative",
    "",
]


@pytest.mark.parametrize("url", URLS)
def test_urls(url: str) -> None:
    case = entry(request__url=url)
    assert outcome(har_flow, case) == outcome(request_to_flow, case)
    assert audited_outcome(for_audit, case) == audited_outcome(request_to_flow, case)
    if plain_taken(case):
        assert outcome(harflows._plain_flow, case) == outcome(request_to_flow, case)


EDGE_CASES = {
    "no body no post": entry(request__postData=None, request__method="GET"),
    "no host header": entry(request__headers=hdrs(("Accept", "*/*"))),
    "two host headers": entry(request__headers=hdrs(("host", "a"), ("X", "1"), ("HOST", "b"))),
    "transfer-encoding": entry(request__headers=hdrs(("Transfer-Encoding", "chunked"))),
    "response transfer-encoding": entry(response__headers=hdrs(("Transfer-Encoding", "chunked"))),
    "request content-length": entry(request__headers=hdrs(("Content-Length", "99"), ("Host", "x"))),
    "response content-length": entry(response__headers=hdrs(("Content-Length", "99"))),
    "empty content-encoding": entry(
        request__headers=hdrs(("Content-Encoding", "")), response__headers=hdrs(("Content-Encoding", ""))
    ),
    "gzip response": entry(response__headers=hdrs(("Content-Encoding", "gzip"))),
    "gzip empty response": entry(response__headers=hdrs(("Content-Encoding", "gzip")), content__text=""),
    "GZIP response": entry(response__headers=hdrs(("Content-Encoding", "GZIP"))),
    "deflate response": entry(response__headers=hdrs(("Content-Encoding", "deflate"))),
    "zstd response": entry(response__headers=hdrs(("Content-Encoding", "zstd"))),
    "br empty response": entry(response__headers=hdrs(("Content-Encoding", "br")), content__text=""),
    "identity response": entry(response__headers=hdrs(("Content-Encoding", "identity"))),
    "identity empty response": entry(response__headers=hdrs(("Content-Encoding", "identity")), content__text=""),
    "none response": entry(response__headers=hdrs(("content-encoding", "none"), ("Content-Length", "3"))),
    "empty coding empty body": entry(response__headers=hdrs(("Content-Encoding", "")), content__text=""),
    "base64 codec coding": entry(response__headers=hdrs(("Content-Encoding", "base64"))),
    "utf-8 coding": entry(response__headers=hdrs(("Content-Encoding", "utf-8"))),
    "rot13 coding": entry(response__headers=hdrs(("Content-Encoding", "rot13"))),
    "gzip and transfer-encoding": entry(
        response__headers=hdrs(("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked"))
    ),
    "gzip and content-length": entry(response__headers=hdrs(("Content-Length", "1"), ("Content-Encoding", "gzip"))),
    "gzip base64 body": entry(
        response__headers=hdrs(("Content-Encoding", "gzip")),
        content__encoding="base64",
        content__text=base64.b64encode(b"\x00\xffbin").decode(),
    ),
    "br request": entry(request__headers=hdrs(("Content-Encoding", "br"))),
    "bogus content-encoding": entry(response__headers=hdrs(("Content-Encoding", "bogus"))),
    "two content-encodings": entry(response__headers=hdrs(("Content-Encoding", "gzip"), ("content-encoding", "br"))),
    "latin-1 default": entry(response__headers=hdrs(("Content-Type", "text/plain")), content__text="caf\u00e9"),
    "beyond latin-1": entry(response__headers=hdrs(("Content-Type", "text/plain")), content__text="\u20ac"),
    "request beyond latin-1": entry(
        request__headers=hdrs(("Content-Type", "text/plain")), request__postData={"text": "\u20ac"}
    ),
    "request no content-type": entry(request__headers=[], request__postData={"text": "\u20ac"}),
    "request bogus charset": entry(
        request__headers=hdrs(("Content-Type", "text/plain; charset=bogus")), request__postData={"text": "x"}
    ),
    "request utf-16": entry(
        request__headers=hdrs(("Content-Type", "text/plain; charset=utf-16")), request__postData={"text": "x"}
    ),
    "request rot13": entry(
        request__headers=hdrs(("Content-Type", "text/plain; charset=rot13")), request__postData={"text": "x"}
    ),
    "gbk": entry(response__headers=hdrs(("Content-Type", "text/html; charset=GBK")), content__text="\u4e2d"),
    "xml without charset": entry(response__headers=hdrs(("Content-Type", "application/xml")), content__text="\u20ac"),
    "html without charset": entry(response__headers=hdrs(("Content-Type", "text/html")), content__text="\u20ac"),
    "content.encoding utf-16": entry(content__encoding="utf-16"),
    "content.encoding bogus": entry(content__encoding="bogus"),
    "content.encoding number": entry(content__encoding=5),
    "base64": entry(content__encoding="base64", content__text=base64.b64encode(b"\x00\xffbin").decode()),
    "bad base64": entry(content__encoding="base64", content__text="!!!"),
    "base64 no text": entry(content__encoding="base64", content__text=None),
    "no text": entry(content__text=None),
    "null text": entry(content__text=[]),
    "lone surrogate text": entry(content__text="\ud800"),
    "lone surrogate header": entry(response__headers=hdrs(("X", "\ud800"))),
    "surrogate-escape method": entry(request__method="G\udce9T"),
    "non-str method": entry(request__method=5),
    "list headers": entry(response__headers=[["X-A", "1"], ["X-B", "2"]]),
    "short list header": entry(response__headers=[["X-A"]]),
    "dict headers": entry(response__headers={"ab": "c"}),
    "non-str header": entry(response__headers=[{"name": "X", "value": 5}]),
    "status string": entry(response__status="200"),
    "status bool": entry(response__status=True),
    "status unknown": entry(response__status=599),
    "status zero": entry(response__status=0),
    "http/2.0": entry(request__httpVersion="http/2.0", response__httpVersion="HTTP/2"),
    "HTTP/3": entry(request__httpVersion="HTTP/3", response__httpVersion="h3"),
    "httpVersion null": entry(request__httpVersion=[], response__httpVersion=None),
    "no httpVersion": entry(response__httpVersion=None),
    "time int": entry(entry__time=7),
    "time string": entry(entry__time="7"),
    "no time": entry(entry__time=None),
    "naive date": entry(entry__startedDateTime="2024-01-02T03:04:05"),
    "offset date": entry(entry__startedDateTime="2024-01-02T03:04:05.1+02:00"),
    "bad date": entry(entry__startedDateTime="yesterday"),
    "no date": entry(entry__startedDateTime=None),
    "no server address": entry(entry__serverIPAddress=None),
    "empty server address": entry(entry__serverIPAddress=""),
    "number server address": entry(entry__serverIPAddress=7),
    "postData without text": entry(request__postData={"mimeType": "x"}),
    "postData null text": entry(request__postData={"text": None}),
    "postData number": entry(request__postData={"text": 5}),
    "no response": entry(entry__response=None),
    "response list": entry(entry__response=[]),
    "content list": entry(response__content=[]),
    "no request headers": entry(request__headers=None),
}


@pytest.mark.parametrize("case", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_cases(case: dict[str, Any]) -> None:
    expected = outcome(request_to_flow, case)
    assert outcome(har_flow, case) == expected
    assert audited_outcome(for_audit, case) == audited_outcome(request_to_flow, case)
    if plain_taken(case):
        assert outcome(harflows._plain_flow, case) == expected


def test_not_an_object() -> None:
    for value in (None, 5, "x", [], [1]):
        assert outcome(har_flow, value) == outcome(request_to_flow, value)
        assert outcome(for_audit, value) == outcome(request_to_flow, value)


def test_flows_for_an_audit_share_placeholder_connections() -> None:
    # Only the connections: the flows themselves stay apart.
    a, b = for_audit(entry()), for_audit(entry())
    assert a.client_conn is b.client_conn and a.server_conn is b.server_conn
    assert a.server_conn.address is None and har_flow(entry()).server_conn.address == ("10.0.0.1", 443)
    assert a.id != b.id
    a.request.headers["X-New"] = "1"
    assert "X-New" not in b.request.headers


def test_plain_entry_takes_the_fast_path() -> None:
    # The comparisons above only hold the fast path to account where it is taken.
    assert plain_taken(entry())
    assert plain_taken(entry(request__postData=None, request__method="GET"))
    assert plain_taken(entry(response__headers=hdrs(("Content-Encoding", "gzip"))))
    assert not plain_taken(entry(request__headers=hdrs(("Content-Encoding", "gzip"))))


def test_flows_are_independent() -> None:
    # Connections are copied from a template: nothing may be shared between two flows.
    a, b = har_flow(entry()), har_flow(entry())
    assert a.id != b.id and a.client_conn.id != b.client_conn.id and a.server_conn.id != b.server_conn.id
    a.request.headers["X-New"] = "1"
    a.client_conn.sni = "changed"
    assert "X-New" not in b.request.headers and b.client_conn.sni is None


def test_demo_recording_is_converted(tmp_path: Path) -> None:
    # The reader uses this conversion: its flows carry what the entries declared.
    from statuslint.readers import read_flows, read_indexed

    with open(ROOT / "recordings" / "demo.har", "rb") as fo:
        flows = list(read_flows(fo, har=True))
    with open(ROOT / "recordings" / "demo.har", "rb") as fo:
        audited = [f for _, f in read_indexed(fo, har=True, for_audit=True)]
    entries = json.loads((ROOT / "recordings" / "demo.har").read_text(encoding="utf-8"))["log"]["entries"]
    expected = [fields(request_to_flow(e).request) for e in entries]
    assert [fields(f.request) for f in flows] == [fields(f.request) for f in audited] == expected


def test_ids_are_uuid4_strings() -> None:
    ids = [messages.new_id() for _ in range(2000)]  # across a batch boundary
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(value)
        assert str(parsed) == value
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
