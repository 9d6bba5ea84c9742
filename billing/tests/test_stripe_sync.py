"""The 4-hourly reconciliation with Stripe, and overage units reported to Stripe's meter."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from billing import stripe_gateway, subscriptions
from billing.models import BillingAccount, Invoice, MeterReport, Plan, Subscription, UsageDaily
from billing.services import account_ensure
from billing.stripe_tasks import stripe_sync
from billing.tests.stripe_standin import PRICE_IDS, stripe_standin_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def customer_of(party) -> str:
    return stripe_gateway.customer_ensure(account_ensure(tenant=party.tenant))


def plan_of(party) -> str:
    return BillingAccount.objects.for_tenant(party.tenant).get().plan.code


def on_plan(party, code: str) -> None:
    BillingAccount.objects.for_tenant(party.tenant).update(plan=Plan.objects.get(code=code))


# --- Sync -------------------------------------------------------------------------------------


def test_the_sync_repairs_a_tenant_whose_plan_drifted_from_stripe(stripe_standin, alice, charlie):
    sub = stripe_standin.subscription_put(customer=customer_of(alice), price=PRICE_IDS["starter"])
    stripe_standin.invoice_put(subscription=sub["id"])
    on_plan(alice, "pro")  # a missed webhook, or a hand edit: Stripe bills Starter
    customer_of(charlie)  # a customer without any subscription, on Free as it should be
    result = subscriptions.stripe_sync()
    assert (result.accounts, result.repaired, result.failed) == (2, 1, 0)
    assert plan_of(alice) == "starter" and plan_of(charlie) == "free"
    assert Subscription.objects.for_tenant(alice.tenant).get().stripe_id == sub["id"]
    assert Invoice.objects.for_tenant(alice.tenant).count() == 1
    assert subscriptions.stripe_sync().repaired == 0  # a second run finds nothing to repair


def test_the_sync_drops_a_paid_tier_stripe_no_longer_bills(stripe_standin, alice):
    sub = stripe_standin.subscription_put(customer=customer_of(alice))
    subscriptions.stripe_sync()
    assert plan_of(alice) == "pro"
    stripe_standin.subscription_set(sub["id"], status="canceled")  # its deletion event was lost
    assert subscriptions.stripe_sync().repaired == 1
    assert plan_of(alice) == "free"


def test_one_customer_that_fails_does_not_stop_the_sync_of_the_others(stripe_standin, alice, charlie):
    stripe_standin.subscription_put(customer=customer_of(alice))
    stripe_standin.subscription_put(customer=customer_of(charlie), price=PRICE_IDS["starter"])
    stripe_standin.fail("GET", "/v1/subscriptions", times=1)  # the first customer's list
    result = subscriptions.stripe_sync()
    assert (result.accounts, result.failed) == (2, 1)
    assert {plan_of(alice), plan_of(charlie)} == {"free", "starter"}


def test_staff_arranged_plans_are_left_alone_by_the_sync(stripe_standin, alice):
    customer_of(alice)
    on_plan(alice, "enterprise")
    assert subscriptions.stripe_sync().repaired == 0
    assert plan_of(alice) == "enterprise"


def test_without_a_stripe_key_the_sync_and_the_report_do_nothing(settings, alice):
    settings.STRIPE_SECRET_KEY = ""
    BillingAccount.objects.for_tenant(alice.tenant).update(stripe_customer_id="cus_somewhere")
    assert stripe_sync.delay().get() == {"accounts": 0, "repaired": 0, "failed": 0, "meter_events": 0}


# --- Overage ------------------------------------------------------------------------------------


@pytest.fixture
def pro_over_limit(stripe_standin, alice):
    """Alice on Pro (100,000 units included) with 100,250 units this month."""
    customer = customer_of(alice)
    stripe_standin.subscription_put(customer=customer)
    subscriptions.stripe_sync()
    assert plan_of(alice) == "pro"
    use(alice, 100_250)
    return customer


def use(party, units: int, *, day: date | None = None) -> None:
    day = day or datetime.now(UTC).date()
    row, _ = UsageDaily.objects.for_tenant(party.tenant).get_or_create(
        tenant=party.tenant, day=day, kind="quote", defaults={"units": 0}
    )
    UsageDaily.objects.for_tenant(party.tenant).filter(pk=row.pk).update(units=row.units + units)


def test_a_pro_tenant_over_its_units_gets_one_meter_event_and_a_rerun_sends_nothing(
    stripe_standin, alice, charlie, pro_over_limit
):
    use(charlie, 5_000)  # on Free: refused past its limit, never billed per unit
    assert subscriptions.overage_report() == 1
    period = datetime.now(UTC).date().replace(day=1)
    identifier = f"pricelab-{alice.tenant.pk}-{period:%Y%m}-250"
    [event] = stripe_standin.meter_events
    assert event["identifier"] == identifier
    assert event["payload"] == {"stripe_customer_id": pro_over_limit, "value": "250"}
    report = MeterReport.objects.for_tenant(alice.tenant).get()
    assert (report.units, report.covers_through, report.sent_at is not None) == (250, 250, True)

    assert subscriptions.overage_report() == 0
    assert len(stripe_standin.requests("POST", "/v1/billing/meter_events")) == 1


def test_later_usage_is_reported_as_the_difference_only(stripe_standin, alice, pro_over_limit):
    subscriptions.overage_report()
    use(alice, 40)
    assert subscriptions.overage_report() == 1
    assert [e["payload"]["value"] for e in stripe_standin.meter_events] == ["250", "40"]
    assert sorted(r.covers_through for r in MeterReport.objects.for_tenant(alice.tenant)) == [250, 290]


def test_a_crash_between_writing_and_sending_resends_the_same_identifier(
    stripe_standin, alice, pro_over_limit, monkeypatch
):
    def crash(*args, **kwargs):
        raise stripe_gateway.BillingUnavailable("the worker died mid-send")

    with monkeypatch.context() as patch:
        patch.setattr(stripe_gateway, "meter_event_create", crash)
        assert subscriptions.overage_report() == 0
    report = MeterReport.objects.for_tenant(alice.tenant).get()
    assert report.sent_at is None  # written before the send: the units are not forgotten

    use(alice, 10)  # more usage meanwhile: the old row goes first, then only the difference
    assert subscriptions.overage_report() == 2
    identifiers = [e["identifier"] for e in stripe_standin.meter_events]
    assert identifiers == [report.identifier, report.identifier.replace("-250", "-260")]
    assert [e["payload"]["value"] for e in stripe_standin.meter_events] == ["250", "10"]
    assert not MeterReport.objects.for_tenant(alice.tenant).filter(sent_at=None).exists()


def test_a_send_that_reached_stripe_before_the_crash_is_not_counted_twice(
    stripe_standin, alice, pro_over_limit
):
    subscriptions.overage_report()
    MeterReport.objects.for_tenant(alice.tenant).update(sent_at=None)  # the answer was lost
    assert subscriptions.overage_report() == 1  # resent with the same identifier...
    assert len(stripe_standin.requests("POST", "/v1/billing/meter_events")) == 2
    assert len(stripe_standin.meter_events) == 1  # ...which Stripe counts once


def test_last_months_late_units_are_reported_early_in_the_new_month(stripe_standin, alice, monkeypatch):
    customer_of(alice)
    stripe_standin.subscription_put(
        customer=BillingAccount.objects.for_tenant(alice.tenant).get().stripe_customer_id
    )
    subscriptions.stripe_sync()
    now = timezone.now()
    first_of_month = now.replace(day=1, hour=0, minute=30, second=0, microsecond=0)
    last_month = (first_of_month - timedelta(days=1)).date()
    use(alice, 100_007, day=last_month)
    monkeypatch.setattr(subscriptions.timezone, "now", lambda: first_of_month)
    assert subscriptions.overage_report() == 1
    [event] = stripe_standin.meter_events
    assert event["identifier"] == f"pricelab-{alice.tenant.pk}-{last_month:%Y%m}-7"
    assert event["timestamp"] < first_of_month.timestamp()  # billed in the month it was used
