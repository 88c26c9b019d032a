"""Reading recordings: the streaming HAR walker must yield exactly what mitmproxy's own
reader yields, in bounded memory, and name the entry where a file goes bad."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from mitmproxy import io as mio

from helpers import CORPUS, ROOT, needs_corpus
from statuslint import readers
from statuslint.readers import InputError, read_flows, sniff_har

DEMO_HAR = ROOT / "recordings" / "demo.har"
DEMO_FLOWS = ROOT / "recordings" / "demo.flows"


def summary(flows) -> list[tuple]:
    out = []
    for f in flows:
        resp = getattr(f, "response", None)
        out.append(
            (
                type(f).__name__,
                getattr(getattr(f, "request", None), "method", None),
                getattr(getattr(f, "request", None), "url", None),
                resp.status_code if resp else None,
                tuple(resp.headers.items(multi=True)) if resp else None,
                resp.raw_content if resp else None,
            )
        )
    return out


def mitmproxy_read(path: Path) -> list[tuple]:
    with open(path, "rb") as fo:
        return summary(mio.FlowReader(fo).stream())


def our_read(path: Path) -> list[tuple]:
    with open(path, "rb") as fo:
        return summary(read_flows(fo, sniff_har(path)))


def test_sniff() -> None:
    assert sniff_har(DEMO_HAR)
    assert not sniff_har(DEMO_FLOWS)


@pytest.mark.parametrize("path", [DEMO_HAR, DEMO_FLOWS], ids=lambda p: p.name)
def test_same_flows_as_mitmproxy_reader(path: Path) -> None:
    ours = our_read(path)
    assert ours == mitmproxy_read(path)
    assert len(ours) > 50


@needs_corpus
@pytest.mark.parametrize(
    "name",
    [
        "requestgenerator-all-status-and-method.har",
        "haralyzer-cnn-chrome.har",
        "mitmproxy-firefox.har",
        "mswjs-response-status-304.har",
    ],
)
def test_same_flows_as_mitmproxy_reader_on_corpus(name: str) -> None:
    path = CORPUS / "har" / name
    assert our_read(path) == mitmproxy_read(path)


def test_tiny_chunks_split_every_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Buffer boundaries fall inside strings, numbers and escapes: nothing may change."""
    monkeypatch.setattr(readers, "_CHUNK", 7)
    assert our_read(DEMO_HAR) == mitmproxy_read(DEMO_HAR)


def test_number_cut_at_buffer_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "_CHUNK", 1)
    stream = readers._JsonStream(io.BytesIO(b'{"log": {"entries": [123456, 7]}}'))
    assert list(stream.har_entries()) == [123456, 7]


def test_bom_and_whitespace() -> None:
    data = b"\xef\xbb\xbf \n" + DEMO_HAR.read_bytes()
    flows = list(read_flows(io.BytesIO(data), har=True))
    assert len(flows) == len(mitmproxy_read(DEMO_HAR))


def test_keys_before_and_after_entries_are_skipped() -> None:
    har = json.loads(DEMO_HAR.read_text())
    entry = har["log"]["entries"][0]
    doc = {"x": [1, {"y": "}"}], "log": {"pages": [{"id": "]"}], "entries": [entry], "comment": "z"}, "after": 1}
    flows = list(read_flows(io.BytesIO(json.dumps(doc).encode()), har=True))
    assert len(flows) == 1
    assert flows[0].request.url == entry["request"]["url"]


def test_bad_entry_is_named_and_the_rest_is_read() -> None:
    har = json.loads(DEMO_HAR.read_text())
    entries = har["log"]["entries"][:5]
    del entries[2]["startedDateTime"]
    del entries[3]["response"]
    har["log"]["entries"] = entries
    got = []
    with pytest.raises(InputError, match=r"entry 2: missing field 'startedDateTime' \(1 more unreadable entries\)"):
        for f in read_flows(io.BytesIO(json.dumps(har).encode()), har=True):
            got.append(f)
    assert len(got) == 3


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b'{"log": {"version": "1.2"}}', "no log.entries"),
        (b'{"log": {"entries": [{"a": 1} {"b": 2}]}}', "expected ',' or ']' between entries"),
        (
            b'{"log": {"entries": [{"a": 1}',
            "^truncated after entry 0: the file ends at byte 29 .also unreadable: entry 0: missing",
        ),
        (b'{"log": {"entries": [{"a": tru}]}}', "invalid JSON"),
        (b"{\xff}", "not UTF-8"),
    ],
)
def test_broken_har(data: bytes, error: str) -> None:
    with pytest.raises(InputError, match=error):
        list(read_flows(io.BytesIO(data), har=True))


def test_truncated_flow_file_keeps_earlier_flows() -> None:
    data = DEMO_FLOWS.read_bytes()
    cut = data[: len(data) // 2]
    got = []
    with pytest.raises(InputError, match=r"^truncated after flow \d+: "):
        for f in read_flows(io.BytesIO(cut), har=False):
            got.append(f)
    assert len(got) > 10


@needs_corpus
def test_too_old_flow_format() -> None:
    with (
        open(CORPUS / "flows" / "dumpfile-010.mitm", "rb") as fo,
        pytest.raises(InputError, match="flow format version"),
    ):
        list(read_flows(fo, har=False))


def test_declared_body_reads_the_entrys_own_framing() -> None:
    entry = {
        "response": {
            "bodySize": -1,
            "content": {"size": 12, "text": ""},
            "headers": [
                {"name": "Content-Length", "value": "5"},
                "not a header",
                {"name": "CONTENT-ENCODING", "value": "gzip"},
                {"name": "content-length", "value": 7},
            ],
        }
    }
    assert readers.declared_body(entry) == {
        "text": True,
        "size": 12,
        "body_size": None,
        "content_length": "7",  # the last one, as a string
        "encoded": True,
    }
    assert readers.declared_body({"response": {"headers": [{"name": "X"}]}}) == {
        "text": False,
        "size": None,
        "body_size": None,
        "content_length": None,
        "encoded": False,
    }
