"""Benchmark 3, fan-out: one price change to 5,000 WebSocket clients of one tenant.

The realtime server is started with the ``realtime`` service's command from
docker-compose.yml (uvicorn, one process). 5,000 clients connect to ``/ws/prices/`` with
browser tokens, as a storefront's visitors would; then a price is changed through the
product's own service (its transaction commits, the change is broadcast after commit) and
each client notes when the event reaches it. The latency of a client is that moment minus
the moment the change was made; the figure per change is over all clients, so its max is
"until the last client has it". Server memory per connection is the growth of the
server's resident memory from before the first client to after the last, divided by the
clients.

The baseline, in the same run: the same server command serving a bare Channels consumer
(accept, join a group, relay) on the same channel layer, sent the same event with
``group_send``.

Run: ``python -m bench.fanout`` (``--smoke`` for a few seconds).
"""

import asyncio
import gc
import json
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

import uvloop

from bench import common, wsclient

TARGET_CLIENTS = 5000
TARGET_P99_MS = 500.0
TARGET_BYTES_PER_CONNECTION = 100 * 1024
FULL = {"clients": 5000, "changes": 5, "connect_concurrency": 50}
SMOKE = {"clients": 20, "changes": 1, "connect_concurrency": 10}
# How long a change may take to reach every client before the run gives up on the rest.
DELIVERY_TIMEOUT_SECONDS = 30
SETTLE_SECONDS = 2.0
# Connected before memory is first measured, so that every server worker has set itself up.
WARM_CLIENTS = 10


class Listeners:
    """Clients of one server, and when each saw which event."""

    def __init__(self) -> None:
        self.clients: list[wsclient.Client] = []
        self.subscribed = 0
        self.received: dict[int, list[float]] = defaultdict(list)

    def on_text(self, client: wsclient.Client, payload: bytes, now: float) -> None:
        if b'"subscribed"' in payload:
            self.subscribed += 1
        elif b'"price.changed"' in payload:
            self.received[json.loads(payload)["version"]].append(now)


async def _connect_all(port: int, paths: list[str], listeners: Listeners, concurrency: int) -> int:
    gate = asyncio.Semaphore(concurrency)

    async def one(path: str) -> None:
        async with gate:
            client = await wsclient.connect(port, path, {}, listeners.on_text)
            if client is not None:
                listeners.clients.append(client)

    await asyncio.gather(*(one(path) for path in paths))
    deadline = time.monotonic() + 60
    while listeners.subscribed < len(listeners.clients) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return listeners.subscribed


async def _phase(server: common.Server, paths: list[str], size: dict, broadcast: Any) -> dict[str, Any]:
    """Connect every client, measure memory, send the changes, time their arrival."""
    listeners = Listeners()
    pids = server.pids()  # with several workers, their memory and CPU are added up
    # A few clients first: each worker imports and sets up what a connection needs.
    warm = min(WARM_CLIENTS, len(paths) // 2)
    await _connect_all(server.port, paths[:warm], listeners, 1)
    await asyncio.sleep(SETTLE_SECONDS)
    rss_before = sum(common.rss_bytes(pid) for pid in pids)
    connect_started = time.perf_counter()
    subscribed = await _connect_all(server.port, paths[warm:], listeners, size["connect_concurrency"])
    connect_seconds = time.perf_counter() - connect_started
    await asyncio.sleep(SETTLE_SECONDS)
    rss_after = sum(common.rss_bytes(pid) for pid in pids)
    changes = []
    for index in range(size["changes"]):
        server_cpu, client_cpu = sum(common.cpu_seconds(pid) for pid in pids), time.process_time()
        version, sent_at = await broadcast(index)
        deadline = time.monotonic() + DELIVERY_TIMEOUT_SECONDS
        while len(listeners.received[version]) < subscribed and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        latencies = [(t - sent_at) * 1000 for t in listeners.received[version]]
        changes.append(
            {
                "server_cpu_ms": round((sum(common.cpu_seconds(pid) for pid in pids) - server_cpu) * 1000),
                "client_cpu_ms": round((time.process_time() - client_cpu) * 1000),
                "first_ms": round(min(latencies, default=float("nan")), 1),
                "delivered": len(latencies),
                "p50_ms": round(common.percentile(latencies, 50), 1),
                "p99_ms": round(common.percentile(latencies, 99), 1),
                "max_ms": round(max(latencies, default=float("nan")), 1),
                "latencies_ms": latencies,
            }
        )
        await asyncio.sleep(1.0)
    closed_early = sum(1 for c in listeners.clients if c.closed is not None)
    for client in listeners.clients:
        client.close()
    await asyncio.sleep(0.5)
    everything = [x for change in changes for x in change.pop("latencies_ms")]
    return {
        "clients": len(paths),
        "connected": subscribed,
        "closed_early": closed_early,
        "connect_seconds": round(connect_seconds, 1),
        "rss_before_mb": round(rss_before / 2**20, 1),
        "rss_after_mb": round(rss_after / 2**20, 1),
        "bytes_per_connection": round((rss_after - rss_before) / max(subscribed - warm, 1)),
        "changes": changes,
        "p50_ms": round(common.percentile(everything, 50), 1),
        "p99_ms": round(common.percentile(everything, 99), 1),
        "max_ms": round(max(everything, default=float("nan")), 1),
        "all_delivered": all(c["delivered"] == subscribed for c in changes),
    }


def main() -> None:
    smoke, size = common.arguments(__doc__.splitlines()[0], FULL, SMOKE)
    common.database_prepare()
    common.redis_flush()
    common.django_setup()
    from asgiref.sync import sync_to_async
    from channels.layers import get_channel_layer
    from django.db import connections

    from bench import asgi as bare_app
    from bench import data
    from pricing import realtime
    from pricing import services as pricing_services
    from pricing.models import Product
    from tenants.models import Tenant

    bench = data.tenant_create(experiments=0)
    product = Product.objects.for_tenant(bench.tenant_id).get(sku=bench.skus[0])
    run = common.Run("fanout", smoke=smoke, params=dict(size))
    tokens = [realtime.token_mint(tenant_id=bench.tenant_id) for _ in range(size["clients"])]
    product_paths = [f"/ws/prices/?token={token}" for token in tokens]
    bare_paths = ["/ws/bare/"] * size["clients"]
    connections.close_all()

    def change_price(index: int) -> tuple[int, float]:
        sent_at = time.perf_counter()
        pricing_services.price_change(
            product=product, price=Decimal("10.00") + index + 1, source="api", note="fan-out benchmark"
        )
        version = Tenant.objects.filter(pk=bench.tenant_id).values_list("price_version", flat=True).get()
        return version, sent_at

    async def product_broadcast(index: int) -> tuple[int, float]:
        # thread_sensitive: one thread, so one database connection, opened before timing.
        if index == 0:
            await sync_to_async(lambda: Tenant.objects.filter(pk=bench.tenant_id).exists())()
        return await sync_to_async(change_price)(index)

    async def bare_broadcast(index: int) -> tuple[int, float]:
        event = {"type": "price.changed", "sku": "bare", "price": "1.00", "version": 1_000 + index}
        sent_at = time.perf_counter()
        await get_channel_layer().group_send(bare_app.GROUP, {"type": "price.changed", "event": event})
        return event["version"], sent_at

    results = {}
    for name, app, paths, broadcast in (
        ("bare", "bench.asgi:application", bare_paths, bare_broadcast),
        ("product", None, product_paths, product_broadcast),
    ):
        port = common.free_port()
        command = common.compose_command("realtime", port=port, app=app)
        run.params[f"{name}_server"] = common.shown(command, port)
        with common.Server(command, port, ready_path="/health/live" if app is None else None) as server:
            results[name] = uvloop.run(_phase(server, paths, size, broadcast))
        gc.collect()
    run.measurements = results
    product_result = results["product"]
    connected, p99 = product_result["connected"], product_result["p99_ms"]
    per_connection = product_result["bytes_per_connection"]
    run.targets = [
        common.target(
            "WebSocket clients connected", value=connected, unit="", goal=f"all {TARGET_CLIENTS:,}",
            met=connected == size["clients"] >= TARGET_CLIENTS,
        ),
        common.target(
            "Price change to the last client, p99", value=p99, unit="ms", goal="< 500 ms",
            met=p99 < TARGET_P99_MS and product_result["all_delivered"],
        ),
        common.target(
            "Server memory per connection", value=round(per_connection / 1024, 1), unit="KB", goal="< 100 KB",
            met=per_connection < TARGET_BYTES_PER_CONNECTION,
        ),
    ]  # fmt: skip
    run.write()


if __name__ == "__main__":
    main()
