"""Benchmark: memory stays flat however long the proxy runs.

Feeds N synthetic flows (default 1,000,000) through one Auditor, as a proxy running for
days would, and records the resident set size at checkpoints. The traffic is built to
grow every piece of state without end if it were not bounded: every resource has a new
URL (a create, reads with a long query string, an update, a delete, a read after it), a
HEAD that fails, a 405 with Allow and a 501 on every resource, flows that violate rules
(findings pile up), names churn through a path position (the templater learns them), and
two hundred hosts take turns (endpoints and per-host state). The cross-flow checks of issue
12 get theirs too: an ETag on every read and a 304 revalidating it, a PUT where a GET found
nothing, an OPTIONS with Allow and a CORS preflight per resource, and HTML errors in a JSON API.
Every request is sent after the previous answer, as sequential traffic is.

Memory is judged as a ratio measured in this one run: peak RSS at the end over peak RSS
once the state has filled its limits; above --max-ratio (default 1.10) it exits 1. Usage:

    python benchmarks/bench_state.py [--flows N] [--contrast N] [--max-ratio R]

``--contrast N`` also runs N flows with limits too high to matter, to show what the
limits save (default 200,000; 0 to skip).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Iterator

from mitmproxy import http
from mitmproxy.test import tflow, tutils

from statuslint.auditor import Auditor, Limits
from statuslint.policy import load_policy

# Enough hosts to churn every per-host structure, few enough that each fills early in the run.
HOSTS = 200


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fo:
        for line in fo:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_mib() -> float:
    return _status_kib("VmRSS") / 1024


def peak_mib() -> float:
    return _status_kib("VmHWM") / 1024


def _flow(method: str, status: int, body: bytes = b'{"id": 1}') -> http.HTTPFlow:
    headers = {"Content-Type": "application/json"} if body else {}
    req = tutils.treq(method=method.encode(), host="api0.example.test", port=443, scheme=b"https", path=b"/")
    resp = tutils.tresp(
        status_code=status, headers=http.Headers([(k.encode(), v.encode()) for k, v in headers.items()]), content=body
    )
    return tflow.tflow(req=req, resp=resp)


def synthetic(n: int) -> Iterator[http.HTTPFlow]:
    """N flows; a few flow objects are re-used with new hosts and paths, so the
    benchmark measures statuslint's state and not the generator's."""
    create = _flow("POST", 201)
    read = _flow("GET", 200)
    update = _flow("PATCH", 200)
    delete = _flow("DELETE", 204, b"")
    gone = _flow("GET", 404)
    profile = _flow("GET", 200)
    sloppy_create = _flow("POST", 201)  # no Location: created-without-location
    head = _flow("HEAD", 404, b"")
    rejected = _flow("POST", 405)
    rejected.response.headers["Allow"] = "GET, DELETE"  # PATCH succeeded there
    unimplemented = _flow("PATCH", 501)
    read.response.headers["ETag"] = '"v1"'
    revalidate = _flow("GET", 304, b"")
    revalidate.request.headers["If-None-Match"] = '"v1"'
    revalidate.response.headers["Content-Length"] = "0"  # not the 200's length
    probe = _flow("GET", 404)
    put = _flow("PUT", 200)  # created what the probe did not find
    options = _flow("OPTIONS", 200, b"")
    options.response.headers["Allow"] = "GET, POST, PATCH, DELETE"  # the POST is then 405
    preflight = _flow("OPTIONS", 204, b"")
    preflight.request.headers.update({"Origin": "https://app.example.test", "Access-Control-Request-Method": "PATCH"})
    preflight.response.headers.update(
        {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET,HEAD,POST"}
    )
    html_error = _flow("GET", 500, b"<h1>Internal Server Error</h1>")
    html_error.response.headers["Content-Type"] = "text/html"
    # A query string as long as real ones get (and a secret in it, which must not be kept).
    query = "?api_key=not-kept&q=" + "x" * 1500
    i = 0
    resource = 0
    clock = 1_700_000_000.0
    while i < n:
        resource += 1
        host = f"api{resource % HOSTS}.example.test"
        item = f"/v1/things/{resource}"
        create.request.path = "/v1/things"
        create.response.headers["Location"] = item
        # Names churn through one position: /people/<name>/profile.
        name = "".join(chr(97 + int(d)) for d in str(resource))
        steps = [
            (create, "/v1/things"),
            (read, item + query),
            (revalidate, item + query),
            (preflight, item),
            (update, item),
            (options, item),
            (rejected, item),
            (head, f"/v1/files/{resource}"),
            (unimplemented, f"/legacy/{name}/{resource}"),
            (delete, item),
            (gone, item),
            (profile, f"/people/{name}/profile"),
            (read, item + query),
            (sloppy_create, "/v1/others"),
            (gone, item),
            (probe, f"/v1/files/{resource}/meta"),
            (put, f"/v1/files/{resource}/meta"),
            (html_error, f"/v1/reports/{resource}"),
        ]
        for f, path in steps:
            f.request.host = host
            f.request.path = path
            clock += 1.0
            f.request.timestamp_start, f.request.timestamp_end = clock, clock + 0.1
            f.response.timestamp_start, f.response.timestamp_end = clock + 0.2, clock + 0.3
            yield f
        i += len(steps)


def run(n: int, limits: Limits, checkpoints: list[int]) -> dict:
    gc.collect()
    auditor = Auditor(load_policy(), limits)
    marks = []
    start = time.perf_counter()
    for index, f in enumerate(synthetic(n)):
        auditor.audit_response(f, index, "synthetic")
        if index + 1 in checkpoints:
            marks.append(
                {
                    "flows": index + 1,
                    "rss_mib": round(rss_mib(), 1),
                    "peak_mib": round(peak_mib(), 1),
                    "urls": len(auditor.lifecycle.urls),
                    # The cross-flow trackers keyed by URL fill at their own pace.
                    "other_urls": min(len(auditor.validators.urls), len(auditor.put_creation.urls)),
                    "endpoints": len(auditor.endpoints),
                    "findings_kept": len(auditor.findings),
                    "seconds": round(time.perf_counter() - start, 1),
                }
            )
    summary = auditor.summary()
    return {
        "marks": marks,
        "findings_counted": sum(summary["by_severity"].values()),
        "flows_per_second": round(n / (time.perf_counter() - start)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flows", type=int, default=1_000_000)
    parser.add_argument("--contrast", type=int, default=200_000)
    parser.add_argument("--max-ratio", type=float, default=1.10)
    args = parser.parse_args()

    n = args.flows
    checkpoints = sorted({n // 10, n // 4, n // 2, 3 * n // 4, n})
    print(f"baseline before auditing: {rss_mib():.1f} MiB RSS", flush=True)
    bounded = run(n, Limits(), checkpoints)
    for mark in bounded["marks"]:
        print(json.dumps(mark), flush=True)
    limits = Limits()
    full = [
        m
        for m in bounded["marks"]
        if m["urls"] >= limits.max_urls
        and m["other_urls"] >= limits.max_urls
        and m["endpoints"] >= limits.max_endpoints
        and m["findings_kept"] >= limits.max_findings
    ]
    if not full:
        raise SystemExit("the state never reached its limits: run more --flows to judge flatness")
    filled, end = full[0], bounded["marks"][-1]
    ratio = end["peak_mib"] / filled["peak_mib"]
    print(
        f"bounded (default limits): {n} flows, {bounded['findings_counted']} findings counted, "
        f"{bounded['flows_per_second']} flows/s; peak RSS {filled['peak_mib']} MiB at {filled['flows']} flows, "
        f"{end['peak_mib']} MiB at {end['flows']}: ratio {ratio:.3f} (target <= {args.max_ratio})"
    )
    if args.contrast:
        huge = Limits(max_urls=10**9, max_endpoints=10**9, max_findings=0)
        unbounded = run(args.contrast, huge, [args.contrast // 4, args.contrast])
        a, b = unbounded["marks"]
        print(
            f"contrast (no effective limits): RSS {a['rss_mib']} MiB at {a['flows']} flows, "
            f"{b['rss_mib']} MiB at {b['flows']} ({b['urls']} URLs, {b['endpoints']} endpoints, "
            f"{b['findings_kept']} findings held)"
        )
    if ratio > args.max_ratio:
        raise SystemExit(f"memory grew by {ratio:.3f}x after the state was full (target <= {args.max_ratio})")


if __name__ == "__main__":
    main()
