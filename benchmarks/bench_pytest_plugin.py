"""Benchmark: what the pytest plugin adds per request on a FastAPI TestClient suite.

Writes a small FastAPI app and a test suite into a temp dir; each test makes requests
through Starlette's TestClient and times its own requests (so pytest's and the plugin's
start-up are not counted, only what the plugin adds to every exchange: capture, flow,
audit), in CPU time of the process (these machines are shared: wall time is noise).
Runs pytest on it in a subprocess with and without --statuslint, interleaved, and
compares the medians of the time per request. Exits 1 if the plugin adds more than
the target (5%). Usage:

    python benchmarks/bench_pytest_plugin.py [--requests N] [--rounds R] [--target 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
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
import json
import os
import time

import pytest
from app import app
from fastapi.testclient import TestClient

N = int(os.environ["BENCH_REQUESTS"])
TIMES = []


@pytest.fixture(scope="module")
def client():
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("round_", range(4))
def test_crud(client, round_):
    start = time.process_time()
    for i in range(N // 4):
        if i % 4 == 0:
            client.post("/items", json={"name": "x"})
        elif i % 4 == 3:
            client.delete(f"/items/{i}")
        else:
            client.get(f"/items/{i}")
    TIMES.append((time.process_time() - start) / (N // 4))


def teardown_module():
    with open(os.environ["BENCH_OUT"], "w") as fo:
        json.dump(TIMES, fo)
"""


def run(workdir: Path, n: int, plugin: bool) -> float:
    out = workdir / "times.json"
    env = {**os.environ, "BENCH_REQUESTS": str(n), "BENCH_OUT": str(out)}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "test_bench.py"]
    if plugin:
        args.append("--statuslint")
    proc = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        sys.exit(f"bench: pytest failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    if plugin and f"{n} exchanges audited" not in proc.stdout:
        sys.exit(f"bench: the plugin did not audit the {n} requests:\n{proc.stdout}")
    # The first test warms up (imports, the app's first requests): not counted.
    return statistics.median(json.loads(out.read_text())[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=800, help="requests per run (default 800)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved pairs of runs (default 5)")
    parser.add_argument("--target", type=float, default=0.05, help="largest overhead allowed (default 0.05)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="statuslint-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "app.py").write_text(APP)
        (workdir / "test_bench.py").write_text(SUITE)
        (workdir / "pytest.ini").write_text("[pytest]\npythonpath = .\nfilterwarnings = ignore::DeprecationWarning\n")
        off: list[float] = []
        on: list[float] = []
        for _ in range(args.rounds):
            off.append(run(workdir, args.requests, plugin=False))
            on.append(run(workdir, args.requests, plugin=True))
    print("per run (us per request), off:", " ".join(f"{t * 1e6:.0f}" for t in off))
    print("per run (us per request), on: ", " ".join(f"{t * 1e6:.0f}" for t in on))
    base, audited = statistics.median(off), statistics.median(on)
    overhead = audited / base - 1
    print(
        f"TestClient request without the plugin: {base * 1e6:.0f} us (median of {args.rounds} runs), "
        f"with --statuslint: {audited * 1e6:.0f} us; the plugin adds {overhead:+.1%} "
        f"({(audited - base) * 1e6:.0f} us per request; target: under {args.target:.0%})"
    )
    if overhead > args.target:
        print("bench: target missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
