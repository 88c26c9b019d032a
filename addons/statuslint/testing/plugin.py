"""pytest hooks of the statuslint plugin (entry point ``pytest11``: ``statuslint``).

Off by default: with neither ``--statuslint`` nor ``statuslint = true`` in the ini file,
this module only declares its options and marker, imports nothing else and replaces
nothing. On, it hooks the client libraries (``clients``) for the session, audits every
exchange in one Auditor, and reports at the end.
"""

from __future__ import annotations

import difflib
import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .offload import AuditProcess
    from .session import AuditSession

MARKER = "statuslint"
MARKER_KEYS = ("ignore", "reason", "audit")
WORKER_KEY = "statuslint"
_SCOPES = ("session", "test")
_OFFLOAD = ("auto", "on", "off")
# What a test's markers say, read once at collection.
_SETTINGS = pytest.StashKey[tuple[bool, frozenset[str]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("statuslint", "statuslint: audit the HTTP exchanges the tests make")
    group.addoption(
        "--statuslint",
        action="store_true",
        default=None,
        help="audit every HTTP exchange the tests make (requests, httpx, Django, Werkzeug/Flask test clients)",
    )
    group.addoption("--statuslint-policy", metavar="PATH", help="policy file (YAML); default: the built-in policy")
    group.addoption(
        "--statuslint-fail-on",
        metavar="SEVERITY",
        help="fail the session (exit 1) when a finding reaches this severity (error, warning, info, none)",
    )
    group.addoption(
        "--statuslint-report", metavar="PATH", help="write the audit report here; the format follows the suffix (.json)"
    )
    group.addoption(
        "--statuslint-strict",
        action="store_true",
        default=None,
        help="fail the test that made a request whose finding reaches --statuslint-fail-on (default: error), "
        "instead of the session",
    )
    group.addoption(
        "--statuslint-scope",
        choices=_SCOPES,
        help="what cross-flow rules see: the whole session's traffic in test order (default), or each test's",
    )
    group.addoption(
        "--statuslint-offload",
        choices=_OFFLOAD,
        help="audit in a process of its own, beside the tests: auto (default) when two cores or more are free "
        "and this is not an xdist worker, on, or off",
    )
    parser.addini("statuslint", "audit the HTTP exchanges the tests make (as --statuslint)", type="bool", default=False)
    parser.addini("statuslint_policy", "statuslint policy file (as --statuslint-policy)", default="")
    parser.addini("statuslint_fail_on", "as --statuslint-fail-on", default="")
    parser.addini("statuslint_report", "as --statuslint-report", default="")
    parser.addini("statuslint_strict", "as --statuslint-strict", type="bool", default=False)
    parser.addini("statuslint_scope", "as --statuslint-scope (session or test)", default="session")
    parser.addini("statuslint_offload", "as --statuslint-offload (auto, on or off)", default="auto")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(ignore=[rule ids], reason=..., audit=True): silence statuslint rules for this test's "
        "exchanges, or audit=False to leave them out of the audit",
    )
    if not _setting(config, "statuslint", "statuslint"):
        return
    plugin = StatusLintPlugin(config)
    config.pluginmanager.register(plugin, "statuslint-session")


def _setting(config: pytest.Config, option: str, ini: str) -> Any:
    value = config.getoption(option.replace("-", "_"), default=None)
    return config.getini(ini) if value is None else value


def _path_setting(config: pytest.Config, option: str, ini: str) -> str:
    """A file named on the command line (relative to where pytest runs) or in the ini file
    (relative to that file, as pytest's own path settings are); absolute, so a test that
    changes directory changes nothing."""
    value = config.getoption(option, default=None)
    if value:
        return str(Path(value).absolute())
    value = config.getini(ini)
    if not value:
        return ""
    base = config.inipath.parent if config.inipath else Path.cwd()
    return str((base / value).absolute())


class StatusLintPlugin:
    """The plugin while it is on, for one session (the controller's or a worker's)."""

    def __init__(self, config: pytest.Config) -> None:
        from .. import reports
        from ..auditor import Auditor
        from ..findings import parse_fail_on
        from ..policy import BUILTIN_NAME, load_policy
        from ..yamlsource import PolicyError
        from . import clients
        from .offload import AuditProcess
        from .session import AuditSession

        self.config = config
        self.policy_label = config.getoption("statuslint_policy") or config.getini("statuslint_policy") or BUILTIN_NAME
        builtin = self.policy_label == BUILTIN_NAME
        policy_path = None if builtin else _path_setting(config, "statuslint_policy", "statuslint_policy")
        try:
            self.policy = load_policy(policy_path)
        except PolicyError as e:
            raise pytest.UsageError(f"statuslint: {e}") from None
        fail_on = _setting(config, "statuslint_fail_on", "statuslint_fail_on") or ""
        self.strict = bool(_setting(config, "statuslint_strict", "statuslint_strict"))
        try:
            self.fail_on = parse_fail_on(fail_on or ("error" if self.strict else "none"))
        except ValueError as e:
            raise pytest.UsageError(f"statuslint: --statuslint-fail-on: {e}") from None
        self.fail_on_text = fail_on or ("error" if self.strict else "")
        self.scope = _setting(config, "statuslint_scope", "statuslint_scope") or "session"
        if self.scope not in _SCOPES:
            raise pytest.UsageError(f"statuslint: statuslint_scope: expected session or test, not {self.scope!r}")
        offload = _setting(config, "statuslint_offload", "statuslint_offload") or "auto"
        if offload not in _OFFLOAD:
            raise pytest.UsageError(f"statuslint: statuslint_offload: expected auto, on or off, not {offload!r}")
        self.report_shown = config.getoption("statuslint_report") or config.getini("statuslint_report")
        self.report_path = _path_setting(config, "statuslint_report", "statuslint_report")
        self.report_format = ""
        if self.report_path:
            try:
                self.report_format = reports.format_for_path(self.report_shown)
            except ValueError as e:
                raise pytest.UsageError(f"statuslint: --statuslint-report: {e}") from None
            parent = Path(self.report_path).parent
            if not parent.is_dir():
                raise pytest.UsageError(f"statuslint: --statuslint-report: directory {parent} does not exist")

        workerinput = getattr(config, "workerinput", None)
        self.worker = workerinput is not None
        self.controller = not self.worker and _xdist_controller(config)
        source = f"pytest[{workerinput['workerid']}]" if workerinput else "pytest"
        self.session: AuditSession = AuditSession(Auditor(self.policy), source)
        self.patches = clients.Patches()
        self.session_failed_line = ""
        self.report_error = ""
        self.process: AuditProcess | None = None
        # What the tests' exchanges go to: the session, or the process auditing for it.
        self.feed: AuditSession | AuditProcess = self.session
        if not self.controller:
            # The controller of an xdist run makes no requests: its workers do.
            if offload == "on" or (offload == "auto" and not self.worker and _cores_to_spare()):
                self.feed = self.process = AuditProcess(self.session, policy_path)
            clients.install(self.patches, self.feed.record)

    # Tests -----------------------------------------------------------------------------

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        errors = []
        for item in items:
            try:
                item.stash[_SETTINGS] = _marker_settings(item, self.policy)
            except ValueError as e:
                errors.append(f"{item.nodeid}: @pytest.mark.{MARKER}: {e}")
        if errors:
            raise pytest.UsageError("statuslint: " + "; ".join(errors))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]
        from .session import RunningTest

        settings = item.stash.get(_SETTINGS, None)
        audit, ignore = _marker_settings(item, self.policy) if settings is None else settings
        self.feed.start_test(RunningTest(item.nodeid, audit, ignore), reset=self.scope == "test")
        try:
            yield
        finally:
            self.feed.end_test()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        if call.when == "setup" and report.passed:
            return  # a fixture's requests count with the test's own, reported with the call
        found = self.feed.take_found()
        if not found:
            return
        from .summary import finding_line

        text = "\n".join(finding_line(f) for f in found)
        report.sections.append((f"statuslint findings ({call.when})", text))
        failing = [f for f in found if self.fail_on is not None and f.severity >= self.fail_on]
        if self.strict and failing and report.passed:
            report.outcome = "failed"
            report.longrepr = (
                f"statuslint (--statuslint-strict): {len(failing)} finding(s) at or above "
                f"'{self.fail_on_text}' in the exchanges of this test:\n" + "\n".join(finding_line(f) for f in failing)
            )

    # xdist -----------------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get(WORKER_KEY)
        if data is not None:
            # Our own worker processes, same install: the state crosses as a pickle.
            self.session.merge(pickle.loads(data))

    # End -------------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.patches.undo()
        if self.process is not None:
            self.process.finish()
        self.session.flush()  # what was made after the last test (a session fixture's teardown)
        if self.worker:
            self.config.workeroutput[WORKER_KEY] = pickle.dumps(self.session.worker_result())  # type: ignore[attr-defined]
            return
        auditor = self.session.auditor
        if self.report_path:
            from .. import reports

            try:
                text = reports.render(reports.build_model(auditor, self.policy_label), self.report_format)
                reports.write_atomic(self.report_path, text)
            except OSError as e:
                self.report_error = f"statuslint: cannot write {self.report_shown}: {e.strerror or e}"
                session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        if self.fail_on is None:
            return
        # Strict mode failed the tests already; what no test made is judged here.
        candidates = auditor.ordered_findings()
        if self.strict:
            candidates = [f for f in candidates if f.test is None]
        failing = [f for f in candidates if f.severity >= self.fail_on]
        if failing and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if failing:
            what = "not made by a test (API-level or outside tests)" if self.strict else "in total"
            self.session_failed_line = (
                f"statuslint: failing the session: {len(failing)} finding(s) at or above "
                f"'{self.fail_on_text}' {what} (--statuslint-fail-on={self.fail_on_text})"
            )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.worker:
            return
        from .summary import section_lines, totals_line

        session = self.session
        write = terminalreporter.write_line
        terminalreporter.write_sep("=", "statuslint")
        for line in section_lines(session, session.auditor.ordered_findings()):
            write(line)
        if self.config.option.verbose > 0:
            # -v: the full audit summary too (endpoints, rule coverage), as statuslint audit prints it.
            from ..terminal import summary_text

            for line in summary_text(session.auditor).splitlines():
                write(line)
        tests_seen = len({t for tests in session.tests.values() for t in tests if t is not None})
        write(totals_line(session, tests_seen))
        for key, n in session.capture_errors.items():
            write(f"statuslint: {n} exchange(s) could not be captured: {key}", red=True)
        for name, error in session.auditor.summary()["internal_errors"].items():
            write(f"statuslint: internal error in {name}: {error} (skipped where it failed)", red=True)
        if self.report_path and not self.report_error:
            write(f"statuslint: report written to {self.report_shown}")
        if self.report_error:
            write(self.report_error, red=True, bold=True)
        if self.session_failed_line:
            write(self.session_failed_line, red=True, bold=True)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.patches.undo()
        if self.process is not None:
            self.process.close()  # a session that ended before its finish (interrupted)


def _cores_to_spare() -> bool:
    """Whether an audit process would have a core of its own (an xdist worker's share of
    the machine is one core; Windows lacks the inherited pipes offload.py uses)."""
    from ..parallel import available_cores

    return os.name == "posix" and available_cores() >= 2


def _xdist_controller(config: pytest.Config) -> bool:
    try:
        dist = config.getoption("dist")
        processes = config.getoption("numprocesses")
    except ValueError:
        return False  # xdist not installed
    return dist != "no" or bool(processes)


def _marker_settings(item: pytest.Item, policy: Any) -> tuple[bool, frozenset[str]]:
    """(audit this test's exchanges?, rule ids silenced for them), from its markers; the
    closest marker decides ``audit``, the ``ignore`` lists add up. ValueError when wrong."""
    audit: bool | None = None
    ignore: set[str] = set()
    for mark in item.iter_markers(MARKER):
        if mark.args:
            raise ValueError("takes keyword arguments only: ignore=[rule ids], reason='...', audit=False")
        unknown = sorted(set(mark.kwargs) - set(MARKER_KEYS))
        if unknown:
            raise ValueError(f"unknown argument {unknown[0]!r} (expected: {', '.join(MARKER_KEYS)})")
        if "audit" in mark.kwargs:
            if not isinstance(mark.kwargs["audit"], bool):
                raise ValueError(f"audit must be True or False, not {mark.kwargs['audit']!r}")
            if audit is None:
                audit = mark.kwargs["audit"]
        rules = mark.kwargs.get("ignore", ())
        if isinstance(rules, str):
            rules = [rules]
        for rule_id in rules:
            if not isinstance(rule_id, str) or policy.rule(rule_id) is None:
                close = difflib.get_close_matches(str(rule_id), [r.id for r in policy.rules], n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ValueError(f"no rule {rule_id!r} in the policy{hint}")
            ignore.add(rule_id)
    return audit is not False, frozenset(ignore)
