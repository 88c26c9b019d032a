"""Benchmark workloads: realistic API traffic written with mitmproxy's own writers.

Deterministic (a seeded generator): methods and statuses in the proportions of a busy
JSON API, endpoints with ids, JSON bodies from a few bytes to several KB, and a few
percent of answers that break a rule (a 201 without Location, a DELETE answered 200 with
a body, a 405 without Allow, a 401 without a challenge, a 500). Files are cached by size
in the work directory, so interleaved runs read the same bytes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

from mitmproxy import http, io
from mitmproxy.addons.savehar import SaveHar
from mitmproxy.test import tflow, tutils

HOST = "api.bench.test"
COLLECTIONS = ("users", "orders", "products", "invoices", "projects", "teams", "tickets", "accounts")
VIOLATION_RATE = 0.04


def _body(rng: random.Random, size: int) -> bytes:
    items = [{"id": rng.randrange(10**6), "name": f"item-{rng.randrange(10**4)}", "ok": True} for _ in range(size)]
    return json.dumps({"data": items, "page": 1}).encode()


def _exchange(rng: random.Random, i: int) -> tuple[str, str, int, dict[str, str], bytes, bytes]:
    """(method, path, status, response headers, response body, request body) of flow i."""
    collection = rng.choice(COLLECTIONS)
    item = f"/v1/{collection}/{rng.randrange(1, 50_000)}"
    json_headers = {"Content-Type": "application/json"}
    bad = rng.random() < VIOLATION_RATE
    roll = rng.random()
    if roll < 0.55:  # reads
        if rng.random() < 0.3:
            return "GET", f"/v1/{collection}?page={rng.randrange(1, 40)}", 200, json_headers, _body(rng, 20), b""
        if rng.random() < 0.08:
            return "GET", item, 404, {"Content-Type": "application/problem+json"}, b'{"title": "Not Found"}', b""
        if rng.random() < 0.05:
            return "GET", item, 304, {"ETag": f'"{i}"'}, b"", b""
        return "GET", item, 200, {**json_headers, "ETag": f'"{i}"'}, _body(rng, rng.randrange(1, 8)), b""
    if roll < 0.72:  # creates
        payload = json.dumps({"name": f"n{i}"}).encode()
        headers = dict(json_headers) if bad else {**json_headers, "Location": f"{item}"}
        return "POST", f"/v1/{collection}", 201, headers, _body(rng, 1), payload
    if roll < 0.82:  # updates
        payload = json.dumps({"name": f"m{i}"}).encode()
        return rng.choice(("PUT", "PATCH")), item, 200, json_headers, _body(rng, 1), payload
    if roll < 0.90:  # deletes
        if bad:
            return "DELETE", item, 200, json_headers, b'{"deleted": true}', b""
        return "DELETE", item, 204, {}, b"", b""
    errors = [
        (400, {"Content-Type": "application/problem+json"}),
        (401, {"WWW-Authenticate": 'Bearer realm="api"', "Content-Type": "application/json"}),
        (403, {"Content-Type": "application/json"}),
        (409, {"Content-Type": "application/json"}),
        (422, {"Content-Type": "application/problem+json"}),
        (429, {"Retry-After": "30", "Content-Type": "application/json"}),
    ]
    if bad:
        errors = [
            (401, {"Content-Type": "application/json"}),
            (405, {"Content-Type": "application/json"}),
            (500, {"Content-Type": "application/json"}),
        ]
    status, headers = rng.choice(errors)
    return "POST", f"/v1/{collection}", status, headers, b'{"error": "no"}', b'{"bad": 1}'


def flows(n: int, seed: int = 7) -> Iterator[http.HTTPFlow]:
    rng = random.Random(seed)
    clock = 1_700_000_000.0
    for i in range(n):
        method, path, status, resp_headers, body, req_body = _exchange(rng, i)
        req_headers = {"Host": HOST, "Accept": "application/json", "User-Agent": "bench/1"}
        if req_body:
            req_headers["Content-Type"] = "application/json"
        request = tutils.treq(
            method=method.encode(),
            host=HOST,
            port=443,
            scheme=b"https",
            path=path.encode(),
            headers=http.Headers([(k.encode(), v.encode()) for k, v in req_headers.items()]),
            content=req_body,
        )
        response = tutils.tresp(
            status_code=status,
            headers=http.Headers([(k.encode(), v.encode()) for k, v in resp_headers.items()]),
            content=body,
        )
        f = tflow.tflow(req=request, resp=response)
        start = clock + i * 0.01
        f.request.timestamp_start, f.request.timestamp_end = start, start + 0.001
        f.response.timestamp_start, f.response.timestamp_end = start + 0.004, start + 0.005
        yield f


def flow_file(workdir: Path, n: int) -> Path:
    path = workdir / f"bench-{n}.flows"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as fo:
            writer = io.FlowWriter(fo)
            for f in flows(n):
                writer.add(f)
        tmp.replace(path)
    return path


def har_file(workdir: Path, n: int) -> Path:
    """The same traffic as a HAR, as mitmproxy's own export writes it."""
    path = workdir / f"bench-{n}.har"
    if not path.exists():
        har = SaveHar().make_har(list(flows(n)))
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(har), encoding="utf-8")
        tmp.replace(path)
    return path
