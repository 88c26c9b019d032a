"""Stopping a real ``statuslint proxy`` (and ``mitmdump -s``) while clients are still
talking: every response a client received is audited, logged and in the report, and the
report agrees with the log, whichever signal stops it (SIGTERM, SIGINT, SIGHUP)."""

from __future__ import annotations

import asyncio
import http.client
import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from mitmproxy.http import HTTPFlow
from mitmproxy.test import tflow

from helpers import free_port
from statuslint.findingslog import FLUSH_LINES, FLUSH_SECONDS, FindingsLog
from statuslint.stopping import GracefulStop
from test_e2e import AUDIT_SCRIPT, HOST, MITMDUMP, STATUSLINT, STOP_TIMEOUT, Proc, started

RULE = "unauthorized-without-challenge"
CLIENTS = 8
PER_CLIENT = 1500  # bounded: a client stops by itself after this many requests
SIGNAL_AFTER = 150  # responses received by the clients before the signal
SUMMARY = "statuslint audit summary"


class _Upstream(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1; every answer a 401 without a challenge, so every audited
    response makes exactly one finding."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = json.dumps({"error": "unauthorized", "path": self.path}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def upstream() -> Iterator[int]:
    server = ThreadingHTTPServer((HOST, 0), _Upstream)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class Load:
    """Clients on keep-alive connections, each sending up to PER_CLIENT requests and
    stopping at the first failure (the proxy going away)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(CLIENTS)]

    def _client(self, n: int) -> None:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            for i in range(PER_CLIENT):
                path = f"/c{n}/r{i}"
                conn.request("GET", path, headers={"Accept": "application/json"})
                response = conn.getresponse()
                body = response.read()
                if response.status != 401 or json.loads(body)["path"] != path:
                    raise AssertionError(f"{path}: {response.status} {body!r}")
                with self.lock:
                    self.received.append(path)
        except (OSError, http.client.HTTPException):
            return  # the proxy stopped: this client stops too
        finally:
            conn.close()

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 30
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"only {len(self.received)} responses in 30s"
            assert any(t.is_alive() for t in self.threads), "every client stopped early"
            time.sleep(0.005)

    def join(self) -> None:
        for t in self.threads:
            t.join(timeout=30)
            assert not t.is_alive(), "a load client hung"


def logged_paths(log: Path) -> list[str]:
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return [urlsplit(r["flow"]["url"]).path for r in records if r["rule"] == RULE]


def stop_with(proc: Proc, signum: int) -> int:
    proc.popen.send_signal(signum)
    try:
        return proc.popen.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"no exit within {STOP_TIMEOUT:.0f}s of signal {signum}:\n{proc.output()[-4000:]}")


def check_nothing_lost(load: Load, report_path: Path, log_path: Path) -> None:
    received = set(load.received)
    assert len(received) == len(load.received) >= SIGNAL_AFTER
    logged = logged_paths(log_path)
    assert len(set(logged)) == len(logged), "a finding was logged twice"
    report = json.loads(report_path.read_text(encoding="utf-8"))
    reported = [urlsplit(f["flow"]["url"]).path for f in report["findings"] if f["rule"] == RULE]
    missing = received - set(logged)
    assert not missing, f"{len(missing)} responses reached clients but are not in the log, e.g. {sorted(missing)[:5]}"
    # The report agrees with the log, flow by flow.
    assert sorted(reported) == sorted(logged)
    summary = report["summary"]
    assert summary["by_rule"][RULE] == len(logged) == summary["audited"]
    assert report["partial"] is False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_stop_under_load_loses_no_finding(tmp_path: Path, signum: signal.Signals) -> None:
    report_path, log_path = tmp_path / "report.json", tmp_path / "findings.jsonl"
    port = free_port()
    with upstream() as up:
        cmd = [
            STATUSLINT, "proxy", "--reverse", f"http://{HOST}:{up}", "--port", str(port),
            "--confdir", tmp_path / "confdir", "--report", report_path, "--log", log_path,
        ]  # fmt: skip
        with started(cmd, tmp_path, "proxy", port) as proc:
            load = Load(port)
            load.start()
            load.wait_for(SIGNAL_AFTER)
            code = stop_with(proc, signum)
            load.join()
            output = proc.output()
    assert code == 0, output[-4000:]
    assert SUMMARY in output
    assert "anyone who can reach" not in output  # loopback: no exposure warning
    check_nothing_lost(load, report_path, log_path)
    # Still under load when the signal came: the stop had something to drain or refuse.
    assert len(load.received) < CLIENTS * PER_CLIENT


def test_mitmdump_script_sighup_writes_summary_and_report(tmp_path: Path) -> None:
    report_path, log_path = tmp_path / "report.json", tmp_path / "findings.jsonl"
    port = free_port()
    with upstream() as up:
        cmd = [
            MITMDUMP, "-s", AUDIT_SCRIPT, "--mode", f"reverse:http://{HOST}:{up}", "--listen-host", HOST,
            "-p", str(port), "--set", f"confdir={tmp_path / 'confdir'}", "--flow-detail", "0",
            "--set", f"statuslint_report={report_path}", "--set", f"statuslint_log={log_path}",
        ]  # fmt: skip
        with started(cmd, tmp_path, "mitmdump", port) as proc:
            load = Load(port)
            load.start()
            load.wait_for(SIGNAL_AFTER)
            code = stop_with(proc, signal.SIGHUP)
            load.join()
            output = proc.output()
    assert code == 0, output[-4000:]
    assert SUMMARY in output
    check_nothing_lost(load, report_path, log_path)


def test_a_killed_proxy_loses_no_finding_older_than_the_flush_window(tmp_path: Path) -> None:
    """SIGKILL leaves no time to write anything: every finding made more than
    FLUSH_SECONDS before it is on disk all the same."""
    log_path = tmp_path / "findings.jsonl"
    port = free_port()
    with upstream() as up:
        cmd = [
            STATUSLINT, "proxy", "--reverse", f"http://{HOST}:{up}", "--port", str(port),
            "--confdir", tmp_path / "confdir", "--log", log_path,
        ]  # fmt: skip
        with started(cmd, tmp_path, "proxy", port) as proc:
            conn = http.client.HTTPConnection(HOST, port, timeout=10)
            sent = []
            for i in range(300):
                sent.append(f"/k/{i}")
                conn.request("GET", sent[-1], headers={"Accept": "application/json"})
                response = conn.getresponse()
                response.read()
                assert response.status == 401
            conn.close()
            time.sleep(FLUSH_SECONDS * 3)
            proc.popen.kill()
            proc.popen.wait(timeout=STOP_TIMEOUT)
    logged = logged_paths(log_path)
    assert sorted(logged) == sorted(sent)


def test_findings_log_batches_within_its_window_and_close_writes_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "findings.jsonl"

    async def scenario() -> None:
        log = FindingsLog(str(path))
        log.write("a\n")
        log.write("b\n")
        assert path.read_text() == ""  # gathered, not yet written
        await asyncio.sleep(FLUSH_SECONDS * 3)
        assert path.read_text() == "a\nb\n"
        for i in range(FLUSH_LINES):
            log.write(f"{i}\n")
        assert len(path.read_text().splitlines()) == 2 + FLUSH_LINES  # a full batch goes at once
        log.write("last\n")
        log.close()
        assert path.read_text().endswith("last\n")

    asyncio.run(scenario())


def test_answers_still_under_way_after_the_drain_are_cut_off_not_delivered() -> None:
    """The drain is bounded: what is still under way then is never delivered, so it
    cannot be an answer a client got but the report lacks."""

    async def scenario() -> tuple[GracefulStop, list[HTTPFlow]]:
        stopped = asyncio.Event()
        stop = GracefulStop(drain_seconds=0.01)
        assert stop.attach(stopped.set)
        done_in_time, slow, late = tflow.tflow(), tflow.tflow(), tflow.tflow()
        assert stop.admit(done_in_time) and stop.admit(slow)
        stop.on_signal(signal.SIGTERM)
        assert not stop.admit(late) and late.error is not None  # refused: killed, no answer
        assert stop.deliver(done_in_time) and done_in_time.error is None
        await asyncio.wait_for(stopped.wait(), 30)  # the drain gave up on `slow`
        stop.close()
        assert not stop.deliver(slow)
        return stop, [done_in_time, slow, late]

    stop, (_, slow, late) = asyncio.run(scenario())
    assert slow.error is not None and slow.error.msg == late.error.msg
    assert (stop.refused, stop.cut_off) == (1, 1)
    assert stop.report() == (
        "statuslint: stopped: 1 request(s) refused while stopping; 1 answer(s) cut off (neither audited nor delivered)"
    )


def test_a_drained_stop_shuts_down_at_once_and_a_second_signal_does_not_wait() -> None:
    async def scenario() -> list[str]:
        calls: list[str] = []
        stop = GracefulStop(drain_seconds=3600)
        stop.attach(lambda: calls.append("shutdown"))
        f = tflow.tflow()
        stop.admit(f)
        stop.on_signal(signal.SIGINT)
        await asyncio.sleep(0)
        assert calls == []  # waiting for f
        stop.on_signal(signal.SIGINT)  # asked again: stop waiting
        await asyncio.sleep(0)
        return calls

    assert asyncio.run(scenario()) == ["shutdown"]
