"""Benchmark 1, the quote: POST /api/v1/quote/ against a bare Django JSON view.

Both are served by one granian process started with the ``web`` service's command from
docker-compose.yml, in the same run, with the same request bytes: a quote-shaped JSON body
for a new visitor each time. The quote has everything on (API-key auth, per-plan rate
limit, metering with the quota check, assignment into a running experiment, exposure
tracking); the bare view only parses the body and answers JSON.

Measured:
- throughput (wrk, closed loop) in alternating rounds, bare then quote, so that both
  see the same noise; the figure is the ratio of the medians;
- latency at a steady 500 requests a second (open loop, see bench/load.py);
- database queries per warm quote, from PostgreSQL's own transaction counter over the
  steady-rate run (each query is one transaction in autocommit);
- Redis round trips per warm quote, from Redis MONITOR over a short sequential run.

Run: ``python -m bench.quote`` (``--smoke`` for a few seconds).
"""

import json
import secrets
import threading
import time
from http.client import HTTPConnection
from statistics import median
from typing import Any

from bench import common, load

TARGET_RATIO = 0.5
TARGET_P99_MS = 20.0
STEADY_RATE = 500
FULL = {"rounds": 5, "round_seconds": 10, "connections": 16, "steady_seconds": 30, "monitor_requests": 200}
SMOKE = {"rounds": 1, "round_seconds": 1, "connections": 4, "steady_seconds": 1, "monitor_requests": 10}
QUOTE_PATH = "/api/v1/quote/"
BARE_PATH = "/bench/bare/"


def _body(visitor: str, skus: list[str]) -> bytes:
    return json.dumps({"visitor_id": visitor, "products": skus}).encode()


def _server_cpu(server: common.Server) -> float:
    return sum(common.cpu_seconds(pid) for pid in server.pids())


def _pg_transactions(database: str) -> int:
    """Committed plus rolled-back transactions of the benchmark database, flushed first.

    Backends report their statistics at exit at the latest, so the database's connections
    are ended first (the servers reconnect when they need to; a warm quote should not).
    """
    import psycopg

    admin = common.database_url().rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        )
        time.sleep(1.0)
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", [database]
        ).fetchone()
    return int(row[0])


def _redis_round_trips(port: int, bodies: list[bytes], headers: dict[str, str]) -> dict[str, Any]:
    """Commands the servers send to the benchmark's Redis database per request, by MONITOR.

    A MULTI ... EXEC block is one round trip, and so is a script: commands a script runs
    are shown by MONITOR as coming from "lua" and are not counted.
    """
    import redis

    client = redis.Redis.from_url(common.redis_url())
    db = client.connection_pool.connection_kwargs.get("db", 0)
    lines: list[str] = []
    stop = threading.Event()
    ready = threading.Event()

    def watch() -> None:
        with client.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                if stop.is_set():
                    break
                if command.get("db") == db and command.get("client_type") != "lua":
                    lines.append(command["command"])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    ready.wait(5)
    time.sleep(0.2)
    http = HTTPConnection("127.0.0.1", port, timeout=10)
    for body in bodies:
        http.request("POST", QUOTE_PATH, body, headers)
        http.getresponse().read()
    http.close()
    time.sleep(0.3)
    stop.set()
    client.ping()  # wakes the monitor so that it sees the stop
    watcher.join(5)
    round_trips, in_block, names = 0, False, {}
    for line in lines:
        name = line.split(" ", 1)[0].upper()
        names[name] = names.get(name, 0) + 1
        if name == "MULTI":
            in_block = True
        elif name == "EXEC":
            in_block = False
            round_trips += 1
        elif not in_block:
            round_trips += 1
    n = len(bodies)
    return {
        "requests": n,
        "round_trips_per_request": round(round_trips / n, 2),
        "commands_per_request": round(len(lines) / n, 2),
        "commands": {k: round(v / n, 2) for k, v in sorted(names.items())},
    }


def main() -> None:
    smoke, size = common.arguments(__doc__.splitlines()[0], FULL, SMOKE)
    common.database_prepare()
    common.redis_flush()
    common.django_setup()
    from bench import data

    bench = data.tenant_create()
    from django.db import connections

    connections.close_all()
    run = common.Run("quote", smoke=smoke, params={**size, "steady_rate": STEADY_RATE, "skus": 1})
    port = common.free_port()
    command = common.compose_command("web", port=port)
    run.params["server"] = common.shown(command, port)
    wrk_env = {
        "BENCH_KEY": bench.secret,
        "BENCH_SKUS": ",".join(bench.skus),
        "BENCH_RUN": secrets.token_hex(3),
    }
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bench.secret}"}

    def request(path: str, tag: str):
        return lambda i: load.http_request("POST", path, _body(f"{tag}-{i}", bench.skus), headers)

    with common.Server(command, port, ready_path="/health/live") as server:
        base = f"http://127.0.0.1:{port}"
        # Warm both workers: imports, connections, the cached config and key record.
        for path in (BARE_PATH, QUOTE_PATH):
            load.wrk(base + path, seconds=1, connections=size["connections"], env=wrk_env)
        rounds: dict[str, list[load.Throughput]] = {"bare": [], "quote": []}
        cpu_us: dict[str, list[float]] = {"bare": [], "quote": []}
        for _ in range(size["rounds"]):
            for name, path in (("bare", BARE_PATH), ("quote", QUOTE_PATH)):
                before = _server_cpu(server)
                result = load.wrk(
                    base + path, seconds=size["round_seconds"], connections=size["connections"], env=wrk_env
                )
                rounds[name].append(result)
                cpu_us[name].append((_server_cpu(server) - before) / max(result.requests, 1) * 1e6)
        steady = {}
        steady["bare"] = load.open_loop(
            "127.0.0.1",
            port,
            request(BARE_PATH, "steady-bare"),
            rate=STEADY_RATE,
            seconds=size["steady_seconds"],
        )
        before = _pg_transactions(run_database())
        steady["quote"] = load.open_loop(
            "127.0.0.1", port, request(QUOTE_PATH, "steady"), rate=STEADY_RATE, seconds=size["steady_seconds"]
        )
        transactions = _pg_transactions(run_database()) - before
        monitored = [_body(f"monitor-{i}", bench.skus) for i in range(size["monitor_requests"])]
        redis_use = _redis_round_trips(port, monitored, headers)

    for name in ("bare", "quote"):
        runs = rounds[name]
        run.measurements[f"{name}_throughput"] = {
            "per_second_median": round(median(r.per_second for r in runs), 1),
            "per_second_rounds": [round(r.per_second, 1) for r in runs],
            "errors": sum(r.errors for r in runs),
            "closed_loop_p50_ms": round(median(r.p50_ms for r in runs), 2),
            "closed_loop_p99_ms": round(median(r.p99_ms for r in runs), 2),
            # CPU the server's processes spent per request: unlike req/s, barely moved by
            # what else the machine is running.
            "server_cpu_us_per_request": round(median(cpu_us[name]), 1),
        }
        s = steady[name]
        run.measurements[f"{name}_steady"] = {
            "rate": STEADY_RATE,
            "requests": s.sent,
            "statuses": {str(k): v for k, v in s.statuses.items()},
            "p50_ms": round(common.percentile(s.latencies_ms, 50), 2),
            "p99_ms": round(common.percentile(s.latencies_ms, 99), 2),
            "max_ms": round(max(s.latencies_ms, default=float("nan")), 2),
            "client_lag_ms": round(s.lag_ms, 2),
        }
    quote_tp = run.measurements["quote_throughput"]["per_second_median"]
    bare_tp = run.measurements["bare_throughput"]["per_second_median"]
    ratio = quote_tp / bare_tp if bare_tp else 0.0
    run.measurements["ratio"] = round(ratio, 3)
    quote_cpu = run.measurements["quote_throughput"]["server_cpu_us_per_request"]
    run.measurements["cpu_ratio"] = round(
        run.measurements["bare_throughput"]["server_cpu_us_per_request"] / quote_cpu, 3
    )
    queries = transactions / steady["quote"].sent
    run.measurements["db_queries_per_warm_quote"] = round(queries, 3)
    run.measurements["redis"] = redis_use
    quote_ok = steady["quote"].statuses.get(200, 0) == steady["quote"].sent and not any(
        r.errors for r in rounds["quote"]
    )
    run.measurements["all_quotes_answered_200"] = quote_ok
    p99 = run.measurements["quote_steady"]["p99_ms"]
    run.targets = [
        common.target(
            "Quote throughput vs bare Django", value=round(ratio * 100, 1), unit="%", goal="≥ 50 %",
            met=ratio >= TARGET_RATIO and quote_ok,
        ),
        common.target(
            "Quote p99 at a steady 500 req/s", value=p99, unit="ms", goal="< 20 ms",
            met=p99 < TARGET_P99_MS and quote_ok,
        ),
        common.target(
            "Database queries per warm quote", value=round(queries, 3), unit="", goal="0",
            met=transactions == 0,
        ),
    ]  # fmt: skip
    run.write()


def run_database() -> str:
    return common.database_url().rsplit("/", 1)[1].split("?")[0]


if __name__ == "__main__":
    main()
