"""What a flow is, beside an API call: browser HARs and proxied page loads are mostly
images, scripts, styles, fonts, pages and beacons, and auditing those as an API only
buries the signal. ``--api-only`` (or ``scope: {api_only: true}``) leaves them out and
says why, per kind."""

from __future__ import annotations

import re

from .flowview import FlowView

# What browsers say they are fetching (Sec-Fetch-Dest); "empty" is fetch()/XHR.
_DEST_KIND = {
    "document": "page",
    "iframe": "page",
    "frame": "page",
    "image": "image",
    "script": "script",
    "style": "style",
    "font": "font",
    "audio": "media",
    "video": "media",
    "track": "media",
    "manifest": "static file",
    "worker": "script",
    "sharedworker": "script",
    "serviceworker": "script",
    "embed": "page",
    "object": "page",
}
_STATIC_SUFFIX = re.compile(
    r"\.(?:gif|png|jpe?g|webp|avif|svg|ico|bmp|css|js|mjs|map|woff2?|ttf|otf|eot|mp4|webm|mp3|ogg|wav)$", re.IGNORECASE
)
_API_MEDIA = re.compile(r"json|xml", re.IGNORECASE)


def _media_kind(ctype: str) -> str | None:
    if ctype.startswith("image/"):
        return "image"
    if ctype.startswith(("font/", "application/font", "application/x-font")):
        return "font"
    if ctype == "text/css":
        return "style"
    if "javascript" in ctype or "ecmascript" in ctype:
        return "script"
    if ctype.startswith(("video/", "audio/")):
        return "media"
    if ctype in ("text/html", "application/xhtml+xml"):
        return "page"
    return None


def non_api_kind(view: FlowView) -> str | None:
    """Why a flow is not an API exchange ("image", "script", "style", "font", "page",
    "media", "static file", "beacon"), or None when it is one or may be one."""
    headers = view.request_headers
    asked = " ".join(headers.get_all("accept") + headers.get_all("content-type"))
    if _API_MEDIA.search(asked):
        return None  # the client asked for (or sent) JSON or XML
    ctype = view.content_type
    if ctype is not None:
        if _API_MEDIA.search(ctype):
            return None
        kind = _media_kind(ctype)
        if kind is not None:
            return kind
    dest = (headers.get("sec-fetch-dest") or "").strip().lower()
    if dest in _DEST_KIND:
        return _DEST_KIND[dest]
    if _STATIC_SUFFIX.search(view.path):
        return "static file"
    mode = (headers.get("sec-fetch-mode") or "").strip().lower()
    if view.method == "POST" and (mode == "no-cors" or (headers.get("content-type") or "").startswith("text/plain")):
        return "beacon"  # navigator.sendBeacon, analytics pings
    if ctype == "text/plain" and view.status == 204:
        return "beacon"
    return None
