"""Benchmark: what the pytest plugin adds per request on a FastAPI TestClient suite.

Writes a small FastAPI app and a test suite into a temp dir and runs pytest on it in a
subprocess, the same suite with and without --statuslint, in interleaved pairs (the order
within a pair alternating, so neither side always runs on a machine warmed or loaded by the
other), and compares the medians: the ratio of the median CPU time per request with the
plugin to the median without. Exits 1 if the plugin adds more than the target (5%).

What is timed, and why: the CPU time of each test's whole run (an outermost
``pytest_runtest_protocol`` wrapper in the suite's conftest: setup, call, teardown and
every report hook), divided by its requests. Per test and not per request, because the
plugin does part of its work after the request returns (it audits in batches, at the
latest when the test's outcome is reported); the whole test so that work is counted.
Not the whole pytest process: its start-up (importing statuslint and mitmproxy, loading
the policy: a fixed cost per session, printed apart) would drown what a request costs in
a run this short, and the target is per request. CPU time of the process, all threads
(the TestClient runs the app on a thread of its own), since these machines are shared:
wall time is mostly the other jobs. The first test of each run warms up (imports, the
app's first requests) and is not counted. Usage:

    python benchmarks/bench_pytest_plugin.py [--requests N] [--tests T] [--rounds R] [--target 0.05]

With few requests per test (``--tests`` near ``--requests``) the plugin's batches are one
test's requests each, and pytest's own per-test work is in both sides of the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

APP = """
from fastapi import FastAPI, Response

app = FastAPI()


@app.get("/items/{item_id}")
def get_item(item_id: int) -> dict:
    return {"id": item_id, "name": "thing", "tags": ["a", "b"]}


@app.post("/items", status_code=201)
def create_item(item: dict, response: Response) -> dict:
    response.headers["Location"] = "/items/7"
    return {"id": 7, **item}


@app.delete("/items/{item_id}", status_code=204)
def delete_item(item_id: int) -> Response:
    return Response(status_code=204)
"""

SUITE = """
import os

import pytest
from app import app
from fastapi.testclient import TestClient

N = int(os.environ["BENCH_REQUESTS"])
TESTS = int(os.environ["BENCH_TESTS"])


@pytest.fixture(scope="module")
def client():
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("round_", range(TESTS))
def test_crud(client, round_):
    for i in range(N // TESTS):
        if i % 4 == 0:
            client.post("/items", json={"name": "x"})
        elif i % 4 == 3:
            client.delete(f"/items/{i}")
        else:
            client.get(f"/items/{i}")
"""

CONFTEST = """
import json
import os
import time

import pytest

TIMES = []


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    # Outermost: the plugin's hooks, and what it does at the report phases, are inside.
    start = time.process_time()
    yield
    TIMES.append(time.process_time() - start)


def pytest_unconfigure(config):
    with open(os.environ["BENCH_OUT"], "w") as fo:
        json.dump(TIMES, fo)
"""


def run(workdir: Path, n: int, tests: int, plugin: bool) -> tuple[float, float]:
    """(CPU time per request, CPU time of the whole pytest process) of one run."""
    out = workdir / "times.json"
    env = {**os.environ, "BENCH_REQUESTS": str(n), "BENCH_TESTS": str(tests), "BENCH_OUT": str(out)}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "test_bench.py"]
    if plugin:
        args.append("--statuslint")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"bench: pytest failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    if plugin and f"{n} exchanges audited" not in proc.stdout:
        sys.exit(f"bench: the plugin did not audit the {n} requests:\n{proc.stdout}")
    times = json.loads(out.read_text())
    if len(times) != tests:
        sys.exit(f"bench: expected the times of {tests} tests, got {len(times)}")
    # The first test warms up (imports, the app's first requests): not counted.
    per_request = statistics.median(times[1:]) / (n // tests)
    process = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return per_request, process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=800, help="requests per run (default 800)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved pairs of runs (default 5)")
    parser.add_argument("--target", type=float, default=0.05, help="largest overhead allowed (default 0.05)")
    parser.add_argument(
        "--tests", type=int, default=8, help="tests the requests are shared among (default 8: 100 requests each)"
    )
    args = parser.parse_args()
    if args.tests < 2 or args.requests % args.tests:
        parser.error("--requests must be a multiple of --tests, and --tests at least 2 (the first warms up)")
    off: list[tuple[float, float]] = []
    on: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="statuslint-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "app.py").write_text(APP)
        (workdir / "test_bench.py").write_text(SUITE)
        (workdir / "conftest.py").write_text(CONFTEST)
        (workdir / "pytest.ini").write_text("[pytest]\npythonpath = .\nfilterwarnings = ignore::DeprecationWarning\n")
        for i in range(args.rounds):
            for plugin in (False, True) if i % 2 == 0 else (True, False):
                (on if plugin else off).append(run(workdir, args.requests, args.tests, plugin))
    print("per run (us per request), off:", " ".join(f"{t * 1e6:.0f}" for t, _ in off))
    print("per run (us per request), on: ", " ".join(f"{t * 1e6:.0f}" for t, _ in on))
    base, audited = statistics.median(t for t, _ in off), statistics.median(t for t, _ in on)
    overhead = audited / base - 1
    whole_off, whole_on = statistics.median(p for _, p in off), statistics.median(p for _, p in on)
    print(
        f"whole pytest process (start-up included; not the target): {whole_off:.2f} s CPU without the plugin, "
        f"{whole_on:.2f} s with it (medians)"
    )
    print(
        f"TestClient request ({args.requests // args.tests} per test) without the plugin: "
        f"{base * 1e6:.0f} us (median of {args.rounds} runs), "
        f"with --statuslint: {audited * 1e6:.0f} us; the plugin adds {overhead:+.1%} "
        f"({(audited - base) * 1e6:.0f} us per request; target: under {args.target:.0%})"
    )
    if overhead > args.target:
        print("bench: target missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
