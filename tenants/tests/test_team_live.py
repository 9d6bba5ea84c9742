"""A person removed from the team loses their open live price feeds; nobody else does."""

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client

from config.asgi import application
from pricing import realtime
from pricing.tests.test_sse import Stream
from tenants import services
from tenants.tests.factories import MembershipFactory

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

# A first request through the whole ASGI app can take seconds on a busy shared machine.
STARTUP_SECONDS = 30


@pytest_asyncio.fixture(autouse=True)
async def _close_worker_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


def session_cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def subscribed(path="/ws/prices/", headers=()):
    ws = WebsocketCommunicator(application, path, headers=[(b"origin", b"http://localhost"), *headers])
    connected, _ = await ws.connect(timeout=STARTUP_SECONDS)
    assert connected
    assert (await ws.receive_json_from(timeout=5))["type"] == "subscribed"
    return ws


async def test_removing_a_member_closes_their_feeds_and_leaves_the_rest_open(alice):
    mia = await sync_to_async(MembershipFactory)(tenant=alice.tenant, role="member")
    mia_cookie = await sync_to_async(session_cookie)(mia.user)
    alice_cookie = await sync_to_async(session_cookie)(alice.user)
    mias_page = await subscribed(headers=[mia_cookie])
    token = realtime.token_mint(tenant_id=alice.tenant.pk, user_id=mia.user.pk)
    mias_token_feed = await subscribed(f"/ws/prices/?token={token}")
    mias_stream = Stream("/api/v1/prices/stream", [mia_cookie])
    await mias_stream.app.send_input({"type": "http.request", "body": b"", "more_body": False})
    assert (await mias_stream.app.receive_output(timeout=STARTUP_SECONDS))["status"] == 200
    assert (await mias_stream.event())[0] == "subscribed"
    alices_page = await subscribed(headers=[alice_cookie])
    storefront = await subscribed(headers=[(b"authorization", f"Bearer {alice.secret}".encode())])

    await sync_to_async(services.membership_remove)(membership=mia, actor=alice.user)

    for feed in (mias_page, mias_token_feed):
        closed = await feed.receive_output(timeout=10)
        assert (closed["type"], closed["code"], closed["reason"]) == (
            "websocket.close",
            4403,
            "membership_removed",
        )
        await feed.disconnect()
    name, _, data = await mias_stream.event()
    assert (name, data) == ("access.withdrawn", {"type": "access.withdrawn", "reason": "membership_removed"})
    await mias_stream.close()
    for feed in (alices_page, storefront):
        assert await feed.receive_nothing(timeout=0.3)
        await feed.disconnect()
    # Reconnecting does not help: the membership is gone.
    late = WebsocketCommunicator(
        application, "/ws/prices/", headers=[(b"origin", b"http://localhost"), mia_cookie]
    )
    await late.connect(timeout=STARTUP_SECONDS)
    closed = await late.receive_output(timeout=10)
    assert (closed["code"], closed["reason"]) == (4403, "no_tenant")
    await late.disconnect()
