"""Load generators: wrk for the most a server can do, and an open-loop client for latency.

Throughput comes from wrk (a C program: a Python client would be the bottleneck). Latency
at a steady rate comes from ``open_loop``: requests leave on a fixed schedule whatever
the server does, and each latency is counted from when its request was *due*, so a server
that stalls is charged for the requests queued behind the stall (no coordinated omission,
unlike a closed-loop client that simply waits).
"""

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvloop

LUA = Path(__file__).with_name("quote.lua")
# Keep-alive connections the open-loop client holds; more than ever needed at 500 req/s.
OPEN_LOOP_CONNECTIONS = 32


@dataclass
class Throughput:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk(url: str, *, seconds: float, connections: int, env: dict[str, str]) -> Throughput:
    """Run wrk with bench/quote.lua against ``url`` and read the summary the script prints."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for the throughput runs: apt-get install wrk")
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", str(LUA), url],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
    data = json.loads(line.removeprefix("WRK_JSON "))
    return Throughput(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        errors=sum(data["errors"].values()),
        p50_ms=data["latency_us"]["p50"] / 1000,
        p99_ms=data["latency_us"]["p99"] / 1000,
    )


@dataclass
class OpenLoop:
    sent: int
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    lag_ms: float = 0.0  # how late the client itself sent its last request: its own noise


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length is None:
        raise RuntimeError("the open-loop client needs a Content-Length on every response")
    await reader.readexactly(length)
    return status


async def _open_loop(
    host: str, port: int, request: Callable[[int], bytes], *, rate: float, seconds: float
) -> OpenLoop:
    total = max(1, int(rate * seconds))
    due_queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    result = OpenLoop(sent=total)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (job := await due_queue.get()) is not None:
                index, due = job
                writer.write(request(index))
                status = await _read_response(reader)
                result.latencies_ms.append((time.perf_counter() - due) * 1000)
                result.statuses[status] = result.statuses.get(status, 0) + 1
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(OPEN_LOOP_CONNECTIONS)]
    start = time.perf_counter() + 0.1
    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        due_queue.put_nowait((index, due))
    result.lag_ms = max(0.0, (time.perf_counter() - due) * 1000)
    for _ in workers:
        due_queue.put_nowait(None)
    await asyncio.gather(*workers)
    return result


def open_loop(
    host: str, port: int, request: Callable[[int], bytes], *, rate: float, seconds: float
) -> OpenLoop:
    """Send ``rate`` requests a second for ``seconds``; ``request(i)`` gives the i-th request's bytes."""
    return uvloop.run(_open_loop(host, port, request, rate=rate, seconds=seconds))


def http_request(method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A raw HTTP/1.1 keep-alive request."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
