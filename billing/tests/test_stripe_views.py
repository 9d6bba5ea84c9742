"""The billing page, checkout and portal over HTTP, as owners, other roles and outsiders see them."""

import pytest
from django.urls import reverse

from billing.models import BillingAccount, Invoice
from billing.tests.stripe_standin import PRICE_IDS, stripe_standin_fixture  # noqa: F401
from tenants.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def account_of(party) -> BillingAccount:
    return BillingAccount.objects.for_tenant(party.tenant).get()


def test_checkout_redirects_to_stripe_and_makes_one_customer_even_if_clicked_twice(
    client, stripe_standin, alice
):
    client.force_login(alice.user)
    first = client.post(reverse("billing_checkout"), {"plan": "pro"})
    second = client.post(reverse("billing_checkout"), {"plan": "starter"})
    assert first.status_code == second.status_code == 303
    assert first["Location"].startswith("https://checkout.stripe.test/c/pay/cs_test_")
    assert first["Location"] != second["Location"]
    [customer] = stripe_standin.state.customers.values()
    assert customer["metadata"] == {"tenant_id": str(alice.tenant.pk)}
    assert account_of(alice).stripe_customer_id == customer["id"]
    session = stripe_standin.requests("POST", "/v1/checkout/sessions")[0].params
    assert session["mode"] == "subscription" and session["customer"] == customer["id"]
    assert session["line_items"] == [{"price": PRICE_IDS["pro"], "quantity": "1"}]
    assert session["client_reference_id"] == str(alice.tenant.pk)
    assert session["subscription_data"] == {"metadata": {"tenant_id": str(alice.tenant.pk)}}
    assert session["success_url"].endswith("/billing/?checkout=success&session_id={CHECKOUT_SESSION_ID}")


def test_coming_back_from_checkout_shows_the_new_plan_at_once(client, stripe_standin, alice):
    client.force_login(alice.user)
    client.post(reverse("billing_checkout"), {"plan": "starter"})
    [session] = stripe_standin.state.checkout_sessions.values()
    stripe_standin.checkout_complete(session["id"])
    back = {"checkout": "success", "session_id": session["id"]}
    response = client.get(reverse("billing"), back, follow=True)
    assert response.status_code == 200
    assert "your new plan is active" in response.text
    assert account_of(alice).plan.code == "starter"


def test_a_tenant_that_already_pays_is_sent_to_the_portal_not_to_a_second_checkout(
    client, stripe_standin, alice
):
    client.force_login(alice.user)
    client.post(reverse("billing_checkout"), {"plan": "starter"})
    [session] = stripe_standin.state.checkout_sessions.values()
    stripe_standin.checkout_complete(session["id"])
    client.get(reverse("billing"), {"checkout": "success", "session_id": session["id"]})
    response = client.post(reverse("billing_checkout"), {"plan": "pro"}, follow=True)
    assert "change plan in the billing portal" in response.text
    assert len(stripe_standin.state.checkout_sessions) == 1


def test_unknown_or_free_plans_cannot_be_bought(client, stripe_standin, alice):
    client.force_login(alice.user)
    for plan in ("free", "enterprise", "gold", ""):
        response = client.post(reverse("billing_checkout"), {"plan": plan}, follow=True)
        assert "That plan cannot be bought here." in response.text
    assert stripe_standin.requests() == []


def test_the_portal_redirects_to_stripe(client, stripe_standin, alice):
    client.force_login(alice.user)
    client.post(reverse("billing_checkout"), {"plan": "pro"})  # makes the customer
    response = client.post(reverse("billing_portal"))
    assert response.status_code == 303
    assert response["Location"].startswith("https://billing.stripe.test/p/session/bps_")
    call = stripe_standin.requests("POST", "/v1/billing_portal/sessions")[0]
    assert call.params["customer"] == account_of(alice).stripe_customer_id
    assert call.params["return_url"].endswith("/billing/")


def test_the_portal_without_a_customer_explains_itself(client, stripe_standin, alice):
    client.force_login(alice.user)
    response = client.post(reverse("billing_portal"), follow=True)
    assert "There is no subscription to manage yet." in response.text


def test_the_billing_page_shows_plan_usage_and_invoices(client, stripe_standin, alice):
    client.force_login(alice.user)
    Invoice.objects.create(
        tenant=alice.tenant, stripe_id="in_alice", stripe_customer_id="cus_a", number="ALICE-0001",
        status="paid", total=2900, hosted_invoice_url="https://invoice.stripe.test/i/in_alice",
    )  # fmt: skip
    page = client.get(reverse("billing"))
    assert page.status_code == 200
    text = page.text
    assert "Free" in text and "1,000 metered units a month" in text
    assert "ALICE-0001" in text and "29.00 USD" in text and "https://invoice.stripe.test/i/in_alice" in text
    assert "Choose Starter" in text and "Choose Pro" in text
    assert "Billing is not available" not in text


def test_the_billing_page_says_clearly_when_stripe_is_not_configured(client, alice, settings):
    settings.STRIPE_SECRET_KEY = ""
    client.force_login(alice.user)
    page = client.get(reverse("billing"))
    assert page.status_code == 200
    assert "Billing is not available" in page.text and "Choose Pro" not in page.text
    response = client.post(reverse("billing_checkout"), {"plan": "pro"}, follow=True)
    assert response.status_code == 200
    assert "Billing is not configured on this server (no Stripe key)." in response.text


def test_an_unreachable_stripe_is_an_error_message_not_a_500(client, stripe_standin, alice, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    client.force_login(alice.user)
    response = client.post(reverse("billing_checkout"), {"plan": "pro"}, follow=True)
    assert response.status_code == 200
    assert "Stripe could not be reached to create a customer" in response.text
    assert settings.STRIPE_SECRET_KEY not in response.text
    stripe_standin.fail("POST", "/v1/checkout/sessions", status=503)
    settings.STRIPE_API_BASE = stripe_standin.url
    response = client.post(reverse("billing_checkout"), {"plan": "pro"}, follow=True)
    assert "Stripe could not be reached to start a checkout" in response.text


def test_charlie_sees_his_own_billing_and_never_alices(client, stripe_standin, alice, charlie):
    Invoice.objects.create(
        tenant=alice.tenant, stripe_id="in_alice", stripe_customer_id="cus_a", number="ALICE-0001",
        hosted_invoice_url="https://invoice.stripe.test/i/in_alice",
    )  # fmt: skip
    client.force_login(charlie.user)
    page = client.get(reverse("billing"))
    assert page.status_code == 200 and charlie.tenant.name in page.text
    assert "ALICE-0001" not in page.text and "in_alice" not in page.text
    assert alice.tenant.name not in page.text
    # A session id of Alice's checkout does nothing for Charlie.
    client.force_login(alice.user)
    client.post(reverse("billing_checkout"), {"plan": "pro"})
    [session] = stripe_standin.state.checkout_sessions.values()
    stripe_standin.checkout_complete(session["id"])
    client.force_login(charlie.user)
    client.get(reverse("billing"), {"checkout": "success", "session_id": session["id"]})
    assert account_of(charlie).plan.code == "free" and account_of(alice).plan.code == "free"


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_see_billing_but_cannot_start_checkout_or_the_portal(
    client, stripe_standin, alice, role
):
    person = MembershipFactory(tenant=alice.tenant, role=role).user
    client.force_login(person)
    page = client.get(reverse("billing"))
    assert page.status_code == 200 and "Choose Pro" not in page.text
    assert "Only owners and admins" in page.text
    assert client.post(reverse("billing_checkout"), {"plan": "pro"}).status_code == 403
    assert client.post(reverse("billing_portal")).status_code == 403
    assert stripe_standin.requests() == []


def test_an_admin_may_start_checkout(client, stripe_standin, alice):
    client.force_login(MembershipFactory(tenant=alice.tenant, role="admin").user)
    assert client.post(reverse("billing_checkout"), {"plan": "pro"}).status_code == 303


def test_the_billing_pages_need_a_login(client, stripe_standin):
    assert client.get(reverse("billing"))["Location"].startswith("/login/")
    assert client.post(reverse("billing_checkout"), {"plan": "pro"}).status_code == 302
    assert stripe_standin.requests() == []
