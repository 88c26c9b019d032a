"""A bounded, redacted snapshot of one request/response pair, kept with its findings.

The auditor keeps no flows. When a flow has findings, the report (the HTML view in
particular) should still show what was exchanged: the request line and headers, the
status line and headers, and the start of each body. The snapshot is taken only for
flows with findings, never on the clean path, and every part of it is capped, so the
findings list (itself capped by ``max_findings``) stays bounded in memory.

Findings hold their snapshot packed (``Packed``): as dicts, lists and strings an exchange
takes several times the bytes it says, and a long audit holds thousands of them. A report
expands them when it is written.
"""

from __future__ import annotations

import marshal
import zlib
from dataclasses import dataclass, field
from sys import getsizeof
from typing import Any

from mitmproxy import http

from .flowview import FlowView, Undecidable
from .redact import Redactor, redact_json_text
from .urls import clip, printable

RESPONSE_BODY_LIMIT = 4096  # characters of the response body kept
REQUEST_BODY_LIMIT = 2048
HEADER_LIMIT = 64  # headers kept per message
HEADER_VALUE_LIMIT = 512
HEADER_BYTES_LIMIT = 8192  # characters of names and values kept per message
# Bytes the exchanges of one audit may take in all, counted as a report expands them (their
# strings as Python stores them, plus the lists and dicts around them); beyond it, findings
# are kept without one. 10,000 findings (the default --max-findings) of ordinary traffic
# take about 60 MB expanded, several times less packed; traffic of huge or countless
# headers and bodies cannot push memory past the budget, during the audit or while a
# report is written.
BUDGET = 96 << 20
_HEADER_COST = getsizeof(["", ""])
_EXCHANGE_COST = 2000  # the dicts, numbers and short strings of an exchange
URL_LIMIT = 2048
# Bodies above this are not parsed as JSON to redact them: their start is redacted as text.
_PARSE_LIMIT = 1 << 20
# What most exchanges start alike with, preset as zlib's dictionary so that even a short
# exchange compresses (to about 40% of its marshalled bytes). Version 2 writes no
# back-references, so these bytes depend on nothing but the values: a --jobs worker and the
# process that merges its findings have the same ones.
_PRESET = marshal.dumps(
    {
        "request": {
            "method": "GET",
            "url": "https://",
            "target": "/",
            "http_version": "HTTP/1.1",
            "headers": [
                ["Host", ""],
                ["User-Agent", ""],
                ["Accept", "application/json"],
                ["Content-Type", "application/json; charset=utf-8"],
                ["Content-Length", "0"],
                ["Authorization", "Bearer [redacted]"],
            ],
            "body": {"size": 0, "text": "", "truncated": False, "note": None},
        },
        "response": {
            "status": 200,
            "reason": "OK",
            "http_version": "HTTP/1.1",
            "headers": [
                ["Content-Type", "application/json"],
                ["Content-Length", "0"],
                ["Date", ""],
                ["Server", ""],
                ["Cache-Control", "no-cache"],
                ["Vary", "Accept-Encoding"],
            ],
            "body": {"size": 0, "text": "", "truncated": False, "note": None},
        },
    },
    2,
)
_TEXT_TYPES = ("json", "xml", "javascript", "ecmascript", "x-www-form-urlencoded", "graphql", "yaml", "csv")

Exchange = dict[str, Any]


def capture(view: FlowView, redactor: Redactor) -> Exchange:
    """The exchange of one flow as the JSON report holds it (see the module docstring)."""
    req, resp = view.request, view.response
    return {
        "request": {
            "method": printable(view.method),
            "url": clip(printable(redactor.url(view.url)), URL_LIMIT),
            "target": clip(printable(redactor.url(req.path)), URL_LIMIT),
            "http_version": req.http_version,
            "headers": _headers(req.headers, redactor),
            "body": _body(req, lambda: view.request_content, redactor, REQUEST_BODY_LIMIT),
        },
        "response": {
            "status": resp.status_code,
            "reason": printable(resp.reason or ""),
            "http_version": resp.http_version,
            "headers": _headers(resp.headers, redactor),
            "body": _body(resp, lambda: view.response_content, redactor, RESPONSE_BODY_LIMIT),
        },
    }


@dataclass(frozen=True, slots=True)
class Packed:
    """An exchange as a finding holds it until a report shows it: marshalled (the dict
    comes back exactly: key order, strings, numbers, lists) and compressed. ``size`` is
    what the budget counts: the exchange's size expanded."""

    data: bytes = field(repr=False)
    size: int

    def __reduce__(self) -> tuple[type[Packed], tuple[bytes, int]]:
        # Frozen slotted dataclasses unpickle through a generic __setstate__ that looks up
        # their fields each time: by their constructor, a finding crosses a pipe (audit
        # worker, --jobs, the pytest plugin) in a third of the time.
        return (Packed, (self.data, self.size))

    def unpack(self) -> Exchange:
        inflate = zlib.decompressobj(-zlib.MAX_WBITS, _PRESET)
        return marshal.loads(inflate.decompress(self.data) + inflate.flush())


def pack(exchange: Exchange) -> Packed:
    # Level 1: higher levels take longer for a few bytes less on text this short.
    deflate = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS, zdict=_PRESET)
    return Packed(deflate.compress(marshal.dumps(exchange)) + deflate.flush(), size(exchange))


def _headers(headers: http.Headers, redactor: Redactor) -> list[list[str]]:
    out: list[list[str]] = []
    kept = 0
    # The raw fields, decoded as mitmproxy decodes them: cheaper than Headers.items().
    for raw_name, raw_value in headers.fields:
        if len(out) == HEADER_LIMIT or kept >= HEADER_BYTES_LIMIT:
            out.append(["…", f"{len(headers.fields) - len(out)} more headers not kept"])
            break
        name = clip(printable(raw_name.decode("utf-8", "surrogateescape")), 128)
        value = raw_value.decode("utf-8", "surrogateescape")
        value = clip(printable(redactor.header(name, value)), HEADER_VALUE_LIMIT)
        kept += len(name) + len(value)
        out.append([name, value])
    return out


def size(exchange: Exchange) -> int:
    """The memory an exchange holds, near enough: what the budget counts."""
    total = _EXCHANGE_COST
    for part in (exchange["request"], exchange["response"]):
        total += sum(getsizeof(n) + getsizeof(v) + _HEADER_COST for n, v in part["headers"])
        total += (
            getsizeof(part["body"]["text"] or "") + getsizeof(part.get("url", "")) + getsizeof(part.get("target", ""))
        )
    return total


def _body(message: http.Message, content, redactor: Redactor, limit: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """``size`` in bytes after decoding (None if unknown); ``text`` the redacted start of a
    text body (None for binary or missing bodies, with ``note`` saying why)."""
    if message.raw_content is None:
        return {"size": None, "text": None, "truncated": False, "note": "streamed: the body was not kept"}
    try:
        data: bytes = content()
    except Undecidable:
        data = message.raw_content
    size = len(data)
    ctype = message.headers.get("content-type", "")
    if not size:
        return {"size": 0, "text": "", "truncated": False, "note": None}
    if not _is_text(ctype, data[:limit]):
        what = ctype.split(";", 1)[0].strip() or "binary"
        return {"size": size, "text": None, "truncated": False, "note": f"{what} body, {size:,} bytes (not shown)"}
    # A whole JSON document is parsed to redact it; of anything else only the start is read.
    cut = size if _is_json(ctype) and size <= _PARSE_LIMIT else limit * 4
    redacted, cut_short = _redact(data[:cut].decode(_charset(ctype), errors="replace"), ctype, size, redactor, limit)
    text = printable(redacted)
    truncated = cut_short or len(text) > limit or size > cut
    return {"size": size, "text": text[:limit], "truncated": truncated, "note": None}


def _redact(text: str, ctype: str, size: int, redactor: Redactor, limit: int) -> tuple[str, bool]:
    """The redacted text, and whether it was cut short (then it is longer than ``limit``
    characters even after ``printable``, which turns up to four escaped bytes into one)."""
    if _is_json(ctype) and size <= _PARSE_LIMIT:
        pretty = redact_json_text(text, redactor, stop_after=4 * limit + 16)
        if pretty is not None:
            return pretty
    if ctype.split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded":
        return redactor.form(text), False
    return redactor.text(text), False


def _is_json(ctype: str) -> bool:
    mime = ctype.split(";", 1)[0].strip().lower()
    return mime.endswith(("/json", "+json"))


def _is_text(ctype: str, sample: bytes) -> bool:
    mime = ctype.split(";", 1)[0].strip().lower()
    if mime.startswith("text/") or any(t in mime for t in _TEXT_TYPES):
        return True
    if mime:
        return False
    # No type given: text if it looks like text.
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(sample) - 3  # a character cut at the end of the sample
    return True


def _charset(ctype: str) -> str:
    for part in ctype.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            name = value.strip().strip('"').lower()
            try:
                "".encode(name)
            except LookupError:
                break
            return name
    return "utf-8"
