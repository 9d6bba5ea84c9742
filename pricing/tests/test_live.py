"""The live price feed over WebSocket, through the real ASGI application.

With REDIS_URL set (CI) the channel layer is Redis pub/sub, as in production.
"""

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections, transaction
from django.test import Client

from config.asgi import application
from experiments import services as experiment_services
from pricing import realtime, services
from pricing.models import PricePoint
from tenants import services as tenant_services

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

TEA = {"sku": "tea", "name": "Tea", "currency": "EUR", "base_price": "10.00"}
COFFEE = {"sku": "coffee", "name": "Coffee", "currency": "EUR", "base_price": "8.00"}


@pytest_asyncio.fixture(autouse=True)
async def _close_worker_thread_connections():
    """ORM calls from async code run in one worker thread; its connection would outlive
    the test and keep the test database from being dropped."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def shops(alice, charlie):
    a_tea = services.product_create(tenant=alice.tenant, **TEA)
    b_tea = services.product_create(tenant=charlie.tenant, **TEA)
    return a_tea, b_tea


def connect(path="/ws/prices/", headers=()):
    return WebsocketCommunicator(application, path, headers=list(headers))


def bearer(party):
    return [(b"authorization", f"Bearer {party.secret}".encode())]


async def subscribed(communicator):
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from(timeout=5)
    assert hello["type"] == "subscribed"
    return hello


async def change_price(product, price, source=PricePoint.Source.API):
    await sync_to_async(services.price_change)(product=product, price=price, source=source)


async def test_a_client_gets_its_tenants_changes_and_never_another_tenants(alice, charlie, shops):
    a_tea, b_tea = shops
    ws = connect(headers=bearer(alice))
    hello = await subscribed(ws)
    await change_price(b_tea, "99.00")  # Charlie's change: Alice must not hear it
    await change_price(a_tea, "11.00")
    event = await ws.receive_json_from(timeout=5)
    assert event == {
        "type": "price.changed",
        "sku": "tea",
        "price": "11.00",
        "currency": "EUR",
        "previous_price": "10.00",
        "source": "api",
        "experiment": None,
        "version": hello["version"] + 1,
        "changed_at": event["changed_at"],
    }
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


@pytest.mark.parametrize(
    ("headers", "path", "code", "reason"),
    [
        ([(b"origin", b"http://localhost")], "/ws/prices/", 4401, "not_authenticated"),
        ([(b"authorization", b"Bearer pl_nope")], "/ws/prices/", 4401, "invalid_api_key"),
        ([], "/ws/prices/?token=forged", 4401, "invalid_token"),
    ],
)
async def test_unauthenticated_connections_are_refused_with_a_code(db, headers, path, code, reason):
    ws = connect(path, headers)
    connected, _ = await ws.connect()
    assert connected
    closed = await ws.receive_output(timeout=5)
    assert (closed["type"], closed["code"], closed.get("reason")) == ("websocket.close", code, reason)


async def test_suspended_and_wrong_tenant_connections_are_refused(alice, charlie):
    ws = connect(f"/ws/prices/?tenant={charlie.tenant.slug}", bearer(alice))
    await ws.connect()
    closed = await ws.receive_output(timeout=5)
    assert (closed["code"], closed["reason"]) == (4403, "wrong_tenant")
    await sync_to_async(tenant_services.tenant_suspend)(tenant=alice.tenant)
    ws = connect(headers=bearer(alice))
    await ws.connect()
    closed = await ws.receive_output(timeout=5)
    assert (closed["code"], closed["reason"]) == (4403, "tenant_suspended")
    await ws.disconnect()


async def test_a_reconnect_with_a_version_gets_what_it_missed_in_order(alice, shops):
    a_tea, _ = shops
    ws = connect(headers=bearer(alice))
    seen = (await subscribed(ws))["version"]
    await ws.disconnect()
    for price in ("12.00", "13.00", "14.00"):
        await change_price(a_tea, price)
    ws = connect(f"/ws/prices/?since={seen}", bearer(alice))
    await subscribed(ws)
    missed = [await ws.receive_json_from(timeout=5) for _ in range(3)]
    assert [e["price"] for e in missed] == ["12.00", "13.00", "14.00"]
    assert [e["version"] for e in missed] == [seen + 1, seen + 2, seen + 3]
    await change_price(a_tea, "15.00")  # and then live, with no gap or repeat
    assert (await ws.receive_json_from(timeout=5))["version"] == seen + 4
    await ws.disconnect()


async def test_a_rolled_back_change_sends_nothing(alice, shops):
    a_tea, _ = shops
    ws = connect(headers=bearer(alice))
    await subscribed(ws)

    def change_then_fail():
        with pytest.raises(RuntimeError), transaction.atomic():
            services.price_change(product=a_tea, price="50.00", source=PricePoint.Source.API)
            raise RuntimeError("something later in the request failed")

    await sync_to_async(change_then_fail)()
    assert await ws.receive_nothing(timeout=0.5)
    await change_price(a_tea, "12.00")  # the next real change carries the next version
    event = await ws.receive_json_from(timeout=5)
    assert event["price"] == "12.00" and event["previous_price"] == "10.00"
    await ws.disconnect()


async def test_a_sku_filter_sends_only_those_skus(alice):
    tea = await sync_to_async(services.product_create)(tenant=alice.tenant, **TEA)
    coffee = await sync_to_async(services.product_create)(tenant=alice.tenant, **COFFEE)
    ws = connect("/ws/prices/?skus=coffee", bearer(alice))
    await subscribed(ws)
    await change_price(tea, "11.00")
    await change_price(coffee, "9.00")
    event = await ws.receive_json_from(timeout=5)
    assert (event["sku"], event["price"]) == ("coffee", "9.00")
    await ws.disconnect()


async def test_starting_and_pausing_an_experiment_are_announced(alice, shops):
    a_tea, _ = shops
    experiment = await sync_to_async(experiment_services.experiment_create)(
        tenant=alice.tenant, product=a_tea, key="tea-test", name="t",
        variants=[
            {"key": "control", "price": "10.00", "weight": "0.5", "is_control": True},
            {"key": "higher", "price": "12.00", "weight": "0.5"},
        ],
    )  # fmt: skip
    ws = connect(headers=bearer(alice))
    await subscribed(ws)
    await sync_to_async(experiment_services.experiment_start)(experiment=experiment)
    await sync_to_async(experiment_services.experiment_pause)(experiment=experiment)
    started, paused = [await ws.receive_json_from(timeout=5) for _ in range(2)]
    assert (started["source"], started["experiment"]) == ("experiment_started", "tea-test")
    assert paused["source"] == "experiment_paused"
    await ws.disconnect()


async def test_a_minted_token_lets_a_browser_connect_until_it_expires(alice, shops, monkeypatch):
    token = realtime.token_mint(tenant_id=alice.tenant.pk)
    ws = connect(f"/ws/prices/?token={token}", [(b"origin", b"https://shop.example.com")])
    assert (await subscribed(ws))["tenant"] == alice.tenant.slug
    await ws.disconnect()
    monkeypatch.setattr(realtime, "TOKEN_TTL_SECONDS", -1)
    ws = connect(f"/ws/prices/?token={token}")
    await ws.connect()
    closed = await ws.receive_output(timeout=5)
    assert (closed["code"], closed["reason"]) == (4401, "token_expired")


async def test_a_logged_in_browser_connects_by_session_from_our_own_origin(alice, shops):
    client = Client()
    await sync_to_async(client.force_login)(alice.user)
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
    ws = connect(headers=[cookie, (b"origin", b"http://localhost")])
    assert (await subscribed(ws))["tenant"] == alice.tenant.slug
    await ws.disconnect()
    # The same cookie sent by a page on another site is refused at the handshake.
    ws = connect(headers=[cookie, (b"origin", b"https://evil.example")])
    connected, _ = await ws.connect()
    assert not connected


async def test_the_token_endpoint_mints_a_working_token(alice, shops):
    from rest_framework.test import APIClient

    api = APIClient()
    response = await sync_to_async(api.post)("/api/v1/realtime/tokens/", **alice.auth)
    assert response.status_code == 201
    ws = connect(response.json()["url"])
    assert (await subscribed(ws))["tenant"] == alice.tenant.slug
    await ws.disconnect()


async def test_revoking_a_key_closes_its_open_connections_and_its_tokens(alice, shops):
    _, other_secret = await sync_to_async(tenant_services.api_key_create)(
        tenant=alice.tenant, name="other", scopes=["read"]
    )
    ws = connect(headers=bearer(alice))
    await subscribed(ws)
    bystander = connect(headers=[(b"authorization", f"Bearer {other_secret}".encode())])
    await subscribed(bystander)
    token = realtime.token_mint(tenant_id=alice.tenant.pk, api_key_id=alice.key.pk)
    await sync_to_async(tenant_services.api_key_revoke)(api_key=alice.key)
    closed = await ws.receive_output(timeout=5)
    assert (closed["type"], closed["code"], closed["reason"]) == ("websocket.close", 4401, "api_key_revoked")
    await ws.disconnect()
    assert await bystander.receive_nothing(timeout=0.3)  # another key's connection stays
    await bystander.disconnect()
    late = connect(f"/ws/prices/?token={token}")
    await late.connect()
    closed = await late.receive_output(timeout=5)
    assert (closed["code"], closed["reason"]) == (4401, "api_key_revoked")
    await late.disconnect()


async def test_suspending_a_tenant_closes_every_connection(alice, shops):
    ws = connect(headers=bearer(alice))
    await subscribed(ws)
    await sync_to_async(tenant_services.tenant_suspend)(tenant=alice.tenant)
    closed = await ws.receive_output(timeout=5)
    assert (closed["code"], closed["reason"]) == (4403, "tenant_suspended")
    await ws.disconnect()


async def test_an_unknown_websocket_path_closes_with_4404(db):
    ws = connect("/ws/nope/", [(b"origin", b"http://localhost")])
    await ws.connect()
    closed = await ws.receive_output(timeout=5)
    assert (closed["code"], closed["reason"]) == (4404, "not_found")
    await ws.disconnect()
