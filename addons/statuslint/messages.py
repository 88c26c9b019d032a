"""mitmproxy requests, responses and headers built without their per-field type check.

mitmproxy's message data checks every field's type through ``typing`` in
``__post_init__`` whenever Python runs with ``__debug__`` (always, in practice), and
``Headers()`` walks its fields to check they are bytes: together more than half of what
building a flow costs, more than auditing it. Statuslint's builders (the audit's flow-file
reader, the HAR conversion, the pytest plugin) give values of the declared types already,
so the data is filled in directly, as long as the installed mitmproxy's messages hold the
fields known here (checked once, at import); otherwise through the checked constructors.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mitmproxy import http

_KNOWN_FIELDS = {
    http.RequestData: frozenset(
        {
            "host",
            "port",
            "method",
            "scheme",
            "authority",
            "path",
            "http_version",
            "headers",
            "content",
            "trailers",
            "timestamp_start",
            "timestamp_end",
        }
    ),
    http.ResponseData: frozenset(
        {"http_version", "status_code", "reason", "headers", "content", "trailers", "timestamp_start", "timestamp_end"}
    ),
}

# Whether messages and headers hold exactly what is filled in here.
DIRECT = all(frozenset(f.name for f in dataclasses.fields(cls)) == known for cls, known in _KNOWN_FIELDS.items()) and (
    vars(http.Headers()) == {"fields": ()}
)


def headers(fields: tuple[tuple[bytes, bytes], ...]) -> http.Headers:
    """``Headers(fields)`` for fields that are all bytes already."""
    if not DIRECT:
        return http.Headers(fields)
    made = http.Headers.__new__(http.Headers)
    made.fields = fields
    return made


def request(**values: Any) -> http.Request:
    """``Request(**values)`` for values of RequestData's declared types."""
    return _message(http.Request, http.RequestData, values)


def response(**values: Any) -> http.Response:
    """``Response(**values)`` for values of ResponseData's declared types."""
    return _message(http.Response, http.ResponseData, values)


def _message(cls: Any, data_cls: Any, values: dict[str, Any]) -> Any:
    if not DIRECT:
        return cls(**values)
    data = data_cls.__new__(data_cls)
    data.__dict__.update(values)
    message = cls.__new__(cls)
    message.data = data
    return message
