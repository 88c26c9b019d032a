"""What the proxy prints goes through statuslint first.

``statuslint proxy`` (and ``mitmdump -s addons/audit.py``) print mitmproxy's own log lines
too, and those quote traffic: "Bad HTTP request line: b'GET http://user:pw@...?api_key=...'"
A filter on mitmproxy's log handlers masks every secret in each line (``redact_text``)
and escapes control characters (``escape``), whoever logged it, before it is printed.
"""

from __future__ import annotations

import logging

from .escape import escape_lines
from .redact import redact_text


class SafeLogFilter(logging.Filter):
    """Rewrites a record's message, traceback included, with secrets masked and control
    characters escaped (newlines of the message itself stay). Never drops a record."""

    _DONE = "_statuslint_safe"

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, self._DONE, False):
            return True  # one record meets the filter once per handler
        try:
            message = record.getMessage()
            if record.exc_info:
                # Formatters print the traceback from exc_info: fold it into the message
                # so that it is cleaned too (an exception's text may quote the traffic).
                message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
                record.exc_info = None
                record.exc_text = None
            record.msg = escape_lines(redact_text(message))
            record.args = None
        except Exception:  # a broken record is logging's to report, not ours
            return True
        setattr(record, self._DONE, True)
        return True


# Set on the record of each finding line (``extra={FINDING: True}``).
FINDING = "statuslint_finding"


class NoFindingsToAddLog(logging.Filter):
    """mitmproxy hands every log record on to the deprecated ``add_log`` event as well
    (``LegacyLogEvents``): a write to the loop's self-pipe and a walk over every addon,
    per record. Nothing in mitmproxy listens to that event any more (it warns addons
    that do), and a finding line costs it as much as the rest of its logging: statuslint's
    finding lines are kept from it. They still reach the terminal and the event log of
    mitmproxy and mitmweb (other handlers), the --log file and the report."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, FINDING, False)


_FILTER = SafeLogFilter()
_NO_ADD_LOG = NoFindingsToAddLog()


def install() -> None:
    """Put the filter on every mitmproxy log handler of the root logger (the terminal log,
    the event log of mitmproxy and mitmweb), and keep finding lines from the add_log
    event; a second call adds nothing."""
    try:
        from mitmproxy import log
    except ImportError:  # pragma: no cover - mitmproxy is a dependency
        return
    # None in a mitmproxy that no longer has the deprecated event.
    legacy = getattr(log, "LegacyLogEvents", None)
    for handler in logging.getLogger().handlers:
        if legacy is not None and isinstance(handler, legacy) and _NO_ADD_LOG not in handler.filters:
            handler.filters.insert(0, _NO_ADD_LOG)  # first: a dropped record costs nothing more
        if isinstance(handler, log.MitmLogHandler) and _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


def uninstall() -> None:
    for handler in logging.getLogger().handlers:
        handler.removeFilter(_FILTER)
        handler.removeFilter(_NO_ADD_LOG)
