"""The billing page as owners, other roles and outsiders read it: plan, usage, plans to
compare, subscription status and invoices."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import BillingAccount, Invoice, Plan, Subscription, UsageDaily
from billing.tests.stripe_standin import stripe_standin_fixture  # noqa: F401
from tenants.models import Role
from tenants.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def text_of(html: str) -> str:
    """The page's words, as a person reads them: tags dropped, spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def billing_page(client, person) -> str:
    client.force_login(person)
    response = client.get(reverse("billing"))
    assert response.status_code == 200
    return response.text


def invoice(party, number: str, total: int, status: str = "paid", days_ago: int = 0, **fields) -> Invoice:
    created = timezone.now() - timedelta(days=days_ago)
    return Invoice.objects.create(
        tenant=party.tenant, stripe_id=f"in_{number}", stripe_customer_id="cus_x", number=number,
        status=status, currency="usd", total=total, amount_due=total, created=created,
        period_start=created - timedelta(days=30), period_end=created, **fields,
    )  # fmt: skip


def subscribe(party, plan_code: str, *, status="active", cancel_at_period_end=False) -> Subscription:
    """The state Stripe's webhooks leave behind: a subscription, the plan and its status."""
    plan = Plan.objects.get(code=plan_code)
    BillingAccount.objects.for_tenant(party.tenant).update(
        plan=plan, stripe_customer_id=f"cus_{party.tenant.pk}", subscription_status=status,
        past_due_since=timezone.now() - timedelta(days=2) if status == "past_due" else None,
    )  # fmt: skip
    return Subscription.objects.create(
        tenant=party.tenant, stripe_id=f"sub_{party.tenant.pk}", stripe_customer_id=f"cus_{party.tenant.pk}",
        plan=plan, status=status, unit_amount=int(plan.monthly_price * 100), currency="usd",
        current_period_start=timezone.now() - timedelta(days=10),
        current_period_end=datetime(2031, 3, 14, tzinfo=UTC), cancel_at_period_end=cancel_at_period_end,
        created=timezone.now() - timedelta(days=40),
    )  # fmt: skip


def test_the_owner_sees_plan_usage_plans_to_choose_and_invoices(client, stripe_standin, alice):
    today = datetime.now(UTC).date()
    UsageDaily.objects.create(tenant=alice.tenant, day=today, kind="quote", units=420)
    UsageDaily.objects.create(tenant=alice.tenant, day=today, kind="event", units=30)
    invoice(alice, "ALICE-0002", 2900, days_ago=1, hosted_invoice_url="https://invoice.stripe.test/i/2",
            invoice_pdf="https://pay.stripe.test/i/2.pdf")  # fmt: skip
    invoice(alice, "ALICE-0001", 900, status="open", days_ago=31,
            hosted_invoice_url="https://invoice.stripe.test/i/1")  # fmt: skip
    html = billing_page(client, alice.user)
    words = text_of(html)
    assert "is on the Free plan" in words
    assert "1,000 metered units a month" in words and "60 API requests a minute" in words
    assert "450 of 1,000 units 45 %" in words and "420 quotes · 30 events" in words
    assert 'class="meter"' in html and 'data-width="45"' in html
    # Plans to compare, with an upgrade through Checkout for each paid one.
    assert "Free Current plan" in words
    assert "Starter 9 USD a month 10,000 metered units a month 120 API requests a minute" in words
    assert "Pro 29 USD a month 100,000 metered units a month" in words
    assert html.count(f'action="{reverse("billing_checkout")}"') == 2
    assert ">Choose Starter</button>" in html and ">Choose Pro</button>" in html
    # Invoices, newest first, amounts as billing formats them, status in words.
    assert words.index("ALICE-0002") < words.index("ALICE-0001")
    assert "29.00 USD Paid View invoice" in words and "PDF" in words
    assert "9.00 USD Open Pay invoice" in words
    assert (
        'href="https://invoice.stripe.test/i/2"' in html and 'href="https://pay.stripe.test/i/2.pdf"' in html
    )
    # No customer at Stripe yet: nothing to manage in the portal.
    assert "Manage subscription and payment" not in words


def test_a_paying_tenant_manages_its_plan_in_the_portal_not_through_a_second_checkout(
    client, stripe_standin, alice
):
    subscribe(alice, "starter")
    words = text_of(html := billing_page(client, alice.user))
    assert "is on the Starter plan" in words and "Starter Current plan" in words
    assert "Renews on 14 March 2031 for 9.00 USD" in words
    assert ">Manage subscription and payment</button>" in html
    assert "Choose Pro" not in words and "Switch to Pro in the billing portal" in words
    assert "Cancel in the billing portal to return to Free" in words


def test_a_failed_payment_is_a_plain_warning_with_the_grace_period(client, stripe_standin, alice, settings):
    settings.BILLING_GRACE_DAYS = 7
    subscribe(alice, "pro", status="past_due")
    words = text_of(billing_page(client, alice.user))
    assert "A payment failed on" in words
    assert "Your Pro plan stays for 7 days from the first failure, then the workspace moves to Free." in words
    assert "Please update your payment method in the billing portal." in words
    assert "Past Due" in words


def test_a_cancelled_subscription_says_when_it_ends(client, stripe_standin, alice):
    subscribe(alice, "pro", cancel_at_period_end=True)
    words = text_of(billing_page(client, alice.user))
    assert "Your Pro subscription is cancelled and ends on 14 March 2031" in words
    assert "Ends on 14 March 2031" in words and "Renews on" not in words


def test_the_page_shows_only_this_tenants_invoices(client, stripe_standin, alice, charlie):
    invoice(alice, "ALICE-0001", 2900, hosted_invoice_url="https://invoice.stripe.test/i/alice")
    invoice(charlie, "CHARLIE-0001", 900)
    alice_page = billing_page(client, alice.user)
    assert "ALICE-0001" in alice_page and "CHARLIE-0001" not in alice_page
    charlie_page = billing_page(client, charlie.user)
    assert "CHARLIE-0001" in charlie_page and "9.00 USD" in charlie_page
    assert "ALICE-0001" not in charlie_page and "invoice.stripe.test/i/alice" not in charlie_page


def test_no_invoices_yet_says_so(client, stripe_standin, alice):
    assert "No invoices yet" in text_of(billing_page(client, alice.user))


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_members_and_viewers_see_plan_and_usage_but_no_upgrade_or_portal(client, stripe_standin, alice, role):
    subscribe(alice, "starter")
    invoice(alice, "ALICE-0001", 900)
    person = MembershipFactory(tenant=alice.tenant, role=role).user
    html = billing_page(client, person)
    words = text_of(html)
    assert "is on the Starter plan" in words and "ALICE-0001" in words and "of 10,000 units" in words
    assert "Only owners and admins of this workspace can change its plan or payment method." in words
    assert reverse("billing_checkout") not in html and reverse("billing_portal") not in html
    assert client.post(reverse("billing_checkout"), {"plan": "pro"}).status_code == 403
    assert client.post(reverse("billing_portal")).status_code == 403
    assert stripe_standin.requests() == []
    assert BillingAccount.objects.for_tenant(alice.tenant).get().plan.code == "starter"


def test_an_admin_gets_the_same_controls_as_the_owner(client, stripe_standin, alice):
    admin = MembershipFactory(tenant=alice.tenant, role=Role.ADMIN).user
    html = billing_page(client, admin)
    assert ">Choose Pro</button>" in html and "Only owners and admins" not in html


def test_without_stripe_the_page_says_billing_is_not_available_and_offers_no_buttons(client, alice, settings):
    settings.STRIPE_SECRET_KEY = ""
    html = billing_page(client, alice.user)
    words = text_of(html)
    assert "Billing is not available" in words and "Your current plan and its limits keep working." in words
    assert "Choose Pro" not in words and reverse("billing_portal") not in html
    assert "Starter 9 USD a month" in words  # the plans can still be compared


def test_an_unreachable_stripe_is_said_plainly_and_changes_nothing(client, stripe_standin, alice, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    client.force_login(alice.user)
    page = client.post(reverse("billing_checkout"), {"plan": "pro"}, follow=True)
    assert page.status_code == 200 and page.redirect_chain[-1][0] == reverse("billing")
    words = text_of(page.text)
    assert "Stripe could not be reached to create a customer" in words
    assert "Nothing was charged and your plan is unchanged. Please try again in a few minutes." in words
    assert "is on the Free plan" in words
    settings.STRIPE_API_BASE = stripe_standin.url
    subscribe(alice, "starter")
    stripe_standin.fail("POST", "/v1/billing_portal/sessions", status=503)
    words = text_of(client.post(reverse("billing_portal"), follow=True).text)
    assert "Stripe could not be reached to open the billing portal" in words
    assert "Please try again in a few minutes." in words


def test_a_refusal_by_stripe_is_shown_as_it_is(client, stripe_standin, alice):
    client.force_login(alice.user)
    words = text_of(client.post(reverse("billing_checkout"), {"plan": "gold"}, follow=True).text)
    assert "That plan cannot be bought here." in words and "try again in a few minutes" not in words
