"""The SSE price stream, through the real ASGI application."""

import json

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.db import connections

from config.asgi import application
from pricing import services
from pricing.models import PricePoint
from tenants import services as tenant_services
from tenants.models import KeyKind

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest_asyncio.fixture(autouse=True)
async def _close_worker_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


class Stream:
    """An HTTP client reading an event stream from the ASGI app, chunk by chunk."""

    def __init__(self, path: str, headers=(), query: str = ""):
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
            "root_path": "", "headers": [(b"host", b"localhost"), *headers],
            "client": ("127.0.0.1", 5000), "server": ("localhost", 80),
        }  # fmt: skip
        self.app = ApplicationCommunicator(application, scope)
        self.buffer = ""

    async def open(self) -> tuple[int, dict]:
        await self.app.send_input({"type": "http.request", "body": b"", "more_body": False})
        start = await self.app.receive_output(timeout=5)
        return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}

    async def body(self) -> str:
        chunks = []
        while True:
            message = await self.app.receive_output(timeout=5)
            chunks.append(message.get("body", b"").decode())
            if not message.get("more_body"):
                return "".join(chunks)

    async def event(self) -> tuple[str, str | None, dict]:
        while "\n\n" not in self.buffer:
            message = await self.app.receive_output(timeout=5)
            self.buffer += message.get("body", b"").decode()
        frame, self.buffer = self.buffer.split("\n\n", 1)
        if frame.startswith(":"):
            return await self.event()
        fields = dict(line.split(": ", 1) for line in frame.splitlines())
        return fields["event"], fields.get("id"), json.loads(fields["data"])

    async def close(self) -> None:
        await self.app.send_input({"type": "http.disconnect"})
        await self.app.wait(timeout=5)


def bearer(party):
    return [(b"authorization", f"Bearer {party.secret}".encode())]


async def change(product, price):
    await sync_to_async(services.price_change)(product=product, price=price, source=PricePoint.Source.API)


async def test_sse_sends_the_same_events_and_resumes_with_last_event_id(alice, charlie):
    tea = await sync_to_async(services.product_create)(
        tenant=alice.tenant, sku="tea", name="Tea", currency="EUR", base_price="10.00"
    )
    other = await sync_to_async(services.product_create)(
        tenant=charlie.tenant, sku="tea", name="Tea", currency="EUR", base_price="10.00"
    )
    stream = Stream("/api/v1/prices/stream", bearer(alice))
    status, headers = await stream.open()
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    name, _, hello = await stream.event()
    assert name == "subscribed"
    await change(other, "77.00")
    await change(tea, "11.00")
    name, event_id, event = await stream.event()
    assert (name, event["sku"], event["price"], event["previous_price"]) == (
        "price.changed",
        "tea",
        "11.00",
        "10.00",
    )
    assert event_id == str(event["version"]) == str(hello["version"] + 1)
    await stream.close()

    await change(tea, "12.00")
    await change(tea, "13.00")
    resumed = Stream("/api/v1/prices/stream", [*bearer(alice), (b"last-event-id", event_id.encode())])
    await resumed.open()
    await resumed.event()  # subscribed
    prices = [(await resumed.event())[2]["price"] for _ in range(2)]
    assert prices == ["12.00", "13.00"]
    await resumed.close()


async def test_sse_refuses_the_unauthenticated_with_the_error_shape(db):
    stream = Stream("/api/v1/prices/stream")
    status, _ = await stream.open()
    assert status == 401
    assert json.loads(await stream.body())["code"] == "not_authenticated"
    stream = Stream("/api/v1/prices/stream", [(b"authorization", b"Bearer pl_bogus")])
    status, _ = await stream.open()
    assert status == 401
    assert json.loads(await stream.body())["code"] == "invalid_api_key"


async def test_sse_with_a_bad_resume_point_is_400(alice):
    stream = Stream("/api/v1/prices/stream", [*bearer(alice), (b"last-event-id", b"yesterday")])
    status, _ = await stream.open()
    assert status == 400


async def test_sse_refuses_a_secret_key_sent_from_a_web_page(alice):
    stream = Stream("/api/v1/prices/stream", [*bearer(alice), (b"origin", b"https://evil.example.com")])
    status, headers = await stream.open()
    assert status == 403
    assert json.loads(await stream.body())["code"] == "secret_key_from_browser"
    assert "access-control-allow-origin" not in headers
    # From the server (no Origin), the same key follows the feed.
    stream = Stream("/api/v1/prices/stream", bearer(alice))
    status, _ = await stream.open()
    assert status == 200
    await stream.close()


async def test_sse_refuses_a_publishable_key_with_a_clear_code(alice):
    _, publishable = await sync_to_async(tenant_services.api_key_create)(
        tenant=alice.tenant, name="Storefront", kind=KeyKind.PUBLISHABLE
    )
    stream = Stream("/api/v1/prices/stream", [(b"authorization", f"Bearer {publishable}".encode())])
    status, _ = await stream.open()
    body = json.loads(await stream.body())
    assert status == 403 and body["code"] == "publishable_key_not_allowed"
    assert "secret key" in body["message"]
