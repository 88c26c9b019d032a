"""Benchmark: the body detectors and header grammars stay linear on hostile input.

Times ``looks_like_stack_trace`` and the grammars on ordinary text and on inputs built to
make a backtracking pattern blow up (long runs of a frame's opening, of path characters,
of quotes), all of the same size, and reports each hostile time over the ordinary one.
Ratios in one run, never absolute timings; above --max-ratio (default 20) it exits 1.
Usage:

    python benchmarks/bench_syntax.py [--size BYTES] [--max-ratio R]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from statuslint import syntax


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=syntax.STACK_SCAN_CAP)
    parser.add_argument("--max-ratio", type=float, default=20.0)
    args = parser.parse_args()
    n = args.size

    def fill(unit: str) -> bytes:
        return (unit * (n // len(unit) + 1))[:n].encode()

    ordinary = fill("The order could not be saved: the title is missing. ")
    hostile = {
        "frame openings": fill("at a ("),
        "node paths": fill("at /" + "a" * 600 + ":1:"),
        "words": fill("a"),
        "ruby/go frames": fill(".rb:1:in `"),
        "php frames": fill("#1 /" + "x" * 400),
        "python frames": fill('File "'),
        "html entities": fill("&nbsp;at "),
    }
    base = best_of(lambda: syntax.looks_like_stack_trace(ordinary))
    ratios = {name: best_of(lambda b=body: syntax.looks_like_stack_trace(b)) / base for name, body in hostile.items()}

    header = "a" * 2000 + ", " * 20_000
    header_base = best_of(lambda: [g("x" * len(header)) for g in syntax.GRAMMARS.values()])
    ratios["grammars on lists"] = best_of(lambda: [g(header) for g in syntax.GRAMMARS.values()]) / header_base
    ratios["challenges"] = best_of(lambda: syntax.challenges('Bearer a="' * 5000)) / max(
        best_of(lambda: syntax.challenges("x" * 50_000)), 1e-9
    )

    worst = max(ratios.values())
    print(json.dumps({"size": n, "ratios": {k: round(v, 2) for k, v in ratios.items()}, "worst": round(worst, 2)}))
    return 0 if worst <= args.max_ratio else 1


if __name__ == "__main__":
    raise SystemExit(main())
