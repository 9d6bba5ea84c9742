"""Errors reach Sentry tagged with tenant and request id, and no secret reaches Sentry or a log.

The SDK is the real one, set up by ``config.sentry.init_sentry``; only its transport is
replaced by one that keeps the envelopes it would have sent. Each test then serializes
everything captured and searches it for the secrets the request carried.
"""

import json
import logging

import pytest
import requests
import sentry_sdk
from asgiref.sync import sync_to_async
from celery import shared_task
from channels.testing import WebsocketCommunicator
from django.db import connections
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from config import observability
from config.celery import app as celery_app
from config.sentry import init_sentry
from pricing import api as pricing_api
from pricing import live

STRIPE_SECRET = "sk_test_51HxYzAbCdEfGhIjKlMnOpQrStUv"
WEBHOOK_SECRET = "whsec_AbCdEfGhIjKlMnOpQrStUvWx"
PUBLISHABLE = "pk_live_AbCdEfGhIjKlMnOp"

logger = logging.getLogger("pricelab.test.sentry")


class CapturingTransport(Transport):
    """Keeps envelopes instead of sending them."""

    def __init__(self, options=None):
        super().__init__(options)
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    def events(self) -> list[dict]:
        return [item.payload.json for env in self.envelopes for item in env.items if item.type == "event"]

    def serialized(self) -> str:
        return "\n".join(env.serialize().decode("utf-8", "replace") for env in self.envelopes)


@pytest.fixture
def sentry():
    transport = CapturingTransport()
    init_sentry("https://public@sentry.example.invalid/1", environment="test", transport=transport)
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: the SDK does nothing for the tests after this one


def assert_no_secret(transport: CapturingTransport, *secrets: str) -> None:
    text = transport.serialized()
    assert text, "nothing was captured"
    for secret in secrets:
        assert secret not in text
        assert json.dumps(secret)[1:-1] not in text


# --- Web -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_view_error_reaches_sentry_tagged_and_scrubbed(live_server, alice, sentry, monkeypatch):
    def fail(view, request, *args, **kwargs):
        logger.warning("creating with %s and %s", request.META["HTTP_AUTHORIZATION"], STRIPE_SECRET)
        raise RuntimeError(f"broken while holding {alice.secret} and {WEBHOOK_SECRET}")

    monkeypatch.setattr(pricing_api.ProductViewSet, "create", fail)
    response = requests.post(
        f"{live_server.url}/api/v1/products/",
        json={"sku": "tea", "note": alice.secret, "password": "hunter2-long", "pk": PUBLISHABLE},
        headers={
            "Authorization": f"Bearer {alice.secret}",
            "X-Request-ID": "req-0123456789abcdef",
            "Cookie": f"sessionid=abc123secretcookie; other={alice.secret}",
        },
        timeout=10,
    )
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "req-0123456789abcdef"
    sentry_sdk.flush()
    [event] = sentry.events()
    assert event["tags"]["request_id"] == "req-0123456789abcdef"
    assert event["tags"]["tenant"] == alice.tenant.slug
    assert event["tags"]["tenant_id"] == str(alice.tenant.pk)
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert_no_secret(sentry, alice.secret, STRIPE_SECRET, WEBHOOK_SECRET, PUBLISHABLE, "abc123secretcookie")
    assert alice.key.prefix in sentry.serialized()  # the visible prefix stays: it says which key


def test_a_bad_incoming_request_id_is_replaced(client, db):
    forged = "x\nINFO forged log line"
    response = client.get("/health/live", HTTP_X_REQUEST_ID=forged)
    assert response["X-Request-ID"] != forged and len(response["X-Request-ID"]) == 32
    assert client.get("/health/live")["X-Request-ID"] != response["X-Request-ID"]


# --- Celery --------------------------------------------------------------------------------


@shared_task(name="config.tests.test_sentry.failing_task")
def failing_task(secret: str) -> None:
    logger.warning("task sees %s", secret)
    raise RuntimeError(f"task failed with {secret}")


@pytest.mark.django_db
def test_a_task_carries_the_request_id_and_tenant_of_the_request_that_queued_it(alice, sentry, settings):
    published = {}

    def keep(headers=None, **kwargs):
        published.update(headers or {})

    from celery.signals import before_task_publish

    before_task_publish.connect(keep)
    queue = f"test-sentry-{alice.tenant.pk}"
    celery_app.conf.task_always_eager = False
    try:
        # As a request does: its id and tenant are in the context when it queues the task.
        observability.request_id_var.set("req-abcdef0123456789")
        observability.tenant_set(tenant_id=alice.tenant.pk, slug=alice.tenant.slug)
        failing_task.apply_async(args=[alice.secret], queue=queue)  # onto the real broker
    finally:
        celery_app.conf.task_always_eager = True
        before_task_publish.disconnect(keep)
        observability.request_id_var.set(None)
        observability.tenant_id_var.set(None)
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
    assert published[observability.TASK_HEADER_REQUEST_ID] == "req-abcdef0123456789"
    assert published[observability.TASK_HEADER_TENANT_ID] == alice.tenant.pk
    sentry_sdk.get_isolation_scope().remove_tag("tenant")
    sentry_sdk.get_isolation_scope().remove_tag("tenant_id")

    # A worker runs it with those headers (here in-process, through Celery's own tracer).
    with pytest.raises(RuntimeError):  # eager runs propagate (CELERY_TASK_EAGER_PROPAGATES)
        failing_task.apply(args=[alice.secret], headers=published)
    sentry_sdk.flush()
    [event] = sentry.events()
    assert event["tags"]["request_id"] == "req-abcdef0123456789"
    assert event["tags"]["tenant_id"] == str(alice.tenant.pk)
    assert event["tags"]["task"] == "config.tests.test_sentry.failing_task"
    assert_no_secret(sentry, alice.secret)


# --- Channels ------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_consumer_error_reaches_sentry_tagged_and_scrubbed(alice, sentry, monkeypatch):
    from config.asgi import application

    def fail(tenant_id, since, skus):
        raise RuntimeError(f"feed failed for {alice.secret}")

    monkeypatch.setattr(live, "feed_start", fail)
    communicator = WebsocketCommunicator(
        application,
        "/ws/prices/",
        headers=[
            (b"authorization", f"Bearer {alice.secret}".encode()),
            (b"x-request-id", b"ws-0123456789abcdef"),
        ],
    )
    await communicator.connect()
    with pytest.raises(RuntimeError):
        await communicator.receive_output(timeout=5)
    await sync_to_async(connections.close_all)()
    sentry_sdk.flush()
    events = sentry.events()
    assert events, "the consumer's error was not captured"
    event = events[-1]
    assert event["tags"]["request_id"] == "ws-0123456789abcdef"
    assert event["tags"]["tenant"] == alice.tenant.slug
    assert_no_secret(sentry, alice.secret)


# --- Logs ----------------------------------------------------------------------------------


def test_log_lines_carry_the_request_id_and_never_a_secret(capsys):
    from logging.config import dictConfig

    from django.conf import settings as django_settings

    dictConfig(django_settings.LOGGING)
    observability.request_id_var.set("req-logline0001")
    try:
        key = "pl_3f9Ka2Qx_" + "A" * 40
        try:
            raise ValueError(f"bad key {key}")
        except ValueError:
            logging.getLogger("pricelab.test").exception(
                "refused %s with Authorization: Bearer %s, stripe %s", key, key, STRIPE_SECRET
            )
    finally:
        observability.request_id_var.set(None)
    written = capsys.readouterr().err
    assert "[req-logline0001]" in written
    assert "pl_3f9Ka2Qx_[Filtered]" in written
    assert key not in written and STRIPE_SECRET not in written and "A" * 40 not in written
