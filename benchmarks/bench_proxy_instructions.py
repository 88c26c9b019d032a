"""Instructions per flow that statuslint adds to mitmproxy's own process, counted by
valgrind's callgrind: the steady companion of the harness's `mitmdump` and `live` figures,
whose wall times and throughputs drift by ±10% between runs on these shared machines.

    python benchmarks/bench_proxy_instructions.py nr      # mitmdump -nr F [-s addons/audit.py]
    python benchmarks/bench_proxy_instructions.py live    # plain mitmdump -q / statuslint proxy,
                                                          # under benchmarks/loadgen.py's load
    python benchmarks/bench_proxy_instructions.py live --bad 0.5

Each side runs at two sizes, so that start-up and shutdown cancel out: the difference of the
two counts over the difference of the sizes is what one flow (one request) costs. Only the
proxy's own process is counted (--trace-children=no): with two cores, statuslint's audit
worker runs on the other one. The two sides of a size run at once (valgrind is ~50x slower,
and a count does not depend on what else runs). About 3-4 minutes per mode; needs valgrind.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import harness as H
import workloads

SIZES = {"nr": (1, 1000), "live": (300, 1300)}
KINDS = ("plain", "statuslint")


def _collected(err: Path) -> int:
    found = re.search(r"Collected : (\d+)", err.read_text(errors="replace"))
    if found is None:
        raise RuntimeError(f"no count in {err}:\n{err.read_text(errors='replace')[-2000:]}")
    return int(found.group(1))


def _valgrind(cmd: list[str], err: Path) -> list[str]:
    return [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        "--trace-children=no",
        f"--log-file={err}",
        *cmd,
    ]


def count_nr(kind: str, size: int, work: Path) -> int:
    data = workloads.flow_file(work, size)
    cmd = [H.MITMDUMP, "-q", "-nr", str(data), "--set", f"confdir={work / 'confdir'}"]
    if kind == "statuslint":
        cmd += ["-s", H.AUDIT_SCRIPT, "--set", f"statuslint_report={work / f'report-{size}.json'}"]
    err = work / f"nr-{kind}-{size}.log"
    subprocess.run(_valgrind(cmd, err), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=3600)
    return _collected(err)


def count_live(kind: str, size: int, work: Path, target: str, bad: float) -> int:
    port = H._free_port()
    if kind == "plain":
        cmd = [H.MITMDUMP, "-q", "--mode", f"reverse:{target}", "--listen-host", H.HOST, "-p", str(port)]
        cmd += ["--set", f"confdir={work / 'confdir'}"]
    else:
        cmd = [H.STATUSLINT, "proxy", "--reverse", target, "--port", str(port)]
        cmd += ["--confdir", str(work / "confdir"), "--fail-on", "none"]
    err = work / f"live-{kind}-{size}.log"
    proc = subprocess.Popen(_valgrind(cmd, err), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        H._wait_port(port, proc, timeout=300)
        time.sleep(3)  # statuslint's worker starts once the proxy runs
        client = [sys.executable, str(H.HERE / "loadgen.py"), "client", "--port", str(port)]
        client += ["--clients", "50", "--requests", str(size), "--bad", str(bad), "--timeout", "1800"]
        subprocess.run(client, check=True, capture_output=True, timeout=1900)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(600)
    return _collected(err)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=sorted(SIZES))
    parser.add_argument("--bad", type=float, default=0.0, help="live: the share of requests breaking a rule")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("bench: valgrind is not installed", file=sys.stderr)
        return 2
    counts: dict[tuple[str, int], int] = {}
    with tempfile.TemporaryDirectory(prefix="statuslint-cg-") as tmp:
        work = Path(tmp)

        def run(kind: str, size: int, *extra: object) -> None:
            if args.mode == "nr":
                counts[kind, size] = count_nr(kind, size, work)
            else:
                counts[kind, size] = count_live(kind, size, work, *extra)  # type: ignore[arg-type]

        def measure(*extra: object) -> None:
            for size in SIZES[args.mode]:
                threads = [threading.Thread(target=run, args=(kind, size, *extra)) for kind in KINDS]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()

        for size in SIZES["nr"]:
            workloads.flow_file(work, size)  # once, before the two sides read it at once
        # mitmproxy makes its CA in a new confdir on its first start: not in a counted run.
        warm = [H.MITMDUMP, "-q", "-nr", str(workloads.flow_file(work, 1)), "--set", f"confdir={work / 'confdir'}"]
        subprocess.run(warm, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=600)
        if args.mode == "nr":
            measure()
        else:
            port = H._free_port()
            upstream = [sys.executable, str(H.HERE / "loadgen.py"), "upstream", "--port", str(port)]
            with H._process(upstream, port):
                measure(f"http://{H.HOST}:{port}", args.bad)
    if len(counts) != len(KINDS) * 2:
        print("bench: a run failed (see above)", file=sys.stderr)
        return 1
    small, large = SIZES[args.mode]
    per = {kind: (counts[kind, large] - counts[kind, small]) / (large - small) for kind in KINDS}
    unit = "flow" if args.mode == "nr" else "request"
    for kind in KINDS:
        at = f"{counts[kind, small]:,} at {small}, {counts[kind, large]:,} at {large}"
        print(f"{kind}: {at}: {per[kind] / 1e6:.3f}M per {unit}")
    added, ratio = per["statuslint"] - per["plain"], per["statuslint"] / per["plain"]
    print(f"statuslint adds {added / 1e3:,.0f}k instructions per {unit} to the proxy's process: {ratio:.4f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
