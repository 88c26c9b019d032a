"""The audit in a worker process (statuslint_offload, offload.py): the same findings, logs,
marks and reports as the audit inline, with a real worker; live, through a real proxy on
127.0.0.1; and what happens when the worker dies."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy import io as mitmio
from mitmproxy.test import taddons

from helpers import ROOT, free_port, load_report
from statuslint.addon import StatusLint
from test_addon import exits, run_flow  # noqa: F401 - exits is a fixture
from test_e2e import AUDIT_SCRIPT, HOST, MITMDUMP, RUN_TIMEOUT, STATUSLINT, STOP_TIMEOUT, child_env, started
from test_stopping import RULE, logged_paths, upstream

RECORDINGS = sorted(
    p.relative_to(ROOT).as_posix() for p in (ROOT / "recordings").rglob("*") if p.suffix in (".flows", ".har")
)
WAIT = 10.0


def _strip_time(log: Path) -> list[dict]:
    # The time a line was written is the only thing in it that belongs to the run.
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    for record in records:
        del record["time"]
    return records


def _mitmdump_nr(recording: str, offload: str, out: Path) -> subprocess.Popen[bytes]:
    out.mkdir()
    cmd = [
        MITMDUMP, "-q", "-nr", ROOT / recording, "-s", AUDIT_SCRIPT, "--set", f"confdir={out / 'conf'}",
        "--set", f"statuslint_offload={offload}", "--set", f"statuslint_report={out / 'r.json'}",
        "--set", f"statuslint_log={out / 'log.jsonl'}",
    ]  # fmt: skip
    return subprocess.Popen(
        [str(x) for x in cmd], cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


@pytest.mark.parametrize("recording", RECORDINGS)
def test_mitmdump_reports_and_logs_the_same_with_and_without_offload(recording: str, tmp_path: Path) -> None:
    """The key check: a real mitmdump -nr, audit in a worker or inline: the JSON reports
    are byte for byte the same, and so are the JSONL logs but for each line's time."""
    runs = {mode: _mitmdump_nr(recording, mode, tmp_path / mode) for mode in ("true", "false")}
    for mode, proc in runs.items():
        output, _ = proc.communicate(timeout=RUN_TIMEOUT)
        assert proc.returncode == 0, f"offload={mode}: {output.decode(errors='replace')[-3000:]}"
        assert b"audit worker" not in output
    on, off = tmp_path / "true", tmp_path / "false"
    assert (on / "r.json").read_bytes() == (off / "r.json").read_bytes()
    assert _strip_time(on / "log.jsonl") == _strip_time(off / "log.jsonl")


def _audit_in_process(flows: list, offload: str, tmp_path: Path) -> tuple[dict, list[tuple]]:
    sl = StatusLint()
    sl.print_summary = False
    report = tmp_path / f"{offload}.json"
    with taddons.context(sl) as tctx:
        tctx.configure(sl, statuslint_offload=offload, statuslint_report=str(report))
        sl.running()
        assert (sl.offload is not None) == (offload == "true")
        for i, f in enumerate(flows):
            if i == len(flows) // 2:
                # A policy narrowed while the proxy runs reaches the worker in order.
                tctx.configure(sl, statuslint_ignore="unauthorized-without-challenge")
            run_flow(sl, f)
        # The master's done (the addon's done among its hooks) also takes its log handler
        # off the root logger: left there, it logs into this context's closed loop next time.
        tctx.master.event_loop.run_until_complete(tctx.master.done())
    return load_report(report), [(f.marked, f.comment, f.metadata.get("statuslint")) for f in flows]


def test_in_process_marks_and_report_match_the_inline_audit(tmp_path: Path, exits: list) -> None:  # noqa: F811
    """Without an event loop (an embedding) the worker is answered at each batch and at
    the end: each flow ends up marked and commented as inline, policy change included."""

    def flows() -> list:
        with open(ROOT / "recordings" / "demo.flows", "rb") as fo:
            return list(mitmio.FlowReader(fo).stream())

    on, marks_on = _audit_in_process(flows(), "true", tmp_path)
    off, marks_off = _audit_in_process(flows(), "false", tmp_path)
    assert on == off
    assert marks_on == marks_off
    assert any(marked for marked, _, _ in marks_on)


def test_auto_is_off_outside_a_mitmproxy_tool(exits: list) -> None:  # noqa: F811
    sl = StatusLint()
    with taddons.context(sl):
        sl.running()
        assert sl.offload is None


@pytest.mark.parametrize("value", ["maybe", "1", "on"])
def test_bad_offload_value_is_refused(value: str, exits: list) -> None:  # noqa: F811
    sl = StatusLint()
    with taddons.context(sl) as tctx, pytest.raises(exceptions.OptionsError) as e:
        tctx.configure(sl, statuslint_offload=value)
    assert str(e.value) == f"statuslint_offload: expected auto, true or false, not {value!r}"
    assert exits == [sl] and sl.exit_code == 2


def test_bad_offload_value_stops_mitmdump_with_one_line(tmp_path: Path) -> None:
    cmd = [
        MITMDUMP, "-q", "-nr", ROOT / "recordings" / "demo.flows", "-s", AUDIT_SCRIPT,
        "--set", f"confdir={tmp_path / 'conf'}", "--set", "statuslint_offload=sometimes",
    ]  # fmt: skip
    done = subprocess.run([str(x) for x in cmd], cwd=ROOT, env=child_env(), capture_output=True, timeout=RUN_TIMEOUT)
    assert done.returncode == 2
    assert done.stderr.decode().strip() == (
        "statuslint: statuslint_offload: expected auto, true or false, not 'sometimes'"
    )


def _worker_pid(proxy_pid: int) -> int:
    """The audit worker: the proxy's child running statuslint.offload."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for task in Path(f"/proc/{proxy_pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
                if b"statuslint.offload" in cmdline:
                    return int(child)
        time.sleep(0.05)
    pytest.fail(f"no audit worker under pid {proxy_pid} within {WAIT:.0f}s")


def _get(port: int, path: str) -> None:
    """One request; the answer must be the upstream's, unchanged."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 401
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(body) == {"error": "unauthorized", "path": path}


def _wait_logged(log: Path, paths: list[str]) -> None:
    deadline = time.monotonic() + WAIT
    while not (log.exists() and set(paths) <= set(logged_paths(log))):
        assert time.monotonic() < deadline, f"{paths} not all logged within {WAIT:.0f}s"
        time.sleep(0.05)


def _proxy(up: int, port: int, tmp_path: Path, log: Path, report: Path, *extra: str) -> list:
    """statuslint proxy in front of the upstream, its audit in a worker."""
    return [
        STATUSLINT, "proxy", "--reverse", f"http://{HOST}:{up}", "--port", str(port),
        "--confdir", tmp_path / "confdir", "--log", log, "--report", report, *extra,
        "--", "--set", "statuslint_offload=true",
    ]  # fmt: skip


def test_live_proxy_logs_findings_from_the_worker_while_it_runs(tmp_path: Path) -> None:
    port = free_port()
    log, report = tmp_path / "findings.jsonl", tmp_path / "r.json"
    with upstream() as up:
        cmd = _proxy(up, port, tmp_path, log, report)
        with started(cmd, tmp_path, "proxy", port) as proc:
            _worker_pid(proc.popen.pid)
            _get(port, "/live/1")
            deadline = time.monotonic() + WAIT
            while f"statuslint error {RULE}: GET http://{HOST}:{up}/live/1 401" not in proc.output():
                assert time.monotonic() < deadline, f"no finding line within {WAIT:.0f}s:\n{proc.output()[-3000:]}"
                time.sleep(0.05)
            _wait_logged(log, ["/live/1"])
            proc.popen.send_signal(signal.SIGTERM)
            assert proc.popen.wait(timeout=STOP_TIMEOUT) == 0
    findings = load_report(report)["findings"]
    assert [(f["rule"], f["flow"]["index"]) for f in findings] == [(RULE, 0)]


def test_a_dead_worker_is_said_once_and_the_rest_is_audited_in_the_proxy(tmp_path: Path) -> None:
    port = free_port()
    log, report = tmp_path / "findings.jsonl", tmp_path / "r.json"
    with upstream() as up:
        cmd = _proxy(up, port, tmp_path, log, report, "--fail-on", "error")
        with started(cmd, tmp_path, "proxy", port) as proc:
            before = [f"/before/{i}" for i in range(5)]
            for path in before:
                _get(port, path)
            _wait_logged(log, before)
            worker = _worker_pid(proc.popen.pid)
            os.kill(worker, signal.SIGKILL)
            after = [f"/after/{i}" for i in range(5)]
            for path in after:
                _get(port, path)
            _wait_logged(log, after)
            proc.popen.send_signal(signal.SIGTERM)
            code = proc.popen.wait(timeout=STOP_TIMEOUT)
            output = proc.output()
    assert code == 1  # the findings made after the worker died reach --fail-on
    assert output.count("the audit worker") == 1, output[-3000:]
    # Whichever the proxy meets first: the worker's end of file, or a write to its closed pipe
    # (every batch writes at once since 362aa57).
    assert re.search(rf"the audit worker \(pid {worker}\) is gone: (it exited|cannot send to it)", output), output
    assert sorted(logged_paths(log)) == sorted(before + after)
    # What the worker held is lost; what came after is in the report.
    reported = sorted(f["flow"]["url"].rsplit("/", 2)[-2:][0] for f in load_report(report)["findings"])
    assert reported == ["after"] * len(after)


def test_unanswered_flows_are_not_held_and_are_audited_again_when_the_worker_dies() -> None:
    """Waiting for its answer, a flow is not kept alive by the offload (holding each one a
    batch or two made mitmproxy's full collections four times as frequent); when the worker
    dies, every response it left unanswered comes back: the flow itself where it is still
    alive, else rebuilt from what was sent."""
    import gc
    import weakref

    from mitmproxy.test import tflow

    from statuslint import offload as offloading
    from statuslint.auditor import Limits
    from statuslint.parallel import PolicySource, Setup

    gone: list[tuple[str, list]] = []
    off = offloading.Offload(Setup(None, PolicySource("default"), Limits()), lambda *a: None, lambda *a: gone.append(a))
    os.kill(off.pid, signal.SIGSTOP)  # it answers nothing from here on
    try:
        kept, dropped, expected = [], [], []
        for i in range(offloading.BATCH_SIZE + 44):  # one batch sent, and the next not yet
            f = tflow.tflow(resp=True)
            f.request.path = f"/items/{i}"
            f.response.status_code = 200 + i % 7
            off.response(f, i, "live", False)
            expected.append((i, f.request.get_state(), f.response.get_state()))
            if i % 2:
                kept.append(f)
            else:
                dropped.append(weakref.ref(f))
            del f
        gc.collect()
        assert all(ref() is None for ref in dropped)
        assert len(off.sent) == 1 and len(off.batch) == 44
    finally:
        os.kill(off.pid, signal.SIGKILL)
        os.kill(off.pid, signal.SIGCONT)
    off.process.wait(WAIT)
    off.flush()  # sends the batch waiting, and reads the worker's end
    assert len(gone) == 1 and re.search(r"is gone: (it exited|cannot send to it)", gone[0][0])
    left = gone[0][1]
    assert [index for _, index, _, _ in left] == list(range(len(expected)))
    for (f, _, source, har), (i, request, response) in zip(left, expected, strict=True):
        assert (source, har) == ("live", False)
        if i % 2:
            assert f is kept[i // 2]
        assert f.request.get_state() == request
        assert f.response.get_state() == response


def test_the_worker_answers_findings_at_once_and_clean_traffic_now_and_then() -> None:
    """Each answer costs the proxy's loop a wakeup and a read: a batch with findings is
    answered at once, clean batches only every ACK_EVERY responses, and all of it before
    a state."""
    from mitmproxy.test import tflow

    from statuslint import offload as offloading
    from statuslint.auditor import Limits
    from statuslint.parallel import PolicySource, Setup

    def message(seq: int, status: int) -> tuple:
        f = tflow.tflow(resp=True)
        f.response.status_code = status
        f.response.headers["content-type"] = "text/plain"
        capture = offloading.capture
        return (offloading.RESPONSE, seq, seq, "live", False, capture(f.request), capture(f.response), None)

    clean = offloading.ACK_EVERY + 10
    batches = [[message(seq, 200)] for seq in range(1, clean + 1)]
    batches.append([message(clean + 1, 999)])  # outside 100-599: a finding
    batches.append([message(clean + 2, 200)])
    batches.append([(offloading.FINISH,)])
    said: list[tuple] = []
    auditor = Setup(None, PolicySource("default"), Limits()).auditor()
    offloading._serve(auditor, iter(batches).__next__, said.append)
    found = [(m[2], [seq for seq, _, _ in m[1]]) for m in said if m[0] == offloading.FOUND]
    assert found == [(offloading.ACK_EVERY, []), (clean + 1, [clean + 1]), (clean + 2, [])]
    assert said[-1][0] == offloading.STATE
