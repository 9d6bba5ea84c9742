"""A new password closes the person's open live price feeds in every workspace; nobody else's."""

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from config.asgi import application
from pricing import realtime
from tenants import services
from tenants.tests.factories import MembershipFactory
from tenants.tests.test_team_live import STARTUP_SECONDS, session_cookie, subscribed

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "a-fresh-and-unusual-passphrase"


@pytest_asyncio.fixture(autouse=True)
async def _close_worker_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


async def test_a_new_password_closes_the_persons_feeds_and_leaves_the_rest_open(alice):
    mia = await sync_to_async(MembershipFactory)(tenant=alice.tenant, role="member")
    elsewhere = await sync_to_async(MembershipFactory)(user=mia.user, role="viewer")  # her own shop too
    mia_cookie = await sync_to_async(session_cookie)(mia.user)
    mias_page = await subscribed(headers=[mia_cookie])
    # A browser token she minted for her own shop's storefront stands on her too.
    token = realtime.token_mint(tenant_id=elsewhere.tenant_id, user_id=mia.user.pk)
    mias_other_shop = await subscribed(f"/ws/prices/?token={token}")
    alices_page = await subscribed(headers=[await sync_to_async(session_cookie)(alice.user)])

    await sync_to_async(services.user_password_set)(user=mia.user, password=NEW_PASSWORD)

    for feed in (mias_page, mias_other_shop):
        closed = await feed.receive_output(timeout=10)
        assert (closed["type"], closed["code"], closed["reason"]) == (
            "websocket.close",
            4401,
            "password_changed",
        )
        await feed.disconnect()
    assert await alices_page.receive_nothing(timeout=0.3)
    await alices_page.disconnect()
    # The old session cannot open a new feed either: it ended with the old password.
    late = WebsocketCommunicator(
        application, "/ws/prices/", headers=[(b"origin", b"http://localhost"), mia_cookie]
    )
    await late.connect(timeout=STARTUP_SECONDS)
    closed = await late.receive_output(timeout=10)
    assert closed["code"] == 4401
    await late.disconnect()
