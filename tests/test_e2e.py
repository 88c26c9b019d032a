"""End-to-end tests with real processes: the demo API, mitmdump with the statuslint
addon, and the ``statuslint`` console script, talking over 127.0.0.1 only.

Nothing is mocked. Each test starts its proxy as a subprocess on a free loopback port,
drives real HTTP requests through it with urllib (environment proxies disabled, redirects
not followed), stops it with SIGTERM like a user or CI job would, and then checks exit
codes, the JSON report, the JSON-lines log, the process output and written flow files.
Every process is stopped in a ``finally`` and every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import io as mitmio
from mitmproxy.http import HTTPFlow

from helpers import BIN, CORPUS, ROOT, free_port, load_report, needs_corpus, needs_sarif_schema, sarif_schema_errors
from statuslint import reports
from statuslint.flowview import MITMPROXY_DECODES_HAR

HOST = "127.0.0.1"
MITMDUMP = BIN / "mitmdump"
STATUSLINT = BIN / "statuslint"
AUDIT_SCRIPT = ROOT / "addons" / "audit.py"
DEMO_API = ROOT / "recordings" / "demo_api.py"

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
REQUEST_TIMEOUT = 10.0
LOG_POLL_TIMEOUT = 10.0
RUN_TIMEOUT = 60.0

# The demo API's fake credentials (recordings/demo_api.py), plus a query-string secret
# the API ignores. None of them may show up in anything statuslint writes or prints.
BEARER_TOKEN = "demo-secret-token-123"
API_KEY = "demo-api-key-7f3a9c"
SESSION_COOKIE = "demo-session-cookie-abc123"
QUERY_SECRET = "e2e-query-secret-5d1f0b"
SECRETS = (BEARER_TOKEN, API_KEY, SESSION_COOKIE, QUERY_SECRET)

JSON_ACCEPT = {"Accept": "application/json"}
BEARER = {**JSON_ACCEPT, "Authorization": f"Bearer {BEARER_TOKEN}"}
API_KEY_HEADERS = {**JSON_ACCEPT, "X-Api-Key": API_KEY}
COOKIE = {"Cookie": f"PHPSESSID={SESSION_COOKIE}; theme=dark"}

REPORT_FIELDS = {"tool", "policy", "inputs", "findings", "summary"}
FINDING_FIELDS = {"rule", "severity", "message", "reference", "endpoint", "flow", "evidence"}
FLOW_FIELDS = {"source", "index", "method", "url", "status"}
SUMMARY_FIELDS = {"flows", "audited", "by_rule", "by_severity", "endpoints", "coverage"}


# Requests ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request and what the demo API and statuslint must make of it."""

    method: str
    path: str
    status: int
    rules: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    json_body: Any = None


# Sent in this order through one proxy; a finding's flow.index is the call's position.
# Every secret is in at least one request; the query secret in one whose URL is reported.
AUDITED_CALLS: tuple[Call, ...] = (
    Call("GET", "/v1/books", 200, headers={**BEARER, **COOKIE}),
    Call(
        "POST",
        "/v1/authors",
        201,
        ("created-without-location",),
        headers={**API_KEY_HEADERS, **COOKIE},
        json_body={"name": "Octavia E. Butler", "born": 1947},
    ),
    Call("GET", "/v1/books/2", 200, headers=BEARER),
    Call("GET", f"/v1/authors?api_key={QUERY_SECRET}&limit=5", 401, ("unauthorized-without-challenge",), JSON_ACCEPT),
    Call(
        "POST",
        "/v1/books",
        201,
        headers=BEARER,
        json_body={"title": "Roadside Picnic", "author": "A. & B. Strugatsky", "year": 1972},
    ),
    Call("GET", "/v1/books/999", 404, headers=JSON_ACCEPT),
    # 401 done right: with a WWW-Authenticate challenge.
    Call("GET", "/v1/books/search?q=lem", 401, headers={**JSON_ACCEPT, **COOKIE}),
)

# Header secrets only: mitmdump's default flow listing prints request URLs as sent.
FORWARD_CALLS: tuple[Call, ...] = (
    Call("GET", "/v1/books/1", 200, headers={**BEARER, **COOKIE}),
    Call("GET", "/v1/authors", 401, ("unauthorized-without-challenge",), {**JSON_ACCEPT, **COOKIE}),
    Call(
        "POST",
        "/v1/authors",
        201,
        ("created-without-location",),
        headers=API_KEY_HEADERS,
        json_body={"name": "Stanislaw Lem", "born": 1921},
    ),
    Call("GET", "/v1/books", 200, headers=JSON_ACCEPT),
)

# An error (401 without challenge), a warning (201 without Location) and a clean call.
FAIL_ON_CALLS: tuple[Call, ...] = (
    Call("GET", "/v1/books", 200, headers={**BEARER, **COOKIE}),
    Call("GET", "/v1/authors", 401, ("unauthorized-without-challenge",), JSON_ACCEPT),
    Call(
        "POST",
        "/v1/authors",
        201,
        ("created-without-location",),
        headers=API_KEY_HEADERS,
        json_body={"name": "Ursula K. Le Guin", "born": 1929},
    ),
)

# A warning and nothing worse, for --fail-on warning.
WARNING_CALLS: tuple[Call, ...] = (
    Call("GET", "/v1/books/3", 200, headers=JSON_ACCEPT),
    Call(
        "POST",
        "/v1/authors",
        201,
        ("created-without-location",),
        headers=API_KEY_HEADERS,
        json_body={"name": "Italo Calvino", "born": 1923},
    ),
)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand 3xx answers back as they are instead of following them."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def opener(proxy_port: int | None = None) -> urllib.request.OpenerDirector:
    """A urllib opener that ignores *_proxy environment variables; with ``proxy_port`` it
    uses that local mitmdump as its (only) HTTP proxy."""
    proxies = {"http": f"http://{HOST}:{proxy_port}"} if proxy_port is not None else {}
    return urllib.request.build_opener(urllib.request.ProxyHandler(proxies), _NoRedirect())


def send(client: urllib.request.OpenerDirector, base_url: str, call: Call) -> None:
    headers = {"User-Agent": "statuslint-e2e/1.0", **call.headers}
    data = None
    if call.json_body is not None:
        data = json.dumps(call.json_body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base_url + call.path, data=data, headers=headers, method=call.method)
    try:
        with client.open(request, timeout=REQUEST_TIMEOUT) as response:
            status = response.status
            response.read()
    except urllib.error.HTTPError as e:
        status = e.code
        e.read()
        e.close()
    assert status == call.status, f"{call.method} {call.path}: expected {call.status} from the demo API, got {status}"


def send_all(client: urllib.request.OpenerDirector, base_url: str, calls: Sequence[Call]) -> None:
    for call in calls:
        send(client, base_url, call)


def expected_findings(calls: Sequence[Call]) -> list[tuple[int, str, str, int]]:
    """(flow index, rule, method, status) of every finding the calls must produce, in order."""
    return [(i, rule, c.method, c.status) for i, c in enumerate(calls) for rule in c.rules]


def finding_keys(findings: Sequence[Mapping[str, Any]]) -> list[tuple[int, str, str, int]]:
    return [(f["flow"]["index"], f["rule"], f["flow"]["method"], f["flow"]["status"]) for f in findings]


# Processes -----------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment for child processes: no proxy variables, no colour, unbuffered."""
    proxy_vars = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    env = {k: v for k, v in os.environ.items() if k.lower() not in proxy_vars}
    env.update(PYTHONUNBUFFERED="1", NO_COLOR="1", TERM="dumb")
    return env


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        """Everything the process printed so far, stdout then stderr."""
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")


@contextmanager
def started(cmd: Sequence[str | Path], workdir: Path, name: str, port: int) -> Iterator[Proc]:
    """Run ``cmd`` (output to files in ``workdir``) until it accepts on ``port``; always
    stopped on the way out, killed if SIGTERM does not end it in time."""
    out, err = workdir / f"{name}.stdout", workdir / f"{name}.stderr"
    with out.open("wb") as fo, err.open("wb") as fe:
        popen = subprocess.Popen(
            [str(x) for x in cmd], cwd=ROOT, env=child_env(), stdin=subprocess.DEVNULL, stdout=fo, stderr=fe
        )
    proc = Proc(popen, out, err)
    try:
        wait_for_port(proc, port, name)
        yield proc
    finally:
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(timeout=STOP_TIMEOUT)


def wait_for_port(proc: Proc, port: int, name: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            pytest.fail(f"{name} exited early with {proc.popen.returncode}:\n{proc.output()[-4000:]}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{name} did not accept connections on {HOST}:{port} within {STARTUP_TIMEOUT:.0f}s")


def terminate(proc: Proc) -> int:
    """SIGTERM, as a user's Ctrl-C or CI's shutdown would; the exit code."""
    proc.popen.send_signal(signal.SIGTERM)
    try:
        return proc.popen.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"process did not exit within {STOP_TIMEOUT:.0f}s of SIGTERM:\n{proc.output()[-4000:]}")


def run(cmd: Sequence[str | Path], timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run a command that must end on its own (killed after ``timeout``)."""
    return subprocess.run(
        [str(x) for x in cmd],
        cwd=ROOT,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )


def read_jsonl(path: Path, count: int) -> list[dict[str, Any]]:
    """The log's records once it has at least ``count`` complete lines (bounded wait)."""
    deadline = time.monotonic() + LOG_POLL_TIMEOUT
    while True:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        lines = [line for line in text.split("\n")[:-1] if line]  # complete lines only
        if len(lines) >= count or time.monotonic() > deadline:
            return [json.loads(line) for line in lines]
        time.sleep(0.05)


def mitmdump_reverse(api_port: int, proxy_port: int, tmp: Path, *extra: str | Path) -> list[str | Path]:
    return [
        MITMDUMP,
        "-s",
        AUDIT_SCRIPT,
        "--mode",
        f"reverse:http://{HOST}:{api_port}",
        "--listen-host",
        HOST,
        "-p",
        str(proxy_port),
        "--set",
        f"confdir={tmp / 'confdir'}",
        *extra,
    ]


def assert_no_secrets(where: str, text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"secret(s) {leaked} leaked into {where}"


def assert_report_contract(report: Mapping[str, Any]) -> None:
    assert report.keys() >= REPORT_FIELDS
    assert report["tool"]["name"] == "statuslint"
    assert isinstance(report["tool"]["version"], str)
    assert isinstance(report["policy"], str) and report["policy"]
    assert isinstance(report["inputs"], list)
    for finding in report["findings"]:
        assert finding.keys() >= FINDING_FIELDS, finding
        # An API-level finding has no flow of its own; it rests on its evidence.
        assert finding["flow"] is not None or finding["evidence"], finding
        for ref in filter(None, [finding["flow"], *finding["evidence"]]):
            assert ref.keys() >= FLOW_FIELDS, finding
        assert finding["severity"] in ("error", "warning", "info")
        assert finding["message"] and finding["reference"] and finding["endpoint"]
    assert report["summary"].keys() >= SUMMARY_FIELDS
    assert set(report["summary"]["by_severity"]) == {"error", "warning", "info"}


# Fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The demo API on a free loopback port, shared by the module; yields the port.

    Tests avoid its rate-limited search endpoints and never depend on generated ids, so
    sharing one instance (and its state) between them is safe.
    """
    port = free_port()
    workdir = tmp_path_factory.mktemp("demo-api")
    with started([sys.executable, DEMO_API, "--port", str(port)], workdir, "demo-api", port):
        yield port


# Live proxy ----------------------------------------------------------------------------


def test_mitmdump_reverse_proxy_reports_findings_without_secrets(demo_api: int, tmp_path: Path) -> None:
    proxy_port = free_port()
    report_path, log_path = tmp_path / "report.json", tmp_path / "findings.jsonl"
    cmd = mitmdump_reverse(
        demo_api,
        proxy_port,
        tmp_path,
        "--set",
        f"statuslint_report={report_path}",
        "--set",
        f"statuslint_log={log_path}",
        # mitmproxy's own flow listing (flow_detail >= 1) prints each request URL as sent,
        # query string included; statuslint's redaction covers what statuslint prints.
        "--flow-detail",
        "0",
    )
    expected = expected_findings(AUDITED_CALLS)
    with started(cmd, tmp_path, "mitmdump", proxy_port) as proc:
        send_all(opener(), f"http://{HOST}:{proxy_port}", AUDITED_CALLS)

        # The log is written as findings happen, not at the end.
        live_records = read_jsonl(log_path, len(expected))
        assert finding_keys(live_records) == expected
        assert proc.popen.poll() is None
        code = terminate(proc)
        output = proc.output()

    assert code == 0, output[-4000:]
    report = load_report(report_path)
    assert_report_contract(report)
    assert report["policy"] == "default"
    assert report["inputs"] == [{"source": "live", "flows": len(AUDITED_CALLS), "error": None}]
    assert finding_keys(report["findings"]) == expected
    for finding in report["findings"]:
        assert finding["flow"]["source"] == "live"
        assert finding["flow"]["url"].startswith(f"http://{HOST}:{demo_api}/v1/")
    assert {f["severity"] for f in report["findings"]} == {"warning", "error"}
    unauthorized = next(f for f in report["findings"] if f["rule"] == "unauthorized-without-challenge")
    assert unauthorized["flow"]["url"] == f"http://{HOST}:{demo_api}/v1/authors?api_key=REDACTED&limit=5"

    summary = report["summary"]
    assert summary["flows"] == summary["audited"] == len(AUDITED_CALLS)
    assert summary["by_rule"] == {"created-without-location": 1, "unauthorized-without-challenge": 1}
    assert summary["by_severity"] == {"error": 1, "warning": 1, "info": 0}

    # The log holds the same findings as the report (plus a timestamp), and nothing more.
    records = read_jsonl(log_path, len(expected))
    assert [{k: v for k, v in r.items() if k != "time"} for r in records] == report["findings"]
    assert all(isinstance(r["time"], str) for r in records)

    assert_no_secrets("report.json", report_path.read_text(encoding="utf-8"))
    assert_no_secrets("findings.jsonl", log_path.read_text(encoding="utf-8"))
    assert_no_secrets("mitmdump's output", output)
    assert "statuslint error unauthorized-without-challenge" in output


def test_mitmdump_forward_proxy_listens_on_loopback_by_default(demo_api: int, tmp_path: Path) -> None:
    proxy_port = free_port()
    report_path, log_path = tmp_path / "report.json", tmp_path / "findings.jsonl"
    # No --listen-host: the addon must narrow mitmproxy's all-interfaces default.
    cmd = [
        MITMDUMP,
        "-s",
        AUDIT_SCRIPT,
        "-p",
        str(proxy_port),
        "--set",
        f"confdir={tmp_path / 'confdir'}",
        "--set",
        f"statuslint_report={report_path}",
        "--set",
        f"statuslint_log={log_path}",
    ]
    expected = expected_findings(FORWARD_CALLS)
    with started(cmd, tmp_path, "mitmdump", proxy_port) as proc:
        send_all(opener(proxy_port), f"http://{HOST}:{demo_api}", FORWARD_CALLS)
        assert finding_keys(read_jsonl(log_path, len(expected))) == expected
        # Taken once traffic has flowed, i.e. in the proxy's steady state.
        listening = listening_addresses(proxy_port)
        code = terminate(proc)
        output = proc.output()

    if listening is not None:
        assert listening == {f"{HOST}:{proxy_port}"}, f"without --listen-host the proxy listens on {listening}"
    assert f"HTTP(S) proxy listening at {HOST}:{proxy_port}" in output, output[:2000]
    assert code == 0, output[-4000:]

    report = load_report(report_path)
    assert_report_contract(report)
    assert finding_keys(report["findings"]) == expected
    assert report["summary"]["flows"] == len(FORWARD_CALLS)
    for finding in report["findings"]:
        assert finding["flow"]["url"].startswith(f"http://{HOST}:{demo_api}/v1/authors")
    assert_no_secrets("report.json", report_path.read_text(encoding="utf-8"))
    assert_no_secrets("findings.jsonl", log_path.read_text(encoding="utf-8"))
    assert_no_secrets("mitmdump's output", output)


def listening_addresses(port: int) -> set[str] | None:
    """The local addresses with a TCP socket listening on ``port``, from /proc/net
    (None where there is no /proc)."""
    found: set[str] = set()
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].exists():
        return None
    for table in tables:
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, _, port_hex = local.partition(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            host = _proc_address(address)
            found.add(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    return found


def _proc_address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # IPv6: four 32-bit words, each in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


@pytest.mark.parametrize(("fail_on", "exit_code"), [("error", 1), ("none", 0)])
def test_statuslint_proxy_fail_on_sets_exit_code(demo_api: int, tmp_path: Path, fail_on: str, exit_code: int) -> None:
    proxy_port = free_port()
    report_path = tmp_path / "r.json"
    cmd = [
        STATUSLINT,
        "proxy",
        "--reverse",
        f"http://{HOST}:{demo_api}",
        "--port",
        str(proxy_port),
        "--confdir",
        tmp_path / "confdir",
        "--report",
        report_path,
        "--fail-on",
        fail_on,
    ]
    with started(cmd, tmp_path, "statuslint", proxy_port) as proc:
        send_all(opener(), f"http://{HOST}:{proxy_port}", FAIL_ON_CALLS)
        code = terminate(proc)
        output = proc.output()

    assert code == exit_code, output[-4000:]
    report = load_report(report_path)
    assert_report_contract(report)
    assert finding_keys(report["findings"]) == expected_findings(FAIL_ON_CALLS)
    assert report["summary"]["by_severity"] == {"error": 1, "warning": 1, "info": 0}
    assert_no_secrets("statuslint proxy's output", output)
    assert_no_secrets("r.json", report_path.read_text(encoding="utf-8"))


def test_fail_on_exit_keeps_saved_flows_and_har(demo_api: int, tmp_path: Path) -> None:
    proxy_port = free_port()
    flows_path, har_path = tmp_path / "out.flows", tmp_path / "out.har"
    cmd = mitmdump_reverse(
        demo_api,
        proxy_port,
        tmp_path,
        "-w",
        flows_path,
        "--set",
        f"hardump={har_path}",
        "--set",
        "statuslint_fail_on=warning",
    )
    with started(cmd, tmp_path, "mitmdump", proxy_port) as proc:
        send_all(opener(), f"http://{HOST}:{proxy_port}", WARNING_CALLS)
        code = terminate(proc)
        output = proc.output()

    assert code == 1, output[-4000:]
    for path in (flows_path, har_path):
        assert path.is_file() and path.stat().st_size > 0, f"{path.name} was not written"
        with path.open("rb") as fo:
            flows = list(mitmio.FlowReader(fo).stream())
        assert all(isinstance(f, HTTPFlow) for f in flows)
        got = [(f.request.method, f.request.path, f.response.status_code if f.response else None) for f in flows]
        assert got == [(c.method, c.path, c.status) for c in WARNING_CALLS], path.name


# Start-up errors -----------------------------------------------------------------------

BROKEN_POLICY = """\
name: broken
rules:
  - id: r
    severity: critical
    summary: a rule with a severity that does not exist
    when: {status: 201}
"""
BROKEN_LINE = 4


def test_broken_policy_and_misspelt_option_fail_loudly(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(BROKEN_POLICY, encoding="utf-8")
    where = f"{broken}:{BROKEN_LINE}"
    confdir = f"confdir={tmp_path / 'confdir'}"

    started_at = time.monotonic()
    result = run(
        [STATUSLINT, "proxy", "--policy", broken, "--port", str(free_port()), "--confdir", tmp_path / "confdir"],
        timeout=30,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert time.monotonic() - started_at < 15, "a broken policy must be refused before the proxy starts"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"statuslint: {where}: "), lines[0]
    assert "critical" in lines[0]
    assert result.stdout == ""

    result = run([MITMDUMP, "-s", AUDIT_SCRIPT, "--set", f"statuslint_policy={broken}", "-n", "--set", confdir])
    assert result.returncode == 2, result.stdout + result.stderr
    assert where in result.stdout + result.stderr

    result = run([MITMDUMP, "-n", "-s", AUDIT_SCRIPT, "--set", "statuslint_polcy=x", "--set", confdir])
    assert result.returncode == 2, result.stdout + result.stderr
    assert "unknown option statuslint_polcy (did you mean statuslint_policy?)" in result.stdout + result.stderr


# Offline parity ------------------------------------------------------------------------

PARITY_INPUTS = [
    pytest.param(ROOT / "recordings" / "demo.flows", id="demo.flows"),
    pytest.param(ROOT / "recordings" / "demo.har", id="demo.har"),
    pytest.param(
        CORPUS / "har" / "requestgenerator-all-status-and-method.har",
        id="corpus-requestgenerator.har",
        marks=needs_corpus,
    ),
    pytest.param(CORPUS / "flows" / "dumpfile-7-websocket.mitm", id="corpus-websocket.mitm", marks=needs_corpus),
]


@pytest.mark.parametrize("recording", PARITY_INPUTS)
def test_audit_command_and_replayed_addon_agree(recording: Path, tmp_path: Path) -> None:
    a_path, b_path = tmp_path / "a.json", tmp_path / "b.json"
    source = str(recording)  # both name the input by the path they were given
    commands = {
        "statuslint audit": [STATUSLINT, "audit", source, "--format", "json", "--output", a_path, "--fail-on", "none"],
        "mitmdump -nr": [
            MITMDUMP,
            "-nr",
            source,
            "-s",
            AUDIT_SCRIPT,
            "--set",
            f"statuslint_report={b_path}",
            "--set",
            f"confdir={tmp_path / 'confdir'}",
        ],
    }
    # Both at once: they are independent and the replay is the slow one.
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        for name, cmd in commands.items():
            procs[name] = subprocess.Popen(
                [str(x) for x in cmd],
                cwd=ROOT,
                env=child_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
        outputs = {name: proc.communicate(timeout=RUN_TIMEOUT)[0] for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=STOP_TIMEOUT)
    for name, proc in procs.items():
        assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{outputs[name][-4000:]}"

    a, b = load_report(a_path), load_report(b_path)
    assert_report_contract(a)
    assert_report_contract(b)
    assert a["summary"]["flows"] > 0
    assert a["inputs"] == b["inputs"] == [{"source": source, "flows": a["summary"]["flows"], "error": None}]
    # mitmproxy's own HAR import drops the sizes an entry declares without its text
    # (README): there `statuslint audit` decides more, and only there.
    sized = _entries_declaring_sizes_only(recording)
    extra = [f for f in a["findings"] if f not in b["findings"]] if sized else []
    if extra:
        assert all(f["flow"] and f["flow"]["index"] in sized for f in extra)
        assert [f for f in a["findings"] if f not in extra] == b["findings"]
        return
    assert a["findings"] == b["findings"]
    for key in ("flows", "audited", "by_rule", "by_severity"):
        assert a["summary"][key] == b["summary"][key], key


def _entries_declaring_sizes_only(recording: Path) -> set[int]:
    """Indexes of HAR entries that declare a response size but carry no body text: every
    entry under mitmproxy 12, whose import decodes bodies and rewrites their framing."""
    if recording.suffix != ".har":
        return set()
    entries = json.loads(recording.read_text(encoding="utf-8"))["log"]["entries"]
    if MITMPROXY_DECODES_HAR:
        return set(range(len(entries)))
    return {
        i
        for i, e in enumerate(entries)
        if not e["response"].get("content", {}).get("text")
        and (e["response"].get("content", {}).get("size", -1) >= 0 or e["response"].get("bodySize", -1) >= 0)
    }


# Across flows --------------------------------------------------------------------------


def _exchange(
    client: urllib.request.OpenerDirector, method: str, url: str, headers: Mapping[str, str], body: Any = None
) -> tuple[int, bytes, Mapping[str, str]]:
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"User-Agent": "statuslint-e2e/1.0", **headers}
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=hdrs, method=method)
    try:
        with client.open(request, timeout=REQUEST_TIMEOUT) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as e:
        content = e.read()
        e.close()
        return e.code, content, dict(e.headers)


def wait_for_output(proc: Proc, text: str) -> str:
    deadline = time.monotonic() + LOG_POLL_TIMEOUT
    while text not in proc.output():
        if time.monotonic() > deadline:
            pytest.fail(f"{text!r} not printed within {LOG_POLL_TIMEOUT:.0f}s:\n{proc.output()[-4000:]}")
        time.sleep(0.05)
    return proc.output()


def test_cross_flow_rules_live_and_summary_on_demand(demo_api: int, tmp_path: Path) -> None:
    """A resource's whole life through a real proxy: the stateful rules fire as it happens,
    the API-level one at the end, and SIGUSR1 prints the summary so far."""
    proxy_port = free_port()
    report_path, log_path = tmp_path / "report.json", tmp_path / "findings.jsonl"
    cmd = [
        STATUSLINT, "proxy", "--reverse", f"http://{HOST}:{demo_api}", "--port", str(proxy_port),
        "--confdir", tmp_path / "confdir", "--report", report_path, "--log", log_path, "--max-urls", "100",
    ]  # fmt: skip
    base = f"http://{HOST}:{proxy_port}"
    client = opener()
    with started(cmd, tmp_path, "statuslint", proxy_port) as proc:
        # Exemplary: a book created, read, deleted, then gone.
        status, _, headers = _exchange(client, "POST", base + "/v1/books", BEARER,
                                       {"title": "Solaris", "author": "Stanislaw Lem", "year": 1961})  # fmt: skip
        assert status == 201
        book = headers["Location"]
        assert _exchange(client, "GET", base + book, JSON_ACCEPT)[0] == 200
        assert _exchange(client, "DELETE", base + book, BEARER)[0] == 204
        assert _exchange(client, "GET", base + book, JSON_ACCEPT)[0] == 404
        # Sloppy: an author deleted (200) and still served.
        status, content, _ = _exchange(client, "POST", base + "/v1/authors", API_KEY_HEADERS,
                                       {"name": "Kobo Abe", "born": 1924})  # fmt: skip
        assert status == 201
        author = f"/v1/authors/{json.loads(content)['id']}"
        assert _exchange(client, "DELETE", base + author, API_KEY_HEADERS)[0] == 200
        assert _exchange(client, "GET", base + author, API_KEY_HEADERS)[0] == 200

        [served] = [r for r in read_jsonl(log_path, 4) if r["rule"] == "served-after-delete"]
        assert served["flow"]["index"] == 6 and served["endpoint"] == f"GET {HOST}:{demo_api} /v1/authors/{{id}}"
        assert [(e["index"], e["method"], e["status"]) for e in served["evidence"]] == [(5, "DELETE", 200)]

        proc.popen.send_signal(signal.SIGUSR1)
        output = wait_for_output(proc, "audit summary so far")
        assert proc.popen.poll() is None  # the proxy goes on
        summary_part = output[output.index("audit summary so far") :]
        assert "7 flows, 7 audited" in summary_part
        assert "served-after-delete" in summary_part and f"DELETE {HOST}:{demo_api} /v1/books/{{id}}" in summary_part
        assert "Rules that never ran" in summary_part
        # The proxy still proxies after printing.
        assert _exchange(client, "GET", base + book, JSON_ACCEPT)[0] == 404
        code = terminate(proc)
        output = proc.output()

    assert code == 0, output[-4000:]
    report = load_report(report_path)
    assert_report_contract(report)
    rules = [(f["rule"], f["flow"] and f["flow"]["index"]) for f in report["findings"]]
    assert ("served-after-delete", 6) in rules
    assert ("inconsistent-status", None) in rules  # DELETE: 204 on books, 200 on authors
    assert not [r for r in rules if r[1] is not None and r[1] < 4]  # the book's life is clean
    inconsistent = next(f for f in report["findings"] if f["rule"] == "inconsistent-status")
    assert inconsistent["details"]["operation"] == "delete"
    assert {e["status"] for e in inconsistent["evidence"]} == {200, 204}
    # Logged at the end as well, so the log has every finding the report has.
    records = read_jsonl(log_path, len(report["findings"]))
    assert [{k: v for k, v in r.items() if k != "time"} for r in records] == report["findings"]
    endpoints = {e["endpoint"]: e for e in report["summary"]["endpoints"]}
    assert endpoints[f"GET {HOST}:{demo_api} /v1/books/{{id}}"]["by_status"] == {"200": 1, "404": 2}
    assert report["summary"]["limits"]["max_urls"] == 100
    assert_no_secrets("report.json", report_path.read_text(encoding="utf-8"))
    assert_no_secrets("statuslint proxy's output", output)


# Report formats ------------------------------------------------------------------------


@needs_sarif_schema
def test_live_proxy_writes_every_report_format(demo_api: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One live run, four reports from one model (statuslint proxy --report, repeated,
    reaches the addon as a comma-separated statuslint_report), each valid and secret-free."""
    proxy_port = free_port()
    paths = {
        fmt: tmp_path / f"live.{suffix}"
        for fmt, suffix in (("json", "json"), ("sarif", "sarif"), ("junit", "xml"), ("markdown", "md"))
    }
    cmd = [
        STATUSLINT,
        "proxy",
        "--reverse",
        f"http://{HOST}:{demo_api}",
        "--port",
        str(proxy_port),
        "--confdir",
        tmp_path / "confdir",
        "--fail-on",
        "error",
    ]
    for path in paths.values():
        cmd += ["--report", path]
    with started(cmd, tmp_path, "statuslint", proxy_port) as proc:
        send_all(opener(), f"http://{HOST}:{proxy_port}", AUDITED_CALLS)
        code = terminate(proc)
        output = proc.output()
    assert code == 1, output[-4000:]
    for fmt, path in paths.items():
        assert f"{fmt} report written to {path}" in output
    assert "exit 1: 1 findings at or above statuslint_fail_on error" in output

    report = load_report(paths["json"])
    assert_report_contract(report)
    expected = expected_findings(AUDITED_CALLS)
    assert finding_keys(report["findings"]) == expected

    doc = json.loads(paths["sarif"].read_text(encoding="utf-8"))
    assert sarif_schema_errors(doc) == []
    results = doc["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == [f["rule"] for f in report["findings"]]
    policy_lines = (ROOT / "policies" / "default.yaml").read_text(encoding="utf-8").splitlines()
    for result in results:
        # Live traffic has no file: the result points at its rule in the policy.
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": "policies/default.yaml", "uriBaseId": "%SRCROOT%"}
        assert policy_lines[physical["region"]["startLine"] - 1].strip() == f"- id: {result['ruleId']}"

    junit = ET.fromstring(paths["junit"].read_text(encoding="utf-8"))
    failures = [c for c in junit.iter("testcase") if c.find("failure") is not None]
    assert sorted(c.get("classname") for c in failures) == sorted(f"statuslint.{f['rule']}" for f in report["findings"])

    text = paths["markdown"].read_text(encoding="utf-8")
    assert text.startswith(f"## statuslint: {len(expected)} findings")
    # The github format has no suffix (it goes to stdout): rendered from the same live model,
    # in the checkout as CI would.
    monkeypatch.chdir(ROOT)
    annotations = reports.render(report, "github")
    assert len(annotations.splitlines()) == len(expected)
    assert "file=policies/default.yaml" in annotations

    for fmt, path in paths.items():
        assert_no_secrets(f"the live {fmt} report", path.read_text(encoding="utf-8"))
    assert_no_secrets("the live github annotations", annotations)
    assert_no_secrets("statuslint proxy's output", output)


def test_statuslint_proxy_writes_the_html_report(demo_api: int, tmp_path: Path) -> None:
    """The live proxy's HTML report: every finding a row, each with the exchange it was
    made on (the live flow is gone by the end: the snapshot is all there is), no secret."""
    proxy_port = free_port()
    report_path = tmp_path / "report.html"
    cmd = [
        STATUSLINT,
        "proxy",
        "--reverse",
        f"http://{HOST}:{demo_api}",
        "--port",
        str(proxy_port),
        "--confdir",
        tmp_path / "confdir",
        "--report",
        report_path,
    ]
    with started(cmd, tmp_path, "statuslint", proxy_port) as proc:
        send_all(opener(), f"http://{HOST}:{proxy_port}", FAIL_ON_CALLS)
        code = terminate(proc)
        output = proc.output()

    assert code == 0, output[-4000:]
    page = report_path.read_text(encoding="utf-8")
    assert_no_secrets("report.html", page)
    assert page.count('<tr class="finding"') == len(expected_findings(FAIL_ON_CALLS))
    block = page.split('<script type="application/json" id="report-data">', 1)[1].split("</script>", 1)[0]
    data = json.loads(block)
    assert [(f["rule"], f["flow"]["source"], f["exchange"]["response"]["status"]) for f in data["findings"]] == [
        (rule, "live", status) for _, rule, _, status in expected_findings(FAIL_ON_CALLS)
    ]
    assert all(f["exchange"]["request"]["headers"] for f in data["findings"])
