"""The plugin's audit in a process of its own, beside the test process.

Building a flow from an exchange and auditing it costs about a tenth of what a TestClient
request costs (callgrind: ~420k of ~4.4M instructions), and a test waits for it. With a
second core free, that work can run there while the tests go on: the test process only
copies each exchange (the client hooks' copy, as inline) and sends it down a pipe; an
audit process feeds the copies to an ``AuditSession`` exactly as the test process would
have, in the same order, with the same test boundaries, and at the end sends its state
back, merged as an xdist worker's is (``AuditSession.merge``). The report, the summary
and the exit status are those of an inline audit.

What must be known while a test runs waits for it: a test's findings, for its report
(``take_found``), are asked for and waited on — only the exchanges the audit process has
not reached yet, since it audits as they arrive. A test that made no request since the
last answer waits for nothing.

If the audit process dies or stops answering, the session goes on inline: one line in the
summary says so and how many exchanges were audited before (their findings are lost with
the process). An exchange recorded by a forked child of the test process (a live server
started with fork) is not the test process's to send: dropped, as inline it lands in the
child's copy of the session and is lost too.

Run as ``python -m statuslint.testing.offload READ_FD WRITE_FD`` by ``AuditProcess``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from ..findings import Finding
from .session import AuditSession, RunningTest, WorkerResult

# Seconds the test process waits for an answer before it gives the audit process up: long
# enough for a backlog of large bodies, short enough that a hung process is not a hung run.
ANSWER_TIMEOUT = 120.0
_PROTOCOL = pickle.HIGHEST_PROTOCOL


class AuditProcess:
    """The test process's side: what the plugin calls instead of its ``AuditSession``'s
    ``record``, ``start_test``, ``end_test`` and ``take_found``; ``finish`` merges the
    audit into that session. After a failure, every call goes to that session instead."""

    def __init__(self, session: AuditSession, policy_path: str | None) -> None:
        self.session = session
        self.failed = ""
        self.sent = 0  # exchanges sent
        self._unanswered = False  # exchanges sent since the last findings came back
        self._pid = os.getpid()
        self._lock = threading.Lock()  # live servers and async clients record from other threads
        self._current: RunningTest | None = None
        self._skipped = 0
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 (the process's stderr, closed by close)
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        self._send_end = Connection(from_parent, readable=False)
        self._recv_end = Connection(to_parent, writable=False)
        self._proc: subprocess.Popen[bytes] | None = None
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(to_child), str(from_child)],
                pass_fds=(to_child, from_child),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._errors,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
            )
        except (OSError, ValueError) as e:
            self._fail(f"cannot start it: {e}")
        finally:
            os.close(to_child)
            os.close(from_child)
        self._send(("init", policy_path, session.source))

    # What the plugin calls ---------------------------------------------------------------

    def record(self, capture: Callable[[], list[Any]]) -> None:
        if self.failed:
            self.session.record(capture)
            return
        if os.getpid() != self._pid:
            return
        ctx = self._current
        if ctx is not None and not ctx.audit:
            self._skipped += 1
            return
        try:
            exchanges = capture()
            # Here, not in _send: an exchange that cannot cross is that exchange's error only.
            data = pickle.dumps(("record", exchanges), _PROTOCOL)
        except Exception as e:
            self.session._capture_error(e)
            return
        with self._lock:
            self.sent += len(exchanges)
            self._unanswered = True
            self._write(data)

    def start_test(self, ctx: RunningTest, reset: bool) -> None:
        if self.failed:
            self.session.start_test(ctx, reset)
            return
        with self._lock:
            self._current = ctx
            self._send(("start", ctx, reset))

    def end_test(self) -> None:
        if self.failed:
            self.session.end_test()
            return
        with self._lock:
            self._current = None
            self._send(("end",))

    def take_found(self) -> list[Finding]:
        if self.failed:
            return self.session.take_found()
        with self._lock:
            if not self._unanswered:
                return []
            found = self._ask(("take",))
            if found is None:
                return self.session.take_found()
            self._unanswered = False
            return found

    def finish(self) -> None:
        """Merge the audit into the session (or give up on it) and end the process."""
        with self._lock:
            if not self.failed:
                result = self._ask(("finish",))
                if result is not None:
                    self.session.merge(result)
            self.session.exchanges_skipped += self._skipped
            self._skipped = 0
            self.close()

    # The pipe ----------------------------------------------------------------------------

    def _send(self, message: tuple[Any, ...]) -> None:
        self._write(pickle.dumps(message, _PROTOCOL))

    def _write(self, data: bytes) -> None:
        if self.failed:
            return
        try:
            self._send_end.send_bytes(data)
        except OSError as e:
            self._fail(f"{type(e).__name__}: {e}")

    def _ask(self, message: tuple[Any, ...]) -> Any:
        self._send(message)
        if self.failed:
            return None
        try:
            if not self._recv_end.poll(ANSWER_TIMEOUT):
                self._fail(f"no answer in {ANSWER_TIMEOUT:g}s")
                return None
            kind, value = pickle.loads(self._recv_end.recv_bytes())
        except (OSError, EOFError, pickle.UnpicklingError) as e:
            self._fail(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
            return None
        if kind == "error":
            self._fail(value)
            return None
        return value

    def _fail(self, why: str) -> None:
        self.failed = f"{why}{self._last_error_line()}"
        key = (
            f"the audit process stopped ({self.failed}); the {self.sent} exchange(s) sent to it are lost, "
            "the rest were audited in the test process"
        )
        self.session.capture_errors[key] = self.session.capture_errors.get(key, 0) + 1
        self.session.current = self._current
        self.close()

    def _last_error_line(self) -> str:
        try:
            self._errors.seek(0)
            lines = self._errors.read()[-4096:].decode(errors="replace").strip().splitlines()
        except (OSError, ValueError):
            return ""
        return f": {lines[-1]}" if lines else ""

    def close(self) -> None:
        """End the process (it exits when its pipe closes); again: nothing."""
        for end in (self._send_end, self._recv_end):
            with contextlib.suppress(OSError):
                end.close()
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._errors.close()


# The audit process ---------------------------------------------------------------------


def serve(receive: Connection, answer: Connection) -> None:
    session: AuditSession | None = None
    while True:
        if session is not None and not receive.poll(0):
            session.flush()  # nothing waiting: audit what came, so a question finds it done
        try:
            message = pickle.loads(receive.recv_bytes())
        except EOFError:
            return  # the test process went away
        kind = message[0]
        if kind == "record":
            assert session is not None
            exchanges = message[1]
            session.record(lambda exchanges=exchanges: exchanges)
        elif kind == "start":
            assert session is not None
            session.start_test(message[1], message[2])
        elif kind == "end":
            assert session is not None
            session.end_test()
        elif kind == "take":
            assert session is not None
            answer.send_bytes(pickle.dumps(("found", session.take_found()), _PROTOCOL))
        elif kind == "finish":
            assert session is not None
            result: WorkerResult = session.worker_result()
            answer.send_bytes(pickle.dumps(("result", result), _PROTOCOL))
            return
        elif kind == "init":
            from ..auditor import Auditor
            from ..policy import load_policy

            try:
                session = AuditSession(Auditor(load_policy(message[1])), message[2])
            except Exception as e:
                answer.send_bytes(pickle.dumps(("error", f"{type(e).__name__}: {e}"), _PROTOCOL))
                return


def main() -> None:
    receive = Connection(int(sys.argv[1]), writable=False)
    answer = Connection(int(sys.argv[2]), readable=False)
    serve(receive, answer)


if __name__ == "__main__":
    main()
