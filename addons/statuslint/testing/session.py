"""One audit per test session: the exchanges of every test, fed to one Auditor in the
order they happen (in batches: see ``_BATCH``), each finding carrying the node id of the
test that made the request."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from ..auditor import Auditor
from ..auditstate import AuditState
from ..findings import Finding
from .exchanges import Captured

logger = logging.getLogger(__name__)

# Exchanges wait to be audited together, up to this many (or this many bytes of bodies), and
# at the latest when the test's findings are reported, between tests and at the end. Why:
# auditing an exchange right after the app answered it costs two to four times what it
# costs next to other audits (the app's code and data have pushed the audit's out of the
# CPU caches); in a batch, that is paid once per batch.
_BATCH = 64
_BATCH_BYTES = 8 << 20


@dataclass
class RunningTest:
    """The test running now, and what its marker says."""

    nodeid: str
    audit: bool = True
    ignore: frozenset[str] = frozenset()
    found: list[Finding] = field(default_factory=list)  # since the last report phase


@dataclass
class WorkerResult:
    """What an xdist worker sends to the controller."""

    state: AuditState
    source: str
    tests: list[str | None]
    exchanges_skipped: int
    capture_errors: dict[str, int]


class AuditSession:
    def __init__(self, auditor: Auditor, source: str) -> None:
        self.auditor = auditor
        self.source = source
        self.current: RunningTest | None = None
        self.outside: list[Finding] = []  # made outside any test (session fixtures' teardown)
        self.exchanges_skipped = 0  # made by tests that opted out
        self.capture_errors: dict[str, int] = {}
        # source -> the test of each flow index (xdist: one source per worker)
        self.tests: dict[str, list[str | None]] = {source: []}
        self._lock = threading.Lock()  # live servers and async clients record from other threads
        self._pending: list[tuple[RunningTest | None, Captured]] = []
        self._pending_bytes = 0

    def record(self, capture: Callable[[], list[Captured]]) -> None:
        """Take what a client hook caught, to be audited with the next batch. Never raises:
        a test gets its response whatever happens here."""
        ctx = self.current
        if ctx is not None and not ctx.audit:
            self.exchanges_skipped += 1
            return
        try:
            exchanges = capture()
        except Exception as e:
            self._capture_error(e)
            return
        with self._lock:
            pending = self._pending
            for x in exchanges:
                pending.append((ctx, x))
                if x.request_body:
                    self._pending_bytes += len(x.request_body)
                if x.response_body:
                    self._pending_bytes += len(x.response_body)
            if len(pending) >= _BATCH or self._pending_bytes >= _BATCH_BYTES:
                self._flush()

    def flush(self) -> None:
        """Audit the exchanges waiting, in the order they were made."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:  # with the lock held
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        if not pending:
            return
        tests = self.tests[self.source]
        info = self.auditor.input(self.source)
        for ctx, exchange in pending:
            try:
                f = exchange.flow()
            except Exception as e:
                self._capture_error(e)
                continue
            test = ctx.nodeid if ctx else None
            index = len(tests)
            tests.append(test)
            info.flows += 1
            try:
                found = self.auditor.feed(f, index, self.source, test=test, ignore=ctx.ignore if ctx else ())
            except Exception as e:
                # This runs in a report hook: an error here would stop pytest, not one test.
                self._capture_error(e, "while auditing: ")
                continue
            (ctx.found if ctx else self.outside).extend(found)

    def _capture_error(self, e: Exception, what: str = "") -> None:
        key = f"{what}{type(e).__name__}: {e}"
        if key not in self.capture_errors:
            logger.warning("statuslint: could not capture an exchange: %s", key)
        self.capture_errors[key] = self.capture_errors.get(key, 0) + 1

    def start_test(self, ctx: RunningTest, reset: bool) -> None:
        with self._lock:
            self._flush()  # the exchanges of the test before, before any reset
            if reset:
                self.auditor.reset_cross_flow_state()
            self.current = ctx

    def end_test(self) -> None:
        with self._lock:
            self._flush()
            self.current = None

    def take_found(self) -> list[Finding]:
        """The current test's findings since the last call."""
        with self._lock:
            self._flush()
            ctx = self.current
            if ctx is None:
                return []
            found, ctx.found = ctx.found, []
            return found

    # xdist -----------------------------------------------------------------------------

    def worker_result(self) -> WorkerResult:
        self.flush()
        return WorkerResult(
            self.auditor.export_state(),
            self.source,
            self.tests[self.source],
            self.exchanges_skipped,
            self.capture_errors,
        )

    def merge(self, result: WorkerResult) -> None:
        with self._lock:
            self.auditor.merge(result.state)
            self.tests[result.source] = result.tests
            self.exchanges_skipped += result.exchanges_skipped
            for key, n in result.capture_errors.items():
                self.capture_errors[key] = self.capture_errors.get(key, 0) + n

    def tests_of(self, finding: Finding) -> list[str]:
        """The tests behind a finding: its own, or those of its evidence (API-level)."""
        if finding.test is not None:
            return [finding.test]
        out: list[str] = []
        for ref in finding.evidence:
            tests = self.tests.get(ref.source, [])
            test = tests[ref.index] if 0 <= ref.index < len(tests) else None
            if test is not None and test not in out:
                out.append(test)
        return out
