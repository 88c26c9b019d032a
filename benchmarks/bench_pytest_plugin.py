"""Benchmark: what the pytest plugin adds per request on a FastAPI TestClient suite.

Writes a small FastAPI app and a test suite into a temp dir and runs pytest on it in a
subprocess three ways: without the plugin, with ``--statuslint`` as installed (where two
cores are free, the audit runs in a process of its own beside the tests: testing/offload.py)
and with ``--statuslint --statuslint-offload=off`` (inline), in interleaved rounds (the order
turning, so no variant always runs on a machine warmed or loaded by another), and compares
the medians: the ratio of the median CPU time per request with the plugin as installed to
the median without. Exits 1 if the plugin adds more than the target (5%). The inline figure
and the audit process's own CPU time are printed beside it: the audit is not free, it runs
on another core while the tests go on.

What is timed, and why: the CPU time of each test's whole run (an outermost
``pytest_runtest_protocol`` wrapper in the suite's conftest: setup, call, teardown and
every report hook, including the wait for the test's findings), divided by its requests.
Per test and not per request, because the plugin does part of its work after the request
returns; the whole test so that work is counted. Wall time per request is printed too.
Not the whole pytest process: its start-up (importing statuslint and mitmproxy, loading
the policy: a fixed cost per session, printed apart) would drown what a request costs in
a run this short, and the target is per request. CPU time of the process, all threads
(the TestClient runs the app on a thread of its own), since these machines are shared:
wall time is mostly the other jobs. The first test of each run warms up (imports, the
app's first requests) and is not counted. Usage:

    python benchmarks/bench_pytest_plugin.py [--requests N] [--tests T] [--rounds R] [--target 0.05]

With few requests per test (``--tests`` near ``--requests``) pytest's own per-test work,
and the plugin's per-test wait for findings, weigh more.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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

import resource

TIMES = []
WALL = []


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    # Outermost: the plugin's hooks, and what it does at the report phases, are inside.
    start, wall = time.process_time(), time.perf_counter()
    yield
    TIMES.append(time.process_time() - start)
    WALL.append(time.perf_counter() - wall)


def pytest_unconfigure(config):
    # The audit process (--statuslint-offload) has ended and been waited for by now.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.environ["BENCH_OUT"], "w") as fo:
        json.dump({"cpu": TIMES, "wall": WALL, "children": children.ru_utime + children.ru_stime}, fo)
"""


@dataclass
class Run:
    cpu: float  # CPU time per request of the test process (median test)
    wall: float  # wall time per request (median test)
    process: float  # CPU time of the whole pytest process, start-up included
    audit_process: float  # CPU time of its children: the audit process, when there is one


# The three ways a suite runs: without the plugin, with it as installed (the audit in a
# process of its own where two cores are free: the default), and with it inline.
VARIANTS = {"off": [], "on": ["--statuslint"], "inline": ["--statuslint", "--statuslint-offload=off"]}


def run(workdir: Path, n: int, tests: int, variant: str) -> Run:
    out = workdir / "times.json"
    env = {**os.environ, "BENCH_REQUESTS": str(n), "BENCH_TESTS": str(tests), "BENCH_OUT": str(out)}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "test_bench.py"]
    args += VARIANTS[variant]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"bench: pytest failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    if variant != "off" and f"{n} exchanges audited" not in proc.stdout:
        sys.exit(f"bench: the plugin did not audit the {n} requests:\n{proc.stdout}")
    times = json.loads(out.read_text())
    if len(times["cpu"]) != tests:
        sys.exit(f"bench: expected the times of {tests} tests, got {len(times['cpu'])}")
    # The first test warms up (imports, the app's first requests): not counted.
    per = n // tests
    total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(
        statistics.median(times["cpu"][1:]) / per,
        statistics.median(times["wall"][1:]) / per,
        total - times["children"],
        times["children"],
    )


def write_suite(workdir: Path) -> None:
    (workdir / "app.py").write_text(APP)
    (workdir / "test_bench.py").write_text(SUITE)
    (workdir / "conftest.py").write_text(CONFTEST)
    (workdir / "pytest.ini").write_text("[pytest]\npythonpath = .\nfilterwarnings = ignore::DeprecationWarning\n")


def instructions(workdir: Path, n: int, tests: int, variant: str) -> tuple[int, int]:
    """(instructions of the pytest process, of its child processes) in one run under callgrind."""
    out = workdir / f"{variant}{n}.json"
    env = {**os.environ, "BENCH_REQUESTS": str(n), "BENCH_TESTS": str(tests), "BENCH_OUT": str(out)}
    # Each process's own log: the audit process's stderr is not the terminal.
    logs = f"vg.{variant}{n}."
    args = ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--log-file={workdir}/{logs}%p"]
    args += [f"--callgrind-out-file={workdir}/cg.%p", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    args += ["-p", "no:xdist", "test_bench.py", *VARIANTS[variant]]
    proc = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        sys.exit(f"bench: pytest under valgrind failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}")
    own = children = 0
    for log in workdir.glob(f"{logs}*"):
        text = log.read_text(errors="replace")
        found = re.search(r"Collected : (\d+)", text)
        count = int(found.group(1)) if found else 0
        if re.search(r"Command: \S+ -m pytest ", text):
            own += count
        else:
            children += count
    return own, children


def count_instructions(tests: int, target: float) -> int:
    """Instructions per request of each variant: two sizes of the suite, so that the
    start-up (the same in both) cancels out. Each pair of runs goes in parallel."""
    if shutil.which("valgrind") is None:
        print("bench: valgrind is not installed: --instructions cannot run", file=sys.stderr)
        return 2
    small, large = tests * 10, tests * 60
    per: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="statuslint-bench-") as tmp:
        workdir = Path(tmp)
        write_suite(workdir)
        with ThreadPoolExecutor(2) as pool:
            for variant in VARIANTS:
                a, b = pool.map(instructions, [workdir] * 2, (small, large), [tests] * 2, [variant] * 2)
                per[variant] = ((b[0] - a[0]) / (large - small), (b[1] - a[1]) / (large - small))
    base = per["off"][0]
    for variant, (own, children) in per.items():
        print(
            f"{variant:6}: {own / 1e3:.0f}k instructions per request in the test process ({own / base - 1:+.2%}), "
            f"{children / 1e3:.0f}k in child processes ({children / base:.2%} of a request)"
        )
    overhead = per["on"][0] / base - 1
    print(
        f"the plugin adds {overhead:+.2%} to the test process per request as installed (target: under {target:.0%}); "
        f"inline it adds {per['inline'][0] / base - 1:+.2%}; its audit process does "
        f"{per['on'][1] / base:.1%} of a request's instructions on another core"
    )
    if overhead > target:
        print("bench: target missed", file=sys.stderr)
        return 1
    return 0


def measure(requests: int, tests: int, rounds: int) -> dict[str, list[Run]]:
    """Each variant's runs, in interleaved rounds."""
    runs: dict[str, list[Run]] = {v: [] for v in VARIANTS}
    order = list(VARIANTS)
    with tempfile.TemporaryDirectory(prefix="statuslint-bench-") as tmp:
        workdir = Path(tmp)
        write_suite(workdir)
        for i in range(rounds):
            # The order within a round turns, so no variant always runs first.
            for variant in order[i % 3 :] + order[: i % 3]:
                runs[variant].append(run(workdir, requests, tests, variant))
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=800, help="requests per run (default 800)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of runs (default 5)")
    parser.add_argument("--target", type=float, default=0.05, help="largest overhead allowed (default 0.05)")
    parser.add_argument(
        "--tests", type=int, default=8, help="tests the requests are shared among (default 8: 100 requests each)"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions instead (valgrind's callgrind: steady on a loaded machine, ~15 minutes)",
    )
    args = parser.parse_args()
    if args.tests < 2 or args.requests % args.tests:
        parser.error("--requests must be a multiple of --tests, and --tests at least 2 (the first warms up)")
    if args.instructions:
        return count_instructions(args.tests, args.target)
    runs = measure(args.requests, args.tests, args.rounds)

    def median(variant: str, what: str) -> float:
        return statistics.median(getattr(r, what) for r in runs[variant])

    for variant in VARIANTS:
        print(f"per run (us per request, CPU), {variant:6}:", " ".join(f"{r.cpu * 1e6:.0f}" for r in runs[variant]))
    base = median("off", "cpu")
    print(
        f"whole pytest process (start-up included; not the target): {median('off', 'process'):.2f} s CPU without "
        f"the plugin, {median('on', 'process'):.2f} s with it (+ {median('on', 'audit_process'):.2f} s in its "
        f"audit process), {median('inline', 'process'):.2f} s with it inline (medians)"
    )
    for variant, what in (("inline", "inline (--statuslint-offload=off)"), ("on", "as installed")):
        cpu, wall = median(variant, "cpu"), median(variant, "wall")
        print(
            f"{what}: CPU {cpu * 1e6:.0f} us per request ({cpu / base - 1:+.1%}), "
            f"wall {wall * 1e6:.0f} us ({wall / median('off', 'wall') - 1:+.1%})"
        )
    audited = median("on", "cpu")
    overhead = audited / base - 1
    print(
        f"TestClient request ({args.requests // args.tests} per test) without the plugin: "
        f"{base * 1e6:.0f} us CPU (median of {args.rounds} runs), with --statuslint: {audited * 1e6:.0f} us; "
        f"the plugin adds {overhead:+.1%} ({(audited - base) * 1e6:.0f} us per request; target: under "
        f"{args.target:.0%}); its audit process used {median('on', 'audit_process') / args.requests * 1e6:.0f} us "
        "per request on another core (start-up included)"
    )
    if overhead > args.target:
        print("bench: target missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
