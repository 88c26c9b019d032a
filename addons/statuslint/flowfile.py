"""Reading mitmproxy flow files for an audit, at a fraction of ``FlowReader``'s cost.

mitmproxy's reader parses every tnetstring element through two Python calls and builds
each flow's client and server connections through type-checked setters: together they
cost more than the whole audit of the flow. An audit reads neither connection (the rules
look at the request, the response and what the flow records of them), so here the
records are parsed by one tight function, the connection records are stepped over by
their length prefixes, and the flow is built from the rest as mitmproxy's own
``from_state`` builds it, with the same type checks done directly. Every flow shares one placeholder client and server:
flows read here are for auditing, not for replaying or re-saving.

Anything this reader does not handle itself (an older flow format version, which
mitmproxy migrates; a record it cannot parse) goes to mitmproxy's ``FlowReader`` from
that record on, so what is read and every error message are mitmproxy's.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterator
from typing import IO, Any, TypeVar

from mitmproxy import connection, flow, http, version

from . import messages

M = TypeVar("M", http.Request, http.Response)

# Connection records an audit never reads.
_SKIPPED = frozenset({"client_conn", "server_conn"})
# A length prefix longer than this is not one mitmproxy would have written.
_PREFIX_MAX = 12


class _Unhandled(Exception):
    """A record this reader leaves to mitmproxy's."""


def _value(data: bytes, i: int, end: int) -> tuple[Any, int]:
    """The tnetstring at ``data[i:]`` (ending before ``end``) and where the next begins,
    parsed as mitmproxy's ``tnetstring`` parses it."""
    colon = data.find(b":", i, min(end, i + _PREFIX_MAX))
    if colon < 0:
        raise _Unhandled
    n = int(data[i:colon])
    start = colon + 1
    stop = start + n
    if n < 0 or stop >= end:
        raise _Unhandled
    tag = data[stop]
    if tag == 0x2C:  # ","
        return data[start:stop], stop + 1
    if tag == 0x3B:  # ";"
        return data[start:stop].decode("utf8"), stop + 1
    if tag == 0x7D:  # "}"
        d: dict[Any, Any] = {}
        j = start
        while j < stop:
            key, j = _value(data, j, stop)
            d[key], j = _value(data, j, stop)
        return d, stop + 1
    if tag == 0x5D:  # "]"
        items = []
        j = start
        while j < stop:
            item, j = _value(data, j, stop)
            items.append(item)
        return items, stop + 1
    if tag == 0x23:  # "#"
        return int(data[start:stop]), stop + 1
    if tag == 0x5E:  # "^"
        return float(data[start:stop]), stop + 1
    if tag == 0x21 and data[start:stop] in (b"true", b"false"):  # "!"
        return data[start:stop] == b"true", stop + 1
    if tag == 0x7E and n == 0:  # "~"
        return None, stop + 1
    raise _Unhandled


def _skip(data: bytes, i: int, end: int) -> int:
    """Where the tnetstring at ``data[i:]`` ends, without parsing it."""
    colon = data.find(b":", i, min(end, i + _PREFIX_MAX))
    if colon < 0:
        raise _Unhandled
    n = int(data[i:colon])
    stop = colon + 1 + n
    if n < 0 or stop >= end:
        raise _Unhandled
    return stop + 1


def _flow_state(record: bytes) -> dict[str, Any]:
    """A flow record's state without its connections (a current-format HTTP flow), else
    ``_Unhandled``."""
    colon = record.find(b":", 0, _PREFIX_MAX)
    stop = len(record) - 1
    if colon < 0 or record[stop] != 0x7D:
        raise _Unhandled
    state: dict[str, Any] = {}
    j = colon + 1
    while j < stop:
        key, j = _value(record, j, stop)
        if key in _SKIPPED:
            j = _skip(record, j, stop)
            continue
        state[key], j = _value(record, j, stop)
    if state.get("version") != version.FLOW_FORMAT_VERSION or state.get("type") != "http":
        raise _Unhandled
    return state


class _Placeholders:
    client = connection.Client(peername=("", 0), sockname=("", 0))
    server = connection.Server(address=None)


# Per message field: (the types its state may have, whether None is one, whether it is
# headers), from mitmproxy's own dataclasses, so what is accepted is what their
# type check accepts.
_Spec = dict[str, tuple[tuple[type, ...], bool, bool]]


def _spec(data_cls: type) -> _Spec:
    spec: _Spec = {}
    hints = typing.get_type_hints(data_cls)  # annotations may be strings
    for field in dataclasses.fields(data_cls):
        args = typing.get_args(hints[field.name]) or (hints[field.name],)
        types = tuple(t for t in args if t is not type(None))
        if float in types:
            types += (int,)  # mitmproxy's check takes an int for a float
        is_headers = http.Headers in types
        spec[field.name] = ((list, tuple) if is_headers else types, type(None) in args, is_headers)
    return spec


_REQUEST = _spec(http.RequestData)
_RESPONSE = _spec(http.ResponseData)


def _message(build: Callable[..., M], spec: _Spec, state: Any) -> M:
    """What ``from_state(state)`` makes of a state the message's type check accepts,
    without running that check field by field through ``typing`` (it costs more than the
    whole audit of a flow; see ``messages``); anything else is ``_Unhandled``."""
    if not isinstance(state, dict) or state.keys() != spec.keys():
        raise _Unhandled
    values = {}
    for name, (types, nullable, is_headers) in spec.items():
        value = state[name]
        if value is None:
            if not nullable:
                raise _Unhandled
        elif not isinstance(value, types):
            raise _Unhandled
        elif is_headers:
            value = http.Headers.from_state(value)
        values[name] = value
    return build(**values)


def _http_flow(state: dict[str, Any]) -> http.HTTPFlow:
    """The flow as ``HTTPFlow.set_state`` would make it, connections aside."""
    f = http.HTTPFlow(_Placeholders.client, _Placeholders.server)
    f.request = _message(messages.request, _REQUEST, state["request"])
    response = state["response"]
    f.response = _message(messages.response, _RESPONSE, response) if response else None
    websocket = state["websocket"]
    f.websocket = http.WebSocketData.from_state(websocket) if websocket else None
    f.id = state["id"]
    error = state["error"]
    f.error = flow.Error.from_state(error) if error else None
    f.intercepted = state["intercepted"]
    f.is_replay = state["is_replay"]
    f.marked = state["marked"]
    f.metadata = state["metadata"]
    f.comment = state["comment"]
    f.timestamp_created = state["timestamp_created"]
    f._backup = state.get("backup")
    return f


def _record(fo: IO[bytes]) -> bytes | None:
    """The next whole record (prefix, payload and type tag), None at the end of the file."""
    head = fo.read(1)
    if not head:
        return None
    while not head.endswith(b":"):
        c = fo.read(1)
        if not c or len(head) > _PREFIX_MAX:
            raise _Unhandled
        head += c
    n = int(head[:-1])
    if n < 0:
        raise _Unhandled
    body = fo.read(n + 1)
    if len(body) != n + 1:
        raise _Unhandled
    return head + body


def stream(fo: IO[bytes]) -> Iterator[flow.Flow]:
    """The flows of a seekable flow file, as mitmproxy's ``FlowReader(fo).stream()``
    yields them (connections aside), raising what it raises."""
    while True:
        start = fo.tell()
        try:
            record = _record(fo)
            if record is None:
                return
            f = _http_flow(_flow_state(record))
        except (_Unhandled, ValueError, KeyError, TypeError, IndexError):
            # mitmproxy's reader takes over from this record: an older format it
            # migrates, or the error it reports. Imported only then: mitmproxy.io
            # imports its flow filter language (pyparsing), a tenth of an audit's start-up.
            from mitmproxy import io

            fo.seek(start)
            yield from io.FlowReader(fo).stream()
            return
        yield f
