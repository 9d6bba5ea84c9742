import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from pricing import services, webhooks
from pricing.models import PricePoint, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from pricing.tasks import webhooks_sweep
from tenants import services as tenant_services

pytestmark = pytest.mark.django_db


class Receiver:
    """A webhook receiver on loopback that answers with the statuses it is given."""

    def __init__(self, statuses=(200,), delay=0.0):
        self.statuses, self.delay, self.received = list(statuses), delay, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                time.sleep(outer.delay)
                self.send_response(outer.statuses.pop(0) if len(outer.statuses) > 1 else outer.statuses[0])
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def private_ok(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # the test receiver lives on loopback


@pytest.fixture
def tea(alice):
    return services.product_create(
        tenant=alice.tenant, sku="tea", name="Tea", currency="EUR", base_price="10.00"
    )


def reprice(product, price, capture):
    with capture(execute=True):
        services.price_change(product=product, price=price, source=PricePoint.Source.API)
    # With a broker the commit enqueued the first attempt; embedded, the sweep makes it.
    webhooks_sweep()


def make_due(delivery):
    WebhookDelivery.objects.for_tenant(delivery.tenant_id).filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now()
    )


def test_private_and_loopback_urls_are_refused(api, alice):
    for url in ("http://127.0.0.1:9000/x", "http://10.1.2.3/x", "http://localhost/x", "ftp://example.com/x"):
        response = api.post("/api/v1/webhooks/", {"url": url}, **alice.auth)
        assert response.status_code == 400, url
        assert "url" in response.json()["details"]


def test_the_secret_is_shown_once(api, alice, private_ok):
    created = api.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:1/x"}, **alice.auth).json()
    assert created["secret"].startswith("whsec_")
    listed = api.get("/api/v1/webhooks/", **alice.auth).json()["results"]
    assert listed and all("secret" not in row for row in listed)


def test_a_delivery_is_signed_with_the_documented_scheme(
    api, alice, tea, private_ok, django_capture_on_commit_callbacks
):
    receiver = Receiver()
    secret = api.post("/api/v1/webhooks/", {"url": receiver.url}, **alice.auth).json()["secret"]
    reprice(tea, "11.00", django_capture_on_commit_callbacks)
    receiver.close()
    [(headers, body)] = receiver.received
    # Verify as an integrator would, from the README: t=<time>,v1=HMAC-SHA256(secret, "<t>.<body>").
    fields = dict(part.split("=", 1) for part in headers["Pricelab-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    assert abs(int(fields["t"]) - time.time()) < 60
    payload = json.loads(body)
    assert payload["type"] == "price.changed" and headers["Pricelab-Event-Id"] == payload["id"]
    assert (payload["data"]["sku"], payload["data"]["price"], payload["data"]["previous_price"]) == (
        "tea", "11.00", "10.00",
    )  # fmt: skip
    delivery = WebhookDelivery.objects.for_tenant(alice.tenant).get()
    assert delivery.status == "succeeded" and delivery.attempts == 1


def test_delivery_retries_until_the_receiver_answers_2xx(
    alice, tea, private_ok, django_capture_on_commit_callbacks
):
    receiver = Receiver(statuses=[500, 503, 200])
    webhooks.endpoint_create(tenant=alice.tenant, url=receiver.url, event_types=["price.changed"])
    reprice(tea, "11.00", django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.for_tenant(alice.tenant).get()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    wait = delivery.next_attempt_at - timezone.now()
    assert 25 < wait.total_seconds() <= 30  # the first backoff
    assert webhooks_sweep() == 0  # not due yet: nothing is sent early
    for _ in range(2):
        make_due(delivery)
        webhooks_sweep()
    receiver.close()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 3)
    log = list(
        WebhookAttempt.objects.for_tenant(alice.tenant)
        .filter(delivery=delivery)
        .order_by("attempted_at")
        .values_list("response_status", "succeeded")
    )
    assert log == [(500, False), (503, False), (200, True)]
    assert len({h["Pricelab-Event-Id"] for h, _ in receiver.received}) == 1  # one event, three tries


def test_a_disabled_endpoints_deliveries_wait_untried_until_it_is_enabled(
    alice, tea, private_ok, django_capture_on_commit_callbacks
):
    receiver = Receiver(statuses=[500, 200])
    endpoint, _ = webhooks.endpoint_create(
        tenant=alice.tenant, url=receiver.url, event_types=["price.changed"]
    )
    reprice(tea, "11.00", django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.for_tenant(alice.tenant).get()
    endpoint.active = False
    endpoint.save(update_fields=["active"])
    make_due(delivery)
    assert webhooks_sweep() == 0
    assert webhooks.deliver(delivery_id=delivery.pk) is None
    assert len(receiver.received) == 1  # only the try before it was disabled
    endpoint.active = True
    endpoint.save(update_fields=["active"])
    webhooks_sweep()
    receiver.close()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)


def test_a_receiver_that_is_down_loses_nothing_and_a_slow_one_times_out(
    alice, tea, private_ok, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 0.5)
    slow = Receiver(delay=2)
    webhooks.endpoint_create(
        tenant=alice.tenant, url="http://127.0.0.1:1/down", event_types=["price.changed"]
    )
    webhooks.endpoint_create(tenant=alice.tenant, url=slow.url, event_types=["price.changed"])
    reprice(tea, "11.00", django_capture_on_commit_callbacks)
    slow.close()
    for delivery in WebhookDelivery.objects.for_tenant(alice.tenant):
        attempt = WebhookAttempt.objects.for_tenant(alice.tenant).get(delivery=delivery)
        assert delivery.status == "pending" and not attempt.succeeded
        assert attempt.response_status is None and attempt.error  # refused / timed out, recorded


def test_a_delivery_gives_up_after_the_last_attempt(
    alice, tea, private_ok, django_capture_on_commit_callbacks
):
    receiver = Receiver(statuses=[500])
    webhooks.endpoint_create(tenant=alice.tenant, url=receiver.url, event_types=["price.changed"])
    reprice(tea, "11.00", django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.for_tenant(alice.tenant).get()
    for _ in range(webhooks.MAX_ATTEMPTS):
        make_due(delivery)
        webhooks_sweep()
    receiver.close()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", webhooks.MAX_ATTEMPTS)
    assert sum(webhooks.BACKOFF, start=timezone.timedelta()) >= timezone.timedelta(hours=24)


def test_redelivery_repeats_the_event_id(api, alice, tea, private_ok, django_capture_on_commit_callbacks):
    receiver = Receiver()
    endpoint = api.post("/api/v1/webhooks/", {"url": receiver.url}, **alice.auth).json()
    reprice(tea, "11.00", django_capture_on_commit_callbacks)
    deliveries = api.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries/", **alice.auth).json()["results"]
    assert deliveries[0]["attempt_log"][0]["response_status"] == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/api/v1/webhooks/{endpoint['id']}/deliveries/{deliveries[0]['id']}/redeliver/", **alice.auth
        )
    assert response.status_code == 202
    webhooks_sweep()
    receiver.close()
    ids = [headers["Pricelab-Event-Id"] for headers, _ in receiver.received]
    assert len(ids) == 2 and ids[0] == ids[1] == deliveries[0]["event_id"]
    entry = AuditEntry.objects.for_tenant(alice.tenant).get(action="webhook.redelivered")
    assert entry.object_id == str(deliveries[0]["id"]) and entry.before == {
        "status": "succeeded",
        "attempts": 1,
    }
    assert entry.actor_label == alice.key.prefix


def test_a_rolled_back_change_owes_no_webhook(alice, tea, private_ok):
    webhooks.endpoint_create(tenant=alice.tenant, url="http://127.0.0.1:1/x", event_types=["price.changed"])
    with pytest.raises(RuntimeError), transaction.atomic():
        services.price_change(product=tea, price="99.00", source=PricePoint.Source.API)
        raise RuntimeError("rolled back")
    assert not WebhookDelivery.objects.for_tenant(alice.tenant).exists()


def test_another_tenants_endpoints_and_deliveries_are_404(
    api, alice, charlie, tea, private_ok, django_capture_on_commit_callbacks
):
    endpoint, _ = webhooks.endpoint_create(
        tenant=alice.tenant, url="http://127.0.0.1:1/x", event_types=["price.changed"]
    )
    reprice(tea, "11.00", django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.for_tenant(alice.tenant).get()
    for response in (
        api.get(f"/api/v1/webhooks/{endpoint.pk}/", **charlie.auth),
        api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/", **charlie.auth),
        api.post(f"/api/v1/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/redeliver/", **charlie.auth),
        api.patch(f"/api/v1/webhooks/{endpoint.pk}/", {"active": False}, **charlie.auth),
        api.delete(f"/api/v1/webhooks/{endpoint.pk}/", **charlie.auth),
        api.post(f"/api/v1/webhooks/{endpoint.pk}/roll-secret/", **charlie.auth),
    ):
        assert response.status_code == 404
    assert api.get("/api/v1/webhooks/", **charlie.auth).json()["results"] == []
    secret = endpoint.secret
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.secret == secret


def _signatures(header: str) -> tuple[str, list[str]]:
    pairs = [part.split("=", 1) for part in header.split(",")]
    return next(v for k, v in pairs if k == "t"), [v for k, v in pairs if k == "v1"]


def _signed_by(secret: str, header: str, body: bytes) -> bool:
    t, v1s = _signatures(header)
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for v in v1s)


def test_after_a_roll_deliveries_carry_both_signatures_until_the_old_secret_expires(
    api, alice, tea, private_ok, django_capture_on_commit_callbacks
):
    receiver = Receiver()
    created = api.post("/api/v1/webhooks/", {"url": receiver.url}, **alice.auth).json()
    rolled = api.post(
        f"/api/v1/webhooks/{created['id']}/roll-secret/",
        {"keep_previous_hours": 1},
        format="json",
        **alice.auth,
    )
    assert rolled.status_code == 200
    new = rolled.json()["secret"]
    assert new.startswith("whsec_") and new != created["secret"]
    assert rolled.json()["previous_secret_expires_at"] is not None
    assert "secret" not in api.get(f"/api/v1/webhooks/{created['id']}/", **alice.auth).json()
    reprice(tea, "11.00", django_capture_on_commit_callbacks)
    # An hour later the old secret no longer signs.
    WebhookEndpoint.objects.for_tenant(alice.tenant).update(
        previous_secret_expires_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    reprice(tea, "12.00", django_capture_on_commit_callbacks)
    receiver.close()
    assert (
        api.get(f"/api/v1/webhooks/{created['id']}/", **alice.auth).json()["previous_secret_expires_at"]
        is None
    )
    (during, body1), (after, body2) = receiver.received
    assert len(_signatures(during["Pricelab-Signature"])[1]) == 2
    assert _signed_by(new, during["Pricelab-Signature"], body1)
    assert _signed_by(created["secret"], during["Pricelab-Signature"], body1)
    assert (
        _signatures(after["Pricelab-Signature"])[1] and len(_signatures(after["Pricelab-Signature"])[1]) == 1
    )
    assert _signed_by(new, after["Pricelab-Signature"], body2)
    assert not _signed_by(created["secret"], after["Pricelab-Signature"], body2)


def test_a_roll_is_audited_without_any_secret(api, alice, private_ok):
    created = api.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:1/x"}, **alice.auth).json()
    new = api.post(f"/api/v1/webhooks/{created['id']}/roll-secret/", **alice.auth).json()["secret"]
    entry = AuditEntry.objects.for_tenant(alice.tenant).get(action="webhook.secret_rolled")
    assert set(entry.after) == {"previous_secret_expires_at"}
    text = json.dumps([entry.before, entry.after, entry.object_label])
    assert new not in text and created["secret"] not in text


@pytest.mark.parametrize("hours", [-1, 169, "soon", None])
def test_a_roll_with_a_bad_overlap_is_refused_and_changes_nothing(api, alice, private_ok, hours):
    created = api.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:1/x"}, **alice.auth).json()
    response = api.post(
        f"/api/v1/webhooks/{created['id']}/roll-secret/",
        {"keep_previous_hours": hours},
        format="json",
        **alice.auth,
    )
    assert response.status_code == 400
    assert (
        response.json()["code"] == "validation_error" and "keep_previous_hours" in response.json()["details"]
    )
    assert WebhookEndpoint.objects.for_tenant(alice.tenant).get().secret == created["secret"]


def test_rolling_needs_the_admin_scope(api, alice, private_ok):
    created = api.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:1/x"}, **alice.auth).json()
    _, reader = tenant_services.api_key_create(tenant=alice.tenant, name="reader", scopes=["read"])
    response = api.post(
        f"/api/v1/webhooks/{created['id']}/roll-secret/", HTTP_AUTHORIZATION=f"Bearer {reader}"
    )
    assert response.status_code == 403
    assert WebhookEndpoint.objects.for_tenant(alice.tenant).get().secret == created["secret"]
