"""Recording, replay and drift with real processes on 127.0.0.1: a small API recorded
through ``statuslint proxy --save``, changed, then replayed with ``statuslint replay`` and
compared with ``statuslint diff``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from mitmproxy import io as mitmio

from helpers import ROOT, free_port, load_report
from test_e2e import AUDIT_SCRIPT, HOST, MITMDUMP, STATUSLINT, Call, opener, run, send_all, started, terminate

DRIFT_API = ROOT / "tests" / "drift_api.py"

# A create-then-read sequence: ids assigned by the server, read back, deleted.
SESSION = [
    Call("POST", "/items", 201, json_body={"name": "a"}),
    Call("GET", "/items/1", 200),
    Call("GET", "/legacy", 200),
    Call("DELETE", "/items/1", 200),
    Call("GET", "/items/1", 404),
    Call("POST", "/items", 400, json_body=["not", "an", "object"]),
]


# The same session as a client of version 2 makes it: the server numbers items from 100.
SESSION_V2 = [
    Call(c.method, c.path.replace("/items/1", "/items/100"), status, json_body=c.json_body)
    for c, status in zip(SESSION, (201, 200, 301, 204, 404, 400), strict=True)
]


@contextmanager
def drift_api(tmp: Path, version: int) -> Iterator[int]:
    port = free_port()
    with started(
        [sys.executable, DRIFT_API, "--port", str(port), "--version", str(version)], tmp, f"api{version}", port
    ):
        yield port


def record(tmp: Path, version: int, name: str, session: list[Call] = SESSION) -> Path:
    """Drive a session through ``statuslint proxy --save`` in front of the API's version."""
    flows, har = tmp / f"{name}.flows", tmp / f"{name}.har"
    with drift_api(tmp, version) as api_port:
        proxy_port = free_port()
        cmd = [
            STATUSLINT,
            "proxy",
            "--reverse",
            f"http://{HOST}:{api_port}",
            "--port",
            str(proxy_port),
            "--confdir",
            tmp / "confdir",
            "--save",
            flows,
            "--save-har",
            har,
        ]
        with started(cmd, tmp, f"proxy-{name}", proxy_port) as proc:
            send_all(opener(), f"http://{HOST}:{proxy_port}", session)
            assert terminate(proc) == 0
    return flows


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("recorded")
    return record(tmp, 1, "v1")


def test_proxy_saves_flows_and_har(recorded: Path) -> None:
    with recorded.open("rb") as fo:
        flows = list(mitmio.FlowReader(fo).stream())
    assert [(f.request.method, f.request.path, f.response.status_code) for f in flows] == [
        (c.method, c.path, c.status) for c in SESSION
    ]
    har = json.loads(recorded.with_suffix(".har").read_text())
    assert [e["response"]["status"] for e in har["log"]["entries"]] == [c.status for c in SESSION]


@pytest.mark.parametrize("suffix", [".flows", ".har"])
def test_replay_reports_drift_and_carries_fresh_ids(recorded: Path, tmp_path: Path, suffix: str) -> None:
    report = tmp_path / "replay.json"
    with drift_api(tmp_path, 2) as port:
        proc = run(
            [
                STATUSLINT,
                "replay",
                recorded.with_suffix(suffix),
                "--to",
                f"http://{HOST}:{port}",
                "--report",
                report,
                "--fail-on",
                "none",
                "--fail-on-drift",
                "--confdir",
                tmp_path / "confdir",
            ]
        )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = load_report(report)
    drift = {d["index"]: d for d in doc["drift"]}
    # The POST's fresh Location (/items/100) is no drift, and the GET and DELETE after it
    # went to /items/100: they found what the replay had just created.
    assert sorted(drift) == [2, 3]
    assert drift[2]["changed"] == ["status", "location", "content-type"]
    assert drift[2]["before"]["status"] == 200 and drift[2]["after"]["status"] == 301
    assert drift[2]["after"]["headers"]["location"] == "/items"
    assert drift[3]["method"] == "DELETE" and drift[3]["url"].endswith("/items/100")
    assert drift[3]["changed"] == ["status", "content-type"]
    assert (drift[3]["before"]["status"], drift[3]["after"]["status"]) == (200, 204)
    assert doc["summary"]["drift"] == 2
    # The fresh answers were audited: every request, at its position in the recording.
    assert doc["summary"]["audited"] == len(SESSION)
    assert {f["flow"]["index"] for f in doc["findings"] if f["flow"]} <= set(range(len(SESSION)))
    gone = {f["rule"] for f in doc["findings_drift"]["gone"]}
    assert "delete-ok-with-body" in gone or "ok-with-body-after-delete" in gone or gone, doc["findings_drift"]
    assert "2 drifted" in proc.stdout


def test_replay_without_fail_on_drift_exits_zero(recorded: Path, tmp_path: Path) -> None:
    with drift_api(tmp_path, 2) as port:
        proc = run([STATUSLINT, "replay", recorded, "--to", f"http://{HOST}:{port}", "--fail-on", "none"])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_replay_against_an_unchanged_server_has_no_drift(recorded: Path, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    with drift_api(tmp_path, 1) as port:
        proc = run(
            [
                STATUSLINT,
                "replay",
                recorded,
                "--to",
                f"http://{HOST}:{port}",
                "--report",
                report,
                "--fail-on-drift",
                "--fail-on",
                "none",
            ]
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = load_report(report)
    assert doc["drift"] == [] and doc["summary"]["drift"] == 0
    assert doc["findings_drift"] == {"new": [], "gone": []}


def test_replay_to_a_server_that_is_down_reports_errors(recorded: Path, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    proc = run([STATUSLINT, "replay", recorded, "--to", f"http://{HOST}:{free_port()}", "--report", report])
    doc = load_report(report)
    assert len(doc["drift"]) == len(SESSION)
    assert all(d["after"]["status"] is None and d["after"]["error"] for d in doc["drift"])
    assert proc.returncode == 0  # drift without --fail-on-drift, and no findings


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.flows", "--to", "http://127.0.0.1:1"], "missing.flows: no such file"),
        (["README.md", "--to", "ftp://x"], "--to: expected an http:// or https:// URL"),
    ],
)
def test_replay_usage_errors(args: list[str], message: str) -> None:
    proc = run([STATUSLINT, "replay", *args])
    assert proc.returncode == 2
    assert message in proc.stderr


def test_mitmdump_client_replay_is_audited(recorded: Path, tmp_path: Path) -> None:
    """``mitmdump -C`` replays to the recorded server: run it in front of v2 on the
    recorded port is not possible (ports differ), so re-point the recording first."""
    with recorded.open("rb") as fo:
        flows = list(mitmio.FlowReader(fo).stream())
    report = tmp_path / "r.json"
    with drift_api(tmp_path, 2) as port:
        for f in flows:
            f.request.port = port
        moved = tmp_path / "moved.flows"
        with moved.open("wb") as fo:
            writer = mitmio.FlowWriter(fo)
            for f in flows:
                writer.add(f)
        proc = run(
            [
                MITMDUMP,
                "-n",
                "-C",
                moved,
                "-s",
                AUDIT_SCRIPT,
                "--set",
                f"statuslint_report={report}",
                "--set",
                f"confdir={tmp_path / 'confdir'}",
            ]
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = load_report(report)
    assert doc["summary"]["audited"] == len(SESSION)
    statuses = sorted(e["by_status"] for e in doc["summary"]["endpoints"] if e["path"] == "/legacy")
    assert statuses == [{"301": 1}]


# statuslint diff ---------------------------------------------------------------------------


def test_diff_between_two_recordings(recorded: Path, tmp_path: Path) -> None:
    after = record(tmp_path, 2, "v2", SESSION_V2)
    out = tmp_path / "diff.json"
    proc = run([STATUSLINT, "diff", recorded, after.with_suffix(".har"), "--output", out, "--fail-on-drift"])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = load_report(out)
    assert doc["matched_without_host"] is True  # the two runs used two ports
    rows = {e["endpoint"]: e for e in doc["endpoints"]}
    delete = rows["DELETE * /items/{id}"]
    assert (delete["before"], delete["after"], delete["change"]) == ({"200": 1}, {"204": 1}, "codes changed")
    assert (delete["codes_removed"], delete["codes_added"]) == (["200"], ["204"])
    assert rows["GET * /legacy"]["after"] == {"301": 1}
    assert rows["POST * /items"]["change"] == "same codes"
    assert doc["summary"]["codes_changed"] == 2
    assert doc["findings"]["fixed"], "v2 fixed the DELETE answered 200 with a body"
    assert all({"rule", "endpoint", "count_before", "count_after"} <= set(f) for f in doc["findings"]["fixed"])
    assert "Endpoints that changed" in proc.stdout


def test_diff_of_a_recording_with_itself_is_clean(recorded: Path) -> None:
    proc = run([STATUSLINT, "diff", recorded, recorded, "--fail-on-drift", "--format", "json"])
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["summary"]["drift"] is False
    assert doc["findings"] == {"new": [], "fixed": []}
    assert doc["matched_without_host"] is False
