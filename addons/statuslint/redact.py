"""Keeping secrets out of every output: URLs are the one place traffic data leaks into
findings, logs and reports, so credentials in them are masked before they are stored."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

MASK = "REDACTED"

# Query parameter names that carry credentials in real APIs (api_key, access_token,
# X-Amz-Signature, sig, password, session ids, ...).
_SECRET_PARAM = re.compile(
    r"(key|token|secret|passw|pwd|auth|signature|^sig$|session|sess_?id|credential|bearer|code_verifier|^code$)",
    re.IGNORECASE,
)


# Path parameters that carry sessions (";jsessionid=...", ";sid=...").
_SECRET_PATH_PARAM = re.compile(r";([^;/=?#]*(?:sess|sid|token|key|auth)[^;/=?#]*)=[^;/?#]*", re.IGNORECASE)


def redact_path(path: str) -> str:
    """A path with session-carrying path parameters masked."""
    if ";" not in path:
        return path
    return _SECRET_PATH_PARAM.sub(lambda m: f";{m[1]}={MASK}", path)


def redact_url(url: str) -> str:
    """The URL with the userinfo password, secret-looking query values and session path
    parameters masked."""
    if "?" not in url and "@" not in url and ";" not in url:
        return url
    if ";" in url:
        url = redact_path(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0] + ("?" + MASK if "?" in url else "")
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostport}" if ":" in userinfo else f"{MASK}@{hostport}"
    query = parts.query
    if query:
        query = "&".join(_redact_pair(pair) for pair in query.split("&"))
    if netloc == parts.netloc and query == parts.query:
        return url
    return SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment).geturl()


def _redact_pair(pair: str) -> str:
    name, sep, _value = pair.partition("=")
    if sep and _SECRET_PARAM.search(name):
        return f"{name}={MASK}"
    return pair
