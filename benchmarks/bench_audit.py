"""Benchmarks: what auditing costs on top of reading, and against mitmdump's replay.

Ratios are measured in one run on one machine (these machines are small and noisy), never
as absolute timings in a test. Usage:

    python benchmarks/bench_audit.py [--flows N] [--repeat R]

Builds a synthetic flow file of N flows from recordings/demo.flows in a temp dir, then times:
  read      mitmproxy's FlowReader alone (the floor)
  audit     statuslint's engine on the same stream (what `statuslint audit` does)
  mitmdump  `mitmdump -nr FILE -s addons/audit.py` (the plain mitmproxy way)
and the peak RSS of `statuslint audit` in a child process.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mitmproxy import io

from statuslint.auditor import Auditor
from statuslint.policy import load_policy
from statuslint.readers import read_flows

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def build_input(path: Path, n: int) -> None:
    with open(ROOT / "recordings" / "demo.flows", "rb") as fo:
        base = list(io.FlowReader(fo).stream())
    with open(path, "wb") as out:
        writer = io.FlowWriter(out)
        for i in range(n):
            writer.add(base[i % len(base)])


def best_of(repeat: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flows", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bench.flows"
        build_input(data, args.flows)
        policy = load_policy()

        def read() -> None:
            with open(data, "rb") as fo:
                for _ in read_flows(fo, har=False):
                    pass

        def audit() -> None:
            auditor = Auditor(policy)
            with open(data, "rb") as fo:
                for i, f in enumerate(read_flows(fo, har=False)):
                    auditor.feed(f, i, "bench")

        def mitmdump() -> None:
            subprocess.run(
                [
                    str(BIN / "mitmdump"),
                    "-q",
                    "-nr",
                    str(data),
                    "-s",
                    str(ROOT / "addons" / "audit.py"),
                    "--set",
                    f"confdir={tmp}/conf",
                    "--set",
                    f"statuslint_report={tmp}/r.json",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )

        t_read = best_of(args.repeat, read)
        t_audit = best_of(args.repeat, audit)
        t_mitm = best_of(1, mitmdump)
        rss = (
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import resource, sys; from statuslint.cli import main; "
                    "main(['audit', sys.argv[1], '-q', '--fail-on', 'none']); "
                    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)",
                    str(data),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            .stderr.strip()
            .splitlines()[-1]
        )
        result = {
            "flows": args.flows,
            "read_s": round(t_read, 3),
            "audit_s": round(t_audit, 3),
            "mitmdump_s": round(t_mitm, 3),
            "audit_over_read": round(t_audit / t_read, 2),
            "mitmdump_over_audit": round(t_mitm / t_audit, 2),
            "audit_flows_per_s": round(args.flows / t_audit),
            "audit_peak_rss_mib": round(int(rss) / 1024, 1),
            "bench_process_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
