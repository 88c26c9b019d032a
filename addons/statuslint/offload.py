"""The live addon's audit in a worker process (``statuslint_offload``).

mitmproxy runs on one Python thread; auditing a flow inline costs that thread about a
tenth of the proxy's own work per flow. With offload on, the proxy's event loop only
captures what the audit reads of each response and sends it; a worker process, on
another core, owns the ``Auditor`` and does the audit.

What goes to the worker. Every event that touches the auditor, in the order the addon
sees it: arrivals (their source and kind), websocket message counts, responses, and
changes of policy, limits, baseline and baseline recording made while the proxy runs.
So the worker's auditor goes through exactly what the addon's inline auditor would have,
and its state is the same. A response goes as the fields of mitmproxy's request and
response data (headers as their raw fields, bodies whole, as they crossed the wire:
capping them would change what a finding's exchange shows), plus the HAR body sizes
statuslint's reader may have attached; the worker builds an ``HTTPFlow`` of them with
``messages``, the builders the flow-file reader uses. The audit reads nothing else of a
flow (no connection, no other metadata). Messages are gathered and pickled as one batch
per event-loop turn (or every ``BATCH_SIZE`` messages: mitmdump -nr feeds a whole file
through in one turn), written to a pipe without blocking the loop (what the pipe does not
take waits for it to drain; past ``BACKLOG_LIMIT`` bytes the worker is given up on).

What comes back. Per batch that found something, the findings of each response (with
the endpoint the JSONL log names, as the worker's templates had it then) keyed by a
sequence number, and the last response done; on clean traffic, that last response every
``ACK_EVERY`` responses (and before each state sent). The addon logs the findings as the
inline audit would have and marks the flow if it is still alive: the flow is held by a
weak reference until its answer has come (at most ``PENDING_LIMIT`` of them: past that the
oldest are only logged, not marked). Holding the flows themselves kept each one alive for
a batch or two, long enough for the cycle collector to move it to its oldest generation,
and made mitmproxy's own full collections more frequent (mitmdump -nr of 20,000 flows: 13
of them instead of 3, 0.6 s). Answers are read from the pipe when the event loop sees it
readable, at each full batch sent (mitmdump -nr) and in round trips: nothing waits for
the worker on the clean path.

Round trips. The summary so far and a report mid-run (``statuslint.summary``, SIGUSR1,
``statuslint.report``) ask the worker for its state and wait for it; at the end, the
worker sends its final state, which is merged into the addon's own (empty) auditor, and
everything after (API-level findings, reports, baseline, exit status) runs on it as
before. A wait ends once the worker has said nothing for ``ANSWER_SECONDS``.

Failures. A worker that dies, or says nothing for ``ANSWER_SECONDS`` while it is waited
for, is given up on with one warning line: what it held (counts, endpoints, findings
kept for the report, cross-flow state) is lost, though its findings already logged stay
in the log; the responses sent and not yet answered are audited again in this process
(from the batches as they were sent, which are kept until answered: the flow itself, where
it is still alive, so that it is marked),
and so is all later traffic (flows that had arrived but not been answered yet count as
arrived in neither). A rule failing on one flow is caught inside the audit, as
inline. A proxy killed outright loses what the worker had not yet answered: findings
reach the JSONL log once answered (normally within one event-loop turn of the flow's
response) and then within the log's own flush delay. The worker, seeing its input pipe
close, exits.

The worker is a fresh interpreter (``sys.executable``), never a fork of the proxy,
which has threads: it imports statuslint from the same place and rebuilds the policy
from its source (``parallel.Setup``, as --jobs workers do). It ignores SIGINT and SIGHUP,
which a terminal sends to the whole process group: the proxy decides when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mitmproxy import connection, http

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

from . import messages
from .auditor import Auditor, Limits
from .auditstate import AuditState, export
from .findings import Finding
from .flowview import HAR_BODY_KEY
from .noise import Baseline
from .parallel import PolicySource, Setup

logger = logging.getLogger(__name__)

BATCH_SIZE = 256
# Responses without findings the worker lets go unanswered: each answer costs the proxy's
# event loop a wakeup, a read and an unpickling, for nothing on clean traffic but letting
# go of what it keeps for a worker that might die.
ACK_EVERY = 256
PENDING_LIMIT = 20_000
ANSWER_SECONDS = 30.0
# Bytes waiting for the worker to read them: past this it has fallen too far behind (or hangs)
# to be waited for without the proxy's memory growing with the traffic.
BACKLOG_LIMIT = 256 << 20
PIPE_SIZE = 1 << 20  # Linux's default largest (/proc/sys/fs/pipe-max-size)
_FRAME = struct.Struct("!Q")
_READ = 1 << 20
_PICKLE = pickle.HIGHEST_PROTOCOL

# Messages to the worker: tuples, their first item one of these.
ARRIVE, WEBSOCKET, RESPONSE, POLICY, LIMITS, BASELINE, RECORD_KEYS, SNAPSHOT, FINISH = range(9)
# Messages back.
FOUND, STATE, FAILED = range(3)

# The flows a worker audits have no connections: the audit never reads them.
_CLIENT = connection.Client(peername=("127.0.0.1", 0), sockname=("127.0.0.1", 0), timestamp_start=0.0)
_SERVER = connection.Server(address=None)

# A response left unanswered by a worker that is gone: the flow, its index, source and har flag.
Pending = tuple[http.HTTPFlow, int, str, bool]
# found(flow or None where it is no longer held, findings, their endpoints)
OnFound = Callable[[http.HTTPFlow | None, list[Finding], list[str]], None]


class WorkerGone(Exception):
    """The worker died or stopped answering: the audit goes on in this process."""


def capture(message: http.Message) -> dict[str, Any]:
    """What the audit reads of a request or response: its data fields, headers as their
    raw fields (``messages.headers`` makes them a ``Headers`` again), no trailers."""
    values = dict(vars(message.data))
    values["headers"] = message.data.headers.fields
    values["trailers"] = None
    return values


def rebuild(request: dict[str, Any], response: dict[str, Any], har_body: Any) -> http.HTTPFlow:
    request["headers"] = messages.headers(request["headers"])
    response["headers"] = messages.headers(response["headers"])
    f = messages.flow(_CLIENT, _SERVER)
    f.request = messages.request(**request)
    f.response = messages.response(**response)
    if har_body is not None:
        f.metadata[HAR_BODY_KEY] = har_body
    return f


class Offload:
    """The proxy's handle on its worker (see the module docstring). ``on_found`` gets each
    response's findings; ``on_gone`` the one line saying the worker is gone and the
    responses it left unanswered, once."""

    def __init__(self, setup: Setup, on_found: OnFound, on_gone: Callable[[str, list[Pending]], None]) -> None:
        self.on_found = on_found
        self.on_gone = on_gone
        # Responses waiting for their answer, by sequence number: their flow, while it lives.
        self.pending: dict[int, weakref.ref[http.HTTPFlow]] = {}
        # Batches sent with responses not yet answered: (their last sequence number, the batch).
        self.sent: deque[tuple[int, bytes]] = deque()
        self.answered = 0  # the last response answered
        self.seq = 0
        self.batch: list[tuple[Any, ...]] = []
        self.outbuf = bytearray()
        self.inbuf = bytearray()
        self.gone = False
        self.answer: tuple[Any, ...] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.scheduled = False
        self.writing = False
        self.finishing = self.finished = False
        to_worker_r, self.out_fd = os.pipe()
        self.in_fd, from_worker_w = os.pipe()
        package_root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from statuslint.offload import worker; worker()",
                    str(to_worker_r),
                    str(from_worker_w),
                ],
                pass_fds=(to_worker_r, from_worker_w),
                env=env,
                stdin=subprocess.DEVNULL,
            )
        finally:
            os.close(to_worker_r)
            os.close(from_worker_w)
        os.set_blocking(self.out_fd, False)
        os.set_blocking(self.in_fd, False)
        for fd in (self.out_fd, self.in_fd):
            # A pipe holds 64 KiB; a batch of responses is often more. With room for a few
            # batches, each flush hands the worker all it has (Linux only; elsewhere the
            # default size).
            with contextlib.suppress(AttributeError, OSError):
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        try:
            self.loop = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None  # no loop (in-process use): answers are read at each flush
        if self.loop is not None:
            self.loop.add_reader(self.in_fd, self._readable)
        self._send((setup,))

    @property
    def pid(self) -> int:
        return self.process.pid

    # Events ------------------------------------------------------------------------

    def arrive(self, source: str, kind: str | None) -> None:
        self._add((ARRIVE, source, kind))

    def websocket_message(self) -> None:
        last = self.batch[-1] if self.batch else None
        if last is not None and last[0] == WEBSOCKET:
            self.batch[-1] = (WEBSOCKET, last[1] + 1)
        else:
            self._add((WEBSOCKET, 1))

    def response(self, f: http.HTTPFlow, index: int, source: str, har: bool) -> None:
        assert f.response is not None
        self.seq += 1
        if len(self.pending) >= PENDING_LIMIT:
            del self.pending[next(iter(self.pending))]  # logged when answered, not marked
        self.pending[self.seq] = weakref.ref(f)
        self._add(
            (
                RESPONSE,
                self.seq,
                index,
                source,
                har,
                capture(f.request),
                capture(f.response),
                f.metadata.get(HAR_BODY_KEY),
            )
        )

    def policy(self, source: PolicySource) -> None:
        self._add((POLICY, source))

    def limits(self, limits: Limits) -> None:
        self._add((LIMITS, limits))

    def baseline(self, baseline: Baseline | None) -> None:
        self._add((BASELINE, baseline))

    def record_keys(self, on: bool) -> None:
        self._add((RECORD_KEYS, on))

    # Round trips --------------------------------------------------------------------

    def state(self) -> AuditState:
        """The worker's state so far, detached from it. WorkerGone if it is gone."""
        return self._ask((SNAPSHOT,))

    def finish(self) -> AuditState:
        """The worker's final state; the worker then exits. WorkerGone if it is gone."""
        self.finishing = True
        state = self._ask((FINISH,))
        self._close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(ANSWER_SECONDS)
        return state

    def _ask(self, message: tuple[Any, ...]) -> AuditState:
        if self.gone:
            raise WorkerGone
        self.answer = None
        self._add(message)
        self.flush()
        last_heard = time.monotonic()
        while self.answer is None and not self.gone:
            wait = ANSWER_SECONDS - (time.monotonic() - last_heard)
            if wait <= 0:
                self._give_up(f"it did not answer for {ANSWER_SECONDS:g}s")
                break
            writers = [self.out_fd] if self.outbuf else []
            readable, writable, _ = select.select([self.in_fd], writers, [], wait)
            if writable:
                self._write()
            if readable:
                last_heard = time.monotonic()
                self._readable()
        if self.answer is None:
            raise WorkerGone
        state: AuditState = self.answer[1]
        self.answer = None
        return state

    def stop(self) -> None:
        """End the worker without its state (the proxy is going away otherwise)."""
        if not self.gone:
            self.gone = True
            self._close()
            with contextlib.suppress(OSError):
                self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)

    # Writing --------------------------------------------------------------------------

    def _add(self, message: tuple[Any, ...]) -> None:
        if self.gone:
            return
        self.batch.append(message)
        if len(self.batch) >= BATCH_SIZE:
            self.flush()
        elif not self.scheduled and self.loop is not None:
            self.scheduled = True
            self.loop.call_soon(self.flush, False)

    def flush(self, read: bool = True) -> None:
        """Send the batch; ``read``: and take in what the worker has answered. Not from the
        once-a-turn flush of a running loop, whose reader does that when there is any: a
        read that finds nothing is a system call per turn."""
        self.scheduled = False
        if self.gone:
            return
        if self.batch:
            batch, self.batch = self.batch, []
            last = max((m[1] for m in batch if m[0] == RESPONSE), default=0)
            self._send(batch, last)
        if read:
            # mitmdump -nr feeds a whole file through in one turn of the loop, which then
            # never sees the answers: read them at each full batch, or the worker, its
            # answers unread, stops reading, and what it has not read piles up here.
            self._readable()

    def _send(self, value: Any, last: int = 0) -> None:
        data = pickle.dumps(value, _PICKLE)
        if last:
            self.sent.append((last, data))
        self.outbuf += _FRAME.pack(len(data))
        self.outbuf += data
        # Even while the loop waits to write the rest: mitmdump -nr never lets it, and what
        # stays here the worker cannot audit until the end.
        self._write()

    def _write(self) -> None:
        while self.outbuf:
            try:
                n = os.write(self.out_fd, self.outbuf)
            except BlockingIOError:
                break
            except OSError as e:
                self._give_up(f"cannot send to it ({e.strerror or e})")
                return
            del self.outbuf[:n]
        if len(self.outbuf) > BACKLOG_LIMIT:
            self._give_up(f"it fell more than {BACKLOG_LIMIT >> 20} MB of traffic behind")
            return
        # What the pipe did not take goes once it drains: the loop never waits for it.
        if self.outbuf and not self.writing and self.loop is not None:
            self.writing = True
            self.loop.add_writer(self.out_fd, self._write)
        elif not self.outbuf and self.writing:
            self.writing = False
            if self.loop is not None:
                self.loop.remove_writer(self.out_fd)

    # Reading --------------------------------------------------------------------------

    def _readable(self) -> None:
        if self.gone:
            return
        ended: str | None = None
        while True:
            try:
                data = os.read(self.in_fd, _READ)
            except BlockingIOError:
                break
            except OSError as e:
                ended = f"cannot read from it ({e.strerror or e})"
                break
            if not data:
                code = self.process.poll()
                ended = "it exited" if code is None else f"it exited with status {code}"
                break
            self.inbuf += data
        # What it sent before it ended counts: its final state comes just before its exit.
        while len(self.inbuf) >= _FRAME.size and not self.gone:
            (size,) = _FRAME.unpack_from(self.inbuf)
            if len(self.inbuf) < _FRAME.size + size:
                break
            message = pickle.loads(memoryview(self.inbuf)[_FRAME.size : _FRAME.size + size])
            del self.inbuf[: _FRAME.size + size]
            self._handle(message)
        if ended is not None and not self.finished:
            self._give_up(ended)

    def _handle(self, message: tuple[Any, ...]) -> None:
        if message[0] == FOUND:
            _, answers, last, errors = message
            for line in errors:
                logger.error(line)
            for seq, found, endpoints in answers:
                held = self.pending.get(seq)
                self.on_found(held() if held else None, found, endpoints)
            self.answered = max(self.answered, last)
            pending = self.pending
            while pending:
                first = next(iter(pending))
                if first > last:
                    break
                del pending[first]
            sent = self.sent
            while sent and sent[0][0] <= last:
                sent.popleft()
        elif message[0] == STATE:
            self.answer = message
            self.finished = self.finishing
        elif message[0] == FAILED:
            self._give_up(message[1])

    # Ending ---------------------------------------------------------------------------

    def _give_up(self, why: str) -> None:
        if self.gone:
            return
        self.gone = True
        self._close()
        left = self._unanswered()
        self.outbuf.clear()
        self.batch.clear()
        self.sent.clear()
        self.pending.clear()
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self.on_gone(
            f"statuslint: the audit worker (pid {self.process.pid}) is gone: {why}. What it held (counts, "
            f"endpoints, findings for the report, cross-flow state) is lost; its findings already logged stay "
            f"logged; the {len(left)} responses it had not answered and all later traffic are audited in this "
            "process",
            left,
        )

    def _unanswered(self) -> list[Pending]:
        """The responses sent or about to be, not answered: each its own flow where that is
        still alive, else one rebuilt from what was sent."""
        messages_left = [m for _, data in self.sent for m in pickle.loads(data)]
        left: list[Pending] = []
        for message in (*messages_left, *self.batch):
            if message[0] != RESPONSE or message[1] <= self.answered:
                continue
            _, seq, index, source, har, request, response, har_body = message
            held = self.pending.get(seq)
            f = held() if held is not None else None
            if f is None:
                f = rebuild(request, response, har_body)
            left.append((f, index, source, har))
        return left

    def _close(self) -> None:
        self.gone = True  # a flush still scheduled finds nothing to do
        if self.loop is not None and not self.loop.is_closed():
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self.in_fd)
            if self.writing:
                with contextlib.suppress(Exception):
                    self.loop.remove_writer(self.out_fd)
        self.writing = False
        for fd in (self.in_fd, self.out_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.in_fd = self.out_fd = -1


# In the worker -------------------------------------------------------------------------


def worker() -> None:
    """The worker process's main: ``python -c ... IN_FD OUT_FD``."""
    # The terminal signals the whole group; the proxy decides when this ends.
    for name in ("SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    source = os.fdopen(int(sys.argv[1]), "rb")
    sink = os.fdopen(int(sys.argv[2]), "wb")

    def send(value: Any) -> None:
        data = pickle.dumps(value, _PICKLE)
        sink.write(_FRAME.pack(len(data)))
        sink.write(data)
        sink.flush()

    def receive() -> Any:
        header = source.read(_FRAME.size)
        if len(header) < _FRAME.size:
            return None  # the proxy is gone
        (size,) = _FRAME.unpack(header)
        data = source.read(size)
        if len(data) < size:
            return None
        return pickle.loads(data)

    try:
        setup: Setup = receive()[0]
        auditor = setup.auditor()
    except Exception as e:
        with contextlib.suppress(OSError):
            send((FAILED, f"it could not start ({type(e).__name__}: {e})"))
        return
    try:
        _serve(auditor, receive, send)
    except Exception as e:
        # Said by the proxy in its one line; it audits the rest itself.
        with contextlib.suppress(OSError):
            send((FAILED, f"it failed ({type(e).__name__}: {e})"))


def _serve(auditor: Auditor, receive: Callable[[], Any], send: Callable[[Any], None]) -> None:
    answers: list[tuple[int, list[Finding], list[str]]] = []
    errors: list[str] = []
    last = unsaid = 0
    while (batch := receive()) is not None:
        for message in batch:
            tag = message[0]
            if tag == RESPONSE:
                _, seq, index, source_name, har, request, response, har_body = message
                last = seq
                unsaid += 1
                try:
                    f = rebuild(request, response, har_body)
                    found = auditor.audit_response(f, index, source_name, har=har)
                except Exception:
                    # As inline: this flow goes unaudited, the audit goes on.
                    errors.append(_internal_error(request))
                    continue
                if found:
                    answers.append((seq, found, [auditor.endpoint_of(x) for x in found]))
            elif tag == ARRIVE:
                auditor.input(message[1]).flows += 1
                auditor.count_kind(message[2])
            elif tag == WEBSOCKET:
                auditor.count_websocket_messages(message[1])
            elif tag == POLICY:
                auditor.use_policy(message[1].load())
            elif tag == LIMITS:
                auditor.set_limits(message[1])
            elif tag == BASELINE:
                auditor.gate.baseline = message[1]
            elif tag == RECORD_KEYS:
                auditor.gate.record_keys = message[1]
            elif tag in (SNAPSHOT, FINISH):
                if answers or errors or last:
                    send((FOUND, answers, last, errors))
                    answers, errors, last, unsaid = [], [], 0, 0
                # Pickled at once: nothing is shared with the audit going on.
                send((STATE, export(auditor, detach=False, finished=tag == FINISH)))
                if tag == FINISH:
                    return
        # Findings go at once (the log, the marks); a clean run is answered now and then.
        if answers or errors or unsaid >= ACK_EVERY:
            send((FOUND, answers, last, errors))
            answers, errors, last, unsaid = [], [], 0, 0


def _internal_error(request: dict[str, Any]) -> str:
    from .escape import escape
    from .redact import redact_url

    try:
        url = messages.request(**request).url
    except Exception:
        url = "?"
    return f"statuslint: internal error while auditing {escape(redact_url(url))}\n{traceback.format_exc()}"
