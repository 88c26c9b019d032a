"""The benchmark harness behind ``make bench``: every performance figure statuslint is held
to, measured as a ratio in one run on this machine, written to benchmarks/RESULTS.md.

    python benchmarks/harness.py            # the full run (minutes); exits 1 if a target is missed
    python benchmarks/harness.py --quick    # small sizes, one repeat: keeps the harness alive in CI,
                                            # never gates on its ratios
    python benchmarks/harness.py --only live,rss

Each figure runs its two sides interleaved (A, B, B, A, A, B, ...) and compares medians, since
these machines are small (2 cores) and noisy. Workloads come from benchmarks/workloads.py
(mitmproxy's own writers) and are cached in --workdir.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import cProfile
import importlib.util
import io
import json
import os
import platform
import pstats
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import workloads

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
STATUSLINT = str(BIN / "statuslint")
MITMDUMP = str(BIN / "mitmdump")
AUDIT_SCRIPT = str(ROOT / "addons" / "audit.py")
HOST = "127.0.0.1"

READ_LOOP = (
    "import sys\nfrom mitmproxy import io\n"
    "with open(sys.argv[1], 'rb') as fo:\n    for _ in io.FlowReader(fo).stream():\n        pass\n"
)
JSON_LOOP = (
    "import json, sys\n"
    "with open(sys.argv[1], encoding='utf-8') as fo:\n    har = json.load(fo)\n"
    "n = 0\nfor entry in har['log']['entries']:\n    n += entry['response']['status']\n"
)


@dataclass
class Sizes:
    flows: int  # the 20k-flow figures
    har: int  # HAR figures (HTTPolice, json.load)
    rss_small: int
    rss_large: int
    live_requests: int
    live_repeat: int  # the live figures' runs per side (each run's throughput drifts by ±10%)
    repeat: int
    pytest_requests: int  # the pytest plugin's figure: requests per run, in 8 tests
    pytest_rounds: int


FULL = Sizes(
    flows=20_000,
    har=10_000,
    rss_small=100_000,
    rss_large=1_000_000,
    live_requests=20_000,
    live_repeat=5,
    repeat=3,
    pytest_requests=800,
    pytest_rounds=7,
)
QUICK = Sizes(
    flows=1_000,
    har=500,
    rss_small=500,
    rss_large=2_000,
    live_requests=600,
    live_repeat=1,
    repeat=1,
    pytest_requests=80,
    pytest_rounds=1,
)


@dataclass
class Result:
    name: str
    target: str
    ratio: float | None
    detail: str
    met: bool | None  # None: not measured (skipped, or nothing to measure yet)
    unit: str = "x"  # "x" for a ratio; the engine's own figure is in µs per flow


@dataclass
class Context:
    workdir: Path
    sizes: Sizes
    results: list[Result] = field(default_factory=list)

    def confdir(self) -> str:
        return str(self.workdir / "confdir")


# Measuring -------------------------------------------------------------------------------


def run_timed(cmd: Sequence[str], timeout: float = 3600) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one command, which must succeed."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            raise RuntimeError(f"timed out: {' '.join(cmd)}")
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if code not in (0, 1):  # 1: findings at --fail-on, which is fine here
        raise RuntimeError(f"exit {code}: {' '.join(cmd)}\n{err[-2000:]}")
    return elapsed, usage.ru_maxrss


def interleaved(a: Sequence[str], b: Sequence[str], repeat: int) -> tuple[float, float]:
    """Median wall times of two commands run A, B, B, A, A, B, ...: what the second run of a
    pair inherits from the first (a warm page cache, a busier machine) falls to each alike."""
    times: dict[int, list[float]] = {0: [], 1: []}
    for i in range(repeat):
        for side in (0, 1) if i % 2 == 0 else (1, 0):
            times[side].append(run_timed((a, b)[side])[0])
    return statistics.median(times[0]), statistics.median(times[1])


def record(ctx: Context, name: str, target: str, ratio: float | None, detail: str, unit: str = "x") -> None:
    met = None
    if ratio is not None:
        op, value = target.split()
        met = ratio <= float(value) if op == "<=" else ratio >= float(value)
    ctx.results.append(Result(name, target, ratio, detail, met, unit))
    shown = "-" if ratio is None else f"{ratio:.2f}{unit}"
    print(f"{name}: {shown} (target {target}) {detail}", flush=True)


# Figures ---------------------------------------------------------------------------------


def fig_audit_vs_read(ctx: Context) -> None:
    data = str(workloads.flow_file(ctx.workdir, ctx.sizes.flows))
    audit = [STATUSLINT, "audit", data, "-q", "--fail-on", "none", "--no-progress"]
    read = [sys.executable, "-c", READ_LOOP, data]
    t_audit, t_read = interleaved(audit, read, ctx.sizes.repeat)
    detail = f"{ctx.sizes.flows} flows: audit {t_audit:.2f}s, bare FlowReader {t_read:.2f}s (whole processes)"
    record(ctx, "statuslint audit / bare FlowReader loop", "<= 1.10", t_audit / t_read, detail)


def fig_mitmdump(ctx: Context) -> None:
    data = str(workloads.flow_file(ctx.workdir, ctx.sizes.flows))
    base = [MITMDUMP, "-q", "-nr", data, "--set", f"confdir={ctx.confdir()}"]
    report = str(ctx.workdir / "mitmdump-report.json")
    with_addon = [*base, "-s", AUDIT_SCRIPT, "--set", f"statuslint_report={report}"]
    t_with, t_plain = interleaved(with_addon, base, ctx.sizes.repeat)
    detail = f"{ctx.sizes.flows} flows: with the addon {t_with:.2f}s, plain {t_plain:.2f}s"
    record(ctx, "mitmdump -nr F -s addons/audit.py / mitmdump -nr F", "<= 1.05", t_with / t_plain, detail)


def fig_har_vs_json(ctx: Context) -> None:
    har = str(workloads.har_file(ctx.workdir, ctx.sizes.har))
    audit = [STATUSLINT, "audit", har, "-q", "--fail-on", "none", "--no-progress"]
    load = [sys.executable, "-c", JSON_LOOP, har]
    t_audit, t_load = interleaved(audit, load, ctx.sizes.repeat)
    detail = f"{ctx.sizes.har}-entry HAR: audit {t_audit:.2f}s, json.load + loop {t_load:.2f}s"
    record(ctx, "HAR audit / json.load of the HAR + loop", "<= 3.00", t_audit / t_load, detail)


def _httpolice(ctx: Context) -> str | None:
    """HTTPolice 0.9.0 in a venv of its own (it needs bitstring<4); None if it cannot be had."""
    venv = ctx.workdir / "httpolice-venv"
    exe = venv / "bin" / "httpolice"
    if exe.exists():
        return str(exe)
    py311 = shutil.which("python3.11") or (sys.executable if sys.version_info[:2] == (3, 11) else None)
    if py311 is None:
        return None
    try:
        subprocess.run([py311, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "httpolice==0.9.0", "bitstring<4"],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (subprocess.SubprocessError, OSError):
        return None
    return str(exe) if exe.exists() else None


def fig_httpolice(ctx: Context) -> None:
    name, target = "HTTPolice 0.9.0 / statuslint audit (HAR, whole process)", ">= 10.00"
    exe = _httpolice(ctx)
    if exe is None:
        record(ctx, name, target, None, "skipped: HTTPolice 0.9.0 could not be installed (needs Python 3.11)")
        return
    har = str(workloads.har_file(ctx.workdir, ctx.sizes.har))
    audit = [STATUSLINT, "audit", har, "-q", "--fail-on", "none", "--no-progress"]
    police = [exe, "-i", "har", "-o", "text", har]
    try:
        t_police, t_audit = interleaved(police, audit, ctx.sizes.repeat)
    except RuntimeError as e:
        record(ctx, name, target, None, f"skipped: HTTPolice failed on the workload: {str(e).splitlines()[0]}")
        return
    detail = f"{ctx.sizes.har}-entry HAR: HTTPolice {t_police:.2f}s, statuslint {t_audit:.2f}s"
    record(ctx, name, target, t_police / t_audit, detail)


def fig_jobs(ctx: Context) -> None:
    name, target = "statuslint audit A B: --jobs 1 / --jobs 2 (two cores)", ">= 1.70"
    help_text = subprocess.run([STATUSLINT, "audit", "--help"], capture_output=True, text=True).stdout
    if "--jobs" not in help_text:
        record(ctx, name, target, None, "not measured: statuslint audit has no --jobs option yet")
        return
    a = str(workloads.flow_file(ctx.workdir, ctx.sizes.flows))
    b = str(ctx.workdir / "bench-copy.flows")
    if not Path(b).exists():
        shutil.copyfile(a, b)
    base = [STATUSLINT, "audit", a, b, "-q", "--fail-on", "none", "--no-progress"]
    t1, t2 = interleaved([*base, "--jobs", "1"], [*base, "--jobs", "2"], ctx.sizes.repeat)
    record(ctx, name, target, t1 / t2, f"two {ctx.sizes.flows}-flow inputs: --jobs 1 {t1:.2f}s, --jobs 2 {t2:.2f}s")


def fig_engine(ctx: Context) -> None:
    """The engine alone, in process (benchmarks/bench_engine.py): µs per flow with the
    default policy, and the ratio with 100 extra custom rules. The one figure that is not
    a ratio of two commands: the issue sets it in µs."""
    data = str(workloads.flow_file(ctx.workdir, ctx.sizes.flows))
    repeat = max(3, ctx.sizes.repeat * 2 + 1)
    flows = str(min(ctx.sizes.flows, 5000))
    out = subprocess.run(
        [sys.executable, str(HERE / "bench_engine.py"), data, "--flows", flows, "--repeat", str(repeat)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    ).stdout
    got = json.loads(out.strip().splitlines()[-1])
    detail = f"{got['flows']} flows, median of {repeat} interleaved runs: default policy {got['default']:.1f} µs/flow"
    record(ctx, "engine alone, default policy (µs per flow)", "<= 20", got["default"], detail, unit=" µs")
    detail = f"default {got['default']:.1f} µs/flow, with 100 extra custom rules {got['extra']:.1f} µs/flow"
    record(ctx, "engine with 100 extra custom rules / default policy", "<= 2.00", got["extra"] / got["default"], detail)


def fig_rss(ctx: Context) -> None:
    small = str(workloads.flow_file(ctx.workdir, ctx.sizes.rss_small))
    large = str(workloads.flow_file(ctx.workdir, ctx.sizes.rss_large))
    audit = [STATUSLINT, "audit", "-q", "--fail-on", "none", "--no-progress"]
    _, rss_small = run_timed([*audit, small])
    _, rss_large = run_timed([*audit, large])
    detail = (
        f"peak RSS: {rss_large / 1024:.1f} MiB for {ctx.sizes.rss_large:,} flows, "
        f"{rss_small / 1024:.1f} MiB for {ctx.sizes.rss_small:,}"
    )
    record(
        ctx,
        f"peak RSS, audit of {ctx.sizes.rss_large:,} / of {ctx.sizes.rss_small:,} flows",
        "<= 1.20",
        rss_large / rss_small,
        detail,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited early: {proc.args}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}: {proc.args}")


@contextlib.contextmanager
def _process(cmd: Sequence[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        _wait_port(port, proc)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _load(port: int, requests: int, bad: float) -> dict[str, float]:
    out = subprocess.run(
        [
            *(sys.executable, str(HERE / "loadgen.py"), "client", "--port", str(port)),
            *("--clients", "50", "--requests", str(requests), "--bad", str(bad)),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of one process so far (Linux's /proc; None elsewhere or once gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fo:
            fields = fo.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fo:
            return [int(c) for c in fo.read().split()]
    except OSError:
        return []


def _proxy_run(cmd: Sequence[str], port: int, requests: int, bad: float) -> dict[str, float]:
    """One load through one proxy: the client's figures, plus the CPU ms per request of the
    proxy's own process and of its children (statuslint's audit worker), where /proc tells."""
    with _process(cmd, port) as proc:
        time.sleep(0.5)  # the worker, if any, has started by the time the port answers; settle
        kids = _children(proc.pid)
        before = [_cpu_seconds(pid) for pid in (proc.pid, *kids)]
        result = _load(port, requests, bad)
        after = [_cpu_seconds(pid) for pid in (proc.pid, *kids)]
    if all(x is not None for x in before + after):
        spent = [b - a for a, b in zip(before, after, strict=True)]  # type: ignore[operator]
        result["proxy_cpu_ms"] = spent[0] / requests * 1000
        result["children_cpu_ms"] = sum(spent[1:]) / requests * 1000
    return result


def fig_live(ctx: Context) -> None:
    upstream_port = _free_port()
    upstream = [sys.executable, str(HERE / "loadgen.py"), "upstream", "--port", str(upstream_port)]
    target_url = f"http://{HOST}:{upstream_port}"

    def command(kind: str, port: int) -> list[str]:
        if kind == "plain":
            cmd = [MITMDUMP, "-q", "--mode", f"reverse:{target_url}", "--listen-host", HOST]
            return [*cmd, "-p", str(port), "--set", f"confdir={ctx.confdir()}"]
        cmd = [STATUSLINT, "proxy", "--reverse", target_url, "--port", str(port)]
        return [*cmd, "--confdir", ctx.confdir(), "--fail-on", "none"]

    with _process(upstream, upstream_port):
        for bad, target in ((0.5, ">= 0.95"), (0.0, ">= 0.98")):
            runs: dict[str, list[dict[str, float]]] = {"plain": [], "statuslint": []}
            for i in range(ctx.sizes.live_repeat):
                # A, B, B, A, ...: whatever the second run of a pair inherits from the first
                # (sockets in TIME_WAIT, a warmer cache) falls to each side alike.
                for kind in ("plain", "statuslint") if i % 2 == 0 else ("statuslint", "plain"):
                    port = _free_port()
                    runs[kind].append(_proxy_run(command(kind, port), port, ctx.sizes.live_requests, bad))

            def median(kind: str, what: str, runs: dict[str, list[dict[str, float]]] = runs) -> float:
                return statistics.median(r[what] for r in runs[kind])

            added_p50 = [s["p50_ms"] - p["p50_ms"] for s, p in zip(runs["statuslint"], runs["plain"], strict=True)]
            added_p99 = [s["p99_ms"] - p["p99_ms"] for s, p in zip(runs["statuslint"], runs["plain"], strict=True)]
            detail = (
                f"{ctx.sizes.live_requests} requests, 50 keep-alive clients, {bad:.0%} violating, "
                f"{ctx.sizes.live_repeat} run{'s' if ctx.sizes.live_repeat != 1 else ''} each: "
                f"{median('statuslint', 'rps'):.0f} vs {median('plain', 'rps'):.0f} req/s; "
                f"added latency median {statistics.median(added_p50):.2f} ms, p99 {statistics.median(added_p99):.2f} ms"
            )
            if all("proxy_cpu_ms" in r for rs in runs.values() for r in rs):
                detail += (
                    f"; proxy CPU per request {median('statuslint', 'proxy_cpu_ms'):.3f} ms vs "
                    f"{median('plain', 'proxy_cpu_ms'):.3f} ms, its audit worker "
                    f"{median('statuslint', 'children_cpu_ms'):.3f} ms on the other core"
                )
            what = "violating" if bad else "clean"
            ratio = median("statuslint", "rps") / median("plain", "rps")
            record(ctx, f"live throughput, statuslint proxy / plain mitmdump ({what})", target, ratio, detail)


def fig_pytest(ctx: Context) -> None:
    """The pytest plugin (issue 11), by benchmarks/bench_pytest_plugin.py: CPU time per
    TestClient request of the test process, with the plugin as installed / without."""
    name, target = "pytest plugin: CPU per TestClient request, --statuslint / without", "<= 1.05"
    if importlib.util.find_spec("fastapi") is None:
        record(ctx, name, target, None, "skipped: FastAPI is not installed (the test extras: pip install -e '.[test]')")
        return
    import bench_pytest_plugin as plugin

    runs = plugin.measure(ctx.sizes.pytest_requests, 8, ctx.sizes.pytest_rounds)

    def median(variant: str, what: str) -> float:
        return statistics.median(getattr(r, what) for r in runs[variant])

    base, wall = median("off", "cpu"), median("off", "wall")
    detail = (
        f"{ctx.sizes.pytest_requests} requests in 8 tests, median of {ctx.sizes.pytest_rounds} runs: "
        f"{base * 1e6:.0f} µs CPU per request without the plugin, {median('on', 'cpu') * 1e6:.0f} with it "
        f"(its audit process: {median('on', 'audit_process') / ctx.sizes.pytest_requests * 1e6:.0f} µs per request "
        f"on another core, start-up included), {median('inline', 'cpu') * 1e6:.0f} with it inline "
        f"({median('inline', 'cpu') / base:.2f}x); wall per request {median('on', 'wall') / wall:.2f}x "
        f"({median('inline', 'wall') / wall:.2f}x inline)"
    )
    record(ctx, name, target, median("on", "cpu") / base, detail)


FIGURES: dict[str, Callable[[Context], None]] = {
    "audit": fig_audit_vs_read,
    "mitmdump": fig_mitmdump,
    "live": fig_live,
    "httpolice": fig_httpolice,
    "har": fig_har_vs_json,
    "jobs": fig_jobs,
    "engine": fig_engine,
    "rss": fig_rss,
    "pytest": fig_pytest,
}


# Profile and results ---------------------------------------------------------------------


def profile(ctx: Context, top: int = 15) -> str:
    """cProfile's top entries (own time) of auditing the flows workload, reading excluded
    (the flows are read first: mitmproxy's reader is the floor, not ours to profile)."""
    from statuslint.auditor import Auditor
    from statuslint.policy import load_policy
    from statuslint.readers import read_flows

    data = workloads.flow_file(ctx.workdir, ctx.sizes.flows)
    auditor = Auditor(load_policy())
    with open(data, "rb") as fo:
        flows = list(read_flows(fo, har=False))
    profiler = cProfile.Profile()
    profiler.enable()
    for i, f in enumerate(flows):
        auditor.feed(f, i, "bench")
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return "\n".join(lines[start : start + top + 1])


def machine() -> str:
    import mitmproxy.version

    from statuslint import __version__

    mem = ""
    with contextlib.suppress(OSError), open("/proc/meminfo") as fo:
        mem = fo.readline().split(":", 1)[1].strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {mem} memory; {platform.platform()}\n"
        f"Python {platform.python_version()}, mitmproxy {mitmproxy.version.VERSION}, statuslint {__version__} "
        f"(commit {commit.stdout.strip() or '?'})"
    )


def write_results(ctx: Context, path: Path, command: str, prof: str | None) -> None:
    rows = []
    for r in ctx.results:
        shown = "-" if r.ratio is None else f"{r.ratio:.2f}{r.unit}"
        verdict = {True: "met", False: "**missed**", None: "not measured"}[r.met]
        target = r.target.replace("<=", "≤").replace(">=", "≥")
        rows.append(f"| {r.name} | {shown} | {target}{r.unit} | {verdict} | {r.detail} |")
    text = [
        "# Benchmark results",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `{command}`",
        "(ratios of medians over interleaved runs, in one run on one machine).",
        "",
        "```",
        machine(),
        "```",
        "",
        "Why each missed figure stops where it does: benchmarks/ANALYSIS.md.",
        "",
        "| figure | measured | target | verdict | detail |",
        "|---|---|---|---|---|",
        *rows,
    ]
    if prof:
        text += ["", "## Profile of the audit engine now (cProfile, own time)", "", "```", prof, "```"]
    before = HERE / "profile-before.txt"
    if before.exists():
        text += [
            "",
            "## The same profile before the optimisations (commit e15acf4, 20000 flows)",
            "",
            "```",
            before.read_text(encoding="utf-8").rstrip(),
            "```",
        ]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat, never fails on a ratio")
    parser.add_argument("--only", help=f"comma-separated figures ({', '.join(FIGURES)})")
    parser.add_argument("--workdir", help="where workloads are cached (default: a temporary directory)")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"), help="write the results here ('-': nowhere)")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s): {', '.join(unknown)}")
    # pip compiles an installed package's modules as it installs them; this checkout's
    # editable install is compiled on import, or on every start where
    # PYTHONDONTWRITEBYTECODE is set (as on these machines: ~50 ms of each statuslint
    # process). Measured as installed: compiled once, here.
    compileall.compile_dir(ROOT / "addons", quiet=1)
    with contextlib.ExitStack() as stack:
        workdir = Path(args.workdir) if args.workdir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        workdir.mkdir(parents=True, exist_ok=True)
        ctx = Context(workdir, QUICK if args.quick else FULL)
        for name in names:
            FIGURES[name](ctx)
        prof = None if args.no_profile else profile(ctx)
        if prof:
            print(prof)
    command = "python benchmarks/harness.py " + " ".join(sys.argv[1:])
    if args.results != "-":
        write_results(ctx, Path(args.results), command.strip(), prof)
    missed = [r.name for r in ctx.results if r.met is False]
    if missed and not args.quick:
        print(f"missed: {'; '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
