"""The audit's flow-file reader (statuslint.flowfile) must yield what mitmproxy's
FlowReader yields, connections aside, and fail where and as it fails."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import http
from mitmproxy import io as mio
from mitmproxy.io import tnetstring
from mitmproxy.test import tflow

from helpers import CORPUS, ROOT
from statuslint import flowfile
from statuslint.readers import InputError, read_indexed

RECORDINGS = sorted((ROOT / "recordings").rglob("*.flows"))
CORPUS_FLOWS = sorted((CORPUS / "flows").glob("*")) if (CORPUS / "flows").is_dir() else []


def state(f: Any) -> dict[str, Any]:
    s = f.get_state()
    # The audit reader leaves the connections out: everything else must be equal.
    s.pop("client_conn")
    s.pop("server_conn")
    return s


def mitmproxy_states(data: bytes) -> tuple[list[dict[str, Any]], str | None]:
    out: list[dict[str, Any]] = []
    try:
        for f in mio.FlowReader(io.BytesIO(data)).stream():
            out.append(state(f))
    except Exception as e:  # whatever mitmproxy raises, the audit reader must raise too
        return out, f"{type(e).__name__}: {e}"
    return out, None


def fast_states(data: bytes) -> tuple[list[dict[str, Any]], str | None]:
    out: list[dict[str, Any]] = []
    try:
        for f in flowfile.stream(io.BytesIO(data)):
            out.append(state(f))
    except Exception as e:
        return out, f"{type(e).__name__}: {e}"
    return out, None


def written(*flows: Any) -> bytes:
    buf = io.BytesIO()
    writer = mio.FlowWriter(buf)
    for f in flows:
        writer.add(f)
    return buf.getvalue()


@pytest.mark.parametrize("path", RECORDINGS + CORPUS_FLOWS, ids=lambda p: p.name)
def test_same_flows_and_errors_as_flowreader(path: Path) -> None:
    data = path.read_bytes()
    assert fast_states(data) == mitmproxy_states(data)


def test_every_kind_of_flow_part() -> None:
    ws = tflow.twebsocketflow()
    failed = tflow.tflow(err=True)
    streamed = tflow.tflow(resp=True)
    streamed.response.content = None  # a streamed body is recorded without content
    trailers = tflow.tflow(resp=True)
    trailers.request.trailers = http.Headers(x_checksum="1")
    trailers.response.trailers = http.Headers(grpc_status="0")
    marked = tflow.tflow(resp=True)
    marked.marked, marked.comment, marked.metadata = ":star:", "look", {"k": [1, 2.5, None, True, b"\x00"]}
    others = (tflow.ttcpflow(), tflow.tudpflow(), tflow.tdnsflow())
    data = written(ws, failed, streamed, trailers, marked, *others, tflow.tflow(resp=True))
    fast, error = fast_states(data)
    assert error is None
    assert fast == mitmproxy_states(data)[0]
    assert [s["type"] for s in fast] == ["http"] * 5 + ["tcp", "udp", "dns", "http"]


def test_connections_are_placeholders() -> None:
    f = tflow.tflow(resp=True)
    (read,) = flowfile.stream(io.BytesIO(written(f)))
    assert read.request.host == f.request.host
    assert read.client_conn.peername == ("", 0)
    assert read.server_conn.address is None


@pytest.mark.parametrize("cut", [1, 3, 10, -200, -2, -1])
def test_truncated_files_fail_as_flowreader_does(cut: int) -> None:
    data = written(tflow.tflow(resp=True), tflow.tflow(resp=True), tflow.tflow(resp=True))
    data = data[:cut] if cut > 0 else data[: len(data) + cut]
    fast, error = fast_states(data)
    assert (fast, error) == mitmproxy_states(data)


def test_corrupt_record_after_good_ones() -> None:
    good = written(tflow.tflow(resp=True), tflow.tflow(resp=True))
    for bad in (b"5:hello!", b"3:abc}", b"x:", b"12:" + b"1:a;" * 3 + b"]"):
        data = good + bad
        assert fast_states(data) == mitmproxy_states(data)
        assert len(fast_states(data)[0]) == 2


def test_audit_reader_names_the_flow_where_a_file_is_cut() -> None:
    data = written(*(tflow.tflow(resp=True) for _ in range(4)))
    cut = io.BytesIO(data[: len(data) - 30])
    got = []
    with pytest.raises(InputError, match=r"^truncated after flow 2: the file ends at byte \d+, inside flow 3$"):
        for index, _f in read_indexed(cut, har=False, for_audit=True):
            got.append(index)
    assert got == [0, 1, 2]


@pytest.mark.parametrize(
    ("part", "field", "value"),
    [
        ("request", "port", "443"),
        ("request", "host", b"example.com"),
        ("request", "method", "GET"),
        ("request", "headers", [[b"a", "b"]]),
        ("request", "timestamp_start", None),
        ("response", "status_code", "200"),
        ("response", "reason", None),
        ("response", "content", "text"),
        ("response", "trailers", "x"),
        ("response", "extra", 1),
    ],
)
def test_ill_typed_fields_are_read_or_refused_as_flowreader_does(part: str, field: str, value: object) -> None:
    state = tflow.tflow(resp=True).get_state()
    state[part][field] = value
    data = written(tflow.tflow(resp=True)) + tnetstring.dumps(state) + written(tflow.tflow(resp=True))
    assert fast_states(data) == mitmproxy_states(data)
