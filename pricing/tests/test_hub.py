"""The live-feed hub: one layer subscription per process and tenant, relayed to every connection."""

import asyncio

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connections

from config.asgi import application
from pricing import hub, live, services
from pricing.consumers import PriceFeedConsumer

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

TEA = {"sku": "tea", "name": "Tea", "currency": "EUR", "base_price": "10.00"}


@pytest_asyncio.fixture(autouse=True)
async def _close_worker_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


def bearer(party):
    return [(b"authorization", f"Bearer {party.secret}".encode())]


async def subscribed(path, party):
    ws = WebsocketCommunicator(application, path, headers=bearer(party))
    connected, _ = await ws.connect()
    assert connected
    hello = await ws.receive_json_from(timeout=5)
    assert hello["type"] == "subscribed"
    return ws, hello


async def test_connections_of_a_tenant_share_one_subscription_until_the_last_leaves(alice):
    tea = await sync_to_async(services.product_create)(tenant=alice.tenant, **TEA)
    clients = [(await subscribed("/ws/prices/", alice))[0] for _ in range(3)]
    group = hub.hub().groups[live.group_name(alice.tenant.pk)]
    assert len(group.members) == 3
    await sync_to_async(services.price_change)(product=tea, price="11.00", source="api")
    for ws in clients:
        assert (await ws.receive_json_from(timeout=5))["price"] == "11.00"
    for ws in clients:
        await ws.disconnect()
    assert live.group_name(alice.tenant.pk) not in hub.hub().groups


async def test_a_change_during_the_replay_arrives_after_it(alice, monkeypatch):
    tea = await sync_to_async(services.product_create)(tenant=alice.tenant, **TEA)
    ws, hello = await subscribed("/ws/prices/", alice)
    await ws.disconnect()
    await sync_to_async(services.price_change)(product=tea, price="12.00", source="api")
    real_feed_start = live.feed_start

    def feed_start_with_a_change_meanwhile(tenant_id, since, skus):
        # Committed after the client joined the group and read the log, before it has
        # been sent the replay: the live event must wait for the replay.
        started = real_feed_start(tenant_id, since, skus)
        services.price_change(product=tea, price="13.00", source="api")
        return started

    real_send_json = PriceFeedConsumer.send_json

    async def slow_send_json(self, content, close=False):
        await asyncio.sleep(0.1)  # a socket that takes its time: the hub relays meanwhile
        await real_send_json(self, content, close)

    monkeypatch.setattr(live, "feed_start", feed_start_with_a_change_meanwhile)
    monkeypatch.setattr(PriceFeedConsumer, "send_json", slow_send_json)
    ws, _ = await subscribed(f"/ws/prices/?since={hello['version']}", alice)
    received = [await ws.receive_json_from(timeout=5) for _ in range(2)]
    assert [(e["price"], e["version"]) for e in received] == [
        ("12.00", hello["version"] + 1),
        ("13.00", hello["version"] + 2),
    ]
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


class _Member:
    def __init__(self, stuck: bool = False):
        self.sent: list[str] = []
        self.stuck = asyncio.Event() if stuck else None

    def wants(self, event):
        return True

    async def base_send(self, message):
        if self.stuck is not None:
            await self.stuck.wait()  # a client whose socket buffer is full
        self.sent.append(message["text"])

    async def dispatch(self, message):
        self.sent.append(message["type"])


async def test_a_slow_connection_holds_up_no_one_else(db):
    feeds = hub.hub()
    slow, fast = _Member(stuck=True), [_Member() for _ in range(3)]
    for member in (slow, *fast):
        await feeds.join("prices-test", member)
    layer = get_channel_layer()
    await layer.group_send("prices-test", {"type": "price.changed", "event": {"version": 1, "sku": "tea"}})
    for _ in range(100):
        if all(m.sent for m in fast):
            break
        await asyncio.sleep(0.02)
    assert [m.sent for m in fast] == [['{"version": 1, "sku": "tea"}']] * 3
    assert slow.sent == [] and len(feeds.writes) == 1
    slow.stuck.set()
    await asyncio.sleep(0.05)
    assert slow.sent == ['{"version": 1, "sku": "tea"}'] and not feeds.writes
    for member in (slow, *fast):
        await feeds.leave("prices-test", member)
    assert "prices-test" not in feeds.groups


async def test_other_group_messages_reach_each_connections_handler(db):
    feeds = hub.hub()
    members = [_Member() for _ in range(2)]
    for member in members:
        await feeds.join("prices-test", member)
    await get_channel_layer().group_send("prices-test", {"type": "access.withdrawn", "api_key_id": None})
    for _ in range(100):
        if all(m.sent for m in members):
            break
        await asyncio.sleep(0.02)
    assert [m.sent for m in members] == [["access.withdrawn"]] * 2
    for member in members:
        await feeds.leave("prices-test", member)
