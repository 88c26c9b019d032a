"""The condition language of policies: YAML mappings compiled once into predicates.

A condition is a mapping whose entries must all hold. Keys are the predicates below
plus the combinators ``all``, ``any`` and ``not``. See docs/policy.md for the language.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import re2

from .flowview import HAR_BODY_KEY, MITMPROXY_DECODES_HAR, FlowView, HeaderMap, Undecidable
from .statuscodes import REGISTERED
from .syntax import DETECTORS, GRAMMARS, has_challenge, json_valid, non_empty, parse_content_range
from .yamlsource import LineDict, LineList, PolicyError

Predicate = Callable[[FlowView], bool]


def _always(_: FlowView) -> bool:
    return True


ALWAYS: Predicate = _always

# Predicates that read only the status and the method: the engine decides them once per
# (status, method) instead of once per flow.
_STATIC_ATTR = "statuslint_static"


def static(pred: Predicate) -> Predicate:
    """Mark ``pred`` as reading nothing of a flow but its status and method."""
    setattr(pred, _STATIC_ATTR, True)
    return pred


def is_static(pred: Predicate) -> bool:
    return getattr(pred, _STATIC_ATTR, False)


def _static_if_all(preds: list[Predicate], pred: Predicate) -> Predicate:
    return static(pred) if all(is_static(p) for p in preds) else pred


static(ALWAYS)

# A combinator's (kind, operands), kept on its predicate: ``specialize`` answers the
# static operands once per (status, method) and leaves the rest to the flow.
_PARTS_ATTR = "statuslint_parts"
_ALL, _ANY, _NOT = "all", "any", "not"


def _combined(kind: str, preds: list[Predicate], pred: Predicate) -> Predicate:
    setattr(pred, _PARTS_ATTR, (kind, tuple(preds)))
    return _static_if_all(preds, pred)


def conjunction(preds: list[Predicate]) -> Predicate:
    return _combined(_ALL, preds, lambda v: _all(preds, v))


def disjunction(preds: list[Predicate]) -> Predicate:
    return _combined(_ANY, preds, lambda v: _any(preds, v))


def negation(pred: Predicate) -> Predicate:
    return _combined(_NOT, [pred], lambda v: not pred(v))


def specialize(pred: Predicate, known: Any) -> Predicate | bool:
    """``pred`` on the flows of one status and method (``known`` holds them): True or
    False where they decide it, else a predicate with the same answer on those flows
    that no longer asks what they decide. A conjunction is False when one operand is,
    whatever the others say (undecidable ones too), a disjunction True when one is:
    so an operand decided that way decides the whole, and one decided the other way
    drops out."""
    if is_static(pred):
        try:
            return bool(pred(known))
        except Exception:
            return pred  # it read more than it said: ask the flow
    parts = getattr(pred, _PARTS_ATTR, None)
    if parts is None:
        return pred
    kind, operands = parts
    if kind == _NOT:
        inner = specialize(operands[0], known)
        if isinstance(inner, bool):
            return not inner
        return pred if inner is operands[0] else negation(inner)
    decisive = kind == _ANY  # the answer of one operand that is the answer of the whole
    rest = []
    for operand in operands:
        answer = specialize(operand, known)
        if answer is decisive:
            return decisive
        if answer is not (not decisive):
            rest.append(answer)
    if not rest:
        return not decisive
    if len(rest) == len(operands) and all(a is b for a, b in zip(rest, operands, strict=True)):
        return pred
    if len(rest) == 1:
        return rest[0]
    return disjunction(rest) if decisive else conjunction(rest)


@dataclass(frozen=True)
class StatusSet:
    """Status codes as inclusive ranges, from specs like ``201``, ``4xx``, ``500-599``, ``>599``."""

    ranges: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        # Codes up to STATUS_MAX answer from a set; only others walk the ranges.
        small = frozenset(c for lo, hi in self.ranges for c in range(max(lo, 0), min(hi, STATUS_MAX) + 1))
        object.__setattr__(self, "_small", small)

    def __contains__(self, code: int) -> bool:
        if 0 <= code <= STATUS_MAX:
            return code in self._small  # type: ignore[attr-defined]
        return any(lo <= code <= hi for lo, hi in self.ranges)


# Three digits at most: a status code is 0-999 (RFC 9110 §15 uses 100-599), and a
# longer run of digits is a mistake, not a code.
_STATUS_RE = re.compile(
    r"^(?:(?P<cls>[1-9])xx|(?P<lo>[0-9]{1,3})-(?P<hi>[0-9]{1,3})|(?P<op>[<>]=?)(?P<n>[0-9]{1,3})|(?P<exact>[0-9]{1,3}))$"
)
STATUS_MAX = 999
# The open end of ">599": a HAR file may claim any status, and 1000 is still above 599.
_UNBOUNDED = 2**63


def parse_status(spec: Any) -> tuple[int, int] | None:
    """One status spec as an inclusive range, or None when it is not one."""
    if isinstance(spec, bool):
        return None
    if isinstance(spec, int):
        return (spec, spec) if 0 <= spec <= STATUS_MAX else None
    if not isinstance(spec, str):
        return None
    m = _STATUS_RE.match(spec.strip().lower())
    if not m:
        return None
    if m["cls"]:
        c = int(m["cls"]) * 100
        return (c, c + 99)
    if m["lo"]:
        lo, hi = int(m["lo"]), int(m["hi"])
        return (lo, hi) if lo <= hi else None
    if m["op"]:
        n = int(m["n"])
        return {"<": (0, n - 1), "<=": (0, n), ">": (n + 1, _UNBOUNDED), ">=": (n, _UNBOUNDED)}[m["op"]]
    n = int(m["exact"])
    return (n, n)


def one_of(globs: tuple[re.Pattern[str], ...]) -> Callable[[str], re.Match[str] | None]:
    """The ``match`` of a single regex matching what any of the compiled globs matches:
    one call per flow however many globs a predicate lists."""
    if len(globs) == 1:
        return globs[0].match
    return re.compile("|".join(f"(?:{g.pattern})" for g in globs), globs[0].flags).match


def compile_glob(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    """A shell-style glob (``*``, ``?``, ``[...]``) as a compiled, anchored regex."""
    return re.compile(fnmatch.translate(pattern), re.IGNORECASE if ignore_case else 0)


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is ours to report, on one line

# What RE2 says it cannot compile, as the construct a user wrote.
_UNSUPPORTED = (
    ("(?=", "lookahead (?="),
    ("(?!", "negative lookahead (?!"),
    ("(?<=", "lookbehind (?<="),
    ("(?<!", "negative lookbehind (?<!"),
    ("(?>", "atomic group (?>"),
    ("(?#", "comment (?#"),
)


def compile_regex(pattern: str) -> Any:
    """A policy regex compiled with RE2, which matches in time linear in the input
    whatever the pattern (Python's re can take exponential time: ``^(a+)+$``).
    ValueError names what RE2 does not support."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as e:
        raise ValueError(_re2_problem(pattern, e)) from None
    except UnicodeEncodeError:
        raise ValueError("the pattern is not valid Unicode (a lone surrogate)") from None


def _re2_problem(pattern: str, e: Exception) -> str:
    detail = e.args[0] if e.args else str(e)
    text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    linear = "statuslint uses RE2, whose regexes match in linear time"
    backref = re.search(r"\\([1-9][0-9]*)|\(\?P=[^)]*\)", pattern)
    if backref and ("escape sequence" in text or "(?P" in text):
        return f"backreference {backref.group()} is not supported ({linear}: no backreferences)"
    for construct, name in _UNSUPPORTED:
        if f"operator: {construct}" in text:
            return f"{name} is not supported ({linear}: no lookaround)"
    if "repetition operator: " in text and text.rstrip().endswith("+"):
        return f"possessive quantifier {text.rsplit(': ', 1)[-1]} is not supported ({linear})"
    if text.endswith("\\Z"):
        return "\\Z is not supported (write \\z for the end of the text)"
    return text


# How many header values a ``matches`` test keeps its answer for, and how long they may be.
_SEEN_LIMIT = 256
_SEEN_VALUE_MAX = 256


def search_values(rx: Any, values: Iterable[str]) -> bool:
    """Whether ``rx`` is found in one of ``values``. Header values may carry raw bytes
    (surrogate escapes), which RE2 searches as the bytes they were."""
    return any(found_in(rx, h) for h in values)


def found_in(rx: Any, value: str) -> bool:
    """Whether ``rx`` is found in one header value, searched as the bytes it was."""
    return rx.search(value.encode("utf-8", "surrogateescape")) is not None


def capped(values: list[str], what: str, limit: int) -> list[str]:
    """``values`` unless one is longer than ``limit``: then the predicate is undecidable."""
    for value in values:
        if len(value) > limit:
            raise Undecidable(f"{what} longer than limits.max_header_value ({limit} characters)")
    return values


def _media_matches(range_: str, ctype: str) -> bool:
    if range_ in ("*/*", "*"):
        return True
    if range_.endswith("/*"):
        return ctype.split("/", 1)[0] == range_[:-2]
    return range_ == ctype


# Accept values longer than this are answered without remembering (a hostile Accept costs
# no memory).
_ACCEPTS_KEY_MAX = 512


def accept_satisfied(view: FlowView) -> bool:
    """Whether the response media type is one the request's Accept admits (RFC 9110 §12.5.1).
    Without an Accept or a Content-Type there is nothing to contradict."""
    values = view.request_headers.by_name.get("accept")
    accept = (values[0] if len(values) == 1 else ", ".join(values)) if values else None
    ctype = view.content_type
    if not accept or not ctype or not view.response_has_body:
        return True
    if len(accept) > view.limits.max_header_value:
        capped([accept], "Accept", view.limits.max_header_value)  # raises Undecidable
    if len(accept) > _ACCEPTS_KEY_MAX:
        return _admits.__wrapped__(accept, ctype)
    return _admits(accept, ctype)


# Remembered per (Accept, media type): a client sends the same Accept on every request and
# an API answers in few media types.
@functools.lru_cache(maxsize=1024)
def _admits(accept: str, ctype: str) -> bool:
    return any(_media_matches(media, ctype) for media in _acceptable(accept))


@functools.lru_cache(maxsize=256)
def _acceptable(accept: str) -> tuple[str, ...]:
    """The media ranges an Accept value admits (q above 0), lower-cased: a client sends
    the same Accept on every request, so it is parsed once."""
    admitted = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        q = 1.0
        for p in params:
            name, _, value = p.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 1.0
        if q > 0:
            admitted.append(media.lower())
    return tuple(admitted)


# Three-valued logic: a predicate that cannot be decided raises Undecidable. A
# conjunction is still False when another part is False, a disjunction still True when
# another part is True; only otherwise is the whole undecidable.


def _all(preds: list[Predicate], view: FlowView) -> bool:
    unknown: Undecidable | None = None
    for p in preds:
        try:
            if not p(view):
                return False
        except Undecidable as e:
            unknown = e
    if unknown is not None:
        raise unknown
    return True


def _any(preds: list[Predicate], view: FlowView) -> bool:
    unknown: Undecidable | None = None
    for p in preds:
        try:
            if p(view):
                return True
        except Undecidable as e:
            unknown = e
    if unknown is not None:
        raise unknown
    return False


def _tokens(value: str) -> set[str]:
    return {t.strip().upper() for t in value.split(",") if t.strip()}


class ConditionCompiler:
    """Compiles condition mappings; every error names the policy file and line."""

    PREDICATES = (
        "method",
        "status",
        "status_registered",
        "host",
        "path",
        "request_header",
        "response_header",
        "request_body",
        "response_body",
        "content_type",
        "accept_satisfied",
        "json",
        "json_valid",
        "all",
        "any",
        "not",
    )

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, line: int | None, message: str) -> PolicyError:
        return PolicyError(self.source, line, message)

    def compile(self, node: Any, line: int) -> Predicate:
        if not isinstance(node, LineDict):
            raise self.error(line, f"a condition must be a mapping of predicates, not {_kind(node)}")
        if not node:
            raise self.error(node.line, "empty condition")
        preds = [self._predicate(key, value, node.line_of(key)) for key, value in node.items()]
        if len(preds) == 1:
            return preds[0]
        return conjunction(preds)

    # Predicates --------------------------------------------------------------------

    def _predicate(self, key: str, value: Any, line: int) -> Predicate:
        method = getattr(self, f"_p_{key}", None)
        if method is None:
            raise self.error(line, f"unknown predicate '{key}' (expected one of: {', '.join(self.PREDICATES)})")
        return method(value, line)

    def _p_method(self, value: Any, line: int) -> Predicate:
        methods = self.methods(value, line)
        return static(lambda v: v.method in methods)

    def _p_status(self, value: Any, line: int) -> Predicate:
        codes = self.statuses(value, line)
        return static(lambda v: v.status in codes)

    def _p_status_registered(self, value: Any, line: int) -> Predicate:
        want = self._bool(value, line, "status_registered")
        return static(lambda v: (v.status in REGISTERED) is want)

    def _p_host(self, value: Any, line: int) -> Predicate:
        match = one_of(self.globs(value, line, "host", ignore_case=True))
        return lambda v: match(v.host) is not None

    def _p_path(self, value: Any, line: int) -> Predicate:
        match = one_of(self.globs(value, line, "path", ignore_case=False))
        return lambda v: match(v.path) is not None

    def _p_request_header(self, value: Any, line: int) -> Predicate:
        return self._headers(value, line, "request_header", _request_headers)

    def _p_response_header(self, value: Any, line: int) -> Predicate:
        return self._headers(value, line, "response_header", _response_headers)

    def _p_request_body(self, value: Any, line: int) -> Predicate:
        want = self._presence(value, line, "request_body", ("empty", "present"))
        return lambda v: v.request_has_body is (want == "present")

    def _p_response_body(self, value: Any, line: int) -> Predicate:
        if isinstance(value, LineDict):
            return self._body_test(value, line)
        want = self._presence(value, line, "response_body", ("empty", "present"))
        return lambda v: v.response_has_body is (want == "present")

    def _body_test(self, value: LineDict, line: int) -> Predicate:
        usage = "'response_body' takes empty, present, {looks_like: NAME} or {length_agrees_with: Content-Range}"
        if len(value) != 1:
            raise self.error(line, usage)
        ((kind, arg),) = value.items()
        if kind == "looks_like":
            detect = DETECTORS.get(arg) if isinstance(arg, str) else None
            if detect is None:
                raise self.error(value.line_of(kind), f"unknown looks_like {arg!r} (known: {', '.join(DETECTORS)})")
            return lambda v: detect(_known_content(v))
        if kind == "length_agrees_with":
            if not isinstance(arg, str) or arg.lower() != "content-range":
                raise self.error(value.line_of(kind), "length_agrees_with takes Content-Range")
            return _length_agrees_with_content_range
        raise self.error(value.line_of(kind), usage)

    def _p_json_valid(self, value: Any, line: int) -> Predicate:
        want = self._bool(value, line, "json_valid")

        def pred(v: FlowView) -> bool:
            # A body another rule already parsed (json_body, cached on the view) is not parsed twice.
            parsed = v.__dict__.get("json_body")
            valid = True if parsed is not None else json_valid(_known_content(v))
            if valid is None:
                raise Undecidable("body too large or too deeply nested to parse as JSON")
            return valid is want

        return pred

    def _p_content_type(self, value: Any, line: int) -> Predicate:
        match = one_of(self.globs(value, line, "content_type", ignore_case=True))
        return lambda v: v.content_type is not None and match(v.content_type) is not None

    def _p_accept_satisfied(self, value: Any, line: int) -> Predicate:
        want = self._bool(value, line, "accept_satisfied")
        return lambda v: accept_satisfied(v) is want

    def _p_json(self, value: Any, line: int) -> Predicate:
        if not isinstance(value, LineDict):
            raise self.error(line, "'json' takes a mapping: {has_key: NAME} or {key: NAME, equals: VALUE}")
        # Loops rather than any() of a generator: these run on most JSON answers, and a
        # generator costs a frame of its own per flow.
        keys = set(value)
        if keys == {"has_value"}:
            names = self._strings(value["has_value"], value.line_of("has_value"), "json.has_value")

            def has_value(v: FlowView) -> bool:
                body = v.json_body
                if isinstance(body, dict):
                    for n in names:
                        if non_empty(body.get(n)):
                            return True
                return False

            return has_value
        if keys == {"has_key"}:
            names = self._strings(value["has_key"], value.line_of("has_key"), "json.has_key")

            def has_key(v: FlowView) -> bool:
                body = v.json_body
                if isinstance(body, dict):
                    for n in names:
                        if n in body:
                            return True
                return False

            return has_key
        if keys == {"key", "equals"}:
            name = value["key"]
            if not isinstance(name, str):
                raise self.error(value.line_of("key"), "json.key must be a string")
            expected = value["equals"]
            if isinstance(expected, (dict, list)):
                raise self.error(value.line_of("equals"), "json.equals must be a scalar")

            def equals(v: FlowView) -> bool:
                body = v.json_body
                if not isinstance(body, dict) or name not in body:
                    return False
                found = body[name]
                return found == expected and type(found) is type(expected)

            return equals
        bad = sorted(keys - {"has_key", "has_value", "key", "equals"})
        what = f"unknown key '{bad[0]}'" if bad else "incomplete"
        raise self.error(
            line, f"'json' {what}: use {{has_key: NAME}}, {{has_value: NAME}} or {{key: NAME, equals: VALUE}}"
        )

    def _p_all(self, value: Any, line: int) -> Predicate:
        return conjunction(self._list_of_conditions(value, line, "all"))

    def _p_any(self, value: Any, line: int) -> Predicate:
        return disjunction(self._list_of_conditions(value, line, "any"))

    def _p_not(self, value: Any, line: int) -> Predicate:
        return negation(self.compile(value, line))

    # Value parsers, also used for scopes -------------------------------------------

    def methods(self, value: Any, line: int) -> frozenset[str]:
        names = self._strings(value, line, "method")
        for name in names:
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
                raise self.error(line, f"'{name}' is not an HTTP method token")
        return frozenset(n.upper() for n in names)

    def statuses(self, value: Any, line: int) -> StatusSet:
        items = list(value) if isinstance(value, list) else [value]
        if not items:
            raise self.error(line, "'status' needs at least one code")
        ranges = []
        for i, item in enumerate(items):
            rng = parse_status(item)
            if rng is None:
                item_line = value.line_of(i) if isinstance(value, LineList) else line
                if _out_of_range(item):
                    raise self.error(item_line, f"bad status {item!r}: status codes are 0-{STATUS_MAX}")
                raise self.error(
                    item_line,
                    f"bad status {item!r}: use a code (201), a class (4xx), a range (500-599) or a bound (>599)",
                )
            ranges.append(rng)
        return StatusSet(tuple(ranges))

    def regex(self, pattern: str, line: int, what: str) -> Any:
        """A regex of the policy, compiled with RE2 (see ``compile_regex``)."""
        try:
            return compile_regex(pattern)
        except ValueError as e:
            raise self.error(line, f"bad regex {pattern!r} for {what}: {e}") from None

    def globs(self, value: Any, line: int, what: str, *, ignore_case: bool) -> tuple[re.Pattern[str], ...]:
        patterns = self._strings(value, line, what)
        out = []
        for p in patterns:
            if p.count("[") != p.count("]"):
                raise self.error(line, f"bad glob {p!r} in '{what}': unbalanced brackets")
            out.append(compile_glob(p, ignore_case=ignore_case))
        return tuple(out)

    # Helpers -----------------------------------------------------------------------

    def _headers(self, value: Any, line: int, what: str, headers_of: Callable[[FlowView], HeaderMap]) -> Predicate:
        if not isinstance(value, LineDict) or not value:
            raise self.error(line, f"'{what}' takes a mapping of header name to a test, e.g. {{Location: present}}")
        tests = []
        for name, test in value.items():
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
                raise self.error(value.line_of(name), f"'{name}' is not a valid header name")
            tests.append(self._header_test(name, test, value.line_of(name), headers_of))
        if len(tests) == 1:
            return tests[0]
        return lambda v: all(t(v) for t in tests)

    def _header_test(self, name: str, test: Any, line: int, headers_of: Callable[[FlowView], HeaderMap]) -> Predicate:
        # Header names are tokens (checked above), so lower() folds them as Headers does.
        lname = name.lower()
        if test == "present":
            return lambda v: lname in headers_of(v).by_name
        if test == "absent":
            return lambda v: lname not in headers_of(v).by_name
        usage = (
            f"header test for '{name}' must be present, absent, {{equals: S}}, {{matches: REGEX}}, {{has_token: S}}, "
            "{valid: GRAMMAR}, {challenge: SCHEME [PARAM[=VALUE]]} or {same_url_as: request}"
        )
        if not isinstance(test, LineDict) or len(test) != 1:
            raise self.error(line, usage)
        ((kind, arg),) = test.items()
        if not isinstance(arg, str):
            raise self.error(test.line_of(kind), f"'{kind}' for header '{name}' takes a string")

        what = f"header {name}"

        # Every value a test inspects is capped (limits.max_header_value): a header of
        # megabytes costs a length check, not a scan.
        def values(v: FlowView) -> list[str] | tuple[()]:
            found = headers_of(v).by_name.get(lname)
            if not found:
                return ()
            return capped(found, what, v.limits.max_header_value)

        if kind == "equals":

            def equals(v: FlowView) -> bool:
                found = values(v)
                return bool(found) and ", ".join(found) == arg

            return equals
        if kind == "matches":
            return self._matches(self.regex(arg, test.line_of(kind), f"header '{name}'"), values)
        if kind == "has_token":
            token = arg.upper()
            if token == "$METHOD":
                return lambda v: any(v.method in _tokens(h) for h in values(v))
            return lambda v: any(token in _tokens(h) for h in values(v))
        if kind == "valid":
            grammar = GRAMMARS.get(arg)
            if grammar is None:
                raise self.error(test.line_of(kind), f"unknown grammar {arg!r} (known: {', '.join(GRAMMARS)})")

            def valid(v: FlowView) -> bool:
                # Every value must parse; an absent header has nothing wrong with it.
                for h in values(v):  # noqa: SIM110 (all() of a generator: a frame more per flow)
                    if not grammar(h):
                        return False
                return True

            return valid
        if kind == "challenge":
            m = re.fullmatch(
                r"\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s+([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:=(\S+))?)?\s*", arg
            )
            if m is None:
                raise self.error(
                    test.line_of(kind), f"challenge for '{name}' takes 'SCHEME [PARAM[=VALUE]]', not {arg!r}"
                )
            scheme, param, expected = m[1], m[2], m[3]
            return lambda v: has_challenge(values(v), scheme, param, expected)
        if kind == "same_url_as":
            if arg != "request":
                raise self.error(test.line_of(kind), f"same_url_as for '{name}' takes 'request'")
            return lambda v: any(_same_url(v.url, h) for h in values(v))
        raise self.error(test.line_of(kind), usage)

    @staticmethod
    def _matches(rx: Any, values: Callable[[FlowView], list[str] | tuple[()]]) -> Predicate:
        """Whether ``rx`` is found in one of the header's values (as ``search_values``),
        the answer kept per value: the headers a policy matches (Content-Type,
        Cache-Control, ...) take few distinct values, and one RE2 search from Python costs
        about 4 µs, a hundred times a dict lookup. At most _SEEN_LIMIT values of at most
        _SEEN_VALUE_MAX characters are kept per test; the rest are searched each time."""
        seen: dict[str, bool] = {}

        def matches(v: FlowView) -> bool:
            for value in values(v):
                found = seen.get(value)
                if found is None:
                    found = found_in(rx, value)
                    if len(value) <= _SEEN_VALUE_MAX:
                        if len(seen) >= _SEEN_LIMIT:
                            seen.clear()
                        seen[value] = found
                if found:
                    return True
            return False

        return matches

    def _list_of_conditions(self, value: Any, line: int, what: str) -> list[Predicate]:
        if not isinstance(value, LineList) or not value:
            raise self.error(line, f"'{what}' takes a non-empty list of conditions")
        return [self.compile(item, value.line_of(i)) for i, item in enumerate(value)]

    def _strings(self, value: Any, line: int, what: str) -> list[str]:
        items = list(value) if isinstance(value, list) else [value]
        if not items or not all(isinstance(i, str) and i for i in items):
            raise self.error(line, f"'{what}' takes a non-empty string or a list of them")
        return items

    def _bool(self, value: Any, line: int, what: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(line, f"'{what}' takes true or false, not {value!r}")
        return value

    def _presence(self, value: Any, line: int, what: str, choices: Iterable[str]) -> str:
        if value not in choices:
            raise self.error(line, f"'{what}' takes one of {', '.join(choices)}, not {value!r}")
        return value


def _request_headers(view: FlowView) -> HeaderMap:
    return view.request_headers


def _response_headers(view: FlowView) -> HeaderMap:
    return view.response_headers


def _same_url(url: str, reference: str) -> bool:
    """Whether a URI reference, resolved against the request URL, is that URL (fragments aside)."""
    try:
        target = urljoin(url, reference.strip(" \t"))
    except ValueError:
        return False
    return target.split("#", 1)[0] == url.split("#", 1)[0]


def _known_content(view: FlowView) -> bytes:
    """The decoded response body, where it is known: a HAR entry may declare a size
    without the text, and then what the body says is undecidable."""
    content = view.response_content
    if not content and view.response_has_body:
        raise Undecidable("the body's size is known, its text is not")
    return content


def _length_agrees_with_content_range(view: FlowView) -> bool:
    """A single range's Content-Range covers as many bytes as the content carries
    (the representation's bytes: content-coded, as on the wire)."""
    ranges = [parse_content_range(h) for h in view.response_headers.get_all("content-range")]
    spans = [r for r in ranges if r is not None and r[0] == "bytes" and r[1] is not None]
    if not spans:
        return True
    raw = view.response.raw_content
    declared = view.flow.metadata.get(HAR_BODY_KEY) or {}
    encoded = "content-encoding" in view.response_headers or declared.get("encoded")
    if raw is None or (view.har and (encoded or not raw or (MITMPROXY_DECODES_HAR and not declared))):
        # A HAR keeps the decoded text; mitmproxy 11's import re-encodes it, 12's drops the coding.
        raise Undecidable("the length of the content as sent is not known")
    _, first, last, _ = spans[0]
    assert first is not None and last is not None
    return len(raw) == last - first + 1


def _out_of_range(item: Any) -> bool:
    if isinstance(item, bool):
        return False
    if isinstance(item, int):
        return not 0 <= item <= STATUS_MAX
    return isinstance(item, str) and re.search(r"[0-9]{4}", item) is not None


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    return repr(value)
