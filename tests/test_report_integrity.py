"""The report is right (issue 7): what --max-findings keeps, status 0 on the wire, the same
report under every hash seed, and endpoints named by the server a request was sent to.

The live cases run a real mitmdump with the statuslint addon in front of a tiny raw-socket
upstream on 127.0.0.1, which can answer what no framework would (``HTTP/1.1 000 Zero``).
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from mitmproxy import io as mitmio

from helpers import BIN, CORPUS, ROOT, default_policy, free_port, http_flow, load_report, needs_corpus
from statuslint.auditor import Auditor, Limits
from statuslint.stateful import CHECKS
from test_e2e import AUDIT_SCRIPT, HOST, MITMDUMP, REQUEST_TIMEOUT, child_env, started, terminate

# --max-findings ---------------------------------------------------------------------------

INFO = ("GET", "/v1/things/1", 503)  # server-error (warning) + retry-after-missing (info)
ERROR = ("GET", "/v1/things/2", 401)  # unauthorized-without-challenge (error)
WARNING = ("POST", "/v1/things", 201)  # created-without-location (warning)
UNREGISTERED = ("GET", "/v1/things/3", 299)  # status-unregistered (info)


def _feed(auditor: Auditor, calls: list[tuple[str, str, int]]) -> None:
    _feed_from(auditor, calls, start=0)


def _feed_from(auditor: Auditor, calls: list[tuple[str, str, int]], start: int) -> None:
    for i, (method, path, status) in enumerate(calls, start):
        auditor.audit_response(http_flow(method, path, status), i, "t")


def _severities(auditor: Auditor) -> list[tuple[str, int]]:
    return [(f.severity.label, f.flow.index if f.flow else -1) for f in auditor.ordered_findings()]


def test_max_findings_keeps_the_most_severe_first_and_the_earliest_within_a_severity() -> None:
    # 10 flows with info+warning findings first, then 3 errors, then 3 warnings.
    calls = [INFO] * 10 + [ERROR] * 3 + [WARNING] * 3
    auditor = Auditor(default_policy(), Limits(max_findings=5))
    _feed(auditor, calls)
    kept = _severities(auditor)
    assert len(kept) == 5
    # Every error, then the earliest warnings; no info while a warning was left out.
    assert kept == [("warning", 0), ("warning", 1), ("error", 10), ("error", 11), ("error", 12)]
    limits = auditor.summary()["limits"]
    total = sum(auditor.summary()["by_severity"].values())
    assert limits["findings_omitted"] == total - 5
    assert limits["findings_omitted_by_severity"] == {"error": 0, "warning": 13 - 2, "info": 10}
    assert len(auditor.findings) <= 5  # never more held than the cap, at any time


def test_max_findings_counts_api_level_findings() -> None:
    # Two DELETE endpoints answering 204 and one 200 (an info each, ok-without-body), then
    # three info-only flows: with the API-level inconsistent-status (a warning), 6 findings.
    deletes = [("DELETE", "/v1/a/1", 204), ("DELETE", "/v1/b/1", 200), ("DELETE", "/v1/c/1", 204)]
    auditor = Auditor(default_policy(), Limits(max_findings=3))
    for i, (method, path, status) in enumerate(deletes):
        auditor.audit_response(http_flow(method, path, status, body=b""), i, "t")
    _feed_from(auditor, [UNREGISTERED] * 3, start=3)
    assert [f.rule for f in auditor.api_findings()] == ["inconsistent-status"]
    findings = auditor.ordered_findings()
    assert len(findings) == 3  # not 3 kept flow findings plus the API-level one
    # The API-level warning outranks every info; then the earliest infos.
    assert [(f.rule, f.flow.index if f.flow else None) for f in findings] == [
        ("ok-without-body", 1),
        ("status-unregistered", 3),
        ("inconsistent-status", None),
    ]
    limits = auditor.summary()["limits"]
    assert limits["findings_omitted"] == 2
    assert limits["findings_omitted_by_severity"] == {"error": 0, "warning": 0, "info": 2}


def test_max_findings_zero_keeps_everything() -> None:
    auditor = Auditor(default_policy(), Limits(max_findings=0))
    _feed(auditor, [INFO] * 30)
    summary = auditor.summary()
    assert len(auditor.ordered_findings()) == sum(summary["by_severity"].values()) == 60
    assert summary["limits"]["findings_omitted_by_severity"] == {"error": 0, "warning": 0, "info": 0}


def test_max_findings_lowered_on_a_running_audit_drops_the_least_severe() -> None:
    auditor = Auditor(default_policy(), Limits(max_findings=100))
    _feed(auditor, [ERROR, INFO, INFO, ERROR])
    auditor.set_limits(Limits(max_findings=2))
    assert _severities(auditor) == [("error", 0), ("error", 3)]


# Status 0 ---------------------------------------------------------------------------------


def test_status_0_is_no_answer_only_in_a_har() -> None:
    har = Auditor(default_policy())
    assert har.audit_response(http_flow(status=0), 0, "x.har", har=True) == []
    assert har.summary()["not_audited"]["status_0"] == 1
    wire = Auditor(default_policy())
    assert "status-out-of-range" in [f.rule for f in wire.audit_response(http_flow(status=0), 0, "x.flows")]
    assert wire.summary()["not_audited"]["status_0"] == 0
    assert wire.summary()["audited"] == 1


class RawUpstream:
    """An HTTP/1.1 server on a raw socket: ``/zero`` is answered ``000 Zero``, anything else
    ``201`` with a small JSON body and no Location. One request per connection."""

    def __init__(self) -> None:
        self.sock = socket.create_server((HOST, 0))
        self.port = self.sock.getsockname()[1]
        self.paths: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(REQUEST_TIMEOUT)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    path = data.split(b" ", 2)[1].decode("latin-1") if data.count(b" ") >= 2 else "?"
                    self.paths.append(path)
                    if path == "/zero":
                        conn.sendall(b"HTTP/1.1 000 Zero\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    else:
                        body = b'{"id": 2}'
                        conn.sendall(
                            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
                        )
                except OSError:
                    continue

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def upstream() -> Iterator[RawUpstream]:
    server = RawUpstream()
    try:
        yield server
    finally:
        server.close()


def raw_request(proxy_port: int, request: bytes) -> bytes:
    """Send one raw request to the proxy; everything it answers until it closes or stalls."""
    with socket.create_connection((HOST, proxy_port), timeout=REQUEST_TIMEOUT) as s:
        s.sendall(request)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
                if b"\r\n\r\n" in out and (b"Content-Length: 0" in out or out.endswith(b"}")):
                    break
        except TimeoutError:
            pass
        return out


def mitmdump_forward(proxy_port: int, tmp: Path, report: Path, *extra: str) -> list[str | Path]:
    return [
        MITMDUMP,
        "-s",
        AUDIT_SCRIPT,
        "--listen-host",
        HOST,
        "-p",
        str(proxy_port),
        "--set",
        f"confdir={tmp / 'confdir'}",
        "--set",
        f"statuslint_report={report}",
        "--flow-detail",
        "0",
        *extra,
    ]


def test_live_status_000_is_audited_as_out_of_range(upstream: RawUpstream, tmp_path: Path) -> None:
    proxy_port, report_path = free_port(), tmp_path / "report.json"
    with started(mitmdump_forward(proxy_port, tmp_path, report_path), tmp_path, "mitmdump", proxy_port) as proc:
        url = f"http://{HOST}:{upstream.port}/zero"
        answer = raw_request(proxy_port, f"GET {url} HTTP/1.1\r\nHost: {HOST}:{upstream.port}\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 0 Zero"), answer  # the client did get an answer
        assert terminate(proc) == 0, proc.output()[-3000:]
    report = load_report(report_path)
    assert report["summary"]["not_audited"]["status_0"] == 0
    assert report["summary"]["audited"] == 1
    [finding] = [f for f in report["findings"] if f["rule"] == "status-out-of-range"]
    assert finding["flow"]["status"] == 0 and finding["flow"]["url"] == url


# The endpoint names the server the request was sent to -------------------------------------


def test_forward_proxy_files_a_request_under_its_target_not_its_host_header(
    upstream: RawUpstream, tmp_path: Path
) -> None:
    proxy_port, report_path = free_port(), tmp_path / "report.json"
    target = f"{HOST}:{upstream.port}"
    with started(mitmdump_forward(proxy_port, tmp_path, report_path), tmp_path, "mitmdump", proxy_port) as proc:
        request = f"POST http://{target}/created/2 HTTP/1.1\r\nHost: evil.example.test\r\nContent-Length: 0\r\n\r\n"
        assert raw_request(proxy_port, request.encode()).startswith(b"HTTP/1.1 201")
        assert terminate(proc) == 0, proc.output()[-3000:]
    assert upstream.paths == ["/created/2"]  # it reached our upstream, whatever Host said
    report = load_report(report_path)
    assert [e["host"] for e in report["summary"]["endpoints"]] == [target]
    [finding] = [f for f in report["findings"] if f["rule"] == "created-without-location"]
    assert finding["endpoint"] == f"POST {target} /created/{{id}}"
    assert finding["flow"]["url"] == f"http://{target}/created/2"
    assert "evil" not in _without_exchanges(report)


def test_reverse_proxy_endpoints_carry_the_upstream_even_when_the_host_header_is_kept(
    upstream: RawUpstream, tmp_path: Path
) -> None:
    proxy_port, report_path = free_port(), tmp_path / "report.json"
    target = f"{HOST}:{upstream.port}"
    cmd = mitmdump_forward(
        proxy_port, tmp_path, report_path, "--mode", f"reverse:http://{target}", "--set", "keep_host_header=true"
    )
    with started(cmd, tmp_path, "mitmdump", proxy_port) as proc:
        request = "POST /created/2 HTTP/1.1\r\nHost: evil.example.test\r\nContent-Length: 0\r\n\r\n"
        assert raw_request(proxy_port, request.encode()).startswith(b"HTTP/1.1 201")
        assert terminate(proc) == 0, proc.output()[-3000:]
    report = load_report(report_path)
    assert [e["host"] for e in report["summary"]["endpoints"]] == [target]
    assert "evil" not in _without_exchanges(report)


def _without_exchanges(report: dict) -> str:
    """The report but the exchanges, which show the request's headers as they were sent
    (a made-up Host included): where statuslint names the server, evil must not appear."""
    return json.dumps({**report, "findings": [{**f, "exchange": None} for f in report["findings"]]})


# Same input, same report ------------------------------------------------------------------


def _bounded_state_recording(path: Path) -> None:
    """Traffic that fills the bounded 'already reported' state of not-implemented-but-
    implemented (32 endpoints a host), so what it forgets decides what is reported again."""
    flows = [http_flow("PATCH", "/ok", 200)]
    for _ in range(2):
        flows += [http_flow("PATCH", f"/r{i}", 501) for i in range(40)]
    with path.open("wb") as fo:
        writer = mitmio.FlowWriter(fo)
        for f in flows:
            writer.add(f)


def _audit(inputs: list[Path], seed: str, report: Path) -> tuple[str, str]:
    """The JSON report and the text summary printed beside it, under one hash seed."""
    env = {**child_env(), "PYTHONHASHSEED": seed}
    cmd = [str(BIN / "statuslint"), "audit", *map(str, inputs), "--output", str(report), "--fail-on", "none"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return report.read_text(encoding="utf-8"), done.stdout


@needs_corpus
def test_the_same_recordings_give_the_same_report_under_every_hash_seed(tmp_path: Path) -> None:
    bounded = tmp_path / "bounded.flows"
    _bounded_state_recording(bounded)
    corpus_har = CORPUS / "har" / "requestgenerator-all-status-and-method.har"
    # The WsgiDAV recording has the one 304 with a wrong Content-Length the demo API cannot send.
    wsgidav = ROOT / "recordings" / "servers" / "wsgidav-crossflow.flows"
    inputs = [ROOT / "recordings" / "demo.flows", corpus_har, bounded, wsgidav]
    runs = {seed: _audit(inputs, seed, tmp_path / f"report-{seed}.json") for seed in ("0", "1", "2", "3")}
    first_json, first_text = runs["0"]
    # Every stateful rule fired, so every stateful check's state decided something.
    by_rule = json.loads(first_json)["summary"]["by_rule"]
    assert set(CHECKS) <= set(by_rule), set(CHECKS) - set(by_rule)
    first_text = first_text.replace(str(tmp_path / "report-0.json"), "<report>")
    for seed, (report, text) in runs.items():
        # The text names the report it wrote: the one place the runs may differ.
        text = text.replace(str(tmp_path / f"report-{seed}.json"), "<report>")
        assert report == first_json, f"PYTHONHASHSEED={seed} gave another JSON report"
        assert text == first_text, f"PYTHONHASHSEED={seed} gave another text summary"
