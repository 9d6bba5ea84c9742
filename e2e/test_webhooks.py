"""Webhooks in a browser: add an endpoint, watch a real delivery arrive, verify it, redeliver it."""

import hashlib
import hmac
import json
import re
import time
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from e2e.helpers import log_in
from pricing import webhook_views
from pricing.models import WebhookEndpoint
from pricing.tests.test_webhooks import Receiver
from tenants.models import Membership
from tenants.tests.factories import PASSWORD, MembershipFactory, api_key_for

# The worker delivers within a second of the change and the page polls every 5 s: allow
# for a slow, shared machine.
ARRIVAL_MS = 20_000
POLL_MS = webhook_views.POLL_SECONDS * 1000


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """The README's recipe, as an integrator would paste it."""
    pairs = [part.split("=", 1) for part in header.split(",")]
    t = next(value for name, value in pairs if name == "t")
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    signed = any(hmac.compare_digest(expected, value) for name, value in pairs if name == "v1")
    return signed and abs(time.time() - int(t)) < tolerance


def call_api(app_url: str, key: str, method: str, path: str, data: dict) -> None:
    """As an integrator's server would (the test's own thread runs Playwright's event loop,
    so price changes go through the product's API rather than the services)."""
    request = urllib.request.Request(
        f"{app_url}/api/v1/{path}",
        data=json.dumps(data).encode(),
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201)


def owner_selling_tea(app_url: str) -> tuple[Membership, str]:
    """An owner of a new shop that sells tea at 10.00, and the shop's API key."""
    owner = MembershipFactory(role="owner", tenant__name="Tea & Co")
    _, key = api_key_for(owner.tenant)
    call_api(
        app_url,
        key,
        "POST",
        "products/",
        {"sku": "tea", "name": "Sencha", "currency": "EUR", "base_price": "10.00"},
    )
    return owner, key


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def test_a_price_change_is_delivered_signed_shown_with_its_attempt_and_redelivered(
    app_url, page: Page, screenshot, receiver
):
    owner, key = owner_selling_tea(app_url)
    tenant = owner.tenant
    # Another endpoint, switched off, so the list shows more than one state.
    WebhookEndpoint.objects.create(
        tenant=tenant,
        url="https://erp.example.com/pricelab/events",
        description="ERP price sync",
        event_types=["price.changed"],
        secret="whsec_unused",
        active=False,
    )

    page.goto("/login/")
    page.get_by_label("Email").fill(owner.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")

    page.get_by_role("link", name="Add endpoint").click()
    page.get_by_label("Endpoint URL").fill(receiver.url)
    expect(page.get_by_label("price.changed")).to_be_checked()
    page.get_by_label("Description").fill("Storefront price cache")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_text("it will not be shown again")).to_be_visible()
    secret = page.get_by_role("textbox", name="Signing secret").input_value()
    assert secret.startswith("whsec_")

    page.get_by_role("link", name="Go to the endpoint").click()
    expect(page.get_by_text("No deliveries yet")).to_be_visible()
    call_api(app_url, key, "PATCH", "products/tea/", {"base_price": "11.50"})
    call_api(app_url, key, "PATCH", "products/tea/", {"base_price": "12.00"})

    # Both deliveries appear by themselves (htmx polling), each answered 200 at the first try.
    rows = page.locator("#webhook-live tbody tr")
    expect(rows).to_have_count(2, timeout=ARRIVAL_MS)
    for row in (rows.nth(0), rows.nth(1)):
        expect(row).to_contain_text("HTTP 200", timeout=ARRIVAL_MS)
        expect(row).to_contain_text("Succeeded")

    # What the receiver got verifies with the README's recipe and the secret shown once.
    assert len(receiver.received) == 2
    for headers, body in receiver.received:
        assert verify(secret, headers["Pricelab-Signature"], body)
    newest_event = json.loads(receiver.received[-1][1])
    assert newest_event["data"]["price"] == "12.00"
    assert not verify(
        "whsec_" + "x" * 43, receiver.received[-1][0]["Pricelab-Signature"], receiver.received[-1][1]
    )

    # Open the newest delivery and send it again, through the confirm dialog.
    rows.nth(0).get_by_role("link", name="price.changed").click()
    attempts = page.locator("#webhook-attempts tbody tr")
    expect(attempts).to_have_count(1)
    expect(page.locator("#webhook-payload")).to_contain_text('"price": "12.00"')
    page.get_by_role("button", name="Redeliver").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("with the same event id")
    dialog.get_by_role("button", name="Redeliver").click()
    expect(page.get_by_role("status").filter(has_text="queued")).to_be_visible()
    expect(attempts).to_have_count(2, timeout=ARRIVAL_MS)
    expect(attempts.nth(1)).to_contain_text("HTTP 200")
    assert len(receiver.received) == 3
    assert receiver.received[2][0]["Pricelab-Event-Id"] == newest_event["id"]

    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=receiver.url).click()
    expect(rows.nth(0).locator("td.num")).to_have_text("2")
    screenshot(page, "webhook-detail")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    listing = page.locator("tbody tr").filter(has_text=receiver.url)
    expect(listing).to_contain_text("Active")
    expect(page.locator("tbody tr").filter(has_text="erp.example.com")).to_contain_text("Disabled")
    assert re.search(r"\b2\b", listing.locator("td.num").first.inner_text())
    screenshot(page, "webhooks")

    # The deliveries refresh every few seconds, but never under an open confirmation: its
    # form would be swapped out and the confirmed redelivery silently lost.
    listing.get_by_role("link", name=receiver.url).click()
    rows.nth(1).get_by_role("button", name="Redeliver").click()
    expect(dialog).to_be_visible()
    page.wait_for_timeout(POLL_MS + 1_500)
    dialog.get_by_role("button", name="Redeliver").click()
    expect(page.get_by_role("status").filter(has_text="queued")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/webhooks/\d+/$"))
    expect(rows.nth(1).locator("td.num")).to_have_text("2", timeout=ARRIVAL_MS)
    assert len(receiver.received) == 4


def test_rolling_the_secret_keeps_deliveries_verifiable_with_the_old_and_the_new_one(
    app_url, page: Page, screenshot, receiver
):
    owner, key = owner_selling_tea(app_url)
    log_in(page, owner)
    page.goto("/webhooks/new/")
    page.get_by_label("Endpoint URL").fill(receiver.url)
    page.get_by_role("button", name="Add endpoint").click()
    old = page.get_by_role("textbox", name="Signing secret").input_value()
    page.get_by_role("link", name="Go to the endpoint").click()

    page.get_by_role("link", name="Roll secret").click()
    expect(page.get_by_label("For 24 hours")).to_be_checked()
    screenshot(page, "webhook-roll")
    page.get_by_role("button", name="Roll the secret").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New signing secret")
    expect(page.get_by_text("The previous secret signs beside it until")).to_be_visible()
    new = page.get_by_role("textbox", name="Signing secret").input_value()
    assert new.startswith("whsec_") and new != old

    page.get_by_role("link", name="Go to the endpoint").click()
    expect(page.get_by_text("The previous secret also signs until")).to_be_visible()
    call_api(app_url, key, "PATCH", "products/tea/", {"base_price": "11.50"})
    expect(page.locator("#webhook-live tbody tr").first).to_contain_text("HTTP 200", timeout=ARRIVAL_MS)
    [(headers, body)] = receiver.received
    # A receiver still on the old secret and one already on the new both accept it.
    assert verify(old, headers["Pricelab-Signature"], body)
    assert verify(new, headers["Pricelab-Signature"], body)
