"""Auditing several recordings: ``statuslint audit --jobs N``.

Every input is audited on its own, by a fresh Auditor of the same policy, limits and
baseline, and its state (``auditstate``) is merged into the run's auditor in input
order. With one job that happens here, input after input; with more, worker processes
audit inputs in parallel and send their states back, and this process merges them in the
same order as they arrive in. The same states are merged in the same order either way,
so the findings, their order, the summary and the exit status do not depend on --jobs.
Cross-flow state is per input in any case; API-level findings are computed on the merged
endpoint table. A read input's state is sent without its per-input cross-flow state (no
other input's flow can meet it; ``export(finished=True)``): most of a large input's state,
so the merging, which runs alone, stays short.

What a worker says (an input's one-line error, ``--show-all``'s findings) is passed on
after its input's merge, in input order.
"""

from __future__ import annotations

import os
import pickle
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .auditfile import audit_file, say_on_stderr
from .auditor import Auditor, Limits
from .auditstate import AuditState, export
from .escape import escape
from .findings import Finding
from .interrupt import StopOnInterrupt
from .noise import Baseline, narrowed
from .policy import Policy, load_policy
from .redact import redact_text

# How often (seconds) the merging process looks for an interrupt while it waits.
_POLL = 0.1
# Flows a worker audits between two looks at the run's stop event.
_STOP_EVERY = 64


def available_cores() -> int:
    """The cores this process may run on (its affinity, where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_jobs(inputs: int) -> int:
    """One process per core this process may run on, at most one per input."""
    if inputs <= 1:
        return 1
    return max(1, min(available_cores(), inputs))


@dataclass(frozen=True)
class PolicySource:
    """How the run's policy was made, for a worker that cannot inherit it (no fork): a
    loaded policy holds compiled conditions, which do not pickle."""

    name: str
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    api_only: bool = False

    def load(self) -> Policy:
        return narrowed(load_policy(self.name), self.select, self.ignore, self.api_only)


@dataclass
class Setup:
    """What each input's auditor is made of: the same for all, here and in workers."""

    policy: Policy | None  # None where it cannot be inherited (no fork): rebuilt from source
    source: PolicySource
    limits: Limits
    baseline: Baseline | None = None
    record_keys: bool = False
    allow_empty: bool = False

    def auditor(self) -> Auditor:
        if self.policy is None:
            self.policy = self.source.load()
        auditor = Auditor(self.policy, self.limits, self.baseline)
        auditor.gate.record_keys = self.record_keys
        return auditor


@dataclass
class InputResult:
    """One input's audit, as a worker sends it back."""

    state: AuditState | None  # None: not started (interrupted first), or failed (not ok)
    ok: bool
    said: list[str] = field(default_factory=list)  # one-line messages, in order
    error: str | None = None  # why the worker failed, when it did


def audit_inputs(
    target: Auditor,
    paths: Sequence[str],
    setup: Setup,
    *,
    jobs: int,
    interrupt: StopOnInterrupt,
    on_found: Callable[[list[Finding]], None] | None = None,
    progress: bool = False,
    say: Callable[[str], None] = say_on_stderr,
    start_method: str | None = None,
) -> bool:
    """Audit ``paths`` into ``target``; False when an input could not be read whole (each
    said in one line). Inputs not started when ``interrupt`` is requested are not read."""
    if jobs <= 1 or len(paths) <= 1:
        return _in_process(target, paths, setup, interrupt, on_found, progress, say)
    return _in_workers(target, paths, setup, jobs, interrupt, on_found, say, start_method)


def _in_process(
    target: Auditor,
    paths: Sequence[str],
    setup: Setup,
    interrupt: StopOnInterrupt,
    on_found: Callable[[list[Finding]], None] | None,
    progress: bool,
    say: Callable[[str], None],
) -> bool:
    ok = True
    for path in paths:
        auditor = setup.auditor()
        ok &= audit_file(
            auditor,
            path,
            on_found=on_found,
            progress=progress,
            allow_empty=setup.allow_empty,
            interrupt=interrupt,
            say=say,
        )
        # Thrown away now: its state need not be copied.
        target.merge(export(auditor, detach=False, finished=True))
        if interrupt.requested:
            break
    return ok


def _in_workers(
    target: Auditor,
    paths: Sequence[str],
    setup: Setup,
    jobs: int,
    interrupt: StopOnInterrupt,
    on_found: Callable[[list[Finding]], None] | None,
    say: Callable[[str], None],
    start_method: str | None,
) -> bool:
    # Imported here: a run of one input (the common case) never starts a worker, and
    # these are about 1.5% of its start-up (instructions, empty HAR).
    import multiprocessing
    import tempfile
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context(start_method or _start_method())
    if context.get_start_method() != "fork":
        setup = replace(setup, policy=None)  # rebuilt from its source in each worker
    stop = context.Event()
    ok = True
    with tempfile.TemporaryDirectory(prefix="statuslint-jobs-") as tmp:
        streams = [str(Path(tmp) / f"{i}.found") if on_found is not None else None for i in range(len(paths))]
        with ProcessPoolExecutor(
            max_workers=min(jobs, len(paths)), mp_context=context, initializer=_start_worker, initargs=(setup, stop)
        ) as pool:
            futures = [pool.submit(_audit_in_worker, path, stream) for path, stream in zip(paths, streams, strict=True)]
            try:
                for path, stream, future in zip(paths, streams, futures, strict=True):
                    result = _result(future, path, interrupt, stop, futures)
                    if result.state is not None:
                        target.merge(result.state)
                        if stream is not None and on_found is not None:
                            for found in _read_stream(stream):
                                on_found(found)
                    elif result.ok:
                        continue  # interrupted before it started: not read
                    else:
                        # Lost with its worker: what it streamed is in no report either.
                        target.input(path).error = result.error
                    for line in result.said:
                        say(line)
                    ok &= result.ok
            except BaseException:
                # A second Ctrl-C or a failure here: let the workers stop at their next flow.
                stop.set()
                for future in futures:
                    future.cancel()
                raise
    return ok


def _start_method() -> str:
    import multiprocessing

    # fork starts a worker without importing and compiling everything again.
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else multiprocessing.get_start_method()


def _result(
    future: Future[InputResult], path: str, interrupt: StopOnInterrupt, stop: Any, futures: list[Future[InputResult]]
) -> InputResult:
    """The input's result once its worker is done; an interrupt meanwhile is passed on to
    the workers (a Ctrl-C reaches them too, a signal sent to this process alone does not)."""
    while True:
        if interrupt.requested and not stop.is_set():
            stop.set()
            for other in futures:
                other.cancel()
        try:
            return future.result(timeout=_POLL)
        except FutureTimeout:
            continue
        except CancelledError:
            return InputResult(None, True)
        except Exception as e:
            # A worker that failed or died: this input's audit is lost, not the run's.
            error = redact_text(f"{type(e).__name__}: {e}".rstrip(": "))
            return InputResult(
                None, False, [f"statuslint: {escape(path)}: could not be audited: {escape(error)}"], error
            )


def _read_stream(path: str) -> Iterator[list[Finding]]:
    with open(path, "rb") as fo:
        while True:
            try:
                yield pickle.load(fo)
            except EOFError:
                return


# In the worker ----------------------------------------------------------------------

_setup: Setup | None = None
_stop: Any = None


def _start_worker(setup: Setup, stop: Any) -> None:
    global _setup, _stop
    _setup, _stop = setup, stop
    # Between inputs a Ctrl-C must not kill an idle worker (its pool would break); while
    # it audits one, StopOnInterrupt handles it as in one process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _WorkerInterrupt:
    """A Ctrl-C this worker got itself (the terminal sends it to the whole group), or the
    run's stop event; the event is a lock away, so it is looked at every few flows."""

    def __init__(self, local: StopOnInterrupt, stop: Any) -> None:
        self.local = local
        self.stop = stop
        self.calls = 0

    @property
    def requested(self) -> bool:
        if self.local.requested:
            # The whole run is interrupted: no worker is to start another input.
            self.stop.set()
            return True
        self.calls += 1
        return self.calls % _STOP_EVERY == 0 and self.stop.is_set()


def _audit_in_worker(path: str, stream: str | None) -> InputResult:
    assert _setup is not None
    if _stop.is_set():
        return InputResult(None, True)
    auditor = _setup.auditor()
    said: list[str] = []
    with StopOnInterrupt() as local, _FoundStream(stream) as on_found:
        ok = audit_file(
            auditor,
            path,
            on_found=on_found,
            allow_empty=_setup.allow_empty,
            interrupt=_WorkerInterrupt(local, _stop),
            say=said.append,
        )
    # Thrown away once sent: pickled as it is, not copied first.
    return InputResult(export(auditor, detach=False, finished=True), ok, said)


class _FoundStream:
    """--show-all's findings of one input, pickled to a file as they are made (not held:
    an input may have millions), read back by the merging process after the merge."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.fo: Any = None

    def __enter__(self) -> Callable[[list[Finding]], None] | None:
        if self.path is None:
            return None
        self.fo = open(self.path, "wb")  # closed in __exit__
        return self._write

    def _write(self, found: list[Finding]) -> None:
        # A finding line shows no exchange; it would only cost the pickling.
        pickle.dump([replace(f, exchange=None) for f in found], self.fo, pickle.HIGHEST_PROTOCOL)

    def __exit__(self, *exc: object) -> None:
        if self.fo is not None:
            self.fo.close()
