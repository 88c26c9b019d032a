"""The pytest plugin's audit process (testing/offload.py): a real process, fed the way the
plugin feeds it, must end with the audit an inline session makes."""

from __future__ import annotations

import dataclasses
import itertools
import os
import pickle
import re
import shutil
from pathlib import Path

import httpx
import pytest

from helpers import default_policy
from statuslint import reports
from statuslint.auditor import Auditor
from statuslint.testing import clients
from statuslint.testing.exchanges import Exchange
from statuslint.testing.offload import AuditProcess
from statuslint.testing.session import AuditSession, RunningTest

pytest_plugins = ["pytester"]

EXAMPLES = Path(__file__).parent / "pytest_examples"


_CLOCK = itertools.count(1)


def _exchange(method: str, url: str, status: int, reason: str, headers=(), body: bytes = b"") -> Exchange:  # type: ignore[no-untyped-def]
    sent = float(next(_CLOCK))  # each sent after the one before was answered
    return Exchange(method, url, [], b"", status, reason, list(headers), body, False, sent, sent + 0.5)


# Three tests: one breaks a rule, one silences it by marker, one opts out; then a DELETE and a
# GET that still works on one URL (served-after-delete, across two tests).
TESTS = [
    ("t.py::test_create", True, frozenset(), [_exchange("POST", "http://api.test/books", 201, "Created")]),
    (
        "t.py::test_silenced",
        True,
        frozenset({"created-without-location"}),
        [_exchange("POST", "http://api.test/books", 201, "Created")],
    ),
    ("t.py::test_opted_out", False, frozenset(), [_exchange("POST", "http://api.test/books", 201, "Created")]),
    ("t.py::test_delete", True, frozenset(), [_exchange("DELETE", "http://api.test/books/1", 204, "No Content")]),
    (
        "t.py::test_get",
        True,
        frozenset(),
        [_exchange("GET", "http://api.test/books/1", 200, "OK", [("Content-Type", "application/json")], b"{}")] * 3,
    ),
]


def _drive(feed: AuditSession | AuditProcess) -> list[list[tuple[str, str | None, int]]]:
    """Run TESTS through a feed as the plugin does; each test's findings as its report got them."""
    reported = []
    for nodeid, audit, ignore, exchanges in TESTS:
        feed.start_test(RunningTest(nodeid, audit, ignore), reset=False)
        for x in exchanges:
            feed.record(lambda x=x: [x])
        reported.append([(f.rule, f.test, f.flow.index if f.flow else -1) for f in feed.take_found()])
        feed.end_test()
    return reported


def _json(session: AuditSession) -> str:
    return reports.render(reports.build_model(session.auditor, "default"), "json")


def test_the_audit_process_ends_with_the_audit_of_an_inline_session() -> None:
    inline = AuditSession(Auditor(default_policy()), "pytest")
    inline_reported = _drive(inline)
    inline.flush()

    session = AuditSession(Auditor(default_policy()), "pytest")
    process = AuditProcess(session, None)
    reported = _drive(process)
    process.finish()
    session.flush()

    assert reported == inline_reported
    assert reported[0] == [("created-without-location", "t.py::test_create", 0)]
    assert reported[1] == [] and reported[2] == []
    assert ("served-after-delete", "t.py::test_get", 3) in reported[4]
    assert process.failed == "" and process.sent == 6  # the opted-out test's exchange was never sent
    assert session.exchanges_skipped == inline.exchanges_skipped == 1
    assert session.tests == inline.tests
    assert _json(session) == _json(inline)
    assert process._proc.returncode == 0


def test_a_dead_audit_process_leaves_the_rest_to_the_test_process() -> None:
    session = AuditSession(Auditor(default_policy()), "pytest")
    process = AuditProcess(session, None)
    process.start_test(RunningTest("t.py::test_a"), reset=False)
    process.record(lambda: [_exchange("POST", "http://api.test/a", 201, "Created")])
    assert [f.rule for f in process.take_found()] == ["created-without-location"]
    process._proc.kill()
    process._proc.wait()
    process.record(lambda: [_exchange("POST", "http://api.test/b", 201, "Created")])
    found = process.take_found()  # the question finds the process gone: the session takes over
    process.record(lambda: [_exchange("POST", "http://api.test/c", 201, "Created")])
    found += process.take_found()
    process.end_test()
    process.finish()
    session.flush()
    assert process.failed
    # What was sent after the process died is lost with it; what came after the failure is audited here.
    assert [f.flow.url for f in found] == ["http://api.test/c"]
    (line,) = session.capture_errors
    assert line.startswith("the audit process stopped (") and "the 2 exchange(s) sent to it are lost" in line
    assert [f.test for f in session.auditor.findings] == ["t.py::test_a"]


# Python 3.12 warns of fork() in a process with threads (an xdist worker has some): the
# child here only calls record() and exits.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_an_exchange_recorded_in_a_forked_child_is_not_sent() -> None:
    session = AuditSession(Auditor(default_policy()), "pytest")
    process = AuditProcess(session, None)
    process.start_test(RunningTest("t.py::test_a"), reset=False)
    pid = os.fork()
    if pid == 0:  # a live server forked by a fixture, say: its pipe end is the parent's
        try:
            process.record(lambda: [_exchange("POST", "http://api.test/child", 201, "Created")])
        finally:
            os._exit(0 if process.sent == 0 else 3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    process.record(lambda: [_exchange("POST", "http://api.test/parent", 201, "Created")])
    assert [f.flow.url for f in process.take_found()] == ["http://api.test/parent"]
    process.end_test()
    process.finish()
    assert session.tests == {"pytest": ["t.py::test_a"]}


def test_an_httpx_hop_crosses_to_the_audit_process_as_the_same_flow() -> None:
    caught: list = []
    patches = clients.Patches()
    clients.install(patches, lambda capture: caught.extend(capture()))
    try:
        transport = httpx.MockTransport(
            lambda request: httpx.Response(201, headers={"X-Id": "7"}, json={"id": 7}, extensions={})
        )
        with httpx.Client(transport=transport) as client:
            client.post("http://api.test:8080/things?q=1", json={"a": 1}, headers={"Authorization": "Bearer x"})
    finally:
        patches.undo()
    (hop,) = caught
    assert type(hop).__name__ == "_HttpxHop"  # the fast path's copy, not the generic one
    crossed = pickle.loads(pickle.dumps(hop))
    assert crossed.httpx is None and crossed.url == str(hop.url)
    for field in dataclasses.fields(hop):  # every field crosses (a new one must be added to __reduce__)
        if field.name not in ("url", "httpx"):
            assert getattr(crossed, field.name) == getattr(hop, field.name), field.name
    here, there = hop.flow(), crossed.flow()
    assert here.request.get_state() == there.request.get_state()
    assert here.response.get_state() == there.response.get_state()


def _suite(pytester: pytest.Pytester, name: str) -> Path:
    shutil.copytree(EXAMPLES / name, pytester.path, dirs_exist_ok=True)
    return pytester.path


def _dated(text: str) -> str:
    # The example apps answer with a Date header: the only difference two runs may have.
    return re.sub(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", "DATE", text)


@pytest.mark.parametrize("suite", ["fastapi_suite", "flask_suite"])
def test_a_suite_audited_beside_the_tests_reports_what_it_reports_inline(pytester: pytest.Pytester, suite: str) -> None:
    _suite(pytester, suite)
    runs = {}
    for mode in ("on", "off"):
        result = pytester.runpytest_subprocess(
            "-p",
            "no:cacheprovider",
            "-rA",
            "--statuslint",
            f"--statuslint-offload={mode}",
            "--statuslint-fail-on=error",
            f"--statuslint-report={mode}.json",
            timeout=120,
        )
        out = result.stdout.str()
        section = out[out.index("= statuslint =") : out.index("short test summary")].replace(f"{mode}.json", "REPORT")
        # Each test's report carries its findings (-rA shows them): they came back in time.
        found_sections = sorted(re.findall(r"-+ statuslint findings \((\w+)\) -+\n(.*?)\n", out))
        runs[mode] = (result.ret, _dated((pytester.path / f"{mode}.json").read_text()), section, found_sections)
    assert runs["on"][1:] == runs["off"][1:] and runs["on"][0] == runs["off"][0]
    assert runs["on"][3], "no test's report carried a finding"


def test_a_bad_offload_setting_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    pytester.makeini("[pytest]\nstatuslint = true\nstatuslint_offload = sometimes\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*statuslint: statuslint_offload: expected auto, on or off, not 'sometimes'*"])


def test_an_audit_process_that_cannot_start_leaves_the_audit_to_the_test_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr("statuslint.testing.offload.subprocess.Popen", refuse)
    session = AuditSession(Auditor(default_policy()), "pytest")
    process = AuditProcess(session, None)
    process.start_test(RunningTest("t.py::test_a"), reset=False)
    process.record(lambda: [_exchange("POST", "http://api.test/a", 201, "Created")])
    assert [f.rule for f in process.take_found()] == ["created-without-location"]
    process.end_test()
    process.finish()
    (line,) = session.capture_errors
    assert "cannot start it: [Errno 24] Too many open files" in line


def test_an_exchange_that_cannot_cross_is_its_own_error_only() -> None:
    session = AuditSession(Auditor(default_policy()), "pytest")
    process = AuditProcess(session, None)
    process.start_test(RunningTest("t.py::test_a"), reset=False)
    odd = _exchange("GET", "http://api.test/a", 200, "OK")
    odd.url = lambda: "http://api.test/a"  # nothing a hook makes, but a URL object might not pickle
    process.record(lambda: [odd])
    process.record(lambda: [_exchange("POST", "http://api.test/b", 201, "Created")])
    assert [f.flow.url for f in process.take_found()] == ["http://api.test/b"]
    process.end_test()
    process.finish()
    assert not process.failed and process.sent == 1
    (line,) = session.capture_errors
    assert "pickle" in line.lower(), line
