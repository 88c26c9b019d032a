"""URL pieces as statuslint keys its state by them and shows them to people."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}
# Paths longer than this are kept as a prefix plus a digest: the URL state is bounded by
# count, and a count of unbounded strings is not a bound.
_KEY_LIMIT = 512
# Longest URL kept for evidence (after redaction).
URL_LIMIT = 512


def printable(text: str) -> str:
    """``text`` without lone surrogates: mitmproxy decodes raw path bytes that are not
    UTF-8 with ``surrogateescape``, and those cannot be written to a UTF-8 report."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def authority(url: str) -> str:
    """``host[:port]`` of a URL, lower-cased, without userinfo or the scheme's default
    port: two services on one host are two APIs."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2].lower()
        scheme = parts.scheme.lower()
    except ValueError:
        return ""
    host, sep, port = netloc.rpartition(":")
    if sep and "]" not in port and port == _DEFAULT_PORTS.get(scheme):
        return host
    return netloc


def state_path(path: str) -> str:
    """The path as a key of per-URL state: ``/books/42/`` is ``/books/42``, and a very
    long path is a prefix plus a digest of the rest."""
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    if len(path) > _KEY_LIMIT:
        digest = hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=12).hexdigest()
        path = f"{path[:256]}#{digest}"
    return path


def clip(text: str, limit: int = URL_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
