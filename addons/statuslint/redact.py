"""Keeping secrets out of every output: URLs are the one place traffic data leaks into
findings, logs and reports, so credentials in them are masked before they are stored."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

MASK = "REDACTED"
# Header values and body fields are masked with this; URLs keep MASK, which stays a valid
# URL (brackets are reserved there) and which the JSON report has always shown.
VALUE_MASK = "[redacted]"

# Query parameter names that carry credentials in real APIs (api_key, access_token,
# X-Amz-Signature, sig, password, session ids, ...).
_SECRET_PARAM = re.compile(
    r"(key|token|secret|passw|pwd|auth|signature|^sig$|session|sess_?id|credential|bearer|code_verifier|^code$)",
    re.IGNORECASE,
)


# Path parameters (";jsessionid=...", ";sid=...", ";password=..."): secret when the name
# looks like a credential, as in a query.
_PATH_PARAM = re.compile(r";([^;/=?#]*)=([^;/?#]*)")
_SID = re.compile(r"sid", re.IGNORECASE)
# Query (and fragment) parameters are separated by "&" and, in many servers, by ";".
_QUERY_SEPARATORS = re.compile(r"([&;])")


def _secret_name(name: str) -> bool:
    if "%" in name:
        name = unquote(name)
    return bool(_SECRET_PARAM.search(name) or _SID.search(name))


def redact_path(path: str) -> str:
    """A path with credential-carrying path parameters masked."""
    if ";" not in path:
        return path
    return _PATH_PARAM.sub(lambda m: f";{m[1]}={MASK}" if _secret_name(m[1]) else m[0], path)


def redact_url(url: str, is_secret: Callable[[str], bool] | None = None) -> str:
    """The URL with the userinfo password, secret-looking query values and session path
    parameters masked. ``is_secret`` decides for query parameter names (default: the
    built-in list)."""
    if "?" not in url and "@" not in url and ";" not in url and "#" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_path(url.split("?", 1)[0]) + ("?" + MASK if "?" in url else "")
    path = redact_path(parts.path)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostport}" if ":" in userinfo else f"{MASK}@{hostport}"
    query = _redact_params(parts.query, is_secret)
    # OAuth's implicit flow puts tokens in the fragment ("#access_token=...").
    fragment = _redact_params(parts.fragment, is_secret)
    if netloc == parts.netloc and path == parts.path and query == parts.query and fragment == parts.fragment:
        return url
    return SplitResult(parts.scheme, netloc, path, query, fragment).geturl()


def _redact_params(text: str, is_secret: Callable[[str], bool] | None = None) -> str:
    if "=" not in text:
        return text
    return "".join(_redact_pair(piece, is_secret) for piece in _QUERY_SEPARATORS.split(text))


def _redact_pair(pair: str, is_secret: Callable[[str], bool] | None = None, mask: str = MASK) -> str:
    name, sep, _value = pair.partition("=")
    if sep and (is_secret(name) if is_secret else _SECRET_PARAM.search(unquote(name) if "%" in name else name)):
        return f"{name}={mask}"
    return pair


# Free text: log lines of mitmproxy and of statuslint, error messages. What a secret looks
# like there: a URL's userinfo, a credential header, an auth scheme's token, a secret-
# looking name=value pair. Values end at whitespace, quotes, separators, or an escaped
# line break (mitmproxy prints raw requests as bytes reprs: "...\r\n...").
_TEXT_USERINFO = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#@'\"]*?:)[^\s/?#@'\"]*@")
_TEXT_HEADER = re.compile(
    # A header starts a line, or follows an escaped line break ("\r\nCookie: ...").
    r"(?:(?<=\\n)|(?<![A-Za-z0-9_-]))(?P<name>(?:proxy-)?authorization|(?:set-)?cookie|x-api-key|api-key|x-auth-token|x-csrf-token)"
    r"(?P<sep>\s*:\s*)(?P<value>(?:(?!\\r|\\n)[^\r\n'\"])+)",
    re.IGNORECASE,
)
_TEXT_SCHEME = re.compile(r"\b(?P<scheme>bearer|basic|digest|negotiate)\s+[A-Za-z0-9._~+/=\-]{4,}", re.IGNORECASE)
_TEXT_PAIR = re.compile(r"(?P<name>[A-Za-z0-9_.\-\[\]%]+)=(?P<value>(?:(?!\\r|\\n)[^&;#?\s'\"<>,])+)")


# Words one of _TEXT_HEADER's names, and one of _TEXT_SCHEME's, must contain. Every line
# the proxy logs meets these regexes, and most lines hold none of the words: an ASCII
# line is searched only when one is in it (in other text, case folding can match a
# non-ASCII letter, U+017F for "s", so the regexes always run there).
_HEADER_WORDS = ("authorization", "cookie", "api-key", "x-auth-token", "x-csrf-token")
_SCHEME_WORDS = ("bearer", "basic", "digest", "negotiate")


def redact_text(text: str) -> str:
    """Free text with every secret it seems to carry masked. Cautious rather than exact:
    a log line is read by people, and a masked harmless value costs nothing."""
    if not text:
        return text
    lower = text.lower() if text.isascii() else None
    if lower is None or any(word in lower for word in _HEADER_WORDS):
        text = _TEXT_HEADER.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", text)
    if "@" in text and "://" in text:
        text = _TEXT_USERINFO.sub(lambda m: f"{m['pre']}{MASK}@", text)
    if lower is None or any(word in lower for word in _SCHEME_WORDS):
        text = _TEXT_SCHEME.sub(lambda m: f"{m['scheme']} {MASK}", text)
    if "=" in text:
        text = _TEXT_PAIR.sub(lambda m: f"{m['name']}={MASK}" if _secret_name(m["name"]) else m[0], text)
    return text


# Header and JSON field names that carry secrets. Names are normalised first (camelCase
# split, lower case, punctuation to "_"). Long words count anywhere in the name; short ones
# only as a whole word, so "author", "keyboard" and WWW-Authenticate stay readable.
_SECRET_NAME = re.compile(
    r"token|secret|passw|pwd|passphrase|session|sessid|credential|bearer|signature|jwt|csrf|xsrf|cookie|apikey"
    r"|(?:^|_)(?:key|auth|authorization|sig|sid|otp|pin)(?:_|$)"
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_NAME_CACHE = 1024  # header names whose decision is remembered
# Always masked, whatever their names look like.
_ALWAYS_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
# Headers whose value is a URL (query secrets are masked as in any URL).
_URL_HEADERS = frozenset({"location", "content-location", "referer", "origin"})
# Headers that only describe what may be sent (CORS), never a secret themselves.
_NEVER_HEADERS = ("access-control-",)
# Body excerpts that are not parsed as JSON: "name": "value" and name=value pairs.
_TEXT_JSON_PAIR = re.compile(r'"((?:[^"\\\n]|\\.){1,128})"(\s*:\s*)("(?:[^"\\\n]|\\.)*"?|[^,}\]\s]+)')
_TEXT_FORM_PAIR = re.compile(r"(?<![\w.-])([A-Za-z_][\w.-]{0,127})=([^&\s;,\"'<>]+)")
_AUTH_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*) +\S")


def looks_secret(name: str) -> bool:
    """A header or JSON field name that carries a secret (by the built-in list)."""
    normal = _NON_WORD.sub("_", _CAMEL.sub("_", name).lower())
    return bool(_SECRET_NAME.search(normal))


@dataclass(frozen=True)
class RedactConfig:
    """Names (case-insensitive, ``*`` as a wildcard) a policy adds to the built-in lists."""

    headers: tuple[str, ...] = ()
    query: tuple[str, ...] = ()
    json_fields: tuple[str, ...] = ()

    def extend(self, other: RedactConfig) -> RedactConfig:
        def union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
            return a + tuple(x for x in b if x not in a)

        return RedactConfig(
            union(self.headers, other.headers),
            union(self.query, other.query),
            union(self.json_fields, other.json_fields),
        )


def _matcher(names: tuple[str, ...]) -> Callable[[str], bool]:
    if not names:
        return lambda _name: False
    pattern = re.compile("|".join(fnmatch.translate(n.lower()) for n in names))
    return lambda name: pattern.match(name.lower()) is not None


class Redactor:
    """Masks secrets in URLs, headers and bodies: the built-in lists plus a policy's."""

    def __init__(self, config: RedactConfig | None = None) -> None:
        self.config = config or RedactConfig()
        self._headers = _matcher(self.config.headers)
        self._query = _matcher(self.config.query)
        self._fields = _matcher(self.config.json_fields)
        # Header names repeat from flow to flow: decide each once (bounded: names come from traffic).
        self._header_names: dict[str, bool] = {}

    def query_is_secret(self, name: str) -> bool:
        return bool(_SECRET_PARAM.search(name)) or self._query(name)

    def header_is_secret(self, name: str) -> bool:
        known = self._header_names.get(name)
        if known is not None:
            return known
        low = name.lower()
        secret = low in _ALWAYS_HEADERS or self._headers(low)
        secret = secret or (not low.startswith(_NEVER_HEADERS) and looks_secret(name))
        if len(self._header_names) >= _NAME_CACHE:
            self._header_names.clear()
        self._header_names[name] = secret
        return secret

    def field_is_secret(self, name: str) -> bool:
        return looks_secret(name) or self._fields(name)

    def url(self, url: str) -> str:
        return redact_url(url, self.query_is_secret if self.config.query else None)

    def header(self, name: str, value: str) -> str:
        """A header value as it may be shown: cookie names, Set-Cookie attributes and an
        Authorization scheme stay (they say what was sent), the secrets go."""
        low = name.lower()
        if not self.header_is_secret(name):
            # A URL (Location, Referer) is masked as URLs are; name=value pairs in others (Link).
            return self.url(value) if low in _URL_HEADERS else self.text(value)
        if low == "cookie":
            return "; ".join(_mask_cookie(part.strip()) for part in value.split(";") if part.strip())
        if low == "set-cookie":
            first, sep, attributes = value.partition(";")
            return _mask_cookie(first) + sep + attributes
        if low in ("authorization", "proxy-authorization"):
            m = _AUTH_SCHEME.match(value)
            return f"{m[1]} {VALUE_MASK}" if m else VALUE_MASK
        return VALUE_MASK

    def json(self, value: Any) -> Any:
        """A parsed JSON document with the values of secret-named fields masked."""
        if isinstance(value, dict):
            return {k: VALUE_MASK if self.field_is_secret(str(k)) else self.json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v) for v in value]
        return value

    def form(self, text: str) -> str:
        """An application/x-www-form-urlencoded body."""
        return "&".join(_redact_pair(pair, self._form_is_secret, VALUE_MASK) for pair in text.split("&"))

    def text(self, text: str) -> str:
        """Any other text (JSON cut short, logs, HTML): "name": value and name=value pairs
        whose names look secret."""

        def json_pair(m: re.Match[str]) -> str:
            if not self.field_is_secret(m[1]):
                return m[0]
            return f'"{m[1]}"{m[2]}"{VALUE_MASK}"'

        def form_pair(m: re.Match[str]) -> str:
            return f"{m[1]}={VALUE_MASK}" if self._form_is_secret(m[1]) else m[0]

        # Most header values hold neither kind of pair: skip the regexes for them.
        if '"' in text:
            text = _TEXT_JSON_PAIR.sub(json_pair, text)
        return _TEXT_FORM_PAIR.sub(form_pair, text) if "=" in text else text

    def _form_is_secret(self, name: str) -> bool:
        return self.query_is_secret(name) or self.field_is_secret(name)


def _mask_cookie(pair: str) -> str:
    name, sep, _value = pair.partition("=")
    return f"{name}={VALUE_MASK}" if sep else VALUE_MASK


def redact_json_text(text: str, redactor: Redactor, stop_after: int | None = None) -> tuple[str, bool] | None:
    """A JSON document re-serialised (indented) with its secrets masked, and whether it
    was cut short; None if it is not JSON. With ``stop_after``, serialising stops once
    that many characters are out: the indented form is written by Python's pure-Python
    encoder (its C one does no indenting), and a report keeps only the start of a body."""
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    chunks = _INDENTED.iterencode(redactor.json(doc))
    if stop_after is None:
        return "".join(chunks), False
    out: list[str] = []
    written = 0
    for chunk in chunks:
        if written >= stop_after:
            return "".join(out), True
        out.append(chunk)
        written += len(chunk)
    return "".join(out), False


# What json.dumps(value, indent=2, ensure_ascii=False) uses, chunk by chunk.
_INDENTED = json.JSONEncoder(indent=2, ensure_ascii=False)
