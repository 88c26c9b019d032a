"""Grammars and detectors the condition language names: header-value syntax (RFC 9110
ABNF), authentication challenges, bounded JSON validity and stack-trace detection.

Each function looks at one value and answers a plain bool (or None where it cannot
tell). Every regex here is linear-time on any input: no nested or adjacent overlapping
quantifiers, and bodies are looked at only up to a cap.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any

# --- Header grammars (RFC 9110 §5.6, §8.8.3, §10.2, §14.4) ------------------------------

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_TOKEN_RE = re.compile(_TOKEN)
# entity-tag = [ W/ ] DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text
_ENTITY_TAG_RE = re.compile(r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"')
# URI-reference (RFC 3986): only these characters, and '%' only before two hex digits.
_URI_CHARS_RE = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_BAD_PCT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIME = r"\d\d:\d\d:\d\d"
# HTTP-date: IMF-fixdate, or the obsolete RFC 850 and asctime forms recipients must accept.
_HTTP_DATE_RE = re.compile(
    rf"{_DAY}, \d\d {_MONTH} \d{{4}} {_TIME} GMT"
    rf"|(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \d\d-{_MONTH}-\d\d {_TIME} GMT"
    rf"|{_DAY} {_MONTH} [ \d]\d {_TIME} \d{{4}}"
)
_CONTENT_RANGE_RE = re.compile(rf"({_TOKEN}) (?:(\d{{1,19}})-(\d{{1,19}})/(\d{{1,19}}|\*)|\*/(\d{{1,19}}))")


def entity_tag(value: str) -> bool:
    """An ETag value: one entity-tag, strong or weak, quotes balanced."""
    return _ENTITY_TAG_RE.fullmatch(value.strip(" \t")) is not None


def uri_reference(value: str) -> bool:
    """A Location value: a URI reference (RFC 3986): no spaces, controls or raw non-ASCII,
    percent-escapes complete, one fragment at most, and a scheme before any first colon."""
    value = value.strip(" \t")
    if not value or _URI_CHARS_RE.fullmatch(value) is None or _BAD_PCT_RE.search(value):
        return False
    before_fragment, _, fragment = value.partition("#")
    if "#" in fragment:
        return False
    head = re.split(r"[/?#]", before_fragment, maxsplit=1)[0]
    if ":" in head:
        # "a:b/c" is an absolute URI; a relative path's first segment cannot hold a colon.
        return _SCHEME_RE.fullmatch(head.split(":", 1)[0]) is not None
    return ("[" not in before_fragment and "]" not in before_fragment) or before_fragment.startswith("//")


def http_date(value: str) -> bool:
    return _HTTP_DATE_RE.fullmatch(value.strip(" \t")) is not None


def retry_after(value: str) -> bool:
    """Retry-After = HTTP-date / delay-seconds."""
    value = value.strip(" \t")
    return (value.isascii() and value.isdigit()) or http_date(value)


def content_range(value: str) -> bool:
    """Content-Range = range-unit SP ( first-last/complete / first-last/* / */complete ),
    with first <= last < complete (§14.4 calls anything else invalid)."""
    parsed = parse_content_range(value)
    return parsed is not None


def parse_content_range(value: str) -> tuple[str, int | None, int | None, int | None] | None:
    """(unit, first, last, complete) of a valid Content-Range, None for an invalid one.
    first/last are None for an unsatisfied range (``*/complete``), complete for ``/*``."""
    m = _CONTENT_RANGE_RE.fullmatch(value.strip(" \t"))
    if m is None:
        return None
    unit = m[1].lower()
    if m[5] is not None:
        return unit, None, None, int(m[5])
    first, last = int(m[2]), int(m[3])
    complete = None if m[4] == "*" else int(m[4])
    if last < first or (complete is not None and complete <= last):
        return None
    return unit, first, last, complete


def method_list(value: str) -> bool:
    """Allow = #method: tokens separated by commas (empty elements tolerated, §5.6.1)."""
    return all(not part.strip(" \t") or _TOKEN_RE.fullmatch(part.strip(" \t")) for part in value.split(","))


GRAMMARS: dict[str, Callable[[str], bool]] = {
    "entity-tag": entity_tag,
    "uri-reference": uri_reference,
    "retry-after": retry_after,
    "http-date": http_date,
    "content-range": content_range,
    "method-list": method_list,
    "token": lambda v: _TOKEN_RE.fullmatch(v.strip(" \t")) is not None,
}


# --- Authentication challenges (RFC 9110 §11.6.1, RFC 6750 §3) --------------------------

_WS = " \t"


def challenges(value: str) -> list[tuple[str, dict[str, str]]]:
    """The challenges of one WWW-Authenticate value: (scheme lower-cased, params with
    lower-cased names). A comma separates both challenges and their parameters, so an
    item is a parameter when ``=`` follows its token, otherwise a new scheme. A scan,
    not a regex: one pass over the value."""
    out: list[tuple[str, dict[str, str]]] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in _WS + ",":
            i += 1
        start = i
        while i < n and value[i] not in _WS + ',="':
            i += 1
        token = value[start:i]
        j = i
        while j < n and value[j] in _WS:
            j += 1
        if token and j < n and value[j] == "=" and out:
            # auth-param (or the '=' padding of a token68, which has no param to record)
            j += 1
            while j < n and value[j] in _WS:
                j += 1
            if j < n and value[j] == '"':
                j += 1
                chars = []
                while j < n and value[j] != '"':
                    if value[j] == "\\" and j + 1 < n:
                        j += 1
                    chars.append(value[j])
                    j += 1
                param = "".join(chars)
                j += 1
            else:
                start_v = j
                while j < n and value[j] not in _WS + ",":
                    j += 1
                param = value[start_v:j]
            out[-1][1].setdefault(token.lower(), param)
            i = j
            continue
        if token:
            out.append((token.lower(), {}))
            # A token68 right after the scheme: skip it (and its '=' padding).
            k = j
            while k < n and value[k] not in _WS + ',="':
                k += 1
            m = k
            while m < n and value[m] == "=":
                m += 1
            if k > j and (m >= n or value[m] in _WS + ","):
                i = m
                continue
            i = j
        else:
            i += 1
    return out


def has_challenge(values: list[str], scheme: str, param: str | None, expected: str | None) -> bool:
    """Whether a challenge of ``scheme`` is among the header values (with ``param``, equal
    to ``expected`` when given)."""
    scheme, param = scheme.lower(), param.lower() if param else None
    for value in values:
        for s, params in challenges(value):
            if s != scheme:
                continue
            if param is None:
                return True
            if param in params and (expected is None or params[param] == expected):
                return True
    return False


# --- Bodies ---------------------------------------------------------------------------

# Bodies larger than this are not parsed as JSON (the predicate is then undecidable).
JSON_CAP = 1 << 20
# Stack traces are looked for in the first STACK_SCAN_CAP bytes (error pages put them first).
STACK_SCAN_CAP = 256 * 1024


_DECODER = json.JSONDecoder()
_JSON_OPENERS = (b"{", b"[")
_JSON_WHITESPACE = " \t\n\r"  # what json's decoder skips around a text


def json_loads(content: bytes) -> Any:
    """``json.loads(content)``, without its detours where the body is plainly UTF-8: a
    text opening with ``{`` or ``[`` and no NUL after it (what ``json.detect_encoding``
    reads as UTF-8) is decoded and scanned at once. json.loads spends a third of its
    time on a typical API body in Python around the C scanner: sniffing the encoding and
    two whitespace regexes. Same value; ValueError where json.loads raises one."""
    if content.startswith(_JSON_OPENERS) and content[1:2] != b"\0":
        text = content.decode("utf-8", "surrogatepass")
        value, end = _DECODER.raw_decode(text)
        if end != len(text) and text[end:].lstrip(_JSON_WHITESPACE):
            raise json.JSONDecodeError("Extra data", text, end)
        return value
    return json.loads(content)


def json_valid(content: bytes) -> bool | None:
    """Whether the content is one JSON text (UTF-8/16/32). None above JSON_CAP, or nested
    too deep for the parser to decide."""
    if len(content) > JSON_CAP:
        return None
    try:
        json_loads(content)
    except RecursionError:
        return None
    except ValueError:
        return False
    return True


# Each pattern is one stack frame (or a trace header) of a runtime; bounded character
# classes, so a search is linear in the text.
_TRACE_HEADERS = re.compile(
    r"Traceback \(most recent call last\):"  # Python
    r"|goroutine \d{1,9} \[[a-z ]{1,40}\]:"  # Go
    r"|Exception in thread \"[^\"\n]{1,200}\" [\w.$]{1,200}"  # JVM
)
_FRAMES = (
    # Python: File "app.py", line 12, in handler
    re.compile(r"File \"[^\"\n]{1,500}\", line \d{1,9}, in "),
    # Node: at handler (/srv/app.js:12:5)  /  at /srv/app.js:12:5  /  at async fn (node:internal/x:1:2)
    re.compile(r"\bat [^\s()<>]{1,300}(?: \[as [^\]\n]{1,100}\])? \([^()\n<>]{1,500}:\d{1,9}:\d{1,9}\)"),
    re.compile(r"\bat (?:/|[A-Za-z]:\\|file:/|node:)[^\s()<>]{1,500}:\d{1,9}:\d{1,9}"),
    # JVM: at com.example.Foo.bar(Foo.java:12)
    re.compile(
        r"\bat [\w$.<>]{1,300}\((?:[\w$-]{1,200}\.(?:java|kt|scala|groovy|clj):\d{1,9}|Native Method|Unknown Source)\)"
    ),
    # .NET: at Ns.Type.Method(String x) in C:\src\File.cs:line 42
    re.compile(r"\bat [\w.`<>\[\],]{1,300}\([^()\n]{0,300}\) in [^\n]{1,500}:line \d{1,9}"),
    # PHP: #0 /var/www/app.php(12): handler()
    re.compile(r"#\d{1,4} (?:/|[A-Za-z]:\\)[^\n(]{1,500}\(\d{1,9}\): "),
    # Ruby: app/models/x.rb:12:in `save'   (or 'save' since Ruby 3.4). Frames are found by
    # their fixed part: a leading path class would be retried at every offset.
    re.compile(r"\.rb:\d{1,9}:in [`'][^'\n]{1,200}'"),
    # Go: /src/app/main.go:12 +0x1d
    re.compile(r"\.go:\d{1,9} \+0x[0-9a-f]{1,16}"),
)


def looks_like_stack_trace(content: bytes) -> bool:
    """Whether the body carries a stack trace: a runtime's trace header, or two frames of
    one runtime (one alone could be prose). HTML pages are unescaped first."""
    text = content[:STACK_SCAN_CAP].decode("utf-8", "replace")
    if "&" in text:
        text = html.unescape(text)
    if _TRACE_HEADERS.search(text):
        return True
    for frame in _FRAMES:
        first = frame.search(text)
        if first and frame.search(text, first.end()):
            return True
    return False


DETECTORS: dict[str, Callable[[bytes], bool]] = {
    "stack-trace": looks_like_stack_trace,
}


def non_empty(value: object) -> bool:
    """A JSON value that says something: not null, false, "", [] or {}."""
    return value is not None and value is not False and value != "" and value != [] and value != {}
