"""Keeping the live terminal about findings: mitmproxy logs every client and server
connect and disconnect at info level, which buries the findings ``statuslint proxy`` and
``statuslint replay`` are run for. ``--verbose`` keeps them."""

from __future__ import annotations

import logging
import re

_CHATTER = re.compile(r"^(?:\[replay\] )?(?:client|server) (?:connect|disconnect)\b")
# Where mitmproxy logs those lines (the proxy core, and client replay's own handler).
_LOGGERS = ("mitmproxy.proxy.server", "mitmproxy.addons.clientplayback")


class ConnectionChatter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or not _CHATTER.match(record.getMessage())


def hide_connection_chatter() -> None:
    chatter = ConnectionChatter()
    for name in _LOGGERS:
        logging.getLogger(name).addFilter(chatter)
