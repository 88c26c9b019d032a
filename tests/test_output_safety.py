"""Nothing hostile reaches the terminal, no secret is printed (issue 7, items 14 and 15).

Offline: a recording built with mitmproxy's FlowWriter whose paths carry ESC/OSC/BEL, C1
controls, newlines and secrets, through ``statuslint audit``. Live: a real ``statuslint
proxy`` in forward mode in front of a raw-socket upstream on 127.0.0.1, sent every kind of
secret in well-formed and malformed requests, with control bytes in paths and Host headers;
then stdout, stderr, the JSONL log and the report are grepped (flow comments: in-process).
"""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from mitmproxy import io as mitmio
from mitmproxy.test import taddons

from helpers import BIN, ROOT, default_policy, free_port, http_flow
from statuslint import logfilter, redact
from statuslint.addon import StatusLint
from statuslint.auditor import Auditor
from statuslint.escape import escape, escape_json
from statuslint.flowview import FlowView
from statuslint.redact import redact_text, redact_url
from test_e2e import HOST, child_env, started, terminate
from test_report_integrity import RawUpstream, raw_request, upstream  # noqa: F401 - a fixture

# Raw control bytes a terminal acts on: C0 but tab/newline (our own tables and lines use
# them), DEL, and C1 (as UTF-8, 0xC2 0x80-0x9F).
RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x9b31m\nstatuslint error forged-line: \u202eevil"


def assert_no_raw_controls(where: str, data: bytes) -> None:
    hit = RAW_CONTROL.search(data)
    assert hit is None, (
        f"raw control byte {hit.group()!r} in {where}: {data[max(0, hit.start() - 80) : hit.end() + 40]!r}"
    )


# The escaping function and the redaction of free text -------------------------------------


def test_escape_makes_every_control_visible() -> None:
    shown = escape("/a" + HOSTILE + "\udcff")
    assert shown.isprintable()
    assert shown == "/a\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\nstatuslint error forged-line: \\u202eevil\\xff"
    assert escape("/v1/bücher/1") == "/v1/bücher/1"


def test_json_stays_faithful_but_safe_to_cat() -> None:
    text = escape_json(json.dumps({"url": "/a" + HOSTILE}, ensure_ascii=False))
    assert RAW_CONTROL.search(text.encode()) is None and "\u202e" not in text
    assert json.loads(text) == {"url": "/a" + HOSTILE}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.test/x?a=1&x=1;password=S", "https://a.test/x?a=1&x=1;password=REDACTED"),
        ("https://a.test/x;jsessionid=S;v=2?q=1", "https://a.test/x;jsessionid=REDACTED;v=2?q=1"),
        ("https://a.test/x;password=S/y", "https://a.test/x;password=REDACTED/y"),
        ("https://a.test/cb#access_token=S&state=1", "https://a.test/cb#access_token=REDACTED&state=1"),
        ("https://a.test/x?api%5Fkey=S", "https://a.test/x?api%5Fkey=REDACTED"),
    ],
)
def test_redact_url_semicolons_fragments_and_encoded_names(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_text_masks_what_log_lines_quote() -> None:
    line = (
        "127.0.0.1:5: Bad HTTP request line: b'GET http://user:S1@127.0.0.1:9/c?api_key=S2&access_token=S3"
        "&password=S4;jsessionid=S5 HTTP/1.1\\r\\nAuthorization: Bearer S6\\r\\nCookie: sid=S7\\r\\n"
        "Proxy-Authorization: Basic S8\\r\\nX-Api-Key: S9\\r\\n'"
    )
    masked = redact_text(line)
    assert not re.search(r"S\d", masked), masked
    assert "Bad HTTP request line: b'GET http://user:REDACTED@127.0.0.1:9/c?api_key=REDACTED" in masked
    harmless = "[12:00:01.123][127.0.0.1:4444] client connect; statuslint_policy=default page=2"
    assert redact_text(harmless) == harmless


def _redact_text_every_regex(text: str) -> str:
    """redact_text as it was before its word pre-checks: every regex on every line."""
    text = redact._TEXT_HEADER.sub(lambda m: f"{m['name']}{m['sep']}{redact.MASK}", text)
    text = redact._TEXT_USERINFO.sub(lambda m: f"{m['pre']}{redact.MASK}@", text)
    text = redact._TEXT_SCHEME.sub(lambda m: f"{m['scheme']} {redact.MASK}", text)
    if "=" in text:
        text = redact._TEXT_PAIR.sub(
            lambda m: f"{m['name']}={redact.MASK}" if redact._secret_name(m["name"]) else m[0], text
        )
    return text


# Pieces the secret patterns are made of, in odd cases, with letters case folding maps onto
# ASCII ones (U+017F is an "s", U+212A a "k" to re.IGNORECASE).
_PIECES = st.sampled_from(
    [
        "Authorization",
        "PROXY-authorization",
        "cookie",
        "Set-Cookie",
        "x-api-KEY",
        "api-key",
        "X-Auth-Token",
        "x-csrf-token",
        "x-c\u017frf-token",
        "coo\u212aie",
        "Bearer",
        "bAsIc",
        "digest",
        "Negotiate",
        "beareR",
        ": ",
        ":",
        " ",
        "  ",
        "\\r\\n",
        "\r\n",
        "'",
        '"',
        "@",
        "://",
        "http://",
        "u:p@",
        "=",
        "&",
        ";",
        "tok3n_value",
        "abcd",
        "x",
        "é",
        "/",
        "?",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
@example("X-C\u017frf-Token: S1")  # only case folding makes this a header name
@example("Bearer: ok, ʙasic S1, Ba\u017fic S2")
@example("Proxy-Authorization: Negotiate S1")
@example("GET http://u:S1@h/")
def test_redact_text_word_checks_change_nothing(text: str) -> None:
    # The pre-checks only skip a regex that cannot match: the result is the same.
    assert redact_text(text) == _redact_text_every_regex(text)


# Internal errors name the flow without its secrets ----------------------------------------


def test_internal_error_warnings_redact_and_escape_the_path(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(self: FlowView) -> str | None:
        raise RuntimeError("cannot parse token=SECRET3")

    monkeypatch.setattr(FlowView, "content_type", property(explode))
    auditor = Auditor(default_policy())
    with caplog.at_level(logging.WARNING):
        auditor.audit_response(http_flow(path="/v1/\x1b[2J/x;jsessionid=SECRET1?password=SECRET2"), 0, "t")
    assert "internal error in rule" in caplog.text
    assert "SECRET" not in caplog.text, caplog.text
    assert "\x1b" not in caplog.text and "\\x1b[2J" in caplog.text
    assert "SECRET" not in json.dumps(auditor.summary()["internal_errors"])


def test_log_filter_cleans_every_record_of_mitmproxy_handlers() -> None:
    from mitmproxy.addons.termlog import TermLogHandler

    class Sink:
        def __init__(self) -> None:
            self.text = ""

        def write(self, s: str) -> None:
            self.text += s

        def flush(self) -> None:
            pass

        def isatty(self) -> bool:
            return False

    sink = Sink()
    handler = TermLogHandler(sink)  # type: ignore[arg-type]
    handler.install()
    try:
        logfilter.install()
        logfilter.install()  # once is enough, twice adds nothing
        assert handler.filters.count(logfilter._FILTER) == 1
        log = logging.getLogger("mitmproxy.proxy.server")
        log.warning("Bad HTTP request line: %r", b"GET http://u:S1@h/?api_key=S2\x1b[2J HTTP/1.1")
        log.warning("raw %s", "Cookie: S3\x1b]0;t\x07")
        try:
            raise ValueError("access_token=S4")
        except ValueError:
            log.exception("failed")
    finally:
        handler.uninstall()
        logfilter.uninstall()
    assert not re.search(r"S\d", sink.text), sink.text
    assert_no_raw_controls("the terminal log", sink.text.encode())
    assert "ValueError: access_token=REDACTED" in sink.text


def test_flow_comments_and_log_lines_of_the_addon_are_escaped(caplog: pytest.LogCaptureFixture) -> None:
    sl = StatusLint()
    with taddons.context(sl), caplog.at_level(logging.INFO):
        f = http_flow(status=401, path="/v1/x" + HOSTILE.replace("\n", "\r\n"))
        sl.requestheaders(f)
        sl.response(f)
        sl.summary_command()
    assert f.comment and f.marked
    assert_no_raw_controls("the flow comment", f.comment.encode())
    assert "\n" not in f.comment.strip()  # one finding, one line
    assert_no_raw_controls("the addon's log lines", caplog.text.encode())


# Offline ----------------------------------------------------------------------------------

OFFLINE_SECRETS = ("OFFSECRET1", "OFFSECRET2", "OFFSECRET3")


def _hostile_recording(path: Path) -> None:
    flows = [
        http_flow("GET", "/v1/x" + HOSTILE, 401),
        http_flow("POST", f"/v1/a;jsessionid={OFFLINE_SECRETS[0]}/\x1b[1;1H\x07", 201),
        http_flow("GET", f"/v1/b?a=1&x=1;password={OFFLINE_SECRETS[1]}&\x9b2J", 401),
        http_flow("GET", f"/v1/c\r\n\x1b]8;;http://evil/\x07link?api_key={OFFLINE_SECRETS[2]}", 503),
    ]
    with path.open("wb") as fo:
        writer = mitmio.FlowWriter(fo)
        for f in flows:
            writer.add(f)


def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(BIN / "statuslint"), *args], cwd=ROOT, env=child_env(), capture_output=True, timeout=120, check=False
    )


def test_offline_audit_prints_no_raw_control_and_no_secret(tmp_path: Path) -> None:
    recording = tmp_path / "hostile.flows"
    _hostile_recording(recording)
    text = _run("audit", str(recording), "--fail-on", "none")
    assert text.returncode == 0, text.stderr[-3000:]
    report_path = tmp_path / "report.json"
    as_json = _run("audit", str(recording), "--fail-on", "none", "--output", str(report_path))
    assert as_json.returncode == 0, as_json.stderr[-3000:]
    outputs = {
        "text stdout": text.stdout,
        "text stderr": text.stderr,
        "json run's stdout": as_json.stdout,
        "report.json": report_path.read_bytes(),
    }
    for where, data in outputs.items():
        assert_no_raw_controls(where, data)
        for secret in OFFLINE_SECRETS:
            assert secret.encode() not in data, f"{secret} in {where}"
    # Every finding line is one line: the forged one is not at the start of any.
    lines = text.stdout.decode().splitlines()
    assert not any(line.startswith("statuslint error forged-line") for line in lines)
    assert sum("\\x1b]0;pwned\\x07" in line for line in lines) >= 1
    # JSON keeps the value as it was (escaped as JSON, not rewritten).
    report = json.loads(report_path.read_text(encoding="utf-8"))
    urls = [f["flow"]["url"] for f in report["findings"]]
    assert any(url.endswith("/v1/x" + HOSTILE) for url in urls), urls


# Live -------------------------------------------------------------------------------------

LIVE_SECRETS = {
    "authorization": "LiveSecretBearer01",
    "proxy-authorization": "LiveSecretProxy02",
    "cookie": "LiveSecretCookie03",
    "api_key": "LiveSecretApiKey04",
    "access_token": "LiveSecretToken05",
    "password": "LiveSecretPassword06",
    "jsessionid": "LiveSecretJsession07",
    "userinfo": "LiveSecretUserinfo08",
    "semicolon": "LiveSecretSemicolon09",
    "x-api-key": "LiveSecretXApiKey10",
}


def _live_requests(target: str) -> list[bytes]:
    s = LIVE_SECRETS
    headers = (
        f"Host: {target}\r\nAuthorization: Bearer {s['authorization']}\r\n"
        f"Proxy-Authorization: Basic {s['proxy-authorization']}\r\nCookie: sid={s['cookie']}\r\n"
        f"X-Api-Key: {s['x-api-key']}\r\nContent-Length: 0\r\n\r\n"
    )
    query = f"api_key={s['api_key']}&access_token={s['access_token']}&password={s['password']}"
    return [
        # Well-formed, every secret at once.
        f"GET http://{target}/v1/a;jsessionid={s['jsessionid']}?{query}&x=1;password={s['semicolon']} HTTP/1.1\r\n"
        + headers,
        # Userinfo: mitmproxy refuses it ("Bad HTTP request line") and logs the line.
        f"GET http://user:{s['userinfo']}@{target}/v1/b?{query} HTTP/1.1\r\n" + headers,
        # Malformed request line carrying the query secrets.
        f"GET http://user:{s['userinfo']}@{target}/v1/c?{query} HTTP/1.1 junk\r\n" + headers,
        # Malformed header block after a good request line.
        f"GET http://{target}/v1/d?{query} HTTP/1.1\r\nAuthorization Bearer {s['authorization']}\r\n"
        f"Cookie: sid={s['cookie']}\r\n\r\n",
        # Control bytes in the path and in the Host header.
        # (mitmproxy takes ASCII request targets only: C1 and bidi controls are tested offline.)
        f"GET http://{target}/v1/e\x1b]0;pwned\x07\x1b[2J\x08\x7f\x1b[1;1H HTTP/1.1\r\nHost: {target}\r\n\r\n",
        f"GET http://{target}/v1/f HTTP/1.1\r\nHost: ev\x1b]0;t\x07il\x1b[2J\r\n\r\n",
    ]


def test_live_proxy_prints_no_secret_and_no_raw_control(upstream: RawUpstream, tmp_path: Path) -> None:  # noqa: F811
    port = free_port()
    target = f"{HOST}:{upstream.port}"
    report, log = tmp_path / "report.json", tmp_path / "findings.jsonl"
    cmd = [
        BIN / "statuslint",
        "proxy",
        "--port",
        str(port),
        "--confdir",
        str(tmp_path / "confdir"),
        "--report",
        str(report),
        "--log",
        str(log),
    ]
    with started(cmd, tmp_path, "statuslint-proxy", port) as proc:
        for request in _live_requests(target):
            raw_request(port, request.encode("utf-8"))
        proc.popen.send_signal(signal.SIGUSR1)  # the summary so far, as a log line
        deadline = time.monotonic() + 10
        while "audit summary so far" not in proc.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert terminate(proc) == 0, proc.output()[-3000:]
        stdout, stderr = proc.stdout.read_bytes(), proc.stderr.read_bytes()
    assert b"audit summary so far" in stdout + stderr
    assert b"Bad HTTP request line" in stdout + stderr  # mitmproxy's own lines were printed, cleaned
    outputs = {
        "stdout": stdout,
        "stderr": stderr,
        "findings.jsonl": log.read_bytes(),
        "report.json": report.read_bytes(),
    }
    for where, data in outputs.items():
        assert_no_raw_controls(where, data)
        for kind, secret in LIVE_SECRETS.items():
            assert secret.encode() not in data, f"the {kind} secret leaked into {where}"
    assert json.loads(report.read_text(encoding="utf-8"))["summary"]["audited"] >= 3
