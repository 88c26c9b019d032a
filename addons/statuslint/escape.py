"""Traffic shown as text: one escaping function for every terminal line, summary, log
line and flow comment.

A URL path or a header is chosen by whoever sends the request. Raw, its ESC, OSC and BEL
bytes could clear the screen or retitle the window, and a newline could forge an output
line. ``escape`` turns every such character into a visible escape (``\\x1b``, ``\\n``);
JSON output keeps the values themselves (``json.dumps`` escapes C0 controls, and
``escape_json`` the C1 controls and line separators it leaves raw).
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, Unicode line/paragraph separators, bidirectional overrides
# and isolates (they reorder what follows on the line), and lone surrogates (raw bytes
# that were not UTF-8, decoded with surrogateescape).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# What json.dumps(ensure_ascii=False) leaves raw although a terminal acts on it.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # the raw byte it stands for
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` safe to show on a terminal or in a log line: every control character,
    newline included, as a visible escape."""
    if text.isprintable():
        return text
    return _UNSAFE.sub(_escaped, text)


def escape_lines(text: str) -> str:
    """Like ``escape`` for text of several lines of our own: its newlines stay."""
    if text.isprintable():
        return text
    return "\n".join(escape(line) for line in text.split("\n"))


def escape_json(dumped: str) -> str:
    """JSON text with the characters ``json.dumps`` leaves raw but a terminal acts on as
    ``\\uXXXX`` escapes: the same values, safe to ``cat``. They only occur inside strings."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)
