"""The webhooks pages, through the real HTTP path: who sees what, who may change what."""

import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from pricing import services, webhook_views
from pricing.models import PricePoint, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from pricing.tasks import webhooks_sweep
from pricing.tests.test_webhooks import Receiver
from tenants.tests.factories import MembershipFactory
from tenants.tests.helpers import log_in

pytestmark = pytest.mark.django_db

PUBLIC_URL = "https://hooks.example.com/pricelab"


def make_endpoint(tenant, url=PUBLIC_URL, **fields) -> WebhookEndpoint:
    # Straight to the table: the service would resolve the host name, and tests have no DNS.
    return WebhookEndpoint.objects.create(
        tenant=tenant, url=url, event_types=["price.changed"], secret="whsec_test", **fields
    )


def make_delivery(endpoint, status="succeeded", attempts=(200,), created_at=None) -> WebhookDelivery:
    event_id = uuid.uuid4()
    delivery = WebhookDelivery.objects.create(
        tenant_id=endpoint.tenant_id,
        endpoint=endpoint,
        event_id=event_id,
        event_type="price.changed",
        payload={"id": str(event_id), "type": "price.changed", "data": {"sku": "tea", "price": "11.00"}},
        status=status,
        attempts=len(attempts),
        created_at=created_at or timezone.now(),
    )
    for code in attempts:
        WebhookAttempt.objects.create(
            tenant_id=endpoint.tenant_id,
            delivery=delivery,
            succeeded=code is not None and 200 <= code < 300,
            response_status=code,
            latency_ms=42,
            error="" if code and code < 300 else ("connection refused" if code is None else f"HTTP {code}"),
        )
    return delivery


@pytest.fixture
def private_ok(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # receivers in tests live on loopback


@pytest.fixture
def owner(client, alice):
    log_in(client, alice.user, alice.tenant)
    return client


@pytest.fixture
def endpoint(alice) -> WebhookEndpoint:
    return make_endpoint(alice.tenant, description="Storefront cache")


def field_error(html: str, field: str) -> str:
    """The error text shown under a form field (empty when it has none)."""
    match = re.search(rf'<p class="error" id="id_{field}_error">(.*?)</p>', html, re.S)
    return match.group(1) if match else ""


# --- the list ---------------------------------------------------------------------------


def test_an_empty_list_explains_webhooks_and_how_to_verify_them(owner):
    page = owner.get(reverse("webhooks"))
    assert "No webhook endpoints yet" in page.text
    assert "Pricelab-Signature: t=&lt;unix time&gt;,v1=&lt;hex&gt;" in page.text
    assert "def verify(secret: str, header: str, body: bytes" in page.text
    assert reverse("api-docs") in page.text
    assert reverse("webhook_new") in page.text


def test_the_list_shows_each_endpoint_with_its_recent_delivery_health(owner, alice, endpoint):
    for _ in range(2):
        make_delivery(endpoint)
    make_delivery(endpoint, status="pending", attempts=(500,))
    make_delivery(endpoint, status="failed", attempts=(None,) * 10)
    make_delivery(endpoint, created_at=timezone.now() - timedelta(days=2))  # outside the window
    make_endpoint(alice.tenant, url="https://erp.example.com/in", active=False)
    page = owner.get(reverse("webhooks"))
    rows = page.text.split("<tbody>")[1].split("</tr>")
    storefront = next(row for row in rows if PUBLIC_URL in row)
    assert "Storefront cache" in storefront and "Active" in storefront
    assert re.findall(r'<td class="num">(\d+)</td>', storefront) == ["2", "1", "1"]
    assert "Failed" in storefront  # the latest delivery gave up
    erp = next(row for row in rows if "erp.example.com" in row)
    assert "Disabled" in erp and "None yet" in erp
    assert "Add endpoint" in page.text


# --- creating ---------------------------------------------------------------------------


def test_the_owner_adds_an_endpoint_and_sees_its_secret_only_once(owner, alice, private_ok):
    form = owner.get(reverse("webhook_new"))
    assert 'value="price.changed"' in form.text and "checked" in form.text
    response = owner.post(
        reverse("webhook_new"),
        {"url": "http://127.0.0.1:9000/hooks", "event_types": ["price.changed"], "description": "ERP"},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    endpoint = WebhookEndpoint.objects.for_tenant(alice.tenant).get()
    assert (endpoint.url, endpoint.event_types, endpoint.description) == (
        "http://127.0.0.1:9000/hooks", ["price.changed"], "ERP",
    )  # fmt: skip
    assert re.search(rf'<input id="signing-secret"[^>]*readonly value="{endpoint.secret}"', response.text)
    assert 'data-copy="#signing-secret"' in response.text and "will not be shown again" in response.text
    for later in (reverse("webhooks"), reverse("webhook_detail", args=[endpoint.pk])):
        page = owner.get(later)
        assert "http://127.0.0.1:9000/hooks" in page.text and endpoint.secret not in page.text
    sessions = " ".join(session.session_data for session in Session.objects.all())
    assert endpoint.secret.removeprefix("whsec_") not in sessions


def test_reloading_the_secret_page_adds_no_second_endpoint(owner, alice, private_ok):
    token = re.search(r'name="submission" value="([^"]+)"', owner.get(reverse("webhook_new")).text).group(1)
    fields = {"url": "http://127.0.0.1:9000/hooks", "event_types": ["price.changed"], "submission": token}
    assert owner.post(reverse("webhook_new"), fields).status_code == 200
    again = owner.post(reverse("webhook_new"), fields, follow=True)  # the browser's "resend"
    assert "already added; its secret was shown once" in again.text
    assert WebhookEndpoint.objects.for_tenant(alice.tenant).count() == 1


def test_a_refused_endpoint_can_be_corrected_and_sent_with_the_same_form(owner, alice, private_ok):
    token = re.search(r'name="submission" value="([^"]+)"', owner.get(reverse("webhook_new")).text).group(1)
    refused = owner.post(reverse("webhook_new"), {"url": "ftp://x", "event_types": [], "submission": token})
    assert refused.status_code == 400
    fields = {"url": "http://127.0.0.1:9000/hooks", "event_types": ["price.changed"], "submission": token}
    assert owner.post(reverse("webhook_new"), fields).status_code == 200
    assert WebhookEndpoint.objects.for_tenant(alice.tenant).count() == 1


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:9000/hooks", "The URL points at a private, loopback or reserved address."),
        ("http://10.1.2.3/hooks", "The URL points at a private, loopback or reserved address."),
        ("ftp://example.com/hooks", "Use an http or https URL."),
    ],
)
def test_a_refused_url_is_explained_next_to_the_field_and_kept(owner, alice, url, reason):
    response = owner.post(reverse("webhook_new"), {"url": url, "event_types": ["price.changed"]})
    assert response.status_code == 400
    assert field_error(response.text, "url") == reason
    assert f'value="{url}"' in response.text
    assert not WebhookEndpoint.objects.for_tenant(alice.tenant).exists()


def test_an_endpoint_needs_at_least_one_event_type(owner, alice, private_ok):
    response = owner.post(reverse("webhook_new"), {"url": "http://127.0.0.1:9000/hooks"})
    assert response.status_code == 400
    assert 'id="event-types-error">This field is required.' in response.text
    assert 'value="http://127.0.0.1:9000/hooks"' in response.text
    assert not WebhookEndpoint.objects.for_tenant(alice.tenant).exists()


# --- one endpoint -----------------------------------------------------------------------


def test_the_endpoint_page_lists_deliveries_newest_first_in_pages_of_fifty(owner, endpoint):
    deliveries = [make_delivery(endpoint) for _ in range(webhook_views.DELIVERIES_PER_PAGE + 3)]
    retrying = make_delivery(endpoint, status="pending", attempts=(503,))
    url = reverse("webhook_detail", args=[endpoint.pk])
    first = owner.get(url)
    ids = re.findall(r'title="Event id">([0-9a-f-]{36})<', first.text)
    assert len(ids) == webhook_views.DELIVERIES_PER_PAGE
    assert ids[0] == str(retrying.event_id) and ids[1] == str(deliveries[-1].event_id)
    newest = first.text.split("<tbody>")[1].split("</tr>")[0]
    assert "Retrying" in newest and "HTTP 503" in newest
    assert f'hx-get="{url}"' in first.text and 'hx-trigger="every 5s"' in first.text
    assert "Page 1 of 2" in first.text and "54 deliveries" in first.text
    second = owner.get(url, {"page": 2})
    assert re.findall(r'title="Event id">([0-9a-f-]{36})<', second.text) == [
        str(d.event_id) for d in reversed(deliveries[:4])
    ]
    assert "hx-trigger" not in second.text  # older pages do not move under the reader


def test_the_live_refresh_returns_only_the_deliveries_part(owner, endpoint):
    make_delivery(endpoint)
    part = owner.get(reverse("webhook_detail", args=[endpoint.pk]), headers={"HX-Request": "true"})
    assert '<div id="webhook-live"' in part.text and "HTTP 200" in part.text
    assert "<html" not in part.text and "Settings" not in part.text


def test_an_endpoint_without_deliveries_says_what_will_appear(owner, endpoint):
    page = owner.get(reverse("webhook_detail", args=[endpoint.pk]))
    assert "No deliveries yet" in page.text and "price.changed" in page.text


def test_a_delivery_page_shows_every_attempt_and_the_payload(owner, endpoint):
    delivery = make_delivery(endpoint, status="succeeded", attempts=(None, 500, 200))
    page = owner.get(reverse("webhook_delivery", args=[endpoint.pk, delivery.pk]))
    attempts = page.text.split('id="attempts-h"')[1].split("</tbody>")[0]
    assert attempts.count("<tr>") == 4  # the head and three attempts
    assert "connection refused" in attempts and "HTTP 500" in attempts and "HTTP 200" in attempts
    assert "42 ms" in attempts
    assert f"&quot;id&quot;: &quot;{delivery.event_id}&quot;" in page.text
    assert "&quot;sku&quot;: &quot;tea&quot;" in page.text
    assert "hx-trigger" not in page.text  # delivered: nothing left to refresh


def test_the_owner_edits_the_description_and_nothing_else(owner, endpoint):
    url = reverse("webhook_edit", args=[endpoint.pk])
    assert "Storefront cache" in owner.get(url).text
    response = owner.post(url, {"description": "Search index", "url": "https://evil.example.com/"})
    assert response.status_code == 302
    page = owner.get(response.url)
    assert "Saved the description" in page.text and "Search index" in page.text
    endpoint.refresh_from_db()
    assert (endpoint.description, endpoint.url) == ("Search index", PUBLIC_URL)
    too_long = owner.post(url, {"description": "x" * 201})
    assert too_long.status_code == 400 and "at most 200 characters" in too_long.text


def test_the_owner_disables_and_enables_an_endpoint(
    owner, alice, endpoint, django_capture_on_commit_callbacks
):
    url = reverse("webhook_active", args=[endpoint.pk])
    page = owner.get(reverse("webhook_detail", args=[endpoint.pk]))
    assert 'data-confirm-label="Disable endpoint"' in page.text
    response = owner.post(url, {"active": "false"}, follow=True)
    assert "new events are no longer sent to it" in response.text and "Disabled" in response.text
    endpoint.refresh_from_db()
    assert not endpoint.active
    tea = services.product_create(
        tenant=alice.tenant, sku="tea", name="Tea", currency="EUR", base_price="10.00"
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.price_change(product=tea, price="11.00", source=PricePoint.Source.API)
    assert not WebhookDelivery.objects.for_tenant(alice.tenant).exists()
    response = owner.post(url, {"active": "true"}, follow=True)
    assert "new events are sent to it again" in response.text
    endpoint.refresh_from_db()
    assert endpoint.active
    assert owner.post(url, {"active": "maybe"}).status_code == 400


def test_the_owner_deletes_an_endpoint_with_its_history(owner, alice, endpoint):
    make_delivery(endpoint, status="pending", attempts=(500,))
    page = owner.get(reverse("webhook_detail", args=[endpoint.pk]))
    assert "Its 1 pending delivery will never be sent." in page.text
    response = owner.post(reverse("webhook_delete", args=[endpoint.pk]), follow=True)
    assert f"Deleted the endpoint {PUBLIC_URL}" in response.text
    assert "No webhook endpoints yet" in response.text
    assert not WebhookEndpoint.objects.for_tenant(alice.tenant).exists()
    assert not WebhookDelivery.objects.for_tenant(alice.tenant).exists()


def test_redeliver_sends_the_event_again_with_the_same_id(
    owner, alice, private_ok, django_capture_on_commit_callbacks
):
    tea = services.product_create(
        tenant=alice.tenant, sku="tea", name="Tea", currency="EUR", base_price="10.00"
    )
    receiver = Receiver()
    created = owner.post(reverse("webhook_new"), {"url": receiver.url, "event_types": ["price.changed"]})
    assert created.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.price_change(product=tea, price="11.00", source=PricePoint.Source.API)
    webhooks_sweep()  # as the scheduler does when no broker took the first attempt
    delivery = WebhookDelivery.objects.for_tenant(alice.tenant).get()
    endpoint = delivery.endpoint
    page = owner.get(reverse("webhook_detail", args=[endpoint.pk]))
    assert "HTTP 200" in page.text and 'data-confirm-label="Redeliver"' in page.text
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(reverse("webhook_redeliver", args=[endpoint.pk, delivery.pk]))
    webhooks_sweep()
    receiver.close()
    assert response.status_code == 302
    assert response.url == reverse("webhook_delivery", args=[endpoint.pk, delivery.pk])
    shown = owner.get(response.url)
    assert f"Redelivery of event {delivery.event_id} queued" in shown.text
    assert shown.text.count("HTTP 200") == 2
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
    assert [h["Pricelab-Event-Id"] for h, _ in receiver.received] == [str(delivery.event_id)] * 2


def test_redeliver_from_the_list_comes_back_to_the_list(owner, endpoint, django_capture_on_commit_callbacks):
    delivery = make_delivery(endpoint, status="failed", attempts=(500,) * 10)
    back = reverse("webhook_detail", args=[endpoint.pk]) + "?page=1"
    with django_capture_on_commit_callbacks(execute=False):
        response = owner.post(reverse("webhook_redeliver", args=[endpoint.pk, delivery.pk]), {"next": back})
    assert response.url == back
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.next_attempt_at <= timezone.now()
    elsewhere = owner.post(
        reverse("webhook_redeliver", args=[endpoint.pk, delivery.pk]), {"next": "https://evil.example.com/"}
    )
    assert elsewhere.url == reverse("webhook_delivery", args=[endpoint.pk, delivery.pk])


# --- rolling the secret -----------------------------------------------------------------


def _submission(page) -> str:
    return re.search(r'name="submission" value="([^"]+)"', page.text).group(1)


def test_the_owner_rolls_the_secret_and_sees_the_new_one_once(owner, alice, endpoint):
    old = endpoint.secret
    form = owner.get(reverse("webhook_roll_secret", args=[endpoint.pk]))
    assert re.search(r'<input type="radio" name="keep_previous_hours" value="24"[^>]*checked', form.text)
    fields = {"keep_previous_hours": "24", "submission": _submission(form)}
    response = owner.post(reverse("webhook_roll_secret", args=[endpoint.pk]), fields)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.signing_secrets() == [endpoint.secret, old]
    assert re.search(rf'<input id="signing-secret"[^>]*readonly value="{endpoint.secret}"', response.text)
    assert (
        "New signing secret" in response.text and "The previous secret signs beside it until" in response.text
    )
    detail = owner.get(reverse("webhook_detail", args=[endpoint.pk]))
    assert endpoint.secret not in detail.text and "The previous secret also signs until" in detail.text
    # Before a second roll, the page says it would end the secret the receiver may still use.
    second = owner.get(reverse("webhook_roll_secret", args=[endpoint.pk]))
    assert "Rolling again ends it now" in second.text
    # The browser's "resend" rolls nothing: a second roll would end the secret the receiver still has.
    again = owner.post(reverse("webhook_roll_secret", args=[endpoint.pk]), fields, follow=True)
    assert "already rolled; the new one was shown once" in again.text
    endpoint.refresh_from_db()
    assert endpoint.signing_secrets()[1] == old


def test_rolling_with_no_overlap_ends_the_old_secret_at_once(owner, endpoint):
    response = owner.post(reverse("webhook_roll_secret", args=[endpoint.pk]), {"keep_previous_hours": "0"})
    assert "The previous secret no longer signs." in response.text
    assert (
        "Rolling again ends it now" not in owner.get(reverse("webhook_roll_secret", args=[endpoint.pk])).text
    )
    endpoint.refresh_from_db()
    assert endpoint.signing_secrets() == [endpoint.secret] and endpoint.secret != "whsec_test"


def test_a_roll_with_a_made_up_overlap_is_refused_beside_the_field(owner, endpoint):
    response = owner.post(reverse("webhook_roll_secret", args=[endpoint.pk]), {"keep_previous_hours": "9999"})
    assert response.status_code == 400 and "Select a valid choice" in field_error(
        response.text, "keep_previous_hours"
    )
    endpoint.refresh_from_db()
    assert endpoint.secret == "whsec_test"


# --- who may do what --------------------------------------------------------------------


def every_change(endpoint, delivery):
    """Each POST of the pages, with a body that would work for an admin."""
    return [
        (reverse("webhook_new"), {"url": "https://other.example.com/", "event_types": ["price.changed"]}),
        (reverse("webhook_edit", args=[endpoint.pk]), {"description": "changed"}),
        (reverse("webhook_active", args=[endpoint.pk]), {"active": "false"}),
        (reverse("webhook_delete", args=[endpoint.pk]), {}),
        (reverse("webhook_redeliver", args=[endpoint.pk, delivery.pk]), {}),
        (reverse("webhook_roll_secret", args=[endpoint.pk]), {"keep_previous_hours": "24"}),
    ]


def snapshot(tenant):
    endpoints = list(
        WebhookEndpoint.objects.for_tenant(tenant).values_list("url", "description", "active", "secret")
    )
    deliveries = list(
        WebhookDelivery.objects.for_tenant(tenant).values_list("status", "attempts", "next_attempt_at")
    )
    return endpoints, deliveries


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_see_the_pages_without_controls_and_cannot_change_anything(
    client, alice, endpoint, role, private_ok
):
    delivery = make_delivery(endpoint, status="failed", attempts=(500,))
    person = MembershipFactory(tenant=alice.tenant, role=role).user
    log_in(client, person, alice.tenant)
    listing = client.get(reverse("webhooks"))
    assert PUBLIC_URL in listing.text and "Add endpoint" not in listing.text
    detail = client.get(reverse("webhook_detail", args=[endpoint.pk]))
    assert "HTTP 500" in detail.text
    controls = (
        "Redeliver",
        "Disable",
        "Delete",
        "Edit description",
        "Roll",
        'method="post" action="/webhooks',
    )
    for control in controls:
        assert control not in detail.text
    page = client.get(reverse("webhook_delivery", args=[endpoint.pk, delivery.pk]))
    assert str(delivery.event_id) in page.text and "Redeliver" not in page.text
    before = snapshot(alice.tenant)
    assert client.get(reverse("webhook_new")).status_code == 403
    assert client.get(reverse("webhook_edit", args=[endpoint.pk])).status_code == 403
    assert client.get(reverse("webhook_roll_secret", args=[endpoint.pk])).status_code == 403
    for url, data in every_change(endpoint, delivery):
        assert client.post(url, data).status_code == 403, url
    assert snapshot(alice.tenant) == before


def test_a_viewer_sees_why_there_is_no_add_button_on_an_empty_list(client, alice):
    viewer = MembershipFactory(tenant=alice.tenant, role="viewer").user
    log_in(client, viewer, alice.tenant)
    page = client.get(reverse("webhooks"))
    assert "Ask an owner or admin" in page.text and reverse("webhook_new") not in page.text


def test_an_admin_may_do_what_the_owner_does(client, alice, endpoint):
    admin = MembershipFactory(tenant=alice.tenant, role="admin").user
    log_in(client, admin, alice.tenant)
    assert client.post(reverse("webhook_active", args=[endpoint.pk]), {"active": "false"}).status_code == 302
    endpoint.refresh_from_db()
    assert not endpoint.active


def test_an_outsider_gets_404_for_every_endpoint_and_delivery_and_changes_nothing(
    client, alice, charlie, endpoint, private_ok
):
    delivery = make_delivery(endpoint, status="failed", attempts=(500,))
    log_in(client, charlie.user, charlie.tenant)
    pages = [
        reverse("webhook_detail", args=[endpoint.pk]),
        reverse("webhook_delivery", args=[endpoint.pk, delivery.pk]),
    ]
    before = snapshot(alice.tenant)
    for url in pages:
        assert client.get(url).status_code == 404, url
        assert client.get(url, headers={"HX-Request": "true"}).status_code == 404, url
    for url, data in every_change(endpoint, delivery)[1:]:
        assert client.get(url).status_code == 404, url
        assert client.post(url, data).status_code == 404, url
    assert snapshot(alice.tenant) == before
    listing = client.get(reverse("webhooks"))
    assert PUBLIC_URL not in listing.text and "No webhook endpoints yet" in listing.text


def test_a_delivery_is_found_only_under_its_own_endpoint(owner, alice, endpoint):
    other = make_endpoint(alice.tenant, url="https://erp.example.com/in")
    delivery = make_delivery(endpoint)
    assert owner.get(reverse("webhook_delivery", args=[other.pk, delivery.pk])).status_code == 404
    assert owner.post(reverse("webhook_redeliver", args=[other.pk, delivery.pk])).status_code == 404


def test_ids_beyond_the_database_range_are_not_found(owner):
    huge = 10**20
    assert owner.get(reverse("webhook_detail", args=[huge])).status_code == 404
    assert owner.get(reverse("webhook_delivery", args=[huge, huge])).status_code == 404
    assert owner.post(reverse("webhook_delete", args=[huge])).status_code == 404


def test_signed_out_visitors_are_sent_to_log_in(client, endpoint):
    response = client.get(reverse("webhook_detail", args=[endpoint.pk]))
    assert response.status_code == 302 and reverse("login") in response.url
