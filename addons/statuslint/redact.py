"""Keeping secrets out of every output: URLs are the one place traffic data leaks into
findings, logs and reports, so credentials in them are masked before they are stored."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, unquote, urlsplit

MASK = "REDACTED"

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


def redact_url(url: str) -> str:
    """The URL with the userinfo password, secret-looking query values and session path
    parameters masked."""
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
    query = _redact_params(parts.query)
    # OAuth's implicit flow puts tokens in the fragment ("#access_token=...").
    fragment = _redact_params(parts.fragment)
    if netloc == parts.netloc and path == parts.path and query == parts.query and fragment == parts.fragment:
        return url
    return SplitResult(parts.scheme, netloc, path, query, fragment).geturl()


def _redact_params(text: str) -> str:
    if "=" not in text:
        return text
    return "".join(_redact_pair(piece) for piece in _QUERY_SEPARATORS.split(text))


def _redact_pair(pair: str) -> str:
    name, sep, _value = pair.partition("=")
    if sep and _SECRET_PARAM.search(unquote(name) if "%" in name else name):
        return f"{name}={MASK}"
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


def redact_text(text: str) -> str:
    """Free text with every secret it seems to carry masked. Cautious rather than exact:
    a log line is read by people, and a masked harmless value costs nothing."""
    if not text:
        return text
    text = _TEXT_HEADER.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", text)
    text = _TEXT_USERINFO.sub(lambda m: f"{m['pre']}{MASK}@", text)
    text = _TEXT_SCHEME.sub(lambda m: f"{m['scheme']} {MASK}", text)
    if "=" in text:
        text = _TEXT_PAIR.sub(lambda m: f"{m['name']}={MASK}" if _secret_name(m["name"]) else m[0], text)
    return text
