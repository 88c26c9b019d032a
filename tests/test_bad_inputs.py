"""Inputs users actually hand to ``statuslint audit``: empty exports, cut-off files, HAR
files with a broken entry, and a Ctrl-C halfway through a large recording."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from mitmproxy import io as mio

from helpers import BIN, ROOT, http_flow
from statuslint.cli import main
from statuslint.readers import InputError, read_indexed

DEMO_HAR = ROOT / "recordings" / "demo.har"
DEMO_FLOWS = ROOT / "recordings" / "demo.flows"
STATUSLINT = BIN / "statuslint"


def audit(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, dict[str, Any], str]:
    code = main(["audit", *map(str, args), "--format", "json", "--fail-on", "none"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def har_text(entries: list[Any]) -> tuple[str, list[int]]:
    """A HAR document whose entry boundaries are known: the text and each entry's start."""
    text, starts = '{"log": {"version": "1.2", "entries": [', []
    for i, entry in enumerate(entries):
        text += ", " if i else ""
        starts.append(len(text.encode()))
        text += json.dumps(entry)
    return text + "]}}", starts


# 11: indices are positions in the file -------------------------------------------------


def test_findings_after_a_broken_har_entry_keep_their_positions(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    entries = json.loads(DEMO_HAR.read_text(encoding="utf-8"))["log"]["entries"]
    del entries[3]["startedDateTime"]
    path = tmp_path / "broken3.har"
    path.write_text(har_text(entries)[0], encoding="utf-8")

    code, report, err = audit(capsys, path)
    assert code == 2
    assert error_line(err) == f"statuslint: {path}: entry 3: missing field 'startedDateTime'"
    located = [f["flow"] for f in report["findings"] if f["flow"]]
    assert located and min(ref["index"] for ref in located) > 3
    for ref in located:
        entry = entries[ref["index"]]
        assert (ref["method"], ref["status"]) == (entry["request"]["method"], entry["response"]["status"])
        assert urlsplit(ref["url"]).path == urlsplit(entry["request"]["url"]).path
    # The reader itself says where each flow is: the broken entry's position is skipped.
    with path.open("rb") as fo, pytest.raises(InputError):
        positions = []
        for index, _ in read_indexed(fo, har=True):
            positions.append(index)
    assert positions == [i for i in range(len(entries)) if i != 3]


# 17: an input with no flow is an error unless allowed ---------------------------------

EMPTY_INPUTS = {
    "zero-bytes.flows": b"",
    "zero-bytes.har": b"",
    "no-entries.har": b'{"log": {"version": "1.2", "creator": {"name": "x", "version": "1"}, "entries": []}}',
}


@pytest.mark.parametrize("name", EMPTY_INPUTS)
def test_an_input_without_flows_is_an_input_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(EMPTY_INPUTS[name])
    code, report, err = audit(capsys, path, DEMO_HAR)
    assert code == 2
    assert error_line(err).startswith(f"statuslint: {path}: no flows")
    assert report["inputs"][0] == {"source": str(path), "flows": 0, "error": "no flows"}
    assert report["findings"]  # the other input's findings are kept

    code, report, err = audit(capsys, path, "--allow-empty")
    assert (code, err, report["inputs"][0]["error"]) == (0, "", None)


# 18: cut-off files say so, and where ---------------------------------------------------


def test_truncated_flow_file_names_the_last_whole_flow(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = DEMO_FLOWS.read_bytes()
    # Record boundaries from mitmproxy's own writer, independently of the reader under test.
    ends, buf = [], io.BytesIO()
    writer = mio.FlowWriter(buf)
    for f in mio.FlowReader(io.BytesIO(data)).stream():
        writer.add(f)
        ends.append(buf.tell())
    assert buf.getvalue() == data
    whole = len(ends) // 2
    cut = ends[whole - 1] + (ends[whole] - ends[whole - 1]) // 2  # halfway through flow `whole`
    path = tmp_path / "cut.flows"
    path.write_bytes(data[:cut])

    code, report, err = audit(capsys, path)
    assert code == 2
    assert error_line(err) == (
        f"statuslint: {path}: truncated after flow {whole - 1}: the file ends at byte {cut}, inside flow {whole}"
    )
    assert report["inputs"][0]["flows"] == whole
    assert report["inputs"][0]["error"].startswith(f"truncated after flow {whole - 1}")

    path.write_bytes(data[: ends[0] // 2])
    code, report, err = audit(capsys, path)
    assert error_line(err) == f"statuslint: {path}: truncated inside flow 0: the file ends at byte {ends[0] // 2}"


def test_truncated_har_names_the_entry_and_the_byte_once(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    entries = json.loads(DEMO_HAR.read_text(encoding="utf-8"))["log"]["entries"]
    text, starts = har_text(entries)
    data = text.encode()
    # Cut inside a long response body text (the reported case: an unterminated string).
    k = next(
        i for i in range(len(entries) // 2, len(entries)) if len(entries[i]["response"]["content"].get("text", "")) > 40
    )
    body_at = data.index(json.dumps(entries[k]["response"]["content"]["text"]).encode(), starts[k])
    cut = body_at + 20
    path = tmp_path / "cut.har"
    path.write_bytes(data[:cut])

    code, report, err = audit(capsys, path)
    assert code == 2
    line = error_line(err)
    assert line == f"statuslint: {path}: truncated after entry {k - 1}: the file ends at byte {cut}, inside entry {k}"
    assert report["inputs"][0]["flows"] == k

    # Cut between two entries: no entry is "inside".
    path.write_bytes(data[: starts[k] - 2])
    code, report, err = audit(capsys, path)
    assert (
        error_line(err) == f"statuslint: {path}: truncated after entry {k - 1}: the file ends at byte {starts[k] - 2}"
    )


def test_invalid_json_in_a_har_entry_names_entry_and_byte(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    entries = json.loads(DEMO_HAR.read_text(encoding="utf-8"))["log"]["entries"][:6]
    text, starts = har_text(entries)
    data = bytearray(text.encode())
    bad = starts[4] + 1  # the first key's opening quote of entry 4
    data[bad] = ord("x")
    path = tmp_path / "bad.har"
    path.write_bytes(bytes(data))
    _, report, err = audit(capsys, path)
    assert error_line(err) == (
        f"statuslint: {path}: entry 4: invalid JSON at byte {bad}: Expecting property name enclosed in double quotes"
    )
    assert report["inputs"][0]["flows"] == 4


# 8: Ctrl-C during an audit writes the partial report -----------------------------------

BIG_FLOWS = 30_000


def big_recording(path: Path) -> bytes:
    """Many copies of a flow that has a finding (201 without Location), written with
    mitmproxy's own FlowWriter."""
    one = io.BytesIO()
    mio.FlowWriter(one).add(http_flow("POST", "/v1/things", 201, body=b'{"id": 1}'))
    data = one.getvalue() * BIG_FLOWS
    path.write_bytes(data)
    return data


def input_position(pid: int, path: Path) -> int | None:
    """How far the process has read ``path`` (Linux /proc), or None while it is not open."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                for line in Path(f"/proc/{pid}/fdinfo/{fd}").read_text().splitlines():
                    if line.startswith("pos:"):
                        return int(line.split()[1])
        except OSError:
            continue
    return None


@pytest.mark.skipif(not Path("/proc/self/fdinfo").is_dir(), reason="needs Linux /proc to see the reading start")
def test_ctrl_c_writes_a_partial_report_and_exits_130(tmp_path: Path) -> None:
    recording, report_path = tmp_path / "big.flows", tmp_path / "report.json"
    big_recording(recording)
    cmd = [STATUSLINT, "audit", recording, "--format", "json", "--output", report_path, "--no-progress"]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()} | {"NO_COLOR": "1"}
    proc = subprocess.Popen([str(x) for x in cmd], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (input_position(proc.pid, recording) or 0) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the audit finished before it could be interrupted: make the recording larger"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    report = json.loads(report_path.read_text(encoding="utf-8"))
    read = report["inputs"][0]["flows"]
    assert report["partial"] is True
    assert 0 < read < BIG_FLOWS
    assert report["summary"]["flows"] == read
    assert len(report["findings"]) == read  # one finding per flow read, none half-made
    assert {f["flow"]["index"] for f in report["findings"]} == set(range(read))
    assert "interrupted: the report is partial" in err and f"{recording}: {read} flows" in err
    assert "Traceback" not in err
    assert "Rule coverage" in out  # the summary is printed


def test_a_finished_audit_is_not_partial(capsys: pytest.CaptureFixture[str]) -> None:
    _, report, _ = audit(capsys, DEMO_FLOWS)
    assert report["partial"] is False
