"""mitmproxy and mitmweb as the user's home: findings in flow metadata (``~meta``), the
statuslint commands, quiet terminals, and other addons beside ours."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mitmproxy.test import taddons

from helpers import BIN, ROOT, free_port, http_flow, load_report
from statuslint import addon as addon_module
from statuslint.addon import METADATA_KEY, StatusLint
from test_e2e import AUDIT_SCRIPT, HOST, STATUSLINT, Call, opener, run, send_all, started, terminate

DRIFT_API = ROOT / "tests" / "drift_api.py"
# Version 1 of the drift API answers DELETE with 200 and a body: delete-ok-with-body.
SESSION = [
    Call("POST", "/items", 201, json_body={"name": "a"}),
    Call("GET", "/items/1", 200),
    Call("DELETE", "/items/1", 200),
]


@pytest.fixture
def sl(monkeypatch: pytest.MonkeyPatch) -> StatusLint:
    monkeypatch.setattr(addon_module.atexit, "register", lambda *a: None)
    a = StatusLint()
    a.print_summary = False
    return a


def test_findings_go_into_flow_metadata_and_the_findings_command(sl: StatusLint) -> None:
    with taddons.context(sl) as tctx:
        bad = http_flow("POST", "/v1/things?api_key=s3cret", 201)
        good = http_flow()
        for f in (bad, good):
            sl.requestheaders(f)
            sl.response(f)
        assert bad.metadata[METADATA_KEY]["findings"] == [
            {
                "rule": "created-without-location",
                "severity": "warning",
                "message": "201 Created without a Location header",
            }
        ]
        assert METADATA_KEY not in good.metadata
        lines = tctx.master.commands.call("statuslint.findings", [bad, good])
        assert len(lines) == 1
        assert "warning created-without-location" in lines[0] and "s3cret" not in lines[0]


def test_report_command_writes_the_report_so_far(sl: StatusLint, tmp_path: Path) -> None:
    with taddons.context(sl) as tctx:
        f = http_flow("POST", "/v1/things", 201)
        sl.requestheaders(f)
        sl.response(f)
        out = tmp_path / "so-far.json"
        tctx.master.commands.call("statuslint.report", str(out))
        assert [x["rule"] for x in load_report(out)["findings"]] == ["created-without-location"]
        from mitmproxy import exceptions

        with pytest.raises(exceptions.CommandError, match="cannot tell the report format"):
            tctx.master.commands.call("statuslint.report", str(tmp_path / "x.txt"))


# mitmweb guards POSTs with a double-submit XSRF cookie (named _xsrf in 11, _mitmproxy_xsrf
# in 12): the same value in the cookie and the header passes, as for its own web page.
XSRF = "statuslint0test0xsrf"


def _web_call(client: urllib.request.OpenerDirector, url: str, args: list[str]) -> object:
    data = json.dumps({"arguments": args}).encode()
    headers = {
        "Content-Type": "application/json",
        "X-XSRFToken": XSRF,
        "Cookie": f"_xsrf={XSRF}; _mitmproxy_xsrf={XSRF}",
    }
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    with client.open(request, timeout=10) as response:
        return json.loads(response.read())


def test_real_mitmweb_marks_comments_metadata_and_commands(tmp_path: Path) -> None:
    api_port, proxy_port, web_port = free_port(), free_port(), free_port()
    token = "statuslint-test-token"
    report = tmp_path / "web.json"
    mitmweb = [
        BIN / "mitmweb",
        "-s",
        AUDIT_SCRIPT,
        "--mode",
        f"reverse:http://{HOST}:{api_port}",
        "--listen-host",
        HOST,
        "-p",
        str(proxy_port),
        "--web-host",
        HOST,
        "--web-port",
        str(web_port),
        "--no-web-open-browser",
        "--set",
        f"confdir={tmp_path / 'confdir'}",
        "--set",
        f"web_password={token}",  # mitmweb 12 asks for a token; 11 has none and ignores it
    ]
    api = [sys.executable, DRIFT_API, "--port", str(api_port), "--version", "1"]
    with started(api, tmp_path, "api", api_port), started(mitmweb, tmp_path, "mitmweb", proxy_port) as web:
        send_all(opener(), f"http://{HOST}:{proxy_port}", SESSION)
        client = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        base = f"http://{HOST}:{web_port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                with client.open(f"{base}/flows?token={token}", timeout=5) as response:
                    flows = json.loads(response.read())
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
                continue
            marked = [f for f in flows if f["marked"]]
            # The audit runs in a worker (statuslint_offload): a flow is marked once its
            # answer is back, a moment after the client had the response.
            if marked or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert [f["request"]["method"] for f in marked] == ["DELETE"]
        assert "statuslint warning delete-ok-with-body" in marked[0]["comment"]
        # ~meta filters match the findings statuslint put in the flow's metadata.
        found = _web_call(client, f"{base}/commands/statuslint.findings?token={token}", ["~meta delete-ok-with"])
        assert len(found["value"]) == 1 and "DELETE" in found["value"][0], found
        none = _web_call(client, f"{base}/commands/statuslint.findings?token={token}", ["~meta served-after"])
        assert none["value"] == []
        written = _web_call(client, f"{base}/commands/statuslint.report?token={token}", [str(report)])
        assert "error" not in written, written
        terminate(web)
    assert [f["rule"] for f in load_report(report)["findings"]] == ["delete-ok-with-body"]


USER_ADDON = """
from mitmproxy import ctx


class Stamp:
    def load(self, loader):
        loader.add_option("stamp_value", str, "none", "value of the X-Stamp header")

    def response(self, flow):
        flow.response.headers["X-Stamp"] = ctx.options.stamp_value


addons = [Stamp()]
"""


def test_user_addons_and_options_keep_working_beside_statuslint(tmp_path: Path) -> None:
    user = tmp_path / "stamp.py"
    user.write_text(USER_ADDON)
    api_port, proxy_port = free_port(), free_port()
    log = tmp_path / "log.jsonl"
    cmd = [
        STATUSLINT,
        "proxy",
        "--reverse",
        f"http://{HOST}:{api_port}",
        "--port",
        str(proxy_port),
        "--log",
        log,
        "--confdir",
        tmp_path / "confdir",
        "--",
        "-s",
        user,
        "--set",
        "stamp_value=ok",
    ]
    api = [sys.executable, DRIFT_API, "--port", str(api_port), "--version", "1"]
    with started(api, tmp_path, "api", api_port), started(cmd, tmp_path, "proxy", proxy_port) as proc:
        request = urllib.request.Request(f"http://{HOST}:{proxy_port}/items/7", method="GET")
        try:
            opener().open(request, timeout=10)
        except urllib.error.HTTPError as e:
            assert e.code == 404
            assert e.headers["X-Stamp"] == "ok"
        send_all(opener(), f"http://{HOST}:{proxy_port}", SESSION)
        assert terminate(proc) == 0
    assert [json.loads(x)["rule"] for x in log.read_text().splitlines()] == ["delete-ok-with-body"]


@pytest.mark.parametrize("verbose", [False, True])
def test_proxy_terminal_shows_findings_not_connection_chatter(tmp_path: Path, verbose: bool) -> None:
    api_port, proxy_port = free_port(), free_port()
    cmd = [STATUSLINT, "proxy", "--reverse", f"http://{HOST}:{api_port}", "--port", str(proxy_port)]
    cmd += ["--confdir", str(tmp_path / "confdir"), *(["--verbose"] if verbose else [])]
    api = [sys.executable, DRIFT_API, "--port", str(api_port), "--version", "1"]
    with started(api, tmp_path, "api", api_port), started(cmd, tmp_path, "proxy", proxy_port) as proc:
        send_all(opener(), f"http://{HOST}:{proxy_port}", SESSION)
        terminate(proc)
    out = proc.output()
    assert "delete-ok-with-body" in out
    assert ("client connect" in out) is verbose
    assert ("server connect" in out) is verbose
    start_line = next(line for line in out.splitlines() if line.startswith("statuslint: starting proxy"))
    assert "=--set" not in start_line and not start_line.rstrip(")").endswith("=")
    assert "statuslint_log=" not in start_line  # empty options are not echoed


def test_replay_terminal_is_quiet(tmp_path: Path) -> None:
    api_port, proxy_port = free_port(), free_port()
    flows = tmp_path / "r.flows"
    api = [sys.executable, DRIFT_API, "--port", str(api_port), "--version", "1"]
    cmd = [STATUSLINT, "proxy", "--reverse", f"http://{HOST}:{api_port}", "--port", str(proxy_port)]
    cmd += ["--confdir", str(tmp_path / "c"), "--save", str(flows)]
    with started(api, tmp_path, "api", api_port):
        with started(cmd, tmp_path, "proxy", proxy_port) as proc:
            send_all(opener(), f"http://{HOST}:{proxy_port}", SESSION[:1])
            terminate(proc)
        done = run([STATUSLINT, "replay", flows, "--to", f"http://{HOST}:{api_port}", "--fail-on", "none"])
    assert done.returncode == 0, done.stderr
    assert "connect" not in done.stdout + done.stderr
    assert "1 requests replayed, 0 drifted" in done.stdout
