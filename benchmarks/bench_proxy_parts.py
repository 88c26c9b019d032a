"""What the live proxy's own thread pays for statuslint per request, part by part, in one
process (no network, no load client): the parts behind the whole that
bench_proxy_instructions.py counts.

    python benchmarks/bench_proxy_parts.py [--requests 1000] [--repeat 15]

1. ``dispatch``: mitmproxy handing the four events of a request (requestheaders, request,
   responseheaders, response) to one more addon, which implements two of them and does
   nothing: the price of being an addon at all.
2. ``hooks``: statuslint's two hooks with the audit in its worker (the arrival counted,
   the response captured, both batched; a batch sent every 256 responses).
3. ``hooks, a send per response``: the same with a batch pickled and written after each
   response, as a loop turn that carries one response does.
4. ``a finding``: what the proxy does with a finding the worker answers: unpickling it,
   its log line through mitmproxy's terminal log (to /dev/null), marking the flow.

Medians over interleaved rounds, microseconds per request (per finding for 4), printed
as JSON. Wall time on a shared machine: read the parts against each other, not as exact.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import pickle
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mitmproxy import http, options
from mitmproxy.addons.termlog import TermLog
from mitmproxy.master import Master
from mitmproxy.proxy.layers import http as http_layer
from mitmproxy.test import taddons, tflow

from statuslint.addon import INDEX_KEY, StatusLint


class _TwoHooks:
    def requestheaders(self, f: http.HTTPFlow) -> None:
        pass

    def response(self, f: http.HTTPFlow) -> None:
        pass


def _flow(i: int, *, bad: bool = False) -> http.HTTPFlow:
    f = tflow.tflow(resp=True)
    f.live = True
    f.request.method = "POST" if bad else "GET"
    f.request.path = "/v1/users" if bad else f"/v1/users/{i}"
    f.request.headers["accept"] = "application/json"
    f.response.status_code = 201 if bad else 200  # bad: 201 Created without Location
    f.response.headers["content-type"] = "application/json"
    f.response.content = b'{"id": %d, "name": "user %d"}' % (i, i)
    return f


def _per(run: Callable[[], None], n: int) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) / n * 1e6


async def _dispatch(n: int, repeat: int) -> dict[str, float]:
    """The four events of a request through a master without addons, and through one with
    an addon implementing two of them: what each addon costs mitmproxy's dispatch."""
    masters = {"no addon": Master(options.Options()), "one addon": Master(options.Options())}
    masters["one addon"].addons.add(_TwoHooks())
    times: dict[str, list[float]] = {name: [] for name in masters}
    f = tflow.tflow(resp=True)
    events = [
        http_layer.HttpRequestHeadersHook(f),
        http_layer.HttpRequestHook(f),
        http_layer.HttpResponseHeadersHook(f),
        http_layer.HttpResponseHook(f),
    ]
    for _ in range(repeat):
        for name, master in masters.items():
            start = time.perf_counter()
            for _ in range(n):
                for event in events:
                    await master.addons.trigger_event(event)
            times[name].append((time.perf_counter() - start) / n * 1e6)
    for master in masters.values():
        await master.done()  # takes its log handler off the root logger
    return {name: statistics.median(t) for name, t in times.items()}


def _hooks_and_findings(n: int, repeat: int, work: Path) -> dict[str, float]:
    sl = StatusLint()
    sl.print_summary = False
    flows = [_flow(i) for i in range(n)]
    bad = _flow(0, bad=True)
    times: dict[str, list[float]] = {"hooks": [], "hooks, a send per response": [], "a finding": []}
    with open("/dev/null", "w") as devnull, taddons.context(sl) as tctx:
        TermLog(devnull)  # mitmproxy's terminal log, as in mitmdump
        logging.getLogger().setLevel(logging.DEBUG)  # as mitmproxy's tools set it
        tctx.configure(sl, statuslint_offload="true", statuslint_report=str(work / "report.json"))
        sl.running()
        assert sl.offload is not None and sl.auditor is not None
        offload = sl.offload
        found = sl.auditor.audit_response(bad, 0, "live")
        assert found, "the violating flow found nothing"
        answer = pickle.dumps((found, [sl.auditor.endpoint_of(x) for x in found]), pickle.HIGHEST_PROTOCOL)

        def hooks(send_each: bool) -> None:
            for f in flows:
                sl.requestheaders(f)
                sl.response(f)
                if send_each:
                    offload.flush(False)
            offload.flush()

        def finding(marked: list[http.HTTPFlow]) -> None:
            for f in marked:
                got, endpoints = pickle.loads(answer)
                sl._offloaded_findings(f, got, endpoints)

        hooks(False)  # warm: the worker started, its policy built
        for _ in range(repeat):
            # Each timed part starts with the worker idle and the pipe empty, as in a proxy
            # whose worker keeps up: a round trip waits until it has audited all sent so far.
            offload.state()
            times["hooks"].append(_per(lambda: hooks(False), n))
            offload.state()
            times["hooks, a send per response"].append(_per(lambda: hooks(True), n))
            marked = [_flow(0, bad=True) for _ in range(n)]
            for f in marked:
                f.metadata[INDEX_KEY] = 0  # the index the finding names: the flow is marked
            times["a finding"].append(_per(functools.partial(finding, marked), n) / len(found))
        tctx.master.event_loop.run_until_complete(tctx.master.done())
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # Few enough per round that what one round sends fits in the worker's pipe.
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    dispatch = asyncio.run(_dispatch(args.requests, args.repeat))
    with tempfile.TemporaryDirectory(prefix="statuslint-parts-") as tmp:
        parts = _hooks_and_findings(args.requests, args.repeat, Path(tmp))
    result = {
        "mitmproxy's dispatch to one more addon, µs per request": round(
            dispatch["one addon"] - dispatch["no addon"], 1
        ),
        "statuslint's hooks, µs per request": round(parts["hooks"], 1),
        "a send per response adds, µs": round(parts["hooks, a send per response"] - parts["hooks"], 1),
        "a finding answered, µs": round(parts["a finding"], 1),
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
