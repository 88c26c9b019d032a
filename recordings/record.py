"""Record demo traffic against ``demo_api.py`` through a mitmproxy reverse proxy.

Run from the repository root with the project's virtualenv::

    python recordings/record.py

It starts the demo API and ``mitmdump`` (found next to ``sys.executable``) on
free loopback ports, drives a fixed scripted session through the proxy, then
shuts both down and checks that ``recordings/demo.flows`` (mitmproxy's native
format) and ``recordings/demo.har`` were written. Only 127.0.0.1 is contacted.

The sequence of requests and their payloads are fixed; only ports, dates and
timings differ between runs. Each step states the status the demo API is
expected to answer with, so that a change in the API that would silently
drop a violation (or a clean case) from the recording makes this script fail
(and leaves no half-written recording behind).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
DEMO_API = HERE / "demo_api.py"
FLOWS_PATH = HERE / "demo.flows"
HAR_PATH = HERE / "demo.har"

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0
REQUEST_TIMEOUT = 10.0

# Same fake secrets as demo_api.py; duplicated rather than imported so the
# recorder talks to the API purely over HTTP, like any other client.
BEARER = "Bearer demo-secret-token-123"
READONLY_BEARER = "Bearer demo-readonly-token-456"
API_KEY = "demo-api-key-7f3a9c"
LEGACY_LOGIN = {"user": "admin", "password": "demo-password-hunter2"}
CSRF_TOKEN = "demo-csrf-token-789"

JSON_ACCEPT = {"Accept": "application/json"}
BROWSER_ACCEPT = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


class RecordingError(Exception):
    """Anything that makes the recording unusable."""


# --------------------------------------------------------------------------
# HTTP client
# --------------------------------------------------------------------------


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Surface 3xx answers as-is: the redirects themselves are under test."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Exchange:
    method: str
    path: str
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """A tiny urllib client that never proxies, redirects or raises on 4xx/5xx."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        # An empty ProxyHandler stops urllib from honouring *_proxy env vars,
        # which could otherwise route loopback traffic somewhere else.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect())
        self.sent = 0

    def call(
        self,
        method: str,
        path: str,
        expect: int,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        raw: tuple[str, bytes] | None = None,
    ) -> Exchange:
        """Send one request; raise unless the answer's status is ``expect``."""
        # A fixed User-Agent keeps the recording independent of the Python
        # version that produced it.
        all_headers = {"User-Agent": "statuslint-demo-recorder/1.0"}
        all_headers.update(headers or {})
        data: bytes | None = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif raw is not None:
            all_headers["Content-Type"], data = raw
        req = urllib.request.Request(self.base_url + path, data=data, headers=all_headers, method=method)
        try:
            with self.opener.open(req, timeout=REQUEST_TIMEOUT) as resp:
                status, resp_headers, body = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            # 3xx (redirects not followed) and 4xx/5xx all land here.
            status, resp_headers, body = err.code, err.headers, err.read()
        self.sent += 1
        if status != expect:
            # Later steps build on earlier answers (ids, ETags, Location),
            # so carrying on after a surprise would only produce noise.
            raise RecordingError(f"{method} {path}: expected {expect}, got {status}")
        return Exchange(method, path, status, dict(resp_headers.items()), body)


# --------------------------------------------------------------------------
# The scripted session
# --------------------------------------------------------------------------


def books_session(c: Client) -> None:
    """Exemplary endpoints: every answer here should pass every rule."""
    auth = {**JSON_ACCEPT, "Authorization": BEARER}

    listing = c.call("GET", "/v1/books", 200, headers=JSON_ACCEPT)
    c.call(
        "GET",
        "/v1/books",
        304,
        headers={**JSON_ACCEPT, "If-None-Match": listing.headers["ETag"]},
    )
    c.call("GET", "/v1/books?limit=2&offset=1", 200, headers=JSON_ACCEPT)
    c.call("GET", "/v1/books?limit=abc", 400, headers=JSON_ACCEPT)

    first = c.call("GET", "/v1/books/1", 200, headers=JSON_ACCEPT)
    c.call("HEAD", "/v1/books/1", 200, headers=JSON_ACCEPT)
    c.call(
        "GET",
        "/v1/books/1",
        304,
        headers={**JSON_ACCEPT, "If-None-Match": first.headers["ETag"]},
    )
    c.call("GET", "/v1/books/2", 200, headers=JSON_ACCEPT)

    new_book = {
        "title": "The Dispossessed",
        "author": "Ursula K. Le Guin",
        "year": 1973,
    }
    c.call("POST", "/v1/books", 401, headers=JSON_ACCEPT, json_body=new_book)
    c.call(
        "POST",
        "/v1/books",
        401,
        headers={**JSON_ACCEPT, "Authorization": "Bearer demo-expired-token-000"},
        json_body=new_book,
    )
    c.call(
        "POST",
        "/v1/books",
        403,
        headers={**JSON_ACCEPT, "Authorization": READONLY_BEARER},
        json_body=new_book,
    )
    c.call(
        "POST",
        "/v1/books",
        415,
        headers=auth,
        raw=("text/plain", b"The Dispossessed by Ursula K. Le Guin"),
    )
    c.call(
        "POST",
        "/v1/books",
        400,
        headers=auth,
        raw=("application/json", b'{"title": "The Dispossessed",'),
    )
    c.call(
        "POST",
        "/v1/books",
        422,
        headers=auth,
        json_body={"author": "Ursula K. Le Guin", "year": "1973"},
    )

    created = c.call("POST", "/v1/books", 201, headers=auth, json_body=new_book)
    book_url = created.headers["Location"]
    old_etag = c.call("GET", book_url, 200, headers=JSON_ACCEPT).headers["ETag"]
    extra = c.call(
        "POST",
        "/v1/books",
        201,
        headers=auth,
        json_body={"title": "Roadside Picnic", "author": "Strugatsky", "year": 1972},
    )
    c.call(
        "POST",
        "/v1/books",
        201,
        headers=auth,
        json_body={
            "title": "Parable of the Sower",
            "author": "Octavia E. Butler",
            "year": 1993,
        },
    )
    c.call("GET", "/v1/books", 200, headers=JSON_ACCEPT)

    c.call(
        "PUT",
        book_url,
        200,
        headers={**auth, "If-Match": old_etag},
        json_body={**new_book, "title": "The Dispossessed: An Ambiguous Utopia"},
    )
    c.call(
        "PUT",
        book_url,
        412,
        headers={**auth, "If-Match": old_etag},
        json_body=new_book,
    )
    c.call("PATCH", book_url, 200, headers=auth, json_body={"year": 1974})
    c.call("PATCH", book_url, 422, headers=auth, json_body={"year": "1974"})
    c.call(
        "GET",
        book_url,
        200,
        headers={**JSON_ACCEPT, "If-None-Match": old_etag},
    )
    # A DELETE that failed deletes nothing: the book is still served.
    c.call("DELETE", book_url, 401, headers=JSON_ACCEPT)
    c.call("DELETE", book_url, 403, headers={**JSON_ACCEPT, "Authorization": READONLY_BEARER})
    c.call("GET", book_url, 200, headers=JSON_ACCEPT)

    text_url = f"{book_url}/text"
    text = c.call("GET", text_url, 200)
    c.call("GET", text_url, 206, headers={"Range": "bytes=0-63"})
    c.call("GET", text_url, 206, headers={"Range": "bytes=64-127"})
    c.call("GET", text_url, 206, headers={"Range": "bytes=-32"})
    c.call("GET", text_url, 416, headers={"Range": "bytes=100000-"})
    c.call(
        "GET",
        text_url,
        200,
        headers={"Range": "bytes=0-9", "If-Range": '"0000000000stale"'},
    )
    c.call(
        "GET",
        text_url,
        206,
        headers={"Range": "bytes=0-9", "If-Range": text.headers["ETag"]},
    )
    c.call("HEAD", text_url, 200)

    c.call("DELETE", "/v1/books", 405, headers=auth)
    c.call("POST", text_url, 405, headers=auth, json_body={})
    c.call("OPTIONS", "/v1/books", 204, headers=JSON_ACCEPT)

    # One URL's whole life: created, read, deleted, gone, re-created by PUT.
    doomed = extra.headers["Location"]
    c.call("GET", doomed, 200, headers=JSON_ACCEPT)
    c.call("DELETE", doomed, 204, headers=auth)
    c.call("GET", doomed, 404, headers=JSON_ACCEPT)
    c.call("HEAD", doomed, 404, headers=JSON_ACCEPT)
    c.call("DELETE", doomed, 404, headers=auth)
    recreated = c.call(
        "PUT",
        doomed,
        201,
        headers=auth,
        json_body={"title": "Roadside Picnic", "author": "A. & B. Strugatsky", "year": 1972},
    )
    c.call("GET", recreated.headers["Location"], 200, headers=JSON_ACCEPT)
    c.call("GET", "/v1/books/999", 404, headers=JSON_ACCEPT)

    for query in ["le guin", "butler", "solaris", "picnic", "utopia"]:
        path = "/v1/books/search?" + urllib.parse.urlencode({"q": query})
        c.call("GET", path, 200, headers=auth)
    c.call("GET", "/v1/books/search?q=kindred", 429, headers=auth)

    job = c.call("POST", "/v1/books/1/exports", 202, headers=auth)
    job_url = job.headers["Location"]
    c.call("GET", job_url, 200, headers=JSON_ACCEPT)
    done = c.call("GET", job_url, 303, headers=JSON_ACCEPT)
    export = c.call("GET", done.headers["Location"], 200, headers=JSON_ACCEPT)
    c.call(
        "GET",
        done.headers["Location"],
        304,
        headers={**JSON_ACCEPT, "If-None-Match": export.headers["ETag"]},
    )


def authors_session(c: Client) -> None:
    """A "mostly fine" API with the usual shortcuts."""
    key = {**JSON_ACCEPT, "X-Api-Key": API_KEY}

    c.call("GET", "/v1/authors", 401, headers=JSON_ACCEPT)  # no challenge
    c.call("GET", "/v1/authors", 200, headers=key)
    c.call("GET", "/v1/authors?limit=abc", 500, headers=key)  # crashes
    c.call("POST", "/v1/authors", 400, headers=key, json_body={"born": 1950})  # books says 422
    created = c.call(
        "POST",
        "/v1/authors",
        201,  # without Location
        headers=key,
        json_body={"name": "Octavia E. Butler", "born": 1947},
    )
    author_url = f"/v1/authors/{created.json()['id']}"
    c.call("GET", author_url, 200, headers=key)
    c.call("PATCH", author_url, 200, headers=key, json_body={"born": 1947})
    c.call("PUT", author_url, 405, headers=key, json_body={"name": "O. E. Butler"})  # without Allow
    c.call("POST", author_url, 405, headers=key, json_body={})  # Allow omits PATCH
    c.call(
        "POST",
        f"{author_url}/aliases",
        200,  # with Location
        headers=key,
        json_body={"alias": "O. E. Butler"},
    )
    c.call("GET", "/v1/authors/1/bio", 200, headers=key)  # HTML to a JSON client
    c.call("HEAD", "/v1/authors/1/bio", 405, headers=key)  # though GET works
    c.call(
        "PUT",
        "/v1/authors/1/bio",
        204,  # books answers updates 200
        headers=key,
        json_body={"bio": "Wrote Earthsea."},
    )
    c.call("POST", "/v1/authors/reindex", 202, headers=key)  # no link, no body
    for query in ["le guin", "lem", "butler"]:
        path = "/v1/authors/search?" + urllib.parse.urlencode({"q": query})
        c.call("GET", path, 200, headers=key)
    c.call("GET", "/v1/authors/search?q=lem", 429, headers=key)  # no Retry-After
    c.call("DELETE", author_url, 200, headers=key)  # 200 with a body
    c.call("GET", author_url, 200, headers=key)  # {"success": false}


def legacy_session(c: Client) -> None:
    """The old PHP-style backend, driven like a browser plus its AJAX calls."""
    c.call("GET", "/legacy/admin", 403, headers=BROWSER_ACCEPT)  # anonymous
    c.call("GET", "/legacy/home", 200, headers=BROWSER_ACCEPT)
    login = c.call("POST", "/legacy/login.php", 302, headers=BROWSER_ACCEPT, form=LEGACY_LOGIN)
    # Replay the session cookie by hand rather than via a cookie jar so the
    # exact Cookie header of every request is visible in this script.
    cookie = login.headers["Set-Cookie"].split(";", 1)[0]
    browser = {**BROWSER_ACCEPT, "Cookie": cookie}
    ajax = {**JSON_ACCEPT, "Cookie": cookie, "X-Requested-With": "XMLHttpRequest"}

    c.call("GET", "/legacy/home", 200, headers=browser)
    c.call("GET", "/legacy/admin", 200, headers=browser)
    c.call("GET", "/legacy/api.php?action=createItem&name=doohickey", 201, headers=ajax)
    c.call("GET", "/legacy/api.php?action=getItem&id=3", 200, headers=ajax)
    c.call("GET", "/legacy/api.php?action=getItem&id=99", 200, headers=ajax)
    c.call(
        "POST",
        "/legacy/api.php?action=save",
        419,
        headers=ajax,
        form={"id": "3", "name": "thingamajig"},
    )
    c.call(
        "POST",
        "/legacy/api.php?action=save",
        200,
        headers=ajax,
        form={"id": "3", "name": "thingamajig", "csrf": CSRF_TOKEN},
    )
    c.call("GET", "/legacy/items/1", 200, headers=ajax)
    c.call("DELETE", "/legacy/items/1", 405, headers=ajax)
    c.call("PUT", "/legacy/items/1", 404, headers=ajax, form={"name": "widget"})  # it exists
    c.call("PATCH", "/legacy/items/1", 501, headers=ajax, form={"name": "widget"})  # PATCH works on books
    c.call("POST", "/legacy/items/1/touch", 200, headers=ajax)
    item = c.call("POST", "/legacy/items", 201, headers=ajax, form={"name": "sprocket"})
    c.call("GET", item.headers["Location"], 404, headers=ajax)  # the Location is wrong
    c.call("GET", "/legacy/download?file=report.csv", 206, headers=browser)
    c.call(
        "GET",
        "/legacy/download?file=report.csv",
        206,
        headers={**browser, "Range": "bytes=0-99"},
    )
    c.call(
        "GET",
        "/legacy/download?file=report.csv",
        416,
        headers={**browser, "Range": "bytes=99999-"},
    )
    c.call("GET", "/legacy/feed", 200, headers=ajax)
    c.call("GET", "/legacy/feed", 304, headers={**ajax, "X-Feed-Version": "42"})
    c.call("GET", "/legacy/reports", 503, headers=browser)
    c.call("GET", "/legacy/export.xml", 501, headers=browser)
    c.call("GET", "/legacy/ping", 200)
    c.call("GET", "/legacy/go?to=/legacy/home", 307, headers=browser)
    c.call("GET", "/legacy/logout", 302, headers=browser)


def files_session(c: Client) -> None:
    """/v1/files: each answer alone is plausible; the sequence is what is wrong."""
    text = ("text/plain", b"shopping: milk, tea\n")
    c.call("GET", "/v1/files/notes.txt", 404, headers=JSON_ACCEPT)
    c.call("PUT", "/v1/files/notes.txt", 200, headers=JSON_ACCEPT, raw=text)  # put-created-without-201
    got = c.call("GET", "/v1/files/notes.txt", 200)
    c.call("GET", "/v1/files/notes.txt", 200, headers={"If-None-Match": got.headers["ETag"]})  # ignored
    meta = c.call("GET", "/v1/files/notes.txt/meta", 200, headers=JSON_ACCEPT)
    # not-modified-drops-validator
    c.call("GET", "/v1/files/notes.txt/meta", 304, headers={**JSON_ACCEPT, "If-None-Match": meta.headers["ETag"]})
    c.call("OPTIONS", "/v1/files/notes.txt", 204)
    c.call("PATCH", "/v1/files/notes.txt", 405, headers=JSON_ACCEPT, raw=text)  # allow-lists-failing-method
    preflight = {"Origin": "http://app.localhost:3000", "Access-Control-Request-Method": "DELETE"}
    c.call("OPTIONS", "/v1/files/notes.txt", 204, headers=preflight)  # cors-contradicts-traffic
    c.call("DELETE", "/v1/files/notes.txt", 204)


def sloppy_session(c: Client) -> None:
    """Answers real servers were seen to give (issue 12): one per per-flow rule."""
    c.call("GET", "/sloppy/tags", 200, headers=JSON_ACCEPT)
    c.call("OPTIONS", "/sloppy/tags", 204)
    c.call("GET", "/sloppy/tags/1", 200, headers=JSON_ACCEPT)
    c.call("PUT", "/sloppy/tags/1", 412, headers=JSON_ACCEPT, json_body={"name": "blue"})
    c.call("PUT", "/sloppy/tags/1", 304, headers={**JSON_ACCEPT, "If-None-Match": '"x"'}, json_body={"name": "blue"})
    c.call("POST", "/sloppy/tags/1", 405, headers=JSON_ACCEPT, json_body={"name": "blue"})
    c.call("DELETE", "/sloppy/tags/1", 400)
    c.call("GET", "/sloppy/report", 202, headers=JSON_ACCEPT)
    c.call("GET", "/sloppy/report?now=1", 500, headers=JSON_ACCEPT)
    c.call("GET", "/sloppy/status", 404, headers=JSON_ACCEPT)
    c.call("GET", "/sloppy/limits", 429, headers=JSON_ACCEPT)
    c.call("POST", "/sloppy/uploads", 413, headers=JSON_ACCEPT)
    c.call("POST", "/sloppy/uploads", 201, headers=JSON_ACCEPT, raw=("text/plain", b"file contents"))
    c.call("GET", "/sloppy/me", 401, headers={**JSON_ACCEPT, "Authorization": "Bearer demo-expired-token-000"})
    c.call("GET", "/sloppy/me", 401, headers={**JSON_ACCEPT, "Authorization": "Bearer demo-token-without-scope"})
    c.call("GET", "/sloppy/teapot", 418, headers=JSON_ACCEPT)
    c.call("GET", "/sloppy/download", 200, headers={"Range": "bytes=0-99"})
    c.call("GET", "/sloppy/loop", 302)
    c.call("PUT", "/sloppy/notes/1", 428, headers={**JSON_ACCEPT, "If-Match": '"v1"'}, json_body={"text": "x"})
    c.call("PATCH", "/sloppy/notes/1", 415, headers=JSON_ACCEPT, raw=("text/plain", b"text=x"))
    c.call("PATCH", "/sloppy/notes/1", 200, headers=JSON_ACCEPT, json_body={"text": "x"})
    c.call("GET", "/sloppy/files/1", 416)
    c.call("GET", "/sloppy/files/1", 206, headers={"Range": "bytes=0-99"})
    c.call("POST", "/sloppy/files/1", 206, headers={"Range": "bytes=0-4"}, raw=("text/plain", b"q"))
    c.call("GET", "/sloppy/misc/v2", 426, headers=JSON_ACCEPT)
    c.call("POST", "/sloppy/misc/stream", 411, headers=JSON_ACCEPT, raw=("text/plain", b"chunk"))
    c.call("POST", "/sloppy/misc/order", 417, headers=JSON_ACCEPT, json_body={"item": 1})


# --------------------------------------------------------------------------
# Process management
# --------------------------------------------------------------------------


def free_port() -> int:
    # Racy in theory (the port is released before use), fine for a local demo.
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RecordingError(f"{name} exited early with code {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RecordingError(f"{name} did not listen on {HOST}:{port} in time")


def find_mitmdump() -> str:
    # Not resolving symlinks: a venv's python is usually a symlink to the
    # system interpreter, whose directory has no mitmdump.
    candidate = Path(sys.executable).parent / "mitmdump"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("mitmdump")
    if found is None:
        raise RecordingError("mitmdump not found next to sys.executable or on PATH")
    return found


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@contextmanager
def running(cmd: list[str], log: IO[bytes], name: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc, name)
        yield proc
    finally:
        stop(proc)


def count_flows(path: Path) -> int:
    from mitmproxy import io  # imported late: only needed for the final check

    with path.open("rb") as fh:
        return sum(1 for _ in io.FlowReader(fh).stream())


def record(workdir: Path) -> tuple[int, int]:
    """Run the whole recording; return (requests sent, flows written)."""
    for path in (FLOWS_PATH, HAR_PATH):
        path.unlink(missing_ok=True)
    api_port, proxy_port = free_port(), free_port()
    api_cmd = [sys.executable, str(DEMO_API), "--port", str(api_port)]
    proxy_cmd = [
        find_mitmdump(),
        "--mode",
        f"reverse:http://{HOST}:{api_port}",
        "--listen-host",
        HOST,
        "-p",
        str(proxy_port),
        "--set",
        f"confdir={workdir / 'mitmproxy'}",  # keep generated CA out of ~
        "-w",
        str(FLOWS_PATH),
        "--set",
        f"hardump={HAR_PATH}",
        "-q",
    ]
    api_log_path, proxy_log_path = workdir / "api.log", workdir / "mitmdump.log"
    with (
        api_log_path.open("wb") as api_log,
        proxy_log_path.open("wb") as proxy_log,
        running(api_cmd, api_log, "demo API", api_port),
        running(proxy_cmd, proxy_log, "mitmdump", proxy_port) as proxy,
    ):
        try:
            client = Client(f"http://{HOST}:{proxy_port}")
            books_session(client)
            authors_session(client)
            legacy_session(client)
            files_session(client)
            sloppy_session(client)
        except Exception:
            sys.stderr.write(api_log_path.read_text(errors="replace")[-4000:])
            raise
        # SIGTERM triggers mitmdump's orderly shutdown, which is when the
        # HAR file gets written.
        code = stop(proxy)
        if code != 0:
            sys.stderr.write(proxy_log_path.read_text(errors="replace"))
            raise RecordingError(f"mitmdump exited with code {code}")

    for path in (FLOWS_PATH, HAR_PATH):
        if not path.is_file() or path.stat().st_size == 0:
            raise RecordingError(f"{path} is missing or empty")
    flows = count_flows(FLOWS_PATH)
    har_entries = len(json.loads(HAR_PATH.read_text())["log"]["entries"])
    if not flows == har_entries == client.sent:
        raise RecordingError(f"sent {client.sent} requests but recorded {flows} flows and {har_entries} HAR entries")
    return client.sent, flows


def main() -> int:
    try:
        with tempfile.TemporaryDirectory(prefix="statuslint-record-") as tmp:
            _, flows = record(Path(tmp))
    except (RecordingError, OSError, KeyError, ValueError) as err:
        if isinstance(err, KeyError):
            err = RecordingError(f"an answer lacked the expected field {err}")
        print(f"record.py: error: {err}", file=sys.stderr)
        # A partial recording would look plausible but miss cases; drop it.
        for path in (FLOWS_PATH, HAR_PATH):
            path.unlink(missing_ok=True)
        return 1
    rel = os.path.relpath
    print(f"recorded {flows} flows to {rel(FLOWS_PATH)} and {rel(HAR_PATH)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
