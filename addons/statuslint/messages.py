"""mitmproxy flows, requests, responses and headers built without their per-field type check.

mitmproxy's message data checks every field's type through ``typing`` in
``__post_init__`` whenever Python runs with ``__debug__`` (always, in practice), and
``Headers()`` walks its fields to check they are bytes: together more than half of what
building a flow costs, more than auditing it. Statuslint's builders (the audit's flow-file
reader, the HAR conversion, the pytest plugin) give values of the declared types already,
so the data is filled in directly, as long as the installed mitmproxy's messages hold the
fields known here (checked once, at import); otherwise through the checked constructors.

Flows and connections are copied from a template made once by their own constructor
(``template``, ``copy``), less the type checks and a system call per id (``new_id``).
"""

from __future__ import annotations

import dataclasses
import enum
import os
import time
from collections.abc import Iterator
from typing import Any

from mitmproxy import connection, http

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


# Flows and connections ---------------------------------------------------------------

Template = tuple[dict[str, Any], tuple[tuple[str, Any], ...]]


def _uuid4_strings() -> Iterator[str]:
    """``str(uuid.uuid4())`` values, from one ``os.urandom`` call per 256 of them (one
    system call per id was a tenth of a HAR entry's conversion)."""
    while True:
        digits = os.urandom(16 * 256).hex()
        for i in range(0, len(digits), 32):
            h = digits[i : i + 32]
            # Version 4 and the RFC 4122 variant, as uuid.UUID(version=4) sets them.
            yield f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


new_id = _uuid4_strings().__next__


def _immutable(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_immutable(v) for v in value)
    if dataclasses.is_dataclass(value):
        return value.__dataclass_params__.frozen  # type: ignore[union-attr]
    return value is None or isinstance(value, (bool, int, float, str, bytes, enum.Enum))


def template(made: Any, fresh: tuple[str, ...]) -> Template:
    """An object's attributes as its constructor makes them, to copy: ``fresh`` names the
    ones set per object. The rest are shared between copies, so they must be immutable
    (else the direct construction is off: TypeError)."""
    state = dict(vars(made))
    factories: list[tuple[str, Any]] = []
    if dataclasses.is_dataclass(made):
        for f in dataclasses.fields(made):
            if f.default_factory is not dataclasses.MISSING and f.name not in fresh:
                # A default made per instance (mitmproxy's ids): made anew for each copy.
                factories.append((f.name, new_id if f.name == "id" else f.default_factory))
    shared = (v for k, v in state.items() if k not in fresh and k not in dict(factories))
    if not all(_immutable(v) for v in shared):
        raise TypeError(f"{type(made).__name__} holds a mutable default")
    return state, tuple(factories)


def copy(cls: type, made: Template, **values: Any) -> Any:
    """A new ``cls`` from its template, with ``values`` (the template's fresh ones)."""
    obj = cls.__new__(cls)
    state = obj.__dict__
    state.update(made[0])
    for name, factory in made[1]:
        state[name] = factory()
    state.update(values)
    return obj


try:
    _FLOW: Template | None = template(
        http.HTTPFlow(connection.Client(peername=("", 0), sockname=("", 0)), connection.Server(address=None)),
        ("id", "client_conn", "server_conn", "timestamp_created", "metadata"),
    )
except TypeError:
    _FLOW = None

# Whether flows are copied from the template (else made by HTTPFlow()).
FLOW_DIRECT = _FLOW is not None


def flow(client_conn: connection.Client, server_conn: connection.Server) -> http.HTTPFlow:
    """``HTTPFlow(client_conn, server_conn)``."""
    if _FLOW is None:
        return http.HTTPFlow(client_conn, server_conn)
    return copy(
        http.HTTPFlow,
        _FLOW,
        id=new_id(),
        client_conn=client_conn,
        server_conn=server_conn,
        timestamp_created=time.time(),
        metadata={},
    )
