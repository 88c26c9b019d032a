"""The JSONL findings log (``statuslint_log``, ``statuslint proxy --log``), written in batches.

Written and flushed line by line, the log cost the live proxy one ``write()`` system call
per finding on its event loop, before the answer went to the client. Lines are gathered
instead and written with one call: at the latest ``FLUSH_SECONDS`` after the first of
them, as soon as ``FLUSH_LINES`` wait, and at once when the proxy stops (``done``, which
SIGTERM, SIGINT and SIGHUP reach after the drain; see stopping.py).

What a killed proxy can lose is bounded: killed outright (SIGKILL, a crash, the machine
going down) it loses at most the findings of its last ``FLUSH_SECONDS``; stopped by a
signal it loses none. Without a running event loop (in-process use, tests) each line is
written and flushed at once, as before.
"""

from __future__ import annotations

import asyncio
import logging
from typing import IO

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 0.1
FLUSH_LINES = 256


class FindingsLog:
    def __init__(self, path: str) -> None:
        self.path = path
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives until close()
        self._pending: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._failed = False

    def write(self, line: str) -> None:
        """One line (with its newline), on disk within ``FLUSH_SECONDS``."""
        self._pending.append(line)
        if len(self._pending) >= FLUSH_LINES:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()  # nothing would run a timer
                return
            self._timer = loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        lines, self._pending = self._pending, []
        try:
            self._file.write("".join(lines))
            self._file.flush()
        except OSError as e:
            # A full disk must not break the proxy; said once, the findings are still
            # logged on the terminal and in the report.
            if not self._failed:
                self._failed = True
                logger.warning(f"statuslint: cannot write to the findings log {self.path}: {e.strerror or e}")

    def close(self) -> None:
        self.flush()
        self._file.close()
