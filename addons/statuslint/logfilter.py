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


_FILTER = SafeLogFilter()


def install() -> None:
    """Put the filter on every mitmproxy log handler of the root logger (the terminal log,
    the event log of mitmproxy and mitmweb); a second call adds nothing."""
    try:
        from mitmproxy.log import MitmLogHandler
    except ImportError:  # pragma: no cover - mitmproxy is a dependency
        return
    for handler in logging.getLogger().handlers:
        if isinstance(handler, MitmLogHandler) and _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


def uninstall() -> None:
    for handler in logging.getLogger().handlers:
        handler.removeFilter(_FILTER)
