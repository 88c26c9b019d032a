"""``statuslint audit`` and ``statuslint rules``, on the bundled recordings and the shared corpus."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers import BIN, CORPUS, ROOT, needs_corpus
from statuslint.cli import main

DEMO_FLOWS = str(ROOT / "recordings" / "demo.flows")
DEMO_HAR = str(ROOT / "recordings" / "demo.har")
SECRETS = ("demo-secret-token-123", "demo-readonly-token-456", "demo-api-key-7f3a9c", "demo-session-cookie-abc123")


def audit_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    code = main(["audit", *args, "--format", "json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_audit_recordings_default_fails_on_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = audit_json(capsys, DEMO_FLOWS)
    assert code == 1  # the demo API's sloppy endpoints have error-level findings
    assert report["summary"]["by_severity"]["error"] > 0
    assert report["inputs"] == [{"source": DEMO_FLOWS, "flows": report["summary"]["flows"], "error": None}]


def test_fail_on_thresholds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", DEMO_FLOWS, "-q", "--fail-on", "none"]) == 0
    assert main(["audit", DEMO_FLOWS, "-q", "--fail-on", "info"]) == 1
    assert main(["audit", DEMO_FLOWS, "-q", "--fail-on", "loud"]) == 2
    assert "--fail-on: unknown value 'loud' (expected one of: error, warning, info, none)" in capsys.readouterr().err


def test_recordings_break_most_of_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    _, report, _ = audit_json(capsys, DEMO_FLOWS, "--fail-on", "none")
    assert len(report["summary"]["by_rule"]) >= 20
    # The exemplary /v1/books endpoints stay clean.
    assert not [f for f in report["findings"] if f["flow"] and "/v1/books" in f["flow"]["url"]]


def test_flows_and_har_of_one_session_agree(capsys: pytest.CaptureFixture[str]) -> None:
    _, flows, _ = audit_json(capsys, DEMO_FLOWS, "--fail-on", "none")
    _, har, _ = audit_json(capsys, DEMO_HAR, "--fail-on", "none")
    key = lambda r: [(f["rule"], f["flow"] and f["flow"]["index"]) for f in r["findings"]]  # noqa: E731
    # The HAR (mitmdump --set hardump) declares its bodies' sizes, so even the rules that need
    # to know a body is empty decide alike on both.
    assert key(flows) == key(har)
    assert {"ok-without-body", "accepted-without-status-link"} <= {k[0] for k in key(har)}


def test_no_secret_reaches_any_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_file = tmp_path / "r.json"
    main(["audit", DEMO_FLOWS, DEMO_HAR, "--output", str(out_file)])
    text_out = capsys.readouterr().out
    main(["audit", DEMO_FLOWS, DEMO_HAR])
    text_out += capsys.readouterr().out
    for secret in SECRETS:
        assert secret not in out_file.read_text()
        assert secret not in text_out


def test_output_format_from_suffix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.json"
    assert main(["audit", DEMO_FLOWS, "--output", str(out), "--fail-on", "none"]) == 0
    report = json.loads(out.read_text())
    assert report["tool"]["name"] == "statuslint"
    assert "statuslint audit summary" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--output", "r.txt"], "cannot tell the report format"),
        (["--format", "text", "--output", "r.json"], "--output needs a machine format"),
        (["--output", "/nonexistent-dir/r.json"], "directory /nonexistent-dir does not exist"),
        (["--policy", "/nonexistent.yaml"], "/nonexistent.yaml: policy file not found"),
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], error: str) -> None:
    assert main(["audit", DEMO_FLOWS, *args]) == 2
    err = capsys.readouterr().err
    assert error in err
    assert err.count("\n") == 1


def test_missing_input_keeps_other_findings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, report, err = audit_json(capsys, str(tmp_path / "missing.flows"), DEMO_FLOWS)
    assert code == 2
    assert err.strip() == f"statuslint: {tmp_path / 'missing.flows'}: cannot open: No such file or directory"
    assert report["inputs"][0]["error"] == "No such file or directory"
    assert report["findings"]


def test_rules_catalog_and_docs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    assert "created-without-location" in out and "method-not-allowed-without-allow" in out
    assert main(["rules", "created-without-location"]) == 0
    out = capsys.readouterr().out
    for part in (
        "201 Created without Location",
        "Why it matters",
        "Example",
        "Fix",
        "RFC 9110 §15.3.2",
        "Location: present",
    ):
        assert part in out


def test_unknown_rule_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "created-without-locaton"]) == 2
    assert "did you mean 'created-without-location'?" in capsys.readouterr().err


def test_console_script(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "statuslint"), "audit", DEMO_HAR, "--format", "json", "--fail-on", "none"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["flows"] > 50


# Imported only where they are needed: each is start-up an audit of one file never uses.
NOT_FOR_ONE_FILE = ("mitmproxy.io", "mitmproxy.flowfilter", "pyparsing", "multiprocessing", "tempfile", "rich.panel")


@pytest.mark.parametrize("recording", [DEMO_HAR, DEMO_FLOWS])
def test_auditing_one_file_leaves_unneeded_modules_unimported(recording: str) -> None:
    script = (
        "import sys\nfrom statuslint.cli import main\n"
        f"code = main(['audit', {recording!r}, '-q', '--fail-on', 'none', '--no-progress'])\n"
        f"print(code, sorted(m for m in {NOT_FOR_ONE_FILE!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [str(BIN / "python"), "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "0 []", result.stdout


# The shared corpus ---------------------------------------------------------------------


@needs_corpus
def test_requestgenerator_matches_independent_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """The corpus README's counts, made by an independent parser."""
    _, report, _ = audit_json(capsys, str(CORPUS / "har" / "requestgenerator-all-status-and-method.har"))
    by_rule = report["summary"]["by_rule"]
    # 11 201s lack Location; the PUT's and the PATCH's name their resource (RFC 9110 §15.3.2).
    assert by_rule["created-without-location"] == 9
    # Its 11 416s answer requests without Range: the 416 is the finding, not a missing Content-Range.
    assert by_rule["range-not-satisfiable-without-range-request"] == 11
    assert "range-not-satisfiable-without-content-range" not in by_rule
    # Its 204s declare content.size 0 without text: known empty, not undecidable.
    assert by_rule["no-content-with-body"] == 10  # the 205s that carry JSON
    assert by_rule["partial-without-content-range"] == 11
    assert by_rule["redirect-without-location"] == 55
    assert by_rule["unauthorized-without-challenge"] == 13
    assert by_rule["method-not-allowed-without-allow"] == 11
    assert report["summary"]["flows"] == 665
    assert report["summary"]["not_audited"]["status_0"] == 11
    assert report["summary"]["audited"] == 654
    assert by_rule["status-unregistered"] > 0  # 419/420 are in there


@needs_corpus
@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("har/har2openapi-media-types.har", "entry 0: missing field 'startedDateTime' (4 more unreadable entries)"),
        ("har/har2openapi-multipart-merge.har", "entry 0: missing field 'startedDateTime' (1 more unreadable entries)"),
        ("har/hartok6-full-no-responses.har", "entry 0: missing field 'startedDateTime' (7 more unreadable entries)"),
        ("flows/dumpfile-010.mitm", "cannot read files with flow format version (0, 10)"),
    ],
)
def test_unreadable_corpus_files(capsys: pytest.CaptureFixture[str], name: str, error: str) -> None:
    path = str(CORPUS / name)
    code, report, err = audit_json(capsys, path, DEMO_HAR)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith(f"statuslint: {path}: ") and error in line
    assert report["inputs"][0]["error"] and report["inputs"][1]["error"] is None
    assert report["findings"]  # the readable file's findings are kept


@needs_corpus
def test_browser_304_cached_body_is_not_a_finding(capsys: pytest.CaptureFixture[str]) -> None:
    _, report, _ = audit_json(capsys, str(CORPUS / "har" / "mswjs-response-status-304.har"), "--fail-on", "none")
    assert "not-modified-with-body" not in report["summary"]["by_rule"]


@needs_corpus
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Third-party servers' true findings: two unquoted ETags (amazon-adsystem, quantserve),
        # "Content-Length: 0" on 204 beacons, a gzip POST answer whose HAR entry declares
        # content.size 2 without text or Content-Type, and a script sent to "Accept:
        # application/json" (the last two decidable now that declared sizes count).
        (
            "har/haralyzer-cnn-chrome.har",
            {"malformed-etag": 2, "content-length-on-no-content": 19, "missing-content-type": 1, "ignored-accept": 1},
        ),
        ("har/mitmproxy-firefox.har", {}),
        ("har/mitmproxy-chrome.har", {}),
    ],
)
def test_browser_page_loads_are_clean(capsys: pytest.CaptureFixture[str], name: str, expected: dict) -> None:
    """Real page loads: 204 beacons, redirects with Location, 304s with cached bodies, CORS
    preflights answered 200 with no content: no false positive."""
    _, report, _ = audit_json(capsys, str(CORPUS / name), "--fail-on", "none")
    assert report["summary"]["by_rule"] == expected


@needs_corpus
def test_mixed_flow_kinds_are_counted(capsys: pytest.CaptureFixture[str]) -> None:
    files = ["flows-diff_data.mitm", "dumpfile-7-websocket.mitm", "flows-incomplete_log.mitm", "flows-error_log.mitm"]
    code, report, _ = audit_json(capsys, *(str(CORPUS / "flows" / f) for f in files), "--fail-on", "none")
    assert code == 0
    s = report["summary"]
    assert s["not_audited"]["tcp"] == 2
    assert s["websocket_messages"] > 0
    assert s["not_audited"]["no_response"] >= 5


@needs_corpus
def test_every_readable_corpus_file_audits(capsys: pytest.CaptureFixture[str]) -> None:
    bad = {
        "har2openapi-media-types.har",
        "har2openapi-multipart-merge.har",
        "hartok6-full-no-responses.har",
        "dumpfile-010.mitm",
    }
    files = [str(p) for p in sorted(CORPUS.glob("*/*")) if p.parent.name in ("har", "flows") and p.name not in bad]
    code, report, err = audit_json(capsys, *files, "--fail-on", "none")
    assert code == 0, err
    assert all(i["error"] is None for i in report["inputs"])


def test_odd_paths_never_break_the_summary_or_the_report(tmp_path: Path) -> None:
    """Brackets (rich markup), raw non-UTF-8 bytes, a huge segment: the audit finishes,
    the summary prints and the report is written."""
    from mitmproxy import io

    from helpers import http_flow

    flows = [
        http_flow("GET", "/a/[/x]/b[bold]", 200),
        http_flow("GET", "/caf\udce9/x", 404),  # mitmproxy's surrogateescape for the byte 0xE9
        http_flow("GET", "/v" + "1" * 50_000 + "!", 200),
        http_flow("DELETE", "/caf\udce9/1", 204, body=b"", resp_headers={}),
        http_flow("GET", "/caf\udce9/1", 200),
    ]
    recording = tmp_path / "odd.flows"
    with recording.open("wb") as fo:
        writer = io.FlowWriter(fo)
        for f in flows:
            writer.add(f)
    out = tmp_path / "r.json"
    result = subprocess.run(
        [BIN / "statuslint", "audit", recording, "--fail-on", "none", "--output", out],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "GET api.example.test /a/[/x]/b[bold]" in result.stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    endpoints = {e["endpoint"] for e in report["summary"]["endpoints"]}
    assert "GET api.example.test /caf\\xe9/x" in endpoints
    assert "GET api.example.test /{id}" in endpoints  # one huge segment is an id
    [served] = [f for f in report["findings"] if f["rule"] == "served-after-delete"]
    assert served["flow"]["url"] == "https://api.example.test/caf\\xe9/1"
