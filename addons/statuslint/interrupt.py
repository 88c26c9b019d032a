"""Ctrl-C during an offline audit: stop reading, keep what was read.

The first SIGINT only asks the reading loop to stop after the flow it is auditing, so the
auditor's state stays whole and the partial report is consistent; a second one aborts at
once, as Ctrl-C normally does.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a Ctrl-C


class StopOnInterrupt:
    def __init__(self) -> None:
        self.requested = False
        self._previous: signal.Handlers | object | None = None
        self._installed = False

    def __enter__(self) -> StopOnInterrupt:
        # Signal handlers can only be set from the main thread (tests may run elsewhere).
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]
            self._installed = False
