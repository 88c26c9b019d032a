"""Noise control: --select/--ignore, suppressions with a reason, baselines."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

from helpers import BIN, ROOT, http_flow
from statuslint import addon as addon_module
from statuslint.addon import StatusLint
from statuslint.auditor import Auditor
from statuslint.cli import main
from statuslint.noise import Baseline, render_baseline
from statuslint.policy import load_policy
from statuslint.reports import build_model, render
from statuslint.yamlsource import PolicyError

DEMO_FLOWS = str(ROOT / "recordings" / "demo.flows")
HOST = "api.example.test"


def audit_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    code = main(["audit", *args, "--format", "json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def write_policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def created(path: str = "/v1/things") -> object:
    """A POST answered 201 without Location: one created-without-location finding."""
    return http_flow("POST", path, 201, body=b'{"id": 1}')


def rules_of(findings: list) -> list[str]:
    return [f.rule for f in findings]


# --select / --ignore ------------------------------------------------------------------------


def test_select_runs_only_the_named_rules(capsys: pytest.CaptureFixture[str]) -> None:
    _, full, _ = audit_json(capsys, DEMO_FLOWS, "--fail-on", "none")
    _, only, _ = audit_json(
        capsys, DEMO_FLOWS, "--fail-on", "none", "--select", "server-error,created-without-location"
    )
    assert set(full["summary"]["by_rule"]) > {"server-error", "created-without-location"}
    assert set(only["summary"]["by_rule"]) == {"server-error", "created-without-location"}
    assert only["summary"]["by_rule"]["server-error"] == full["summary"]["by_rule"]["server-error"]
    # The others are disabled, and the coverage says so.
    assert "served-after-delete" in only["summary"]["coverage"]["disabled"]


def test_ignore_is_repeatable_and_combines_with_select(capsys: pytest.CaptureFixture[str]) -> None:
    _, report, _ = audit_json(
        capsys, DEMO_FLOWS, "--fail-on", "none", "--ignore", "server-error", "--ignore", "inconsistent-status"
    )
    assert "server-error" not in report["summary"]["by_rule"]
    assert "inconsistent-status" not in report["summary"]["by_rule"]
    assert "created-without-location" in report["summary"]["by_rule"]


@pytest.mark.parametrize("flag", ["--select", "--ignore"])
def test_unknown_rule_id_is_a_usage_error_with_a_suggestion(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    assert main(["audit", DEMO_FLOWS, flag, "created-without-locaton"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0
    assert f"{flag}: no rule 'created-without-locaton'" in err
    assert "did you mean 'created-without-location'?" in err


def test_proxy_refuses_an_unknown_rule_before_listening(tmp_path: Path) -> None:
    proc = subprocess.run(
        [BIN / "statuslint", "proxy", "--port", "0", "--select", "no-such-rule", "--confdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--select: no rule 'no-such-rule'" in proc.stderr
    assert "listening" not in proc.stdout + proc.stderr


# Suppressions -------------------------------------------------------------------------------


SUPPRESS_POLICY = """\
extends: default
suppress:
  - rule: created-without-location
    reason: token endpoints are not resources
    paths: ["/v1/tokens*"]
  - rule: created-without-location
    reason: the legacy host never sends Location
    hosts: ["legacy.example.test"]
  - rule: server-error
    reason: a server we retired
    endpoint: "GET gone.example.test /v1/things/{id}"
"""


def test_suppressed_findings_leave_findings_and_are_counted(tmp_path: Path) -> None:
    policy = load_policy(write_policy(tmp_path, SUPPRESS_POLICY))
    auditor = Auditor(policy)
    assert rules_of(auditor.audit_response(created("/v1/tokens"), 0, "t")) == []
    assert rules_of(auditor.audit_response(created("/v1/tokens/refresh"), 1, "t")) == []
    # Same rule, path not covered: reported.
    assert rules_of(auditor.audit_response(created("/v1/users"), 2, "t")) == ["created-without-location"]
    legacy = http_flow("POST", "/v1/users", 201, host="legacy.example.test")
    assert rules_of(auditor.audit_response(legacy, 3, "t")) == []
    summary = auditor.summary()
    assert summary["by_rule"] == {"created-without-location": 1}
    assert summary["by_severity"]["warning"] == 1
    rows = summary["suppressed"]
    assert [(r["rule"], r["reason"], r["count"], r["stale"]) for r in rows] == [
        ("created-without-location", "token endpoints are not resources", 2, False),
        ("created-without-location", "the legacy host never sends Location", 1, False),
        ("server-error", "a server we retired", 0, True),
    ]
    assert rows[0]["origin"].endswith("policy.yaml:3")


def test_suppression_by_endpoint_and_method(tmp_path: Path) -> None:
    policy = load_policy(
        write_policy(
            tmp_path,
            f"""\
extends: default
suppress:
  - rule: server-error
    reason: flaky upstream, tracked in OPS-12
    endpoint: "GET  {HOST}   /v1/things/{{id}}"
  - rule: server-error
    reason: batch jobs may fail
    methods: [POST]
""",
        )
    )
    auditor = Auditor(policy)
    assert rules_of(auditor.audit_response(http_flow("GET", "/v1/things/7", 500), 0, "t")) == []
    assert rules_of(auditor.audit_response(http_flow("POST", "/v1/jobs", 500), 1, "t")) == []
    # Another endpoint, another method: reported.
    assert rules_of(auditor.audit_response(http_flow("GET", "/v1/jobs/7", 500), 2, "t")) == ["server-error"]
    assert [r["count"] for r in auditor.summary()["suppressed"]] == [1, 1]


def test_suppressed_finding_leaves_every_output_and_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = write_policy(
        tmp_path,
        """\
extends: default
suppress:
  - rule: served-after-delete
    reason: soft delete, documented
  - rule: inconsistent-status
    reason: the legacy API differs on purpose
""",
    )
    _, plain, _ = audit_json(capsys, DEMO_FLOWS, "--fail-on", "none")
    assert plain["summary"]["by_rule"]["served-after-delete"] and plain["summary"]["by_rule"]["inconsistent-status"]
    code, report, _ = audit_json(capsys, DEMO_FLOWS, "--policy", str(policy), "--fail-on", "none")
    assert code == 0
    rules = {f["rule"] for f in report["findings"]}
    assert not rules & {"served-after-delete", "inconsistent-status"}
    assert "suppressed_findings" not in report
    counts = {r["rule"]: r["count"] for r in report["summary"]["suppressed"]}
    assert counts == {
        "served-after-delete": plain["summary"]["by_rule"]["served-after-delete"],
        "inconsistent-status": plain["summary"]["by_rule"]["inconsistent-status"],
    }
    # The text output does not list them either, and says what was held back.
    main(["audit", DEMO_FLOWS, "--policy", str(policy), "--fail-on", "none"])
    out = capsys.readouterr().out
    assert "served-after-delete" not in out.split("statuslint audit summary")[0]
    assert "soft delete, documented" in out


def test_exit_code_ignores_suppressed_errors(tmp_path: Path) -> None:
    policy = write_policy(
        tmp_path,
        "extends: default\nsuppress:\n  - {rule: partial-without-content-range, reason: ranges are an accident}\n",
    )
    args = ["audit", DEMO_FLOWS, "-q", "--select", "partial-without-content-range", "--fail-on", "error"]
    assert main(args) == 1
    assert main([*args, "--policy", str(policy)]) == 0


def test_model_carries_suppressed_findings_for_sarif(tmp_path: Path) -> None:
    auditor = Auditor(load_policy(write_policy(tmp_path, SUPPRESS_POLICY)))
    auditor.audit_response(created("/v1/tokens"), 0, "t")
    model = build_model(auditor, "p")
    (held,) = model["suppressed_findings"]
    assert held["rule"] == "created-without-location"
    assert held["suppression"]["reason"] == "token endpoints are not resources"
    assert "suppressed_findings" not in json.loads(render(model, "json"))


@pytest.mark.parametrize(
    ("entry", "line", "message"),
    [
        ("- {rule: server-error}", 3, "suppression of 'server-error' needs a 'reason'"),
        ("- {rule: server-error, reason: '  '}", 3, "needs a 'reason'"),
        ("- {rule: server-eror, reason: x}", 3, "unknown rule id 'server-eror' (did you mean 'server-error'?)"),
        ("- {reason: x}", 3, "suppression without a 'rule' id"),
        (
            "- {rule: server-error, reason: x, path: [/a]}",
            3,
            "unknown key 'path' in suppression (did you mean 'paths'?)",
        ),
        ("- {rule: server-error, reason: x, endpoint: /v1/a}", 3, "'endpoint' takes an endpoint"),
        ("- {rule: server-error, reason: x, methods: ['GE T']}", 3, "is not an HTTP method token"),
        ("- server-error", 3, "each suppression must be a mapping"),
    ],
)
def test_bad_suppressions_are_refused_at_load(tmp_path: Path, entry: str, line: int, message: str) -> None:
    path = write_policy(tmp_path, f"extends: default\nsuppress:\n  {entry}\n")
    with pytest.raises(PolicyError) as e:
        load_policy(path)
    assert str(e.value).startswith(f"{path}:{line}: ")
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_suppressions_are_inherited_through_extends(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("extends: default\nsuppress:\n  - {rule: server-error, reason: inherited}\n")
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\nsuppress:\n  - {rule: created-without-location, reason: own}\n")
    assert [s.reason for s in load_policy(child).suppressions] == ["inherited", "own"]


def test_suppressed_rule_that_did_not_run_is_not_stale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = write_policy(tmp_path, "extends: default\nsuppress:\n  - {rule: server-error, reason: x}\n")
    _, report, _ = audit_json(capsys, DEMO_FLOWS, "--policy", str(policy), "--ignore", "server-error")
    assert report["summary"]["suppressed"][0]["stale"] is False


# Baselines ----------------------------------------------------------------------------------


def test_baseline_round_trip_reports_only_new_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "baseline.json"
    assert main(["audit", DEMO_FLOWS, "-q", "--fail-on", "none", "--write-baseline", str(baseline)]) == 0
    capsys.readouterr()
    text = baseline.read_text()
    doc = json.loads(text)
    entries = doc["findings"]
    assert doc["format"] == "statuslint-baseline"
    keys = [(e["rule"], e["method"], e["host"], e["endpoint"]) for e in entries]
    assert keys == sorted(keys) and len(keys) == len(set(keys))
    # One entry a line, so a fixed finding is one removed line in a diff.
    assert len(text.splitlines()) == len(entries) + 2
    code, report, _ = audit_json(capsys, DEMO_FLOWS, "--baseline", str(baseline), "--fail-on", "info")
    total = sum(e["count"] for e in entries)
    assert report["findings"] == []
    assert report["summary"]["baseline"] == {"new": 0, "known": total, "fixed": 0}
    assert code == 0  # --fail-on gates on new findings only


def test_baseline_keys_survive_new_ids_and_reordering(tmp_path: Path) -> None:
    policy = load_policy()
    before = Auditor(policy)
    before.gate.record_keys = True
    for i, f in enumerate([created("/v1/orders"), http_flow("GET", "/v1/orders/17", 500)]):
        before.audit_response(f, i, "before")
    baseline_path = tmp_path / "b.json"
    baseline_path.write_text(render_baseline(before.baseline_counts()))
    baseline = Baseline.load(str(baseline_path))

    after = Auditor(policy, baseline=baseline)
    # Another id, the other order, and one finding that is new.
    flows = [http_flow("GET", "/v1/orders/99", 500), created("/v1/orders"), http_flow("GET", "/v1/invoices/3", 500)]
    reported = [rules_of(after.audit_response(f, i, "after")) for i, f in enumerate(flows)]
    assert reported == [[], [], ["server-error"]]
    assert after.summary()["baseline"] == {"new": 1, "known": 2, "fixed": 0}
    assert [f.flow.url for f in after.ordered_findings()] == [f"https://{HOST}/v1/invoices/3"]


def test_baseline_counts_fixed_entries(tmp_path: Path) -> None:
    baseline_path = tmp_path / "b.json"
    before = Auditor(load_policy())
    before.gate.record_keys = True
    before.audit_response(created("/v1/orders"), 0, "x")
    before.audit_response(http_flow("GET", "/v1/orders/1", 500), 1, "x")
    baseline_path.write_text(render_baseline(before.baseline_counts()))
    after = Auditor(load_policy(), baseline=Baseline.load(str(baseline_path)))
    after.audit_response(http_flow("GET", "/v1/orders/1", 200), 0, "y")  # the 500 is fixed
    after.audit_response(created("/v1/orders"), 1, "y")
    assert after.summary()["baseline"] == {"new": 0, "known": 1, "fixed": 1}


def test_no_baseline_means_null_in_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    _, report, _ = audit_json(capsys, DEMO_FLOWS, "--fail-on", "none")
    assert report["summary"]["baseline"] is None
    assert report["summary"]["suppressed"] == []


def test_api_level_findings_go_through_the_baseline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = tmp_path / "b.json"
    main(
        [
            "audit",
            DEMO_FLOWS,
            "-q",
            "--fail-on",
            "none",
            "--select",
            "inconsistent-status",
            "--write-baseline",
            str(baseline),
        ]
    )
    capsys.readouterr()
    entries = json.loads(baseline.read_text())["findings"]
    assert entries and all(e["endpoint"] == "*" for e in entries)
    _, report, _ = audit_json(capsys, DEMO_FLOWS, "--select", "inconsistent-status", "--baseline", str(baseline))
    assert report["findings"] == []
    assert report["summary"]["baseline"]["known"] == len(entries)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "baseline is not JSON"),
        ('{"findings": []}', "not a statuslint baseline"),
        ('{"format": "statuslint-baseline", "version": 9, "findings": []}', "unsupported baseline version 9"),
        ('{"format": "statuslint-baseline", "version": 1, "findings": [{"rule": "x"}]}', "findings[0]: missing field"),
    ],
)
def test_bad_baseline_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "b.json"
    path.write_text(content)
    assert main(["audit", DEMO_FLOWS, "--baseline", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err and str(path) in err


def test_missing_baseline_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["audit", DEMO_FLOWS, "--baseline", str(tmp_path / "nope.json")]) == 2
    assert "cannot read baseline" in capsys.readouterr().err


# The live addon -----------------------------------------------------------------------------


@pytest.fixture
def sl(monkeypatch: pytest.MonkeyPatch) -> StatusLint:
    monkeypatch.setattr(addon_module.atexit, "register", lambda *a: None)
    a = StatusLint()
    a.print_summary = False
    return a


def test_live_proxy_logs_only_new_findings_and_writes_a_baseline(sl: StatusLint, tmp_path: Path) -> None:
    baseline = tmp_path / "b.json"
    before = Auditor(load_policy())
    before.gate.record_keys = True
    before.audit_response(created("/v1/orders"), 0, "x")
    baseline.write_text(render_baseline(before.baseline_counts()))
    log = tmp_path / "log.jsonl"
    written = tmp_path / "new-baseline.json"
    with taddons.context(sl) as tctx:
        tctx.configure(
            sl, statuslint_baseline=str(baseline), statuslint_log=str(log), statuslint_write_baseline=str(written)
        )
        for f in (created("/v1/orders"), http_flow("GET", "/v1/orders/4", 500)):
            sl.requestheaders(f)
            sl.response(f)
        assert [json.loads(x)["rule"] for x in log.read_text().splitlines()] == ["server-error"]
        sl.done()
    rules = [e["rule"] for e in json.loads(written.read_text())["findings"]]
    assert rules == ["created-without-location", "server-error"]


def test_live_select_and_ignore_options(sl: StatusLint) -> None:
    with taddons.context(sl) as tctx:
        tctx.configure(sl, statuslint_ignore="created-without-location")
        f = created()
        sl.requestheaders(f)
        sl.response(f)
        assert not f.marked
        with pytest.raises(exceptions.OptionsError, match=r"no rule 'server-eror'.*did you mean 'server-error'"):
            tctx.configure(sl, statuslint_select="server-eror")
        with pytest.raises(exceptions.OptionsError, match=r"statuslint_baseline: .*cannot read baseline"):
            tctx.configure(sl, statuslint_baseline="/nonexistent/b.json")
