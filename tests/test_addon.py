"""The mitmproxy addon, driven through mitmproxy's own test helpers (taddons/tflow)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy.addons.termlog import TermLogHandler
from mitmproxy.test import taddons, tflow

from helpers import SARIF_SCHEMA, http_flow, load_report, sarif_schema_errors
from statuslint import addon as addon_module
from statuslint.addon import StatusLint
from statuslint.flowview import FlowView


@pytest.fixture
def exits(monkeypatch: pytest.MonkeyPatch) -> list:
    """Catch the at-exit status hook: registering it for real would end pytest."""
    registered: list = []
    real = addon_module.atexit.register

    def register(fn, *args):  # type: ignore[no-untyped-def]
        if fn is addon_module._exit_with:
            registered.append(args[0])
        else:
            real(fn, *args)

    monkeypatch.setattr(addon_module.atexit, "register", register)
    # The immediate exit on a bad option at start-up would end pytest too.
    monkeypatch.setattr(addon_module, "_exit_at_startup", lambda message: None)
    return registered


@pytest.fixture
def sl(exits: list) -> StatusLint:
    a = StatusLint()
    a.print_summary = False
    return a


def run_flow(a: StatusLint, f) -> None:
    a.requestheaders(f)
    a.response(f)


def test_findings_are_logged_marked_commented_and_appended(
    sl: StatusLint, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "findings.jsonl"
    with taddons.context(sl) as tctx:
        tctx.configure(sl, statuslint_log=str(log))
        caplog.set_level(logging.INFO)
        f = http_flow("POST", "/v1/books?api_key=s3cret", 201, req_headers={"Authorization": "Bearer s3cret"})
        run_flow(sl, f)
        # Appended and flushed at once without an event loop (a live proxy batches: findingslog.py).
        lines = log.read_text().splitlines()
        assert [json.loads(x)["rule"] for x in lines] == ["created-without-location"]
        record = json.loads(lines[0])
        assert record["flow"]["index"] == 0 and record["flow"]["status"] == 201
        assert "s3cret" not in log.read_text()
        assert f.marked == ":warning:"
        assert "created-without-location" in f.comment
        assert any("statuslint warning created-without-location: POST" in r.getMessage() for r in caplog.records)
        assert not any("s3cret" in r.getMessage() for r in caplog.records)


def test_clean_flow_is_not_marked(sl: StatusLint) -> None:
    with taddons.context(sl):
        f = http_flow()
        run_flow(sl, f)
        assert f.marked == "" and f.comment == ""


def test_existing_comment_is_kept(sl: StatusLint) -> None:
    with taddons.context(sl):
        f = http_flow(status=401)
        f.comment = "user note"
        run_flow(sl, f)
        assert f.comment.startswith("user note\nstatuslint error unauthorized-without-challenge")
        assert f.marked == ":no_entry:"


def test_comma_separated_reports_are_written_from_one_model(sl: StatusLint, tmp_path: Path) -> None:
    paths = [tmp_path / "r.json", tmp_path / "r.sarif", tmp_path / "r.xml", tmp_path / "r.md"]
    with taddons.context(sl) as tctx:
        tctx.configure(sl, statuslint_report=" , ".join(map(str, paths)))
        run_flow(sl, http_flow(status=401))
        sl.done()
    report = load_report(paths[0])
    assert [f["rule"] for f in report["findings"]] == ["unauthorized-without-challenge"]
    sarif = json.loads(paths[1].read_text())
    assert sarif["runs"][0]["results"][0]["ruleId"] == "unauthorized-without-challenge"
    if SARIF_SCHEMA.is_file():  # CI always has ../shared; test_reports.py covers the schema in depth
        assert sarif_schema_errors(sarif) == []
    assert 'name="unauthorized-without-challenge on GET ' in paths[2].read_text()
    assert paths[3].read_text().startswith("## statuslint: 1 finding\n")


def test_report_written_at_done_in_arrival_order(sl: StatusLint, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    with taddons.context(sl) as tctx:
        tctx.configure(sl, statuslint_report=str(report))
        first, second = http_flow(status=401), http_flow(status=500)
        sl.requestheaders(first)
        sl.requestheaders(second)
        sl.response(second)  # answers arrive out of order
        sl.response(first)
        sl.tcp_start(tflow.ttcpflow())
        sl.done()
    data = load_report(report)
    assert [f["flow"]["index"] for f in data["findings"]] == [0, 1]
    assert data["inputs"] == [{"source": "live", "flows": 3, "error": None}]
    assert data["summary"]["flows"] == 3
    assert data["summary"]["audited"] == 2
    assert data["summary"]["not_audited"]["tcp"] == 1
    assert data["policy"] == "default"


def test_websocket_and_error_flows_are_counted_not_audited(sl: StatusLint, tmp_path: Path) -> None:
    with taddons.context(sl):
        ws = tflow.tflow(resp=True, ws=True)
        sl.requestheaders(ws)
        sl.response(ws)
        for _ in range(3):
            sl.websocket_message(ws)
        failed = tflow.tflow(err=True)
        sl.requestheaders(failed)
        summary = sl.auditor.summary()
    assert summary["websocket_messages"] == 3
    assert summary["not_audited"]["no_response"] == 1
    assert summary["flows"] == 2


def test_status_zero_of_a_har_replay_is_counted_not_audited(sl: StatusLint) -> None:
    with taddons.context(sl):
        sl.replay_is_har = True
        f = http_flow(status=0)
        f.live = False
        run_flow(sl, f)
        assert sl.auditor.summary()["not_audited"]["status_0"] == 1
        assert sl.auditor.summary()["audited"] == 0


def test_status_zero_on_the_wire_is_out_of_range(sl: StatusLint) -> None:
    with taddons.context(sl):
        run_flow(sl, http_flow(status=0))
        assert sl.auditor.summary()["not_audited"]["status_0"] == 0
        assert sl.auditor.summary()["by_rule"] == {"status-out-of-range": 1}


@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        ("statuslint_fail_on", "fatal", r"statuslint_fail_on: unknown value 'fatal' \(expected .*info, none\)"),
        ("statuslint_report", "report.txt", "cannot tell the report format"),
        ("statuslint_report", "/nonexistent-dir/r.json", "directory /nonexistent-dir does not exist"),
        ("statuslint_report", "r.json,r.txt", "cannot tell the report format of 'r.txt'"),
        ("statuslint_report", "r.json, r.sarif,/nonexistent-dir/r.md", "directory /nonexistent-dir does not exist"),
        ("statuslint_report", "r.json,r.json", "statuslint_report: r.json is listed twice"),
        ("statuslint_log", "/nonexistent-dir/f.jsonl", "directory /nonexistent-dir does not exist"),
        ("statuslint_policy", "/nonexistent/p.yaml", "policy file not found"),
        ("statuslint_max_urls", "many", "statuslint_max_urls: expected a whole number, not 'many'"),
        ("statuslint_max_endpoints", "0", "statuslint_max_endpoints: must be at least 1, not 0"),
        ("statuslint_max_findings", "-1", "statuslint_max_findings: must be 0 or more, not -1"),
    ],
)
def test_bad_options_are_refused(sl: StatusLint, exits: list, option: str, value: str, error: str) -> None:
    with taddons.context(sl) as tctx, pytest.raises(exceptions.OptionsError, match=error):
        tctx.configure(sl, **{option: value})
    assert exits == [sl]  # exits 2 at start-up (mitmproxy alone would say 1)
    assert sl.exit_code == 2


def test_broken_policy_names_file_and_line(sl: StatusLint, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  - id: r\n    severity: fatal\n    summary: s\n    when: {status: 1}\n")
    with taddons.context(sl) as tctx, pytest.raises(exceptions.OptionsError, match=rf"{policy}:3: unknown severity"):
        tctx.configure(sl, statuslint_policy=str(policy))


def test_bad_option_on_a_running_proxy_is_refused_but_not_fatal(sl: StatusLint, exits: list) -> None:
    with taddons.context(sl) as tctx:
        sl.running()
        with pytest.raises(exceptions.OptionsError):
            tctx.configure(sl, statuslint_fail_on="bogus")
    assert exits == [] and sl.exit_code == 0


def test_policy_reload_keeps_counts(sl: StatusLint, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  - {id: teapot, severity: info, summary: s, when: {status: 418}}\n")
    with taddons.context(sl) as tctx:
        sl.running()
        run_flow(sl, http_flow(status=401))
        tctx.configure(sl, statuslint_policy=str(policy))
        run_flow(sl, http_flow(status=418))
        assert dict(sl.auditor.by_rule) == {"unauthorized-without-challenge": 1, "teapot": 1}


def test_fail_on_sets_exit_status(sl: StatusLint, exits: list) -> None:
    with taddons.context(sl) as tctx:
        tctx.configure(sl, statuslint_fail_on="warning")
        run_flow(sl, http_flow(status=500))  # server-error: warning
        sl.done()
    assert sl.exit_code == 1 and exits == [sl]


def test_fail_on_not_reached(sl: StatusLint, exits: list) -> None:
    with taddons.context(sl) as tctx:
        tctx.configure(sl, statuslint_fail_on="error")
        run_flow(sl, http_flow(status=500))
        sl.done()
    assert sl.exit_code == 0 and exits == []


def test_misspelt_option_fails_loudly(sl: StatusLint, exits: list, caplog: pytest.LogCaptureFixture) -> None:
    with taddons.context(sl) as tctx:
        tctx.options.deferred["statuslint_polcy"] = "x.yaml"
        sl.running()
    assert "unknown option statuslint_polcy (did you mean statuslint_policy?)" in caplog.text
    assert sl.exit_code == 2


def test_unrelated_deferred_options_are_left_alone(sl: StatusLint, exits: list) -> None:
    with taddons.context(sl) as tctx:
        tctx.options.deferred["some_other_addon_option"] = "1"
        sl.running()
    assert sl.exit_code == 0


def test_listen_host_defaults_to_loopback(sl: StatusLint) -> None:
    with taddons.context(sl) as tctx:
        sl.configure({"listen_host"})  # start-up: mitmproxy's default is every interface
        assert tctx.options.listen_host == "127.0.0.1"
        tctx.configure(sl, listen_host="0.0.0.0")
        assert tctx.options.listen_host == "0.0.0.0"


def test_a_failing_rule_is_reported_once_and_the_others_run(
    sl: StatusLint, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = {"n": 0}

    def explode(self: FlowView) -> str | None:
        calls["n"] += 1
        raise RuntimeError("boom")

    # content_type is read by the 2xx rules (ignored-accept, error-in-success), by
    # content-type-mismatch and by the error-format check (ErrorFormats).
    monkeypatch.setattr(FlowView, "content_type", property(explode))
    with taddons.context(sl):
        for _ in range(3):
            run_flow(sl, http_flow(status=200, resp_headers={}))
        summary = sl.auditor.summary()
    assert calls["n"] >= 3
    assert set(summary["internal_errors"]) == {
        "ignored-accept",
        "error-in-success",
        "content-type-mismatch",
        "ErrorFormats",
    }
    assert "RuntimeError: boom" in summary["internal_errors"]["ignored-accept"]
    assert summary["by_rule"] == {"missing-content-type": 3}  # the other rules still ran
    assert caplog.text.count("internal error in rule ignored-accept") == 1


def test_har_replay_is_detected_from_rfile(sl: StatusLint) -> None:
    from mitmproxy.addons.readfile import ReadFile

    from helpers import ROOT

    with taddons.context(sl, ReadFile()) as tctx:
        tctx.configure(sl, rfile=str(ROOT / "recordings" / "demo.har"))
        assert sl.replay_is_har
        tctx.configure(sl, rfile=str(ROOT / "recordings" / "demo.flows"))
        assert not sl.replay_is_har


def test_limits_come_from_options_and_apply_live(sl: StatusLint) -> None:
    with taddons.context(sl) as tctx:
        tctx.configure(sl, statuslint_max_urls="3", statuslint_max_endpoints="2", statuslint_max_findings="0")
        assert sl.auditor.limits.max_urls == 3 and sl.auditor.limits.max_findings == 0
        sl.running()
        for i in range(5):
            run_flow(sl, http_flow("GET", f"/v1/r{'abcde'[i]}/{i}"))
        assert len(sl.auditor.lifecycle.urls) == 3 and len(sl.auditor.endpoints) == 2
        tctx.configure(sl, statuslint_max_urls="1")  # a running proxy takes new limits
        run_flow(sl, http_flow("GET", "/v1/x/1"))
        assert len(sl.auditor.lifecycle.urls) == 1


def test_stateful_finding_logged_live_and_api_level_at_done(
    sl: StatusLint, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log, report = tmp_path / "findings.jsonl", tmp_path / "report.json"
    caplog.set_level(logging.INFO)
    with taddons.context(sl) as tctx:
        tctx.configure(sl, statuslint_log=str(log), statuslint_report=str(report))
        deleted, served = (
            http_flow("DELETE", "/v1/books/1", 204, body=b"", resp_headers={}),
            http_flow("GET", "/v1/books/1"),
        )
        run_flow(sl, deleted)
        run_flow(sl, served)
        assert served.marked == ":no_entry:" and "served-after-delete" in served.comment
        assert deleted.marked == ""
        assert [json.loads(x)["rule"] for x in log.read_text().splitlines()] == ["served-after-delete"]
        run_flow(sl, http_flow("DELETE", "/v1/authors/1", 200, body=b""))
        run_flow(sl, http_flow("DELETE", "/v1/tags/1", 204, body=b"", resp_headers={}))
        sl.done()
    records = [json.loads(x) for x in log.read_text().splitlines()]
    # API-level findings are known, and logged, at the end.
    assert [r["rule"] for r in records] == ["served-after-delete", "ok-without-body", "inconsistent-status"]
    assert records[2]["flow"] is None and len(records[2]["evidence"]) == 3
    assert any(
        "inconsistent-status: DELETE api.example.test *: DELETE is answered 204" in r.getMessage()
        for r in caplog.records
    )
    data = load_report(report)
    assert [f["rule"] for f in data["findings"]] == ["served-after-delete", "ok-without-body", "inconsistent-status"]
    assert data["findings"][0]["evidence"][0]["method"] == "DELETE"
    assert data["summary"]["by_rule"] == {"inconsistent-status": 1, "ok-without-body": 1, "served-after-delete": 1}


def test_a_finding_about_an_earlier_flow_does_not_mark_this_one(sl: StatusLint) -> None:
    with taddons.context(sl):
        head, get = http_flow("HEAD", "/v1/books/1", 404, body=b""), http_flow("GET", "/v1/books/1")
        run_flow(sl, head)
        run_flow(sl, get)
        assert get.marked == ""  # the HEAD was wrong; it has gone by
        [finding] = sl.auditor.findings
        assert finding.rule == "head-get-mismatch" and finding.flow.method == "HEAD"


def test_summary_command(sl: StatusLint, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with taddons.context(sl) as tctx:
        run_flow(sl, http_flow("DELETE", "/v1/books/1", 200))
        run_flow(sl, http_flow("GET", "/v1/books/1"))
        tctx.master.commands.call("statuslint.summary")
    [record] = [r for r in caplog.records if "audit summary so far" in r.getMessage()]
    text = record.getMessage()
    assert "2 flows, 2 audited" in text
    assert "served-after-delete" in text and "DELETE api.example.test /v1/books/{id}" in text
    assert "Rules that never ran" in text and "\x1b[" not in text


def test_finding_lines_reach_the_terminal_but_not_the_deprecated_add_log_event(sl: StatusLint) -> None:
    """mitmproxy re-sends each log record as the add_log event, at a cost per record that
    matched the rest of a finding line's logging; finding lines skip it (logfilter.py)."""

    class AddLogListener:
        def __init__(self) -> None:
            self.entries: list[str] = []

        def add_log(self, entry) -> None:  # type: ignore[no-untyped-def]
            self.entries.append(entry.msg)

    terminal = io.StringIO()
    term = TermLogHandler(terminal)

    async def scenario() -> list[str]:
        listener = AddLogListener()
        with taddons.context(sl, listener):
            term.install()
            try:
                run_flow(sl, http_flow("POST", "/v1/books", 201))
                logging.getLogger("mitmproxy.proxy.server").warning("another line")
                for _ in range(5):
                    await asyncio.sleep(0)  # the event is sent from the loop
            finally:
                term.uninstall()
        return listener.entries

    entries = asyncio.run(scenario())
    assert "statuslint warning created-without-location: POST" in terminal.getvalue()
    assert any("another line" in e for e in entries)  # the event itself still works
    assert not any("created-without-location" in e for e in entries)


def test_the_builtin_policy_is_parsed_once_at_start_up(sl: StatusLint, monkeypatch: pytest.MonkeyPatch) -> None:
    """load() parses it so that the addon is ready before any option comes; the first
    configure (mitmdump -s sends every option) reuses it instead of parsing it again."""
    calls: list[object] = []
    real = addon_module.load_policy

    def counting(path=None):  # type: ignore[no-untyped-def]
        calls.append(path)
        return real(path)

    monkeypatch.setattr(addon_module, "load_policy", counting)
    with taddons.context(sl) as tctx:
        tctx.configure(sl, statuslint_policy="default", statuslint_select="created-without-location")
        assert len(calls) == 1
        assert [r.id for r in sl.auditor.policy.enabled_rules] == ["created-without-location"]
        tctx.configure(sl, statuslint_select="")
        assert len(calls) == 1 and len(sl.auditor.policy.enabled_rules) > 1  # the selection did not stick to it
