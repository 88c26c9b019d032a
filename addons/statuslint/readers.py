"""Reading recorded traffic: mitmproxy flow files and browser HAR files, streamed.

Flow files go through mitmproxy's own ``FlowReader``, or for an audit through
``flowfile``, which reads the same flows faster. Its HAR path loads the whole file
with ``json.loads``, so HAR files are walked here entry by entry instead and each entry
is converted to the flow mitmproxy's own ``request_to_flow`` makes (harflows.py builds it
faster): memory stays bounded by one entry, and one bad entry is reported by its index
instead of failing the file.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from mitmproxy import exceptions, flow

from . import flowfile
from .flowview import HAR_BODY_KEY
from .harflows import har_flow

_CHUNK = 1 << 20


class InputError(Exception):
    """A recording that cannot be read (wholly or from some point on)."""


def sniff_har(path: str | Path) -> bool:
    """Whether a recording is a HAR (JSON) file rather than a mitmproxy flow file."""
    try:
        with open(path, "rb") as fo:
            head = fo.read(64)
    except OSError:
        return False
    if head.startswith(codecs.BOM_UTF8):
        head = head[3:]
    return head.lstrip().startswith(b"{")


def read_flows(fo: IO[bytes], har: bool) -> Iterator[flow.Flow]:
    """Yield the flows of one recording in file order. Raises ``InputError`` naming the
    flow index where reading had to stop, after yielding every flow before it."""
    for _, f in read_indexed(fo, har):
        yield f


def read_indexed(fo: IO[bytes], har: bool, *, for_audit: bool = False) -> Iterator[tuple[int, flow.Flow]]:
    """``(position, flow)`` in file order: the position of the flow or HAR entry in the
    file, counting the unreadable HAR entries that are skipped, so a finding's index
    always points at the right place in the file. ``for_audit``: flows only an audit
    reads, built without their connections (see ``flowfile``)."""
    if har:
        yield from _read_har(fo, connections=not for_audit)
        return
    index = 0
    start = _tell(fo)
    fast = for_audit and start is not None and fo.seekable()
    if fast:
        flows = flowfile.stream(fo)
    else:
        # Not at the top: mitmproxy.io imports its flow filter language (pyparsing), a
        # tenth of an audit's start-up, which neither a HAR nor flowfile needs.
        from mitmproxy import io

        flows = io.FlowReader(fo).stream()
    try:
        for f in flows:
            yield index, f
            index += 1
            start = _tell(fo)
    except exceptions.FlowReadException as e:
        cut = _truncated_at(fo, start)
        if cut is not None:
            if not index:
                raise InputError(f"truncated inside flow 0: the file ends at byte {cut}") from e
            raise InputError(
                f"truncated after flow {index - 1}: the file ends at byte {cut}, inside flow {index}"
            ) from e
        where = f"flow {index}: " if index else ""
        raise InputError(f"{where}{_reason(e)}") from e


def _tell(fo: IO[bytes]) -> int | None:
    try:
        return fo.tell()
    except (OSError, ValueError):
        return None


def _truncated_at(fo: IO[bytes], start: int | None) -> int | None:
    """The file size when the flow record starting at ``start`` is cut short by the end of
    the file (its tnetstring length prefix promises more bytes than are left); else None."""
    if start is None:
        return None
    try:
        size = fo.seek(0, 2)
        fo.seek(start)
        head = fo.read(14)
    except (OSError, ValueError):
        return None
    digits, colon, _ = head.partition(b":")
    if not colon or not digits.isdigit():
        # The cut fell inside the length prefix itself.
        return size if head.isdigit() and start + len(head) == size and head else None
    end = start + len(digits) + 1 + int(digits) + 1  # prefix, ':', payload, type byte
    return size if end > size else None


def _reason(e: Exception) -> str:
    text = str(e).strip() or type(e).__name__
    if "flow format version" in text:
        return f"{text} (re-save it with the mitmproxy version that wrote it, or an older one that can still read it)"
    if text == "Invalid data format.":
        return "not a mitmproxy flow file or HAR file (invalid data format)"
    return text


class HarEntryErrors(InputError):
    """Some HAR entries could not be converted; the others were read."""

    def __init__(self, first_index: int, first_reason: str, count: int) -> None:
        more = f" ({count - 1} more unreadable entries)" if count > 1 else ""
        super().__init__(f"entry {first_index}: {first_reason}{more}")


def _read_har(fo: IO[bytes], connections: bool) -> Iterator[tuple[int, flow.Flow]]:
    entries = _JsonStream(fo).har_entries()
    bad: list[tuple[int, str]] = []
    try:
        for index, entry in enumerate(entries):
            try:
                f = har_flow(entry, connections=connections)
                f.metadata[HAR_BODY_KEY] = declared_body(entry)
            except Exception as e:
                bad.append((index, _entry_reason(entry, e)))
                continue
            yield index, f
    except InputError as e:
        if not bad:
            raise
        first = f"entry {bad[0][0]}: {bad[0][1]}"
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise InputError(f"{e} (also unreadable: {first}{more})") from None
    if bad:
        raise HarEntryErrors(bad[0][0], bad[0][1], len(bad))


def declared_body(entry: dict[str, Any]) -> dict[str, Any]:
    """What a HAR entry declares about its response body, which mitmproxy's import drops
    or rewrites: whether a text member is there, content.size and bodySize (None where
    absent or -1), and its own Content-Length and Content-Encoding."""
    response = entry.get("response") or {}
    content = response.get("content") or {}
    content_length: str | None = None
    encoded = False
    for h in response.get("headers") or ():
        if isinstance(h, dict):
            name = str(h.get("name", "")).lower()
            if name == "content-length":
                content_length = str(h.get("value", ""))  # the last one, as a dict of them would keep
            elif name == "content-encoding":
                encoded = True
    return {
        "text": isinstance(content.get("text"), str),
        "size": _size(content.get("size")),
        "body_size": _size(response.get("bodySize")),
        "content_length": content_length,
        "encoded": encoded,
    }


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _entry_reason(entry: Any, e: Exception) -> str:
    if not isinstance(entry, dict):
        return "not a JSON object"
    if isinstance(e, KeyError):
        return f"missing field '{e.args[0] if e.args else '?'}'"
    return f"{type(e).__name__}: {e}"


class _JsonStream:
    """Just enough incremental JSON walking to stream ``log.entries`` of a HAR: structural
    tokens are consumed by hand, and each value is parsed whole by ``raw_decode``."""

    def __init__(self, fo: IO[bytes]) -> None:
        self.fo = fo
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.json = json.JSONDecoder()
        self.buf = ""
        self.pos = 0
        self.eof = False
        # Byte offsets for error messages: bytes read, and bytes of text already dropped
        # from the buffer (a BOM counts: the decoder swallows it).
        self.bytes_read = 0
        self.bytes_dropped = 0
        # Within log.entries: the index of the entry being read next.
        self.entry: int | None = None

    def _fill(self, at_least: int = _CHUNK) -> bool:
        if self.eof:
            return False
        if self.pos > _CHUNK:
            self.bytes_dropped += len(self.buf[: self.pos].encode("utf-8", "surrogatepass"))
            self.buf = self.buf[self.pos :]
            self.pos = 0
        data = self.fo.read(max(at_least, _CHUNK))
        if not self.bytes_read and data.startswith(codecs.BOM_UTF8):
            self.bytes_dropped += len(codecs.BOM_UTF8)
        self.bytes_read += len(data)
        try:
            if not data:
                self.eof = True
                self.buf += self.decoder.decode(b"", final=True)
                return False
            self.buf += self.decoder.decode(data)
        except UnicodeDecodeError as e:
            raise InputError(f"not UTF-8 text: {e.reason}") from None
        return True

    def _byte_offset(self, pos: int) -> int:
        return self.bytes_dropped + len(self.buf[:pos].encode("utf-8", "surrogatepass"))

    def _truncated(self) -> InputError:
        end = f"the file ends at byte {self.bytes_read}"
        if self.entry is None:
            return InputError(f"truncated: {end}")
        inside = bool(self.buf[self.pos :].strip())
        if self.entry == 0:
            return InputError(f"truncated {'inside' if inside else 'before'} entry 0: {end}")
        return InputError(
            f"truncated after entry {self.entry - 1}: {end}" + (f", inside entry {self.entry}" if inside else "")
        )

    def _peek(self) -> str:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def _expect(self, chars: str, what: str) -> str:
        c = self._peek()
        if not c and self.entry is not None:
            raise self._truncated()
        if not c or c not in chars:
            raise InputError(f"not a HAR file: expected {what} at character {self._offset()}")
        self.pos += 1
        return c

    def _offset(self) -> str:
        return "end of file" if self.eof and self.pos >= len(self.buf) else f"'{self.buf[self.pos]}'"

    def _value(self) -> Any:
        self._peek()
        while True:
            try:
                value, end = self.json.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                if self._fill(len(self.buf)):
                    continue
                # The whole rest of the file was in the buffer: an error at its end, or an
                # unterminated string, is a cut-off file, not bad JSON.
                if e.pos >= len(self.buf.rstrip()) or e.msg.startswith("Unterminated string"):
                    raise self._truncated() from None
                where = f"entry {self.entry}: " if self.entry is not None else ""
                raise InputError(f"{where}invalid JSON at byte {self._byte_offset(e.pos)}: {e.msg}") from None
            # A number cut by the buffer end would parse short: read on before trusting it.
            if end == len(self.buf) and self._fill():
                continue
            self.pos = end
            return value

    def _members(self) -> Iterator[str]:
        """Keys of the object whose '{' is next; the caller consumes each value."""
        self._expect("{", "'{'")
        if self._peek() == "}":
            self.pos += 1
            return
        while True:
            key = self._value()
            if not isinstance(key, str):
                raise InputError("not a HAR file: object key is not a string")
            self._expect(":", "':'")
            yield key
            if self._expect(",}", "',' or '}'") == "}":
                return

    def har_entries(self) -> Iterator[Any]:
        for key in self._members():
            if key != "log" or self._peek() != "{":
                self._value()
                continue
            for log_key in self._members():
                if log_key != "entries":
                    self._value()
                    continue
                self._expect("[", "'[' after \"entries\"")
                self.entry = 0
                if self._peek() == "]":
                    self.pos += 1
                    return
                while True:
                    yield self._value()
                    self.entry += 1
                    if self._expect(",]", "',' or ']' between entries") == "]":
                        return
        raise InputError("not a HAR file: no log.entries")
