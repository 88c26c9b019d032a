"""Live-proxy benchmark processes: a fast upstream and a bounded keep-alive load client.

    python benchmarks/loadgen.py upstream --port P
    python benchmarks/loadgen.py client --port P --clients 50 --requests 20000 --bad 0.5

The upstream answers from memory (asyncio, raw HTTP/1.1) so that the proxy, not the
server, is what the figure measures: ``/ok/N`` a clean 200 JSON answer, ``/bad/N`` a 201
without Location (one finding each). The client opens ``--clients`` keep-alive
connections to 127.0.0.1 only, sends ``--requests`` requests in all, and prints one JSON
line: requests, seconds, requests per second, and latency percentiles in milliseconds.
Both stop by themselves (the upstream on SIGTERM, the client when done or after
``--timeout`` seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time

HOST = "127.0.0.1"
_OK = b'{"id": 1, "name": "bench", "ok": true}'


def _answer(path: bytes) -> bytes:
    if path.startswith(b"/bad/"):
        body = b'{"id": 2}'
        head = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
    else:
        body = _OK
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    return head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 message with a Content-Length body (or none); its head."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for header in head.split(b"\r\n")[1:]:
        if header.lower().startswith(b"content-length:"):
            length = int(header.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return head


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await _read_message(reader)
            writer.write(_answer(head.split(b"\r\n", 1)[0].split(b" ")[1]))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def upstream(port: int) -> None:
    server = await asyncio.start_server(_serve, HOST, port, backlog=1024)
    async with server:
        await server.serve_forever()


async def _worker(port: int, jobs: list[str], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for path in jobs:
            start = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: application/json\r\n\r\n".encode())
            await writer.drain()
            await _read_message(reader)
            latencies.append(time.perf_counter() - start)
    finally:
        writer.close()


async def client(port: int, clients: int, requests: int, bad: float, timeout: float) -> dict[str, float]:
    paths = [f"/bad/{i}" if (i % 100) < bad * 100 else f"/ok/{i}" for i in range(requests)]
    shares = [paths[i::clients] for i in range(clients)]
    latencies: list[float] = []
    start = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(_worker(port, s, latencies) for s in shares if s)), timeout)
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    up = sub.add_parser("upstream")
    up.add_argument("--port", type=int, required=True)
    cl = sub.add_parser("client")
    cl.add_argument("--port", type=int, required=True)
    cl.add_argument("--clients", type=int, default=50)
    cl.add_argument("--requests", type=int, default=20_000)
    cl.add_argument("--bad", type=float, default=0.5, help="share of requests whose answer breaks a rule")
    cl.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    if args.what == "upstream":
        asyncio.run(upstream(args.port))
        return 0
    print(json.dumps(asyncio.run(client(args.port, args.clients, args.requests, args.bad, args.timeout))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
