"""A small in-memory CRUD API used to record demo traffic for statuslint.

The API deliberately mixes good and bad HTTP behaviour so that a recording
of it exercises both the "clean" and the "violation" paths of every rule:

* ``/v1/books``, ``/v1/jobs`` and ``/v1/exports`` are exemplary: correct status codes,
  ``Location`` on creation, ``ETag`` + conditional requests, byte ranges,
  ``WWW-Authenticate`` / ``Allow`` / ``Retry-After`` where required, RFC 9457
  problem bodies on errors.
* ``/v1/authors`` is sloppy in the ways real "mostly fine" APIs are sloppy.
* ``/legacy/...`` imitates an old PHP-style backend and breaks almost every
  convention there is.

Every credential in here is an obviously fake demo value; they exist so that
the recorded traffic contains secrets for statuslint to redact.

Run it with ``python recordings/demo_api.py --port 8000`` (binds 127.0.0.1
only) or import :func:`create_app`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time
from collections import deque
from typing import Any

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

# Fake credentials. They look real on purpose: the recording must contain
# plausible secrets so that redaction can be demonstrated and tested.
BEARER_TOKEN = "demo-secret-token-123"
READONLY_TOKEN = "demo-readonly-token-456"
API_KEY = "demo-api-key-7f3a9c"
LEGACY_USER = "admin"
LEGACY_PASSWORD = "demo-password-hunter2"
SESSION_ID = "demo-session-cookie-abc123"
CSRF_TOKEN = "demo-csrf-token-789"

BOOKS_RATE_LIMIT = 5
AUTHORS_RATE_LIMIT = 3
RATE_WINDOW_SECONDS = 60.0

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


# --------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------


class Store:
    """Thread-safe in-memory state; the dev server runs threaded."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.books: dict[int, dict[str, Any]] = {}
        self.authors: dict[int, dict[str, Any]] = {}
        self.items: dict[int, dict[str, Any]] = {}
        self.jobs: dict[int, dict[str, Any]] = {}
        self.exports: dict[int, dict[str, Any]] = {}
        self.aliases: dict[int, list[str]] = {}
        self.bios: dict[int, str] = {}
        self._next_id: dict[str, int] = {}
        self._hits: dict[str, deque[float]] = {}
        self._seed()

    def next_id(self, kind: str) -> int:
        value = self._next_id.get(kind, 1)
        self._next_id[kind] = value + 1
        return value

    def _seed(self) -> None:
        for title, author, year in [
            ("The Left Hand of Darkness", "Ursula K. Le Guin", 1969),
            ("Kindred", "Octavia E. Butler", 1979),
            ("Solaris", "Stanislaw Lem", 1961),
        ]:
            book_id = self.next_id("book")
            self.books[book_id] = {
                "id": book_id,
                "title": title,
                "author": author,
                "year": year,
            }
        for name, born in [("Ursula K. Le Guin", 1929), ("Stanislaw Lem", 1921)]:
            author_id = self.next_id("author")
            self.authors[author_id] = {"id": author_id, "name": name, "born": born}
        for name in ["widget", "gadget"]:
            item_id = self.next_id("item")
            self.items[item_id] = {"id": item_id, "name": name, "touched": 0}

    def hit(self, bucket: str, limit: int) -> float | None:
        """Record a request; return seconds to wait if over the limit.

        A sliding window rather than a fixed one keeps the outcome of a quick
        scripted burst independent of where a wall-clock minute boundary falls.
        """
        now = time.monotonic()
        with self.lock:
            hits = self._hits.setdefault(bucket, deque())
            while hits and now - hits[0] >= RATE_WINDOW_SECONDS:
                hits.popleft()
            if len(hits) >= limit:
                return RATE_WINDOW_SECONDS - (now - hits[0])
            hits.append(now)
            return None


# --------------------------------------------------------------------------
# Response helpers
# --------------------------------------------------------------------------


def dump(obj: Any) -> bytes:
    # Canonical serialisation so that ETags are stable across requests.
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def etag_for(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:20]


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dump(obj), status=status, mimetype=JSON, headers=headers)


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = request.path
    body.update(extra)
    return Response(dump(body), status=status, mimetype=PROBLEM_JSON, headers=headers)


def empty(status: int, headers: dict[str, str] | None = None) -> Response:
    resp = Response(b"", status=status, headers=headers)
    # Werkzeug gives every Response a text/html Content-Type, which is
    # misleading on bodiless 204/304 answers.
    del resp.headers["Content-Type"]
    return resp


def cacheable(obj: Any) -> Response:
    """200 with a strong ETag, or 304 if the client already has it."""
    body = dump(obj)
    tag = etag_for(body)
    if request.if_none_match.contains_weak(tag):
        return empty(304, {"ETag": f'"{tag}"'})
    resp = Response(body, status=200, mimetype=JSON)
    resp.set_etag(tag)
    return resp


def bearer_token() -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def book_text(book: dict[str, Any]) -> bytes:
    # A deterministic ~1 KiB plain-text "manuscript" to serve byte ranges of.
    header = f"{book['title']}\nby {book['author']} ({book['year']})\n\n"
    line = f"This is line {{n:02d}} of the demo text of book {book['id']}.\n"
    return (header + "".join(line.format(n=n) for n in range(1, 21))).encode()


# --------------------------------------------------------------------------
# /v1/books, /v1/jobs, /v1/exports -- exemplary
# --------------------------------------------------------------------------


def make_books(store: Store) -> Blueprint:
    bp = Blueprint("books", __name__)
    book_fields = {"title": str, "author": str, "year": int}

    def require_token(write: bool) -> Response | None:
        token = bearer_token()
        if token is None:
            return problem(
                401,
                "Unauthorized",
                "A bearer token is required.",
                {"WWW-Authenticate": 'Bearer realm="statuslint-demo"'},
            )
        if token not in (BEARER_TOKEN, READONLY_TOKEN):
            return problem(
                401,
                "Unauthorized",
                "The bearer token is invalid.",
                {"WWW-Authenticate": 'Bearer realm="statuslint-demo", error="invalid_token"'},
            )
        if write and token == READONLY_TOKEN:
            return problem(403, "Forbidden", "This token is read-only.")
        return None

    def rate_limited() -> Response | None:
        wait = store.hit(f"books:{bearer_token()}", BOOKS_RATE_LIMIT)
        if wait is None:
            return None
        return problem(
            429,
            "Too Many Requests",
            f"At most {BOOKS_RATE_LIMIT} searches per minute.",
            {"Retry-After": str(max(1, int(wait + 0.999)))},
        )

    def validate(data: Any, partial: bool) -> list[dict[str, str]]:
        if not isinstance(data, dict):
            return [{"field": "", "message": "expected a JSON object"}]
        errors = []
        for field, kind in book_fields.items():
            if field not in data:
                if not partial:
                    errors.append({"field": field, "message": "is required"})
            elif not isinstance(data[field], kind) or isinstance(data[field], bool):
                errors.append({"field": field, "message": f"must be {kind.__name__}"})
        for field in data:
            if field not in book_fields:
                errors.append({"field": field, "message": "is not a known field"})
        return errors

    def read_body(partial: bool) -> dict[str, Any] | Response:
        if not request.is_json:
            return problem(
                415,
                "Unsupported Media Type",
                "Send application/json.",
                {"Accept-Patch": JSON} if request.method == "PATCH" else None,
            )
        data = request.get_json(silent=True)
        if data is None:
            return problem(400, "Bad Request", "The body is not valid JSON.")
        errors = validate(data, partial)
        if errors:
            return problem(422, "Unprocessable Content", "Validation failed.", errors=errors)
        return data

    def created(book: dict[str, Any]) -> Response:
        body = dump(book)
        resp = Response(body, status=201, mimetype=JSON)
        resp.headers["Location"] = f"/v1/books/{book['id']}"
        resp.set_etag(etag_for(body))
        return resp

    def precondition_failed(book: dict[str, Any]) -> Response | None:
        current = etag_for(dump(book))
        if request.if_match and not request.if_match.contains(current):
            return problem(412, "Precondition Failed", "The book was modified meanwhile.")
        return None

    @bp.get("/v1/books")
    def list_books() -> Response:
        try:
            limit = int(request.args.get("limit", "20"))
            offset = int(request.args.get("offset", "0"))
        except ValueError:
            return problem(400, "Bad Request", "limit and offset must be integers.")
        if not (1 <= limit <= 100 and offset >= 0):
            return problem(400, "Bad Request", "limit must be 1-100, offset >= 0.")
        with store.lock:
            books = sorted(store.books.values(), key=lambda b: b["id"])
        page = books[offset : offset + limit]
        return cacheable({"items": page, "total": len(books), "offset": offset})

    @bp.post("/v1/books")
    def create_book() -> Response:
        if denied := require_token(write=True):
            return denied
        data = read_body(partial=False)
        if isinstance(data, Response):
            return data
        with store.lock:
            book_id = store.next_id("book")
            # A PUT may already have created a book at an id the counter had not reached.
            while book_id in store.books:
                book_id = store.next_id("book")
            book = {"id": book_id, **data}
            store.books[book_id] = book
        return created(book)

    @bp.get("/v1/books/search")
    def search_books() -> Response:
        if denied := require_token(write=False):
            return denied
        if limited := rate_limited():
            return limited
        query = request.args.get("q", "").lower()
        with store.lock:
            hits = [b for b in store.books.values() if query in b["title"].lower() or query in b["author"].lower()]
        return json_response({"items": sorted(hits, key=lambda b: b["id"])})

    @bp.get("/v1/books/<int:book_id>")
    def get_book(book_id: int) -> Response:
        book = store.books.get(book_id)
        if book is None:
            return problem(404, "Not Found", f"No book with id {book_id}.")
        return cacheable(book)

    @bp.route("/v1/books/<int:book_id>", methods=["PUT", "PATCH"])
    def update_book(book_id: int) -> Response:
        if denied := require_token(write=True):
            return denied
        data = read_body(partial=request.method == "PATCH")
        if isinstance(data, Response):
            return data
        with store.lock:
            book = store.books.get(book_id)
            if book is None and request.method == "PUT":
                # PUT stores the representation at the URL the client chose, so it
                # may (re-)create the book: 201 with Location, not 404. If-Match names
                # a current representation, which a missing book cannot match.
                if request.if_match:
                    return problem(412, "Precondition Failed", f"No book with id {book_id}.")
                book = store.books[book_id] = {"id": book_id, **data}
                return created(book)
            if book is None:
                return problem(404, "Not Found", f"No book with id {book_id}.")
            if failed := precondition_failed(book):
                return failed
            # PUT replaces the representation, PATCH merges into it.
            book = {"id": book_id, **data} if request.method == "PUT" else {**book, **data}
            store.books[book_id] = book
        body = dump(book)
        resp = Response(body, status=200, mimetype=JSON)
        resp.set_etag(etag_for(body))
        return resp

    @bp.delete("/v1/books/<int:book_id>")
    def delete_book(book_id: int) -> Response:
        if denied := require_token(write=True):
            return denied
        with store.lock:
            if store.books.pop(book_id, None) is None:
                return problem(404, "Not Found", f"No book with id {book_id}.")
        return empty(204)

    @bp.get("/v1/books/<int:book_id>/text")
    def book_text_view(book_id: int) -> Response:
        book = store.books.get(book_id)
        if book is None:
            return problem(404, "Not Found", f"No book with id {book_id}.")
        text = book_text(book)
        tag = etag_for(text)
        headers = {"ETag": f'"{tag}"', "Accept-Ranges": "bytes"}
        if request.if_none_match.contains_weak(tag):
            return empty(304, headers)
        rng = request.range  # None when absent *or* syntactically invalid
        # If-Range: a stale validator means "send me the whole thing".
        if "If-Range" in request.headers and request.if_range.etag != tag:
            rng = None
        # Multi-range requests are legal to answer with the full 200.
        if rng is not None and rng.units == "bytes" and len(rng.ranges) == 1:
            span = rng.range_for_length(len(text))
            if span is None:
                return problem(
                    416,
                    "Range Not Satisfiable",
                    f"The text is {len(text)} bytes long.",
                    {**headers, "Content-Range": f"bytes */{len(text)}"},
                )
            start, stop = span
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{len(text)}"
            return Response(
                text[start:stop],
                status=206,
                mimetype="text/plain",
                headers=headers,
            )
        return Response(text, status=200, mimetype="text/plain", headers=headers)

    @bp.post("/v1/books/<int:book_id>/exports")
    def start_export(book_id: int) -> Response:
        if denied := require_token(write=False):
            return denied
        with store.lock:
            if book_id not in store.books:
                return problem(404, "Not Found", f"No book with id {book_id}.")
            job_id = store.next_id("job")
            store.jobs[job_id] = {"id": job_id, "book_id": book_id, "polls": 0}
        return json_response(
            {"id": job_id, "status": "queued", "href": f"/v1/jobs/{job_id}"},
            202,
            {"Location": f"/v1/jobs/{job_id}"},
        )

    @bp.get("/v1/jobs/<int:job_id>")
    def job_status(job_id: int) -> Response:
        with store.lock:
            job = store.jobs.get(job_id)
            if job is None:
                return problem(404, "Not Found", f"No job with id {job_id}.")
            # Finishing on the second poll keeps the recording deterministic
            # while still showing both the "running" and the "done" state.
            job["polls"] += 1
            if job["polls"] < 2:
                return json_response(
                    {"id": job_id, "status": "running"},
                    headers={"Retry-After": "1"},
                )
            export_id = job.get("export_id")
            if export_id is None:
                export_id = store.next_id("export")
                book = store.books[job["book_id"]]
                store.exports[export_id] = {
                    "id": export_id,
                    "book": book,
                    "format": "json",
                }
                job["export_id"] = export_id
        resp = json_response(
            {"id": job_id, "status": "done", "result": f"/v1/exports/{export_id}"},
            303,
        )
        resp.headers["Location"] = f"/v1/exports/{export_id}"
        return resp

    @bp.get("/v1/exports/<int:export_id>")
    def get_export(export_id: int) -> Response:
        export = store.exports.get(export_id)
        if export is None:
            return problem(404, "Not Found", f"No export with id {export_id}.")
        return cacheable(export)

    return bp


# --------------------------------------------------------------------------
# /v1/authors -- sloppy
# --------------------------------------------------------------------------


def make_authors(store: Store) -> Blueprint:
    bp = Blueprint("authors", __name__)

    @bp.before_request
    def check_api_key() -> Response | None:
        if request.headers.get("X-Api-Key") != API_KEY:
            # Sloppy: 401 without a WWW-Authenticate challenge.
            return json_response({"error": "invalid or missing API key"}, 401)
        return None

    @bp.get("/v1/authors")
    def list_authors() -> Response:
        # Sloppy: no validation, so ?limit=abc raises ValueError -> 500.
        limit = int(request.args.get("limit", "50"))
        with store.lock:
            authors = sorted(store.authors.values(), key=lambda a: a["id"])
        return json_response({"authors": authors[:limit]})

    @bp.post("/v1/authors")
    def create_author() -> Response:
        data = request.get_json(silent=True) or {}
        if not data.get("name"):
            # Sloppy: a well-formed but invalid body is a 400 here, where
            # /v1/books answers 422 (and keeps 400 for malformed JSON).
            return json_response({"error": "name is required"}, 400)
        with store.lock:
            author_id = store.next_id("author")
            author = {"id": author_id, "name": data.get("name"), "born": data.get("born")}
            store.authors[author_id] = author
        # Sloppy: 201 but no Location header.
        return json_response(author, 201)

    @bp.get("/v1/authors/search")
    def search_authors() -> Response:
        if store.hit("authors", AUTHORS_RATE_LIMIT) is not None:
            # Sloppy: 429 without Retry-After.
            return json_response({"error": "slow down"}, 429)
        query = request.args.get("q", "").lower()
        with store.lock:
            hits = [a for a in store.authors.values() if query in a["name"].lower()]
        return json_response({"authors": hits})

    @bp.post("/v1/authors/reindex")
    def reindex_authors() -> Response:
        # Sloppy: 202 with neither a status link nor a body.
        return empty(202)

    @bp.route("/v1/authors/<int:author_id>", methods=["GET", "PATCH", "PUT", "POST", "DELETE"])
    def author(author_id: int) -> Response:
        if request.method == "PUT":
            # Sloppy: a hand-rolled 405 that forgets the Allow header.
            return json_response({"error": "PUT not supported, use PATCH"}, 405)
        if request.method == "POST":
            # Sloppy: an Allow written before PATCH was added, and never updated.
            return json_response({"error": "use PATCH"}, 405, {"Allow": "GET, DELETE"})
        with store.lock:
            found = store.authors.get(author_id)
            if found is None:
                # Sloppy: "not found" tunnelled through a 200.
                return json_response({"success": False, "error": "author not found"})
            if request.method == "DELETE":
                del store.authors[author_id]
                # Sloppy: 200 with a body where 204 is expected.
                return json_response({"success": True, "deleted": author_id})
            if request.method == "PATCH":
                found.update(request.get_json(silent=True) or {})
        return json_response(found)

    @bp.route("/v1/authors/<int:author_id>/bio", methods=["GET", "PUT"])
    def author_bio(author_id: int) -> Response:
        if request.method == "HEAD":
            # Sloppy: HEAD refused although GET works (Flask would have answered
            # it like GET, without the body).
            return json_response({"error": "HEAD not supported"}, 405, {"Allow": "GET, PUT"})
        if request.method == "PUT":
            data = request.get_json(silent=True) or {}
            with store.lock:
                store.bios[author_id] = str(data.get("bio", ""))
            # Sloppy across the API: updates answer 204 here but 200 on /v1/books
            # (either is fine on its own; mixing them is not).
            return empty(204)
        author = store.authors.get(author_id)
        name = author["name"] if author else "Unknown"
        bio = store.bios.get(author_id, "Biography pending.")
        # Sloppy: HTML regardless of what the client asked for.
        return Response(
            f"<html><body><h1>{name}</h1><p>{bio}</p></body></html>",
            mimetype="text/html",
        )

    @bp.post("/v1/authors/<int:author_id>/aliases")
    def add_alias(author_id: int) -> Response:
        data = request.get_json(silent=True) or {}
        with store.lock:
            aliases = store.aliases.setdefault(author_id, [])
            aliases.append(str(data.get("alias", "")))
            index = len(aliases)
        # Sloppy: something was created, but the answer is 200 (with Location).
        return json_response(
            {"author_id": author_id, "aliases": aliases},
            200,
            {"Location": f"/v1/authors/{author_id}/aliases/{index}"},
        )

    return bp


# --------------------------------------------------------------------------
# /legacy -- very sloppy
# --------------------------------------------------------------------------


def make_legacy(store: Store) -> Blueprint:
    bp = Blueprint("legacy", __name__)
    report = b"".join(f"{n},widget-{n},{n * 3}\n".encode() for n in range(1, 41))  # ~0.6 KiB of CSV

    def logged_in() -> bool:
        return request.cookies.get("PHPSESSID") == SESSION_ID

    def html(body: str, status: int | str = 200) -> Response:
        return Response(f"<html><body>{body}</body></html>", status, mimetype="text/html")

    @bp.post("/legacy/login.php")
    def login() -> Response:
        ok = request.form.get("user") == LEGACY_USER and request.form.get("password") == LEGACY_PASSWORD
        # Sloppy: the classic POST -> 302 login redirect; only 303 says
        # unambiguously that the follow-up request must be a GET.
        resp = html("Redirecting...", 302)
        resp.headers["Location"] = "/legacy/home" if ok else "/legacy/login.php?e=1"
        if ok:
            resp.set_cookie("PHPSESSID", SESSION_ID, path="/legacy", httponly=True)
        return resp

    @bp.get("/legacy/home")
    def home() -> Response:
        if not logged_in():
            return html('<a href="/legacy/login.php">Please log in</a>')
        return html("<h1>Welcome back, admin</h1>")

    @bp.get("/legacy/logout")
    def logout() -> Response:
        # Sloppy: a 302 that relies on an HTML link instead of Location.
        resp = html('<a href="/legacy/login.php">Logged out, continue</a>', 302)
        resp.delete_cookie("PHPSESSID", path="/legacy")
        return resp

    @bp.get("/legacy/go")
    def go() -> Response:
        # Sloppy: 307 with the target only in a non-standard Refresh header.
        target = request.args.get("to", "/legacy/home")
        resp = html(f'<a href="{target}">continue</a>', 307)
        resp.headers["Refresh"] = f"0; url={target}"
        return resp

    @bp.get("/legacy/admin")
    def admin() -> Response:
        if not logged_in():
            # Sloppy: 403 to an anonymous client, which should have got 401.
            return html("<h1>Access denied</h1>", 403)
        return html("<h1>Admin panel</h1>")

    @bp.route("/legacy/api.php", methods=["GET", "POST"])
    def api() -> Response:
        action = request.args.get("action", "")
        if request.method == "POST":
            if request.form.get("csrf") != CSRF_TOKEN:
                # Sloppy: Laravel-style status code that no registry knows.
                return html("<h1>Page Expired</h1>", "419 Page Expired")
            return json_response({"status": "ok", "saved": True})
        if action == "createItem":
            name = request.args.get("name", "unnamed")
            with store.lock:
                item_id = store.next_id("item")
                store.items[item_id] = {"id": item_id, "name": name, "touched": 0}
            # Sloppy: a state-changing GET that answers 201.
            return json_response({"status": "ok", "id": item_id}, 201)
        if action == "getItem":
            item = store.items.get(int(request.args.get("id", "0")))
            if item is None:
                # Sloppy: an error tunnelled through 200.
                return json_response({"status": "error", "message": "no such item"})
            return json_response({"status": "ok", "item": item})
        return json_response({"status": "error", "message": "unknown action"})

    @bp.post("/legacy/items")
    def create_item() -> Response:
        with store.lock:
            item_id = store.next_id("item")
            store.items[item_id] = {"id": item_id, "name": request.form.get("name", "unnamed"), "touched": 0}
        # Sloppy: the Location names /legacy/item/<id> (singular), a page that
        # does not exist.
        return json_response({"status": "ok", "id": item_id}, 201, {"Location": f"/legacy/item/{item_id}"})

    @bp.route("/legacy/items/<int:item_id>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def item(item_id: int) -> Response:
        if request.method == "DELETE":
            # Sloppy: 405 whose Allow header lists DELETE itself.
            return json_response(
                {"error": "deleting is disabled"},
                405,
                {"Allow": "GET, POST, DELETE"},
            )
        if request.method == "PUT":
            # Sloppy: an unsupported method answered like a missing page.
            return html("<h1>Not found</h1>", 404)
        if request.method == "PATCH":
            # Sloppy: 501 for a method the server supports elsewhere (PATCH /v1/books/<id>).
            return html("<h1>Not Implemented</h1>", 501)
        found = store.items.get(item_id)
        if found is None:
            return html("<h1>Not found</h1>", 404)
        return json_response(found)

    @bp.post("/legacy/items/<int:item_id>/touch")
    def touch(item_id: int) -> Response:
        with store.lock:
            if item_id in store.items:
                store.items[item_id]["touched"] += 1
        # Sloppy: 200 with nothing in it (should be 204).
        return empty(200)

    @bp.get("/legacy/download")
    def download() -> Response:
        rng = request.range
        if rng is not None and rng.ranges and rng.ranges[0][0] >= len(report):
            # Sloppy: 416 without "Content-Range: bytes */len".
            return html("<h1>Bad range</h1>", 416)
        # Sloppy: always 206, whole file, no Content-Range, Range or not.
        return Response(report, 206, mimetype="text/csv")

    @bp.get("/legacy/feed")
    def feed() -> Response:
        # Sloppy: a home-grown cache validator instead of If-None-Match.
        if request.headers.get("X-Feed-Version") == "42":
            return Response(b"", 304)
        return json_response({"version": 42, "entries": ["widget", "gadget"]})

    @bp.get("/legacy/reports")
    def reports() -> Response:
        # Sloppy: "maintenance" 503 with no hint when to come back.
        return html("<h1>Down for maintenance</h1>", 503)

    @bp.get("/legacy/export.xml")
    def export_xml() -> Response:
        # Sloppy: 501 for GET, a method every server must implement.
        return html("<h1>Not Implemented</h1>", 501)

    @bp.get("/legacy/ping")
    def ping() -> Response:
        resp = Response(b"pong", 200)
        # Sloppy: a body with no Content-Type at all. Werkzeug always adds
        # one, so it has to be removed explicitly.
        del resp.headers["Content-Type"]
        return resp

    return bp


def make_sloppy(store: Store) -> Blueprint:
    """/sloppy: answers real servers were seen to give (issue 12), one per per-flow rule."""
    bp = Blueprint("sloppy", __name__)
    trace = (
        "Traceback (most recent call last):\n"
        '  File "/srv/demo/app.py", line 42, in report\n'
        "    total = rows[0].total\n"
        "IndexError: list index out of range\n"
    )

    @bp.route("/sloppy/tags", methods=["GET", "OPTIONS"])
    def tags() -> Response:
        if request.method == "OPTIONS":
            return empty(204)  # Sloppy: OPTIONS without Allow.
        # Sloppy: an unquoted ETag.
        return json_response(["red", "green"], headers={"ETag": "tags-v1"})

    @bp.route("/sloppy/tags/<int:tag_id>", methods=["GET", "PUT", "DELETE", "POST"])
    def tag(tag_id: int) -> Response:
        if request.method == "PUT" and "If-None-Match" in request.headers:
            return empty(304)  # Sloppy: 304 to a PUT.
        if request.method == "PUT":
            # Sloppy: 412 without any precondition in the request.
            return problem(412, "Precondition Failed", "the tag changed")
        if request.method == "POST":
            # Sloppy: an Allow that is not a comma-separated list.
            return problem(405, "Method Not Allowed", headers={"Allow": "GET PUT DELETE"})
        if request.method == "DELETE":
            return empty(400)  # Sloppy: an error with nothing explaining it.
        # Sloppy: a Location on a 200 to GET, and an incomplete %-escape in it.
        return json_response({"id": tag_id}, headers={"Location": f"/sloppy/tags/{tag_id}?discount=100%"})

    @bp.route("/sloppy/notes/<int:note_id>", methods=["PUT", "PATCH"])
    def note(note_id: int) -> Response:
        if request.method == "PUT":
            # Sloppy: 428 to a request that is conditional already.
            return problem(428, "Precondition Required")
        if request.mimetype != JSON:
            # Sloppy: 415 to a PATCH without Accept-Patch.
            return problem(415, "Unsupported Media Type")
        # Sloppy: an Allow that leaves out the method it just served.
        return json_response({"id": note_id}, headers={"Allow": "GET, PUT, DELETE"})

    @bp.route("/sloppy/files/1", methods=["GET", "POST"])
    def file() -> Response:
        data = b"0123456789"
        if request.range is None:
            # Sloppy: 416 to a request without Range.
            return Response(b"", 416, headers={"Content-Range": "bytes */10"})
        if request.method == "POST":
            # Sloppy: 206 to a POST.
            return Response(data[:5], 206, mimetype="text/plain", headers={"Content-Range": "bytes 0-4/10"})
        # Sloppy: a Content-Range claiming more bytes than the content carries.
        return Response(data, 206, mimetype="text/plain", headers={"Content-Range": "bytes 0-99/500"})

    @bp.route("/sloppy/misc/<what>", methods=["GET", "POST"])
    def misc(what: str) -> Response:
        if what == "v2":
            return problem(426, "Upgrade Required")  # Sloppy: 426 without Upgrade.
        if what == "stream":
            return problem(411, "Length Required")  # Sloppy: 411 to a request with Content-Length.
        return problem(417, "Expectation Failed")  # Sloppy: 417 without Expect.

    @bp.get("/sloppy/report")
    def report() -> Response:
        if request.args.get("now"):
            return Response(trace, 500, mimetype="text/plain")  # Sloppy: a traceback shown.
        return json_response({"state": "queued"}, 202)  # Sloppy: GET answered 202.

    @bp.get("/sloppy/status")
    def status() -> Response:
        # Sloppy: plain text labelled JSON.
        return Response(b"no status yet", 404, mimetype=JSON)

    @bp.get("/sloppy/limits")
    def limits() -> Response:
        # Sloppy: Retry-After with a unit.
        return problem(429, "Too Many Requests", headers={"Retry-After": "1.5s"})

    @bp.post("/sloppy/uploads")
    def upload() -> Response:
        if not request.get_data():
            return problem(413, "Content Too Large")  # Sloppy: 413 to an empty request.
        # Sloppy: a created resource named by a fragment.
        return json_response({"id": 3}, 201, {"Location": "/sloppy/uploads#3"})

    @bp.get("/sloppy/me")
    def me() -> Response:
        if request.headers.get("Authorization", "").endswith("scope"):
            # Sloppy: insufficient_scope is a 403, not a 401.
            challenge = 'Bearer realm="demo", error="insufficient_scope"'
        else:
            challenge = 'Bearer realm="demo"'  # Sloppy: a rejected token without error=.
        return problem(401, "Unauthorized", headers={"WWW-Authenticate": challenge})

    @bp.get("/sloppy/teapot")
    def teapot() -> Response:
        return problem(418, "I'm a teapot")  # Sloppy: an unused status.

    @bp.get("/sloppy/loop")
    def loop() -> Response:
        # Sloppy: a redirect to the URL itself.
        return Response(b"", 302, headers={"Location": "/sloppy/loop"})

    @bp.get("/sloppy/download")
    def download() -> Response:
        # Sloppy: Content-Range on a 200, claiming more bytes than are sent.
        return Response(b"0123456789", 200, mimetype="text/plain", headers={"Content-Range": "bytes 0-99/100"})

    return bp


# --------------------------------------------------------------------------
# /v1/files -- mistakes only visible across flows
# --------------------------------------------------------------------------


def make_files() -> Blueprint:
    """A small file store whose every answer looks fine on its own; together they show
    a PUT that created answered 200, If-None-Match ignored, a 304 that drops its ETag,
    an Allow listing PATCH that is then 405, and a CORS preflight that leaves out PUT
    and DELETE. (Werkzeug strips Content-Length from every 304, so
    not-modified-with-content-length is shown by recordings/servers/wsgidav-crossflow.flows.)"""
    bp = Blueprint("files", __name__)
    files: dict[str, bytes] = {}
    lock = threading.Lock()

    @bp.route("/v1/files/<name>", methods=["GET", "PUT", "DELETE", "OPTIONS"])
    def file(name: str) -> Response:
        if request.method == "OPTIONS":
            if "Access-Control-Request-Method" in request.headers:
                # A CORS set-up copied from a tutorial: PUT and DELETE are forgotten.
                return empty(
                    204,
                    {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, HEAD, POST"},
                )
            return empty(204, {"Allow": "DELETE, GET, HEAD, OPTIONS, PATCH, PUT"})  # PATCH was never built
        with lock:
            if request.method == "PUT":
                files[name] = request.get_data()
                return json_response({"name": name, "size": len(files[name])})  # 200, even when created
            if name not in files:
                return problem(404, "Not Found", f"no file named {name}")
            if request.method == "DELETE":
                del files[name]
                return empty(204)
            body = files[name]
        # An ETag, but If-None-Match is never looked at.
        resp = Response(body, status=200, mimetype="text/plain")
        resp.set_etag(etag_for(body))
        return resp

    @bp.route("/v1/files/<name>/meta")
    def meta(name: str) -> Response:
        with lock:
            if name not in files:
                return problem(404, "Not Found", f"no file named {name}")
            body = dump({"name": name, "size": len(files[name])})
        tag = etag_for(body)
        if request.if_none_match.contains_weak(tag):
            return empty(304)  # hand-rolled revalidation that forgets the ETag
        resp = Response(body, status=200, mimetype=JSON)
        resp.set_etag(tag)
        return resp

    return bp


# --------------------------------------------------------------------------
# App
# --------------------------------------------------------------------------


def create_app() -> Flask:
    """Build a fresh app with its own, freshly seeded in-memory store."""
    app = Flask(__name__)
    store = Store()
    app.register_blueprint(make_books(store))
    app.register_blueprint(make_authors(store))
    app.register_blueprint(make_legacy(store))
    app.register_blueprint(make_files())
    app.register_blueprint(make_sloppy(store))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response | HTTPException:
        # Only the /v1 API speaks problem+json; /legacy keeps werkzeug's HTML.
        # This also turns unhandled exceptions (wrapped by Flask in an
        # InternalServerError) into a clean 500 without a traceback.
        if not request.path.startswith("/v1/") or exc.code is None:
            return exc
        headers = {key: value for key, value in exc.get_headers() if key.lower() != "content-type"}
        return problem(exc.code, exc.name, exc.description, headers)

    @app.after_request
    def tidy_framework_answers(resp: Response) -> Response:
        # Werkzeug builds the Allow of its automatic 405/OPTIONS answers from a
        # set, so the order changes with PYTHONHASHSEED; sort every Allow to
        # keep recordings byte-for-byte reproducible.
        if "Allow" in resp.headers:
            methods = sorted(m.strip() for m in resp.headers["Allow"].split(","))
            resp.headers["Allow"] = ", ".join(methods)
        # Flask answers OPTIONS itself with an empty 200 (typed text/html);
        # the exemplary API says "no content" properly.
        if request.method == "OPTIONS" and request.path.startswith("/v1/") and resp.status_code == 200:
            resp.status_code = 204
            del resp.headers["Content-Type"]
        return resp

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    # threaded=True also makes the dev server speak HTTP/1.1 instead of 1.0.
    create_app().run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    main()
