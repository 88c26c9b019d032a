"""Stopping a live proxy without losing a finding.

mitmproxy runs every addon's ``done`` when asked to stop (SIGTERM, SIGINT) but keeps its
listeners and connections alive until the process ends, so keep-alive clients still got
answers after the report was written, answers that were in neither the log nor the
report. SIGHUP (a closed terminal, a dropped SSH session) killed the process outright.

So on SIGTERM, SIGINT or SIGHUP statuslint first stops taking work and drains, and only
then lets mitmproxy shut down:

1. draining: new requests are refused (the connection is closed without an answer);
   requests already under way run to their end, for at most ``DRAIN_SECONDS``;
2. closed (from ``done`` on, the report being written): an answer that still arrives is
   cut off, never delivered, so every answer a client received is audited and logged,
   and the report agrees with the log.

A second signal while draining stops waiting. Stops that do not come by signal (quitting
mitmproxy's console, a replay that ends) go straight to "closed".
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from mitmproxy import http

logger = logging.getLogger(__name__)

DRAIN_SECONDS = 5.0
OPEN, DRAINING, CLOSED = "open", "draining", "closed"


class GracefulStop:
    def __init__(self, drain_seconds: float = DRAIN_SECONDS) -> None:
        self.drain_seconds = drain_seconds
        self.phase = OPEN
        self.in_flight: set[str] = set()
        self.refused = 0
        self.cut_off = 0
        self._drained: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._shutdown: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._signals: list[signal.Signals] = []

    def install(self, shutdown: Callable[[], None], *, sigint: bool = True) -> bool:
        """Take over the stop signals on the running loop; ``sigint=False`` leaves Ctrl-C
        to a master that asks before quitting (mitmproxy's console)."""
        if not self.attach(shutdown):
            return False
        assert self._loop is not None
        wanted = [signal.SIGTERM, *([signal.SIGINT] if sigint else [])]
        if hasattr(signal, "SIGHUP"):
            wanted.append(signal.SIGHUP)
        for signum in wanted:
            try:
                self._loop.add_signal_handler(signum, self.on_signal, signum)
            except (RuntimeError, ValueError, NotImplementedError):
                continue  # not the main thread, or a platform without it
            self._signals.append(signum)
        return bool(self._signals)

    def attach(self, shutdown: Callable[[], None]) -> bool:
        """Stop through ``shutdown`` (the master's), on the running loop."""
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            return False  # no loop of ours (tests)
        self._shutdown = shutdown
        return True

    def on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self.phase != OPEN:
            # Asked again: stop waiting for what is under way.
            if self._task is not None:
                self._task.cancel()
            self._stop_now()
            return
        self.phase = DRAINING
        logger.info(
            f"statuslint: {name}: stopping; new requests are refused, waiting for {len(self.in_flight)} "
            f"answer(s) under way (at most {self.drain_seconds:g}s; {name} again to stop now)"
        )
        assert self._loop is not None
        self._drained = asyncio.Event()
        if not self.in_flight:
            self._drained.set()
        self._task = self._loop.create_task(self._drain())

    async def _drain(self) -> None:
        assert self._drained is not None
        try:
            await asyncio.wait_for(self._drained.wait(), self.drain_seconds)
        except TimeoutError:
            logger.warning(
                f"statuslint: {len(self.in_flight)} answer(s) still under way after {self.drain_seconds:g}s are cut off"
            )
        finally:
            self._stop_now()

    def _stop_now(self) -> None:
        if self._shutdown is not None:
            shutdown, self._shutdown = self._shutdown, None
            shutdown()

    # Flow events -----------------------------------------------------------------------

    def admit(self, f: http.HTTPFlow) -> bool:
        """A new request: False (and the flow killed) once the proxy is stopping."""
        if self.phase == OPEN:
            self.in_flight.add(f.id)
            return True
        self.refused += 1
        if f.killable:
            f.kill()
        return False

    def deliver(self, f: http.HTTPFlow) -> bool:
        """An answer about to go to the client: False (and the flow killed, so the client
        never gets it) once the report is being written."""
        self.finished(f)
        if self.phase != CLOSED:
            return True
        self.cut_off += 1
        if f.killable:
            f.kill()
        return False

    def finished(self, f: http.HTTPFlow) -> None:
        self.in_flight.discard(f.id)
        if not self.in_flight and self._drained is not None:
            self._drained.set()

    # End -------------------------------------------------------------------------------

    def close(self) -> None:
        """From ``done`` on: nothing more is audited, so nothing more is delivered."""
        self.phase = CLOSED
        if self._task is not None and not self._task.done():
            self._task.cancel()
        # The signal handlers stay: a signal during the other addons' done() (saving
        # flows with -w) must not kill the process with the default action.

    def report(self) -> str | None:
        """One line on what the stop refused or cut off, if anything."""
        if not (self.refused or self.cut_off or self.in_flight):
            return None
        return (
            f"statuslint: stopped: {self.refused} request(s) refused while stopping; "
            f"{self.cut_off + len(self.in_flight)} answer(s) cut off (neither audited nor delivered)"
        )
