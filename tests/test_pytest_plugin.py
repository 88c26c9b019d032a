"""The pytest plugin, end to end: pytest runs the example suites of tests/pytest_examples/
(real FastAPI, Django + DRF, Flask and a live server) in a subprocess, with and without
--statuslint, and the findings, node ids, exit codes and xdist merging are checked."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import httpx
import pytest
import requests
from mitmproxy import http
from werkzeug import test as werkzeug_test

from helpers import default_policy
from statuslint import messages
from statuslint.auditor import Auditor
from statuslint.testing import clients
from statuslint.testing.exchanges import Exchange, build_flow, http_version, split_url
from statuslint.testing.session import AuditSession, RunningTest

pytest_plugins = ["pytester"]

EXAMPLES = Path(__file__).parent / "pytest_examples"


def _suite(pytester: pytest.Pytester, name: str) -> Path:
    shutil.copytree(EXAMPLES / name, pytester.path, dirs_exist_ok=True)
    return pytester.path


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)


def _report(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _found(report: dict) -> Counter[tuple[str, str | None]]:
    return Counter((f["rule"], f.get("test")) for f in report["findings"])


BOOKS = "tests/test_books.py::"
AUTHORS = "tests/test_authors.py::"
FASTAPI_FINDINGS = Counter(
    {
        ("created-without-location", BOOKS + "test_create_book"): 1,
        ("created-without-location", BOOKS + "test_async_client"): 1,
        ("served-after-delete", BOOKS + "test_delete_then_get"): 1,
        ("served-after-delete", BOOKS + "test_get_deleted_in_another_test"): 1,
        ("delete-ok-with-body", AUTHORS + "test_delete_author"): 1,
        ("inconsistent-status", None): 1,  # API-level: no one test made it
    }
)


def test_without_the_flag_nothing_is_hooked_or_reported(pytester: pytest.Pytester) -> None:
    _suite(pytester, "fastapi_suite")
    result = _run(pytester)
    result.assert_outcomes(passed=11)  # test_hooks_only_while_enabled checks the libraries are untouched
    assert result.ret == 0
    assert "= statuslint =" not in result.stdout.str() and "statuslint:" not in result.stdout.str()
    assert not list(pytester.path.glob("*.json"))


def test_fastapi_findings_node_ids_fail_on_and_xdist_merge(pytester: pytest.Pytester) -> None:
    _suite(pytester, "fastapi_suite")
    single = _run(pytester, "--statuslint", "--statuslint-fail-on=error", "--statuslint-report=single.json")
    single.assert_outcomes(passed=11)
    assert single.ret == 1  # served-after-delete is an error: the session fails, every test passed
    single.stdout.fnmatch_lines(
        [
            "*= statuslint =*",
            "served-after-delete (error): *",
            f"    GET testserver /books/{{id}}  x2  {BOOKS}test_delete_then_get, "
            f"{BOOKS}test_get_deleted_in_another_test",
            "created-without-location (warning): *",
            f"    POST testserver /books  x1  {BOOKS}test_create_book",
            "inconsistent-status (warning): *",
            "statuslint: 10 exchanges audited from 9 tests, 6 findings (2 error, 4 warning, 0 info), "
            "1 silenced by markers, 1 exchanges of opted-out tests not audited",
            "statuslint: report written to single.json",
            "statuslint: failing the session: 2 finding(s) at or above 'error' in total (--statuslint-fail-on=error)",
        ]
    )
    report = _report(pytester.path / "single.json")
    assert _found(report) == FASTAPI_FINDINGS
    tests = {f.get("test") for f in report["findings"]}
    assert BOOKS + "test_create_book_silenced" not in tests and BOOKS + "test_opted_out" not in tests
    assert report["inputs"] == [{"source": "pytest", "flows": 10, "error": None}]
    assert "Rule coverage" not in single.stdout.str()  # the full summary only with -v
    streamed = [e for e in report["summary"]["endpoints"] if e["endpoint"] == "GET testserver /stream"]
    assert streamed and streamed[0]["by_status"] == {"200": 1}
    # Its body was not read for the audit: rules on the body could not decide, as in the proxy.
    undecided = {r["rule"]: r["undecidable"] for r in report["summary"]["coverage"]["rules"] if r["undecidable"]}
    assert undecided.get("ok-without-body") == 1

    # Two workers, each auditing its share (one file each); the controller merges them.
    merged = _run(
        pytester,
        "-n",
        "2",
        "--dist",
        "loadfile",
        "--statuslint",
        "--statuslint-fail-on=error",
        "--statuslint-report=merged.json",
    )
    merged.assert_outcomes(passed=11)
    assert merged.ret == 1
    merged.stdout.fnmatch_lines(["*= statuslint =*", "statuslint: failing the session: 2 finding(s)*"])
    xreport = _report(pytester.path / "merged.json")
    assert _found(xreport) == FASTAPI_FINDINGS  # inconsistent-status needs both workers' traffic
    for key in ("flows", "audited", "by_rule", "by_severity", "endpoints"):
        assert xreport["summary"][key] == report["summary"][key], key
    # loadfile gives each worker one file: both audited a share.
    assert {i["source"] for i in xreport["inputs"]} == {"pytest[gw0]", "pytest[gw1]"}
    assert sum(i["flows"] for i in xreport["inputs"]) == 10
    # The API-level finding rests on both workers' traffic: computed after the merge.
    (api,) = [f for f in xreport["findings"] if f["flow"] is None]
    assert {e["source"] for e in api["evidence"]} == {"pytest[gw0]", "pytest[gw1]"}


def test_strict_mode_fails_the_test_and_scope_test_resets_state(pytester: pytest.Pytester) -> None:
    _suite(pytester, "fastapi_suite")
    result = _run(
        pytester, "--statuslint", "--statuslint-strict", "--statuslint-fail-on=warning", "--statuslint-scope=test"
    )
    # served-after-delete across two tests is not seen with per-test state.
    result.assert_outcomes(failed=4, passed=7)
    out = result.stdout.str()
    for name in ("test_create_book", "test_delete_then_get", "test_async_client"):
        assert f"FAILED {BOOKS}{name}" in out
    assert f"FAILED {AUTHORS}test_delete_author" in out
    assert f"FAILED {BOOKS}test_get_deleted_in_another_test" not in out
    result.stdout.fnmatch_lines(
        [
            "*statuslint (--statuslint-strict): 1 finding(s) at or above 'warning' in the exchanges of this test:",
            "warning created-without-location: POST http://testserver/books 201: 201 Created without a Location header",
        ]
    )
    # The API-level finding belongs to no test: it fails the session, saying so.
    result.stdout.fnmatch_lines(
        ["statuslint: failing the session: 1 finding(s) at or above 'warning' not made by a test*"]
    )
    assert result.ret == 1


def test_django_and_drf_configured_in_the_ini_file(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    _suite(pytester, "django_suite")
    # statuslint = true, the policy, the report and fail-on in pytest.ini; run from a
    # subdirectory: the ini file's paths are relative to the ini file.
    monkeypatch.chdir(pytester.path / "tests")
    result = _run(pytester)
    result.assert_outcomes(passed=7)
    assert result.ret == 1
    report = _report(pytester.path / "statuslint-report.json")
    assert _found(report) == Counter(
        {
            ("unauthorized-without-challenge", "tests/test_api.py::test_plain_secret"): 1,
            ("unauthorized-without-challenge", "tests/test_api.py::test_async_client"): 1,
            ("created-without-location", "tests/test_api.py::test_plain_create"): 1,
        }
    )
    assert "could not be captured" not in result.stdout.str()
    assert report["policy"] == "api-policy.yaml"
    assert {f["rule"]: f["severity"] for f in report["findings"]}["created-without-location"] == "info"
    endpoints = {e["endpoint"]: e["by_status"] for e in report["summary"]["endpoints"]}
    # Every hop of a followed redirect, DRF's APIClient, a streaming response, the AsyncClient.
    assert endpoints["GET testserver /plain/old"] == {"302": 1}
    assert endpoints["GET testserver /drf/items/{id}"] == {"200": 1}
    assert endpoints["POST testserver /drf/items"] == {"201": 1}
    assert endpoints["DELETE testserver /drf/items/{id}"] == {"204": 1}
    assert endpoints["GET testserver /plain/stream"] == {"200": 1}
    assert report["summary"]["flows"] == 9


def test_flask_test_client_and_httpx_wsgi_transport(pytester: pytest.Pytester) -> None:
    _suite(pytester, "flask_suite")
    result = _run(pytester, "--statuslint", "--statuslint-report=out.json", "-v")
    result.assert_outcomes(passed=6)
    assert result.ret == 0  # no --statuslint-fail-on: findings never fail the session
    # -v adds the full audit summary: endpoints and rule coverage.
    result.stdout.fnmatch_lines(["*statuslint audit summary*", "*Endpoints*", "Rule coverage: *"])
    assert "could not be captured" not in result.stdout.str()
    report = _report(pytester.path / "out.json")
    test = "tests/test_things.py::"
    assert _found(report) == Counter(
        {
            ("created-without-location", test + "test_create"): 1,
            ("created-without-location", test + "test_httpx_wsgi_transport"): 1,
            ("method-changing-redirect", test + "test_login_redirect"): 1,
        }
    )
    endpoints = {e["endpoint"]: e["by_status"] for e in report["summary"]["endpoints"]}
    assert endpoints["GET localhost /old"] == {"301": 1}
    assert endpoints["GET localhost /things/{id}"] == {"200": 2}  # test_get, and the redirect's target
    assert report["summary"]["flows"] == 7


def test_requests_against_a_live_server(pytester: pytest.Pytester) -> None:
    _suite(pytester, "live_suite")
    result = _run(pytester, "--statuslint", "--statuslint-report=live.json", "--statuslint-fail-on=warning")
    result.assert_outcomes(passed=6)
    assert result.ret == 1
    report = _report(pytester.path / "live.json")
    assert _found(report) == Counter(
        {
            ("unauthorized-without-challenge", "tests/test_live.py::test_private"): 1,
            ("created-without-location", "tests/test_live.py::test_create_item"): 1,
        }
    )
    # Each hop of a followed redirect once; a streamed response on status and headers.
    assert report["summary"]["flows"] == 7
    endpoints = {e["endpoint"].split(" ", 2)[2]: e["by_status"] for e in report["summary"]["endpoints"]}
    assert endpoints["/old"] == {"301": 1} and endpoints["/items/{id}"] == {"200": 3}
    assert all(f["flow"]["url"].startswith("http://127.0.0.1:") for f in report["findings"])


def test_a_misspelt_rule_in_a_marker_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.statuslint(ignore=["created-without-locaton"], reason="typo")
        def test_x():
            pass
        """
    )
    result = _run(pytester, "--statuslint")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_x: @pytest.mark.statuslint: no rule 'created-without-locaton'*"])
    result.stderr.fnmatch_lines(["*did you mean 'created-without-location'*"])
    # Off, the marker is only registered: nothing is checked.
    assert _run(pytester, "--strict-markers").ret == 0


def test_a_bad_report_path_or_severity_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = _run(pytester, "--statuslint", "--statuslint-report=out.xyz")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*statuslint: --statuslint-report: cannot tell the report format of 'out.xyz'*"])
    result = _run(pytester, "--statuslint", "--statuslint-fail-on=fatal")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*statuslint: --statuslint-fail-on: unknown value 'fatal' (expected *, none)*"])


# In process: the hooks are put back ---------------------------------------------------


def test_hooks_record_and_are_undone() -> None:
    originals = (httpx.Client.send, requests.Session.send, werkzeug_test.Client.open)
    caught = []
    patches = clients.Patches()
    clients.install(patches, lambda build: caught.extend(build()))
    try:
        assert {"requests", "httpx", "django", "werkzeug"} <= set(patches.hooked)
        assert httpx.Client.send is not originals[0]
        transport = httpx.MockTransport(lambda request: httpx.Response(201, json={"id": 1}))
        with httpx.Client(transport=transport) as client:
            assert client.post("http://api.example.test/v1/things?x=1", json={"a": 1}).status_code == 201
    finally:
        patches.undo()
    assert (httpx.Client.send, requests.Session.send, werkzeug_test.Client.open) == originals
    assert len(caught) == 1
    f = caught[0].flow()
    assert (f.request.method, f.request.pretty_url, f.response.status_code) == (
        "POST",
        "http://api.example.test/v1/things?x=1",
        201,
    )
    assert f.request.content == b'{"a":1}' and f.response.json() == {"id": 1}
    with httpx.Client(transport=transport) as client:
        client.get("http://api.example.test/")
    assert len(caught) == 1  # undone: nothing recorded any more


def test_flows_are_what_mitmproxy_builds_with_its_type_checks() -> None:
    """build_flow fills mitmproxy's message data directly (its debug-time type check costs
    more than the rest of a flow): rebuilt through the checked constructors, it is equal."""
    f = build_flow(
        method="post",
        url="http://testserver:8000/v1/books?q=1",
        request_headers=[("Content-Type", "application/json"), (b"X-Raw", b"1")],
        request_body=b'{"a": 1}',
        status=201,
        reason="Created",
        response_headers=[("Content-Encoding", "gzip"), ("Content-Type", "application/json")],
        response_body=b'{"id": 1}',
        body_decoded=True,
        started=1000.0,
        answered=1001.0,
        version="HTTP/1.1",
    )
    assert messages.DIRECT  # the fast path is the one in use with this mitmproxy
    for message, cls in ((f.request, http.Request), (f.response, http.Response)):
        rebuilt = cls(**vars(message.data))  # runs mitmproxy's __post_init__ type check
        assert rebuilt.get_state() == message.get_state()
    assert f.request.pretty_url == "http://testserver:8000/v1/books?q=1" and f.request.method == "POST"
    # The client had undone the gzip: the flow carries it again, as it crossed the wire.
    assert f.response.raw_content != b'{"id": 1}' and f.response.content == b'{"id": 1}'
    streamed = build_flow(**{**_FLOW_ARGS, "response_body": None})
    assert streamed.response.raw_content is None and streamed.response.status_code == 200


_FLOW_ARGS = {
    "method": "GET",
    "url": "http://testserver/x",
    "request_headers": [],
    "request_body": b"",
    "status": 200,
    "reason": "OK",
    "response_headers": [],
    "response_body": b"",
    "body_decoded": False,
    "started": 1.0,
    "answered": 2.0,
}


def test_an_exchange_that_cannot_be_captured_never_breaks_the_test() -> None:
    """Building a flow may fail on something unforeseen: counted once per kind, said in
    the summary, and the test goes on with its response."""
    session = AuditSession(Auditor(default_policy()), "pytest")
    session.start_test(RunningTest("tests/test_x.py::test_y"), reset=False)

    def broken() -> list:
        raise KeyError("wsgi_request")

    session.record(broken)
    session.record(broken)
    # Built later, with its batch: a flow that cannot be built is counted the same way.
    session.record(lambda: [Exchange(**{**_FLOW_ARGS, "url": "http://testserver:x/"})])
    session.record(lambda: [Exchange(**{**_FLOW_ARGS, "method": "POST", "status": 201, "reason": "Created"})])
    assert session.auditor.findings == []  # waiting for its batch, or the test's report
    session.end_test()
    assert session.capture_errors == {
        "KeyError: 'wsgi_request'": 2,
        "ValueError: Port could not be cast to integer value as 'x'": 1,
    }
    assert [(f.rule, f.test) for f in session.auditor.findings] == [
        ("created-without-location", "tests/test_x.py::test_y")
    ]
    assert session.tests == {"pytest": ["tests/test_x.py::test_y"]}


def test_an_exchange_is_audited_as_it_was_received_however_late() -> None:
    """The hook copies the exchange off the client's objects at once: a test that changes
    its response afterwards does not change what is audited."""
    caught: list[Exchange] = []
    patches = clients.Patches()
    clients.install(patches, lambda capture: caught.extend(capture()))
    try:
        transport = httpx.MockTransport(lambda request: httpx.Response(201, headers={"Location": "/things/1"}))
        with httpx.Client(transport=transport) as client:
            response = client.post("http://api.example.test/things", headers={"X-Trace": "1"})
        response.headers["Location"] = "/elsewhere"
        del response.request.headers["X-Trace"]
    finally:
        patches.undo()
    f = caught[0].flow()
    assert f.response.headers["Location"] == "/things/1" and f.request.headers["X-Trace"] == "1"


def test_exchanges_are_audited_in_batches_and_by_the_tests_report() -> None:
    """Audited when a batch is full, or when the test's findings are asked for, whichever
    comes first; in the order made, each finding with the test that made its request."""
    from statuslint.testing import session as session_module

    created = Exchange(**{**_FLOW_ARGS, "method": "POST", "status": 201, "reason": "Created"})
    session = AuditSession(Auditor(default_policy()), "pytest")
    session.start_test(RunningTest("t.py::test_a"), reset=False)
    for _ in range(session_module._BATCH - 1):
        session.record(lambda: [created])
    assert session.auditor.counts["audited"] == 0
    session.record(lambda: [created])
    assert session.auditor.counts["audited"] == session_module._BATCH  # the batch was full
    session.record(lambda: [created])
    assert session.auditor.counts["audited"] == session_module._BATCH
    found = session.take_found()  # the report phase: what waits is audited first
    assert len(found) == session_module._BATCH + 1
    assert {(f.rule, f.test) for f in found} == {("created-without-location", "t.py::test_a")}
    session.record(lambda: [created])
    session.end_test()
    session.start_test(RunningTest("t.py::test_b"), reset=False)
    session.record(lambda: [created])
    session.end_test()
    assert session.tests["pytest"] == ["t.py::test_a"] * (session_module._BATCH + 2) + ["t.py::test_b"]
    assert [f.flow.index for f in session.auditor.findings] == list(range(session_module._BATCH + 3))


def test_an_audit_that_fails_is_counted_and_the_batch_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches are audited in pytest's report hooks: an error there is counted and shown,
    never raised into pytest, and the other exchanges of the batch are audited."""
    session = AuditSession(Auditor(default_policy()), "pytest")
    feed = session.auditor.feed

    def fails_on_delete(f: http.HTTPFlow, *args: object, **kwargs: object) -> list:
        if f.request.method == "DELETE":
            raise RuntimeError("boom")
        return feed(f, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(session.auditor, "feed", fails_on_delete)
    session.start_test(RunningTest("t.py::test_a"), reset=False)
    session.record(lambda: [Exchange(**{**_FLOW_ARGS, "method": "DELETE"})])
    session.record(lambda: [Exchange(**{**_FLOW_ARGS, "method": "POST", "status": 201, "reason": "Created"})])
    assert [f.rule for f in session.take_found()] == ["created-without-location"]
    session.end_test()
    assert session.capture_errors == {"while auditing: RuntimeError: boom": 1}
    assert session.tests["pytest"] == ["t.py::test_a", "t.py::test_a"]
    assert session.auditor.findings[0].flow.index == 1


def _urlsplit_parts(url: str) -> tuple[str, str, int, str]:
    """What build_flow made of a URL before split_url: urlsplit's parts, each time."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    scheme = parts.scheme or "http"
    path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    return scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80), path


@pytest.mark.parametrize(
    "url",
    [
        "http://testserver/items/3",
        "http://testserver",
        "http://testserver?x=1",
        "https://API.Example.test:8443/a/b?x=1&y=%20#frag?not-query",
        "http://testserver/a#b?c",
        "http://testserver/a?",
        "http://testserver/a?b?c",
        "HTTP://[::1]:8000/v1/",
        "http://user:pw@host.test:81/p;params?q",
        "http:///no-host",
        "ws://testserver/socket",
        "http://testserver/caf\u00e9?\u00e9=1",
        " http://testserver/leading-blank",
        "http://test\tserver/a\nb",
        "//no-scheme/x",
        "/relative?x",
    ],
)
def test_urls_are_split_as_urlsplit_splits_them(url: str) -> None:
    """split_url keeps urlsplit's parts per origin: the result is urlsplit's, whatever the URL
    (the odd ones are split by urlsplit itself), the second time as the first."""
    assert split_url(url) == _urlsplit_parts(url)
    assert split_url(url) == _urlsplit_parts(url)


@pytest.mark.parametrize("url", ["http://testserver:x/", "http://[::1/", "http://testserver:99999/"])
def test_a_bad_origin_is_urlsplits_error_every_time(url: str) -> None:
    with pytest.raises(ValueError) as expected:
        _urlsplit_parts(url)
    for _ in range(2):
        with pytest.raises(ValueError) as raised:
            split_url(url)
        assert str(raised.value) == str(expected.value)


def test_httpx_exchanges_say_what_the_response_properties_say() -> None:
    """The httpx capture reads reason and version where the properties read them (through
    tables): the same text, with and without a transport's extensions."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/plain":
            return httpx.Response(418)
        extensions = {"reason_phrase": b"Fine Thanks", "http_version": b"HTTP/2"}
        return httpx.Response(200, extensions=extensions, content=b"x")

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        for path in ("/plain", "/plain", "/ext", "/ext"):
            response = client.get("http://api.example.test" + path)
            (x,) = clients._httpx_exchanges(httpx, response, 1.0, 2.0)
            assert (x.reason, x.version) == (response.reason_phrase, http_version(response.http_version))
            assert str(x.url) == str(response.request.url)
            f = x.flow()
            assert f.response.reason == response.reason_phrase and f.request.url == str(response.request.url)


def test_flows_are_built_as_httpflow_builds_them() -> None:
    """messages.flow copies a template HTTPFlow made: the same attributes, a fresh id, time
    and metadata for each flow."""
    from mitmproxy import connection

    client, server = connection.Client(peername=("", 0), sockname=("", 0)), connection.Server(address=None)
    made, copied = http.HTTPFlow(client, server), messages.flow(client, server)
    assert vars(made).keys() == vars(copied).keys()
    assert {k: v for k, v in vars(made).items() if k not in ("id", "timestamp_created")} == {
        k: v for k, v in vars(copied).items() if k not in ("id", "timestamp_created")
    }
    other = messages.flow(client, server)
    assert other.id != copied.id and other.metadata is not copied.metadata


def _state(f: http.HTTPFlow) -> dict:
    state = f.get_state()
    for key in ("id", "timestamp_created"):
        state.pop(key)
    return state


def test_httpx_hops_make_the_flows_the_public_properties_make() -> None:
    """Where httpx keeps its messages as the hook expects (this httpx does), the hook reads
    what is behind the properties; the flows are those made through the properties, for
    plain, streamed, redirected and extension-carrying responses."""
    assert clients._httpx_layout_known(httpx)

    def answer(request: httpx.Request) -> httpx.Response:
        request.read()
        if request.url.path == "/moved":
            return httpx.Response(302, headers={"Location": "/plain"})
        if request.url.path == "/ext":
            return httpx.Response(200, extensions={"reason_phrase": b"Fine", "http_version": b"HTTP/2"}, json=[1])
        if request.url.path == "/stream":
            return httpx.Response(200, stream=httpx.ByteStream(b"[1]"))
        return httpx.Response(
            201, headers=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Content-Encoding", "gzip")], content=b"\x1f"
        )

    seen: list[tuple[list, list]] = []
    with httpx.Client(transport=httpx.MockTransport(answer), follow_redirects=True) as client:
        responses = [
            client.post("http://api.example.test/plain", content=b"body", headers={"Authorization": "Bearer x"}),
            client.get("http://api.example.test/ext"),
            client.get("http://api.example.test/moved"),
        ]
        with client.stream("GET", "http://api.example.test/stream") as streamed:
            seen.append(
                (clients._httpx_hops(httpx, streamed, 1.0, 2.0), clients._httpx_exchanges(httpx, streamed, 1.0, 2.0))
            )
    for response in responses:
        seen.append(
            (clients._httpx_hops(httpx, response, 1.0, 2.0), clients._httpx_exchanges(httpx, response, 1.0, 2.0))
        )
    assert [len(fast) for fast, _ in seen] == [1, 1, 1, 2]
    assert seen[0][0][0].flow().response.raw_content is None  # streamed: not read
    for fast, public in seen:
        assert [_state(x.flow()) for x in fast] == [_state(x.flow()) for x in public]
