"""``statuslint audit --jobs N``: inputs audited in worker processes and merged give the
report one process gives (same findings, order, summary, exit status), and a failing
worker costs its input, in one line, not the run."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import io as mio

from helpers import BIN, ROOT, default_policy, http_flow
from statuslint import parallel
from statuslint.auditor import Auditor, Limits
from statuslint.auditstate import export
from statuslint.cli import main
from statuslint.interrupt import StopOnInterrupt
from statuslint.reports import model

DEMO_FLOWS = ROOT / "recordings" / "demo.flows"
DEMO_HAR = ROOT / "recordings" / "demo.har"
STATUSLINT = BIN / "statuslint"


def write_flows(path: Path, flows: list) -> Path:
    with open(path, "wb") as fo:
        writer = mio.FlowWriter(fo)
        for f in flows:
            writer.add(f)
    return path


def allow_then_methods() -> list:
    """An Allow that omits DELETE and PUT on /v1/items/{id}, a CORS preflight that omits
    PATCH, a 501 for PURGE and an Allow listing POST: each meets its contradiction only in
    ``methods_elsewhere`` (another input)."""
    return [
        http_flow("OPTIONS", "/v1/items/1", 204, resp_headers={"Allow": "GET, HEAD, OPTIONS, POST"}, body=b""),
        http_flow(
            "OPTIONS",
            "/v1/items/1",
            204,
            req_headers={"Origin": "https://app.example.test", "Access-Control-Request-Method": "PATCH"},
            resp_headers={"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, POST"},
            body=b"",
        ),
        http_flow("PURGE", "/v1/cache", 501, body=b""),
        http_flow("GET", "/v1/items/1"),
    ]


def methods_elsewhere() -> list:
    return [
        http_flow("DELETE", "/v1/items/2", 204, body=b""),
        http_flow("PATCH", "/v1/items/3", 200),
        http_flow("PURGE", "/v1/other", 200),
        http_flow("POST", "/v1/items/4", 405, resp_headers={"Content-Type": "application/json"}),
        http_flow("PUT", "/v1/items/5", 200),
    ]


CROSSING_RULES = {
    "allow-contradicts-traffic",
    "cors-contradicts-traffic",
    "not-implemented-but-implemented",
    "allow-lists-failing-method",
}


def test_the_crossing_inputs_do_cross_within_one_input() -> None:
    """What makes the next tests mean something: read as one input, the two lists of
    flows contradict each other under every surface check."""
    auditor = Auditor(default_policy())
    feed(auditor, allow_then_methods() + methods_elsewhere(), "one")
    assert set(auditor.by_rule) >= CROSSING_RULES
    apart = Auditor(default_policy())
    feed(apart, allow_then_methods(), "a")
    feed(apart, methods_elsewhere(), "b")
    assert not CROSSING_RULES & set(apart.by_rule)


@pytest.fixture(scope="module")
def crossing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two inputs whose surface state would meet if it crossed inputs."""
    d = tmp_path_factory.mktemp("crossing")
    return write_flows(d / "allow.flows", allow_then_methods()), write_flows(d / "methods.flows", methods_elsewhere())


def run(capsys: pytest.CaptureFixture[str], tmp_path: Path, jobs: int, *args: str | Path) -> tuple[int, dict, str, str]:
    # One path for every run: the summary names it, and may wrap it (COLUMNS).
    report = tmp_path / "report.json"
    code = main(["audit", *map(str, args), "--jobs", str(jobs), "-o", str(report), "--no-progress"])
    out, err = capsys.readouterr()
    return code, json.loads(report.read_text(encoding="utf-8")), out, err


def same_for_any_jobs(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str | Path) -> tuple[int, dict, str]:
    """Audit with --jobs 1 and --jobs 2: the exit status, the JSON report (it has no timing
    fields), stdout and stderr must all be the same."""
    one = run(capsys, tmp_path, 1, *args)
    two = run(capsys, tmp_path, 2, *args)
    assert two[0] == one[0]
    assert two[1] == one[1]
    assert two[2] == one[2]
    assert two[3] == one[3]
    return one[0], one[1], one[3]


def test_demo_recordings_report_the_same_with_two_jobs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, report, _ = same_for_any_jobs(capsys, tmp_path, DEMO_FLOWS, DEMO_HAR, "--fail-on", "warning")
    assert code == 1
    assert [i["source"] for i in report["inputs"]] == [str(DEMO_FLOWS), str(DEMO_HAR)]
    sources = [f["flow"]["source"] for f in report["findings"] if f.get("flow")]
    # Input order, then flow order: the first input's findings all come first.
    assert sources == sorted(sources, key=[str(DEMO_FLOWS), str(DEMO_HAR)].index) and len(set(sources)) == 2
    assert report["summary"]["by_rule"]["inconsistent-status"] >= 1


def test_inputs_whose_surface_state_would_cross_report_the_same(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, crossing: tuple[Path, Path]
) -> None:
    code, report, _ = same_for_any_jobs(capsys, tmp_path, *crossing, DEMO_FLOWS, "--fail-on", "none")
    assert code == 0
    mine = [f for f in report["findings"] if f.get("flow") and f["flow"]["source"] in map(str, crossing)]
    # Nothing in one input is held against the other.
    assert mine and not {f["rule"] for f in mine} & CROSSING_RULES


def test_several_copies_and_max_findings_keep_the_same_findings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    copies = []
    for n in range(3):
        copy = tmp_path / f"copy{n}.flows"
        copy.write_bytes(DEMO_FLOWS.read_bytes())
        copies.append(copy)
    _, report, _ = same_for_any_jobs(capsys, tmp_path, *copies, DEMO_HAR, "--max-findings", "7")
    assert len(report["findings"]) == 7
    assert report["summary"]["limits"]["findings_omitted"] > 0
    # The most severe are kept: with this many errors, nothing less.
    assert {f["severity"] for f in report["findings"]} == {"error"}


def test_a_truncated_input_is_one_line_and_the_rest_is_kept(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.flows"
    data = DEMO_FLOWS.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    missing = tmp_path / "missing.flows"
    code, report, err = same_for_any_jobs(capsys, tmp_path, DEMO_HAR, truncated, missing, DEMO_FLOWS)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"statuslint: {truncated}: ") and "flow" in lines[0]
    assert lines[1] == f"statuslint: {missing}: cannot open: No such file or directory"
    by_source = {i["source"]: i for i in report["inputs"]}
    assert 0 < by_source[str(truncated)]["flows"] < by_source[str(DEMO_FLOWS)]["flows"]
    assert by_source[str(truncated)]["error"] and by_source[str(missing)]["error"]
    assert any(f["flow"]["source"] == str(truncated) for f in report["findings"] if f.get("flow"))


def test_empty_input_with_and_without_allow_empty(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.flows"
    empty.write_bytes(b"")
    code, _, err = same_for_any_jobs(capsys, tmp_path, DEMO_FLOWS, empty)
    assert code == 2 and "no flows (pass --allow-empty" in err
    code, _, err = same_for_any_jobs(capsys, tmp_path, DEMO_FLOWS, empty, "--allow-empty")
    assert code == 1 and err == ""


def test_baseline_written_and_applied_the_same(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, crossing: tuple[Path, Path]
) -> None:
    baselines = {}
    for jobs in (1, 2):
        baselines[jobs] = tmp_path / f"baseline{jobs}.json"
        run(capsys, tmp_path, jobs, DEMO_FLOWS, crossing[0], "--write-baseline", baselines[jobs])
    assert baselines[1].read_text() == baselines[2].read_text()
    code, report, _ = same_for_any_jobs(
        capsys, tmp_path, DEMO_FLOWS, DEMO_HAR, *crossing, "--baseline", baselines[1], "--fail-on", "warning"
    )
    summary = report["summary"]["baseline"]
    assert summary["known"] > 0 and summary["new"] > 0
    assert code == 1


def test_show_all_streams_in_input_order(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    outs = {}
    for jobs in (1, 2):
        assert main(["audit", str(DEMO_HAR), str(DEMO_FLOWS), "--show-all", "--jobs", str(jobs)]) == 1
        outs[jobs] = capsys.readouterr().out
    assert outs[1] == outs[2]
    lines = [line for line in outs[1].splitlines() if line.startswith((str(DEMO_HAR), str(DEMO_FLOWS), "API "))]
    firsts = [line.split("#", 1)[0] for line in lines if not line.startswith("API ")]
    assert firsts == sorted(firsts, key=[str(DEMO_HAR), str(DEMO_FLOWS)].index) and len(set(firsts)) == 2
    assert lines[-1].startswith("API ")


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_jobs_must_be_a_positive_number(capsys: pytest.CaptureFixture[str], value: str) -> None:
    assert main(["audit", str(DEMO_FLOWS), f"--jobs={value}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("statuslint: --jobs: ")


def test_default_jobs() -> None:
    assert parallel.default_jobs(1) == 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert parallel.default_jobs(50) == cores
    assert parallel.default_jobs(2) == min(2, cores)


# The merge itself, against one Auditor reading the inputs one after the other -----------


def feed(auditor: Auditor, flows: list, source: str) -> None:
    info = auditor.input(source)
    for index, f in enumerate(flows):
        info.flows += 1
        auditor.feed(f, index, source)


@pytest.mark.parametrize("max_findings", [Limits().max_findings, 40])
def test_one_auditor_over_inputs_equals_their_audits_merged(max_findings: int) -> None:
    """Cross-flow state is per input, so one Auditor reading A then B reports exactly what
    the merge of A's and B's own audits reports: findings, order, counts, coverage, and
    under a small --max-findings the same findings kept."""
    with open(DEMO_FLOWS, "rb") as fo:
        demo = list(mio.FlowReader(fo).stream())
    inputs = {"allow": allow_then_methods(), "demo": demo, "methods": methods_elsewhere()}
    policy = default_policy()
    limits = Limits(max_findings=max_findings)
    one = Auditor(policy, limits)
    for source, flows in inputs.items():
        feed(one, flows, source)
    merged = Auditor(policy, limits)
    for source, flows in inputs.items():
        apart = Auditor(policy, limits)
        feed(apart, flows, source)
        merged.merge(apart.export_state())
    expected, got = model.build(one, "default"), model.build(merged, "default")
    if max_findings < len(expected["findings"]) + expected["summary"]["limits"]["findings_omitted"]:
        assert got["summary"]["limits"]["findings_omitted"] > 0
        # One auditor takes a flow's exchange only while its findings list has room; each
        # input's own audit has its room: a finding kept in both may have it in one only.
        for report in (expected, got):
            for finding in report["findings"]:
                finding.pop("exchange", None)
    assert got == expected
    mine = {f["rule"] for f in got["findings"] if f.get("flow") and f["flow"]["source"] != "demo"}
    assert mine and not mine & CROSSING_RULES


def test_a_finished_inputs_state_leaves_out_only_what_no_flow_can_meet() -> None:
    """``statuslint audit`` sends each read input's state without its per-input cross-flow
    state: merged, the report is the one the whole state gives; the URLs forgotten are
    each input's own (another input's flows never met them)."""
    with open(DEMO_FLOWS, "rb") as fo:
        demo = list(mio.FlowReader(fo).stream())
    inputs = {"allow": allow_then_methods(), "demo": demo, "methods": methods_elsewhere()}
    policy = default_policy()
    for limits in (Limits(), Limits(max_urls=5)):
        whole, finished, forgotten = Auditor(policy, limits), Auditor(policy, limits), 0
        for source, flows in inputs.items():
            apart = Auditor(policy, limits)
            feed(apart, flows, source)
            forgotten += apart.lifecycle.urls.evicted
            state = export(apart, finished=True)
            assert not (state.urls or state.trackers or state.hosts or state.allowed)
            finished.merge(state)
            whole.merge(apart.export_state())
        expected, got = model.build(whole, "default"), model.build(finished, "default")
        assert got["summary"]["limits"].pop("urls_forgotten") == forgotten
        # The whole state also counts A's URLs pushed out by B's, which nothing could meet.
        assert expected["summary"]["limits"].pop("urls_forgotten") >= forgotten
        assert forgotten > 0 if limits.max_urls == 5 else forgotten == 0
        assert got == expected


# Workers that fail -----------------------------------------------------------------------


def failing_audit_file(real: Any, victim: str, how: str) -> Any:
    def audit_file(auditor: Auditor, path: str, **kwargs: Any) -> bool:
        if path == victim:
            if how == "raise":
                raise RuntimeError("boom in the worker")
            os._exit(3)
        return real(auditor, path, **kwargs)

    return audit_file


def test_a_worker_that_raises_costs_its_input_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim.flows"
    victim.write_bytes(DEMO_FLOWS.read_bytes())
    # Workers are forked: they run this module's patched function.
    monkeypatch.setattr(parallel, "audit_file", failing_audit_file(parallel.audit_file, str(victim), "raise"))
    code, report, _, err = run(capsys, tmp_path, 2, DEMO_FLOWS, victim, DEMO_HAR)
    assert code == 2
    assert err == f"statuslint: {victim}: could not be audited: RuntimeError: boom in the worker\n"
    assert [(i["source"], i["flows"], bool(i["error"])) for i in report["inputs"]] == [
        (str(DEMO_FLOWS), 141, False),
        (str(victim), 0, True),
        (str(DEMO_HAR), 141, False),
    ]
    assert {f["flow"]["source"] for f in report["findings"] if f.get("flow")} == {str(DEMO_FLOWS), str(DEMO_HAR)}


def test_a_worker_that_dies_is_reported_not_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = tmp_path / "victim.flows"
    victim.write_bytes(DEMO_FLOWS.read_bytes())
    monkeypatch.setattr(parallel, "audit_file", failing_audit_file(parallel.audit_file, str(victim), "exit"))
    setup = parallel.Setup(default_policy(), parallel.PolicySource("default"), Limits())
    target, said, shown = Auditor(default_policy()), [], []
    with StopOnInterrupt() as interrupt:
        ok = parallel.audit_inputs(
            target,
            [str(victim), str(DEMO_HAR)],
            setup,
            jobs=2,
            interrupt=interrupt,
            say=said.append,
            on_found=shown.extend,  # --show-all: a lost input streamed nothing worth showing
        )
    assert not ok
    assert all(f.flow is None or f.flow.source == str(DEMO_HAR) for f in shown)
    # The broken pool may take the other input down with it: each lost input is one line.
    assert said and all(line.count("\n") == 0 and "could not be audited: BrokenProcessPool" in line for line in said)
    assert said[0].startswith(f"statuslint: {victim}: ")
    assert target.inputs[0].source == str(victim) and target.inputs[0].error


def test_spawned_workers_rebuild_the_policy(tmp_path: Path) -> None:
    """Where fork is unavailable the policy is rebuilt in each worker from its source (with
    --select/--ignore/--api-only): the report is still the one of one process."""
    source = parallel.PolicySource("default", ignore=("status-unregistered",), api_only=True)
    policy = source.load()
    reports = []
    for jobs, method in ((1, None), (2, "spawn")):
        setup = parallel.Setup(policy, source, Limits())
        target = Auditor(policy)
        with StopOnInterrupt() as interrupt:
            assert parallel.audit_inputs(
                target, [str(DEMO_FLOWS), str(DEMO_HAR)], setup, jobs=jobs, interrupt=interrupt, start_method=method
            )
        reports.append(model.build(target, "default"))
    assert reports[0] == reports[1]
    assert "status-unregistered" not in reports[1]["summary"]["by_rule"]


# Ctrl-C -------------------------------------------------------------------------------------

BIG_FLOWS = 20_000


def big_recording(path: Path) -> None:
    one = io.BytesIO()
    mio.FlowWriter(one).add(http_flow("POST", "/v1/things", 201, body=b'{"id": 1}'))
    path.write_bytes(one.getvalue() * BIG_FLOWS)


@pytest.mark.parametrize("to_group", [False, True], ids=["parent-only", "process-group"])
def test_interrupt_stops_every_worker_with_a_partial_report(tmp_path: Path, to_group: bool) -> None:
    """SIGINT to the parent alone (kill) or to the whole group (a terminal's Ctrl-C): the
    workers stop at their next flow, what they read is merged, exit 130."""
    a, b, c = tmp_path / "a.flows", tmp_path / "b.flows", tmp_path / "c.flows"
    for path in (a, b, c):
        big_recording(path)
    report_path = tmp_path / "report.json"
    cmd = [STATUSLINT, "audit", a, b, c, "--jobs", "2", "-f", "json", "-o", report_path, "--max-findings", "0"]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()} | {"NO_COLOR": "1"}
    proc = subprocess.Popen(
        [str(x) for x in cmd],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        time.sleep(3)  # the workers are reading by now (the whole run takes far longer)
        assert proc.poll() is None, "the audit finished before it could be interrupted"
        if to_group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["partial"] is True
    read = {i["source"]: i["flows"] for i in report["inputs"]}
    assert str(c) not in read and "1 more input(s) not read" in err
    assert 0 < read[str(a)] < BIG_FLOWS and 0 < read[str(b)] < BIG_FLOWS
    assert report["summary"]["flows"] == sum(read.values()) == len(report["findings"])
