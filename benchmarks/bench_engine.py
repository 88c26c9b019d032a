"""The audit engine alone: microseconds per flow for the per-flow rules of the default
policy, and the same with 100 extra custom rules (``extra_rules`` builds them: the kinds
of rule a team adds, spread over every predicate family, most of them applying to most
flows and few of them firing).

    python benchmarks/bench_engine.py FLOWS [--flows 5000] [--repeat 7]

Flows are read first (reading is not the engine's), then each policy's engine runs over
all of them, the two policies interleaved; the medians are printed as JSON. Counted: the
view of each flow and ``Engine.violations`` (what ``Auditor.audit_response`` spends on
per-flow rules), not the stateful checks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from statuslint.engine import Engine
from statuslint.flowview import FlowView
from statuslint.policy import load_policy
from statuslint.readers import read_flows

COLLECTIONS = ("users", "orders", "products", "invoices", "projects", "teams", "tickets", "accounts")


def extra_rules(n: int = 100) -> str:
    """A policy extending the default one with ``n`` custom rules, as a team writes them
    (no two alike; ``n`` a multiple of 5):

    - two fifths endpoint conventions: a path glob and a method, then a header or status
      test (each applies to the traffic of one collection);
    - one fifth header conventions on every success of some methods (a header value
      matched by a regex, a header present);
    - one fifth error-body conventions on 4xx/5xx JSON answers (keys the body must have);
    - one fifth rules about headers the API rarely sends (deprecation, sunset, experiment
      flags: they apply where that header is there).
    """
    rules = []
    for i in range(n):
        kind = i % 5
        collection = COLLECTIONS[i % len(COLLECTIONS)]
        method = ("GET", "POST", "PUT", "PATCH", "DELETE")[i % 5]
        if kind in (0, 1):
            when = f"{{path: '/v1/{collection}{'/*' if kind else ''}', method: {method}}}"
            require = (
                f"{{response_header: {{X-{collection.title()}-Version-{i}: present}}}}"
                if i % 2
                else f"{{status: [200, 201, 204, 304, 400, 401, 403, 404, 409, 422, 429, {500 + i}]}}"
            )
        elif kind == 2:
            when = f"{{status: 2xx, method: [{method}, {('GET', 'POST')[i % 2]}]}}"
            media = rf"^application/(json|problem\+json|x-v{i})(;.*)?$"
            require = (
                f"{{response_header: {{Content-Type: {{matches: '{media}'}}}}}}"
                if i % 2
                else f"{{response_header: {{X-Trace-{i}: absent}}}}"
            )
        elif kind == 3:
            when = f"{{status: ['4xx', '5xx'], content_type: ['*/json', '*+json'], method: [{method}, POST]}}"
            require = f"{{json: {{has_key: [error, title, code-{i}]}}}}"
        else:
            when = f"{{response_header: {{X-Deprecated-{i}: present}}}}"
            require = f"{{response_header: {{Sunset: {{matches: '^[A-Z][a-z]{{2}}, [0-9]{{2}} .*GMT$|^{i}$'}}}}}}"
        rules.append(
            f"  - id: custom-{i}\n"
            f"    severity: {('info', 'warning', 'error')[i % 3]}\n"
            f"    summary: custom rule {i}\n"
            f"    when: {when}\n"
            f"    require: {require}\n"
        )
    return "name: bench-extra\nextends: default\nrules:\n" + "".join(rules)


def per_flow_us(engine: Engine, flows: list) -> float:
    start = time.perf_counter()
    for f in flows:
        for _ in engine.violations(FlowView(f)):
            pass
    return (time.perf_counter() - start) / len(flows) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="a .flows workload (benchmarks/workloads.py)")
    parser.add_argument("--flows", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    flows = []
    with open(args.data, "rb") as fo:
        for f in read_flows(fo, har=False):
            if f.response is not None:
                flows.append(f)
            if len(flows) >= args.flows:
                break
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "extra.yaml"
        path.write_text(extra_rules(), encoding="utf-8")
        default, extra = load_policy(), load_policy(path)
    assert len(extra.rules) == len(default.rules) + 100
    times: dict[str, list[float]] = {"default": [], "extra": []}
    for _ in range(args.repeat):
        # A fresh engine each time: the first flows also pay for building its index.
        times["default"].append(per_flow_us(Engine(default), flows))
        times["extra"].append(per_flow_us(Engine(extra), flows))
    result = {name: statistics.median(values) for name, values in times.items()}
    result["flows"] = len(flows)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
