"""Monthly quotas: degraded quotes, refused events, overage, emails once, rollup, daily alerts."""

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from billing import metering, services
from billing.models import BillingAccount, Invoice, Notice, UsageMonthly
from experiments import exposures
from experiments import services as experiment_services
from experiments.models import Conversion, Exposure, Variant
from experiments.tests.conftest import TEA, VARIANTS
from pricing import services as pricing_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(alice):
    product = pricing_services.product_create(tenant=alice.tenant, **TEA)
    experiment = experiment_services.experiment_create(
        tenant=alice.tenant, product=product, key="tea-price", name="Tea price", variants=VARIANTS
    )
    return experiment_services.experiment_start(experiment=experiment)


def units(party, monthly_units, plan=None):
    account = BillingAccount.objects.for_tenant(party.tenant).get()
    if plan:
        account.plan = type(account.plan).objects.get(code=plan)
    account.monthly_units_override, account.override_reason = monthly_units, "quota test"
    account.save()


def quote(api, party, visitor="v1"):
    response = api.post("/api/v1/quote/", {"visitor_id": visitor, "products": ["tea"]}, **party.auth)
    assert response.status_code == 200
    return response.json()


def conversion(api, party, visitor="v1"):
    events = [{"type": "conversion", "visitor_id": visitor, "product": "tea", "revenue": "10.00"}]
    return api.post("/api/v1/events/", {"events": events}, **party.auth)


def test_over_the_quota_quotes_answer_base_prices_and_say_so(
    api, alice, running, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        units(alice, 3)
    for visitor in ("a", "b", "c"):
        body = quote(api, alice, visitor)
        assert (body["quota_exceeded"], body["notice"], body["items"][0]["experiment"]) == (
            False,
            None,
            "tea-price",
        )
    over = quote(api, alice, "d")
    assert over["quota_exceeded"] is True
    assert over["notice"]["code"] == "quota_exceeded"
    item = over["items"][0]
    assert (item["price"], item["experiment"], item["variant"]) == ("10.00", None, None)
    exposures.flush()
    assert set(Exposure.objects.for_tenant(alice.tenant).values_list("visitor_id", flat=True)) == {
        "a",
        "b",
        "c",
    }


def test_over_the_quota_events_are_refused_with_429_and_nothing_is_stored(
    api, alice, running, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        units(alice, 2)
    quote(api, alice, "a")
    assert conversion(api, alice, "a").status_code == 200  # the second unit: now used up
    refused = conversion(api, alice, "b")
    assert refused.status_code == 429
    assert refused.json()["code"] == "quota_exceeded"
    assert Conversion.objects.for_tenant(alice.tenant).count() == 1


def test_pro_keeps_running_past_its_units(api, alice, running, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        units(alice, 2, plan="pro")
    bodies = [quote(api, alice, v) for v in ("a", "b", "c", "d")]
    assert [b["quota_exceeded"] for b in bodies] == [False] * 4
    assert all(b["items"][0]["experiment"] == "tea-price" for b in bodies)
    assert conversion(api, alice, "a").status_code == 200


def test_one_quota_is_not_anothers(api, alice, charlie, running, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        units(alice, 1)
    quote(api, alice, "a")
    assert quote(api, alice, "b")["quota_exceeded"] is True
    pricing_services.product_create(tenant=charlie.tenant, **TEA)
    assert quote(api, charlie, "b")["quota_exceeded"] is False


def test_owners_get_one_email_per_threshold_per_month(
    api, alice, running, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        units(alice, 10)
    for i in range(7):
        quote(api, alice, f"v{i}")
    assert mail.outbox == []
    quote(api, alice, "v7")  # 8 of 10
    [eighty] = mail.outbox
    assert eighty.to == [alice.membership.user.email]
    assert "80 %" in eighty.subject and "8 of its 10" in eighty.body
    assert eighty.alternatives[0].mimetype == "text/html"
    for i in range(8, 14):
        quote(api, alice, f"v{i}")
    assert len(mail.outbox) == 2
    hundred = mail.outbox[1]
    assert "all of this month's units" in hundred.subject
    assert "quota_exceeded" in hundred.body
    services.alerts_daily()
    services.alerts_daily()
    assert len(mail.outbox) == 2  # the daily job finds both already sent
    kinds = set(Notice.objects.for_tenant(alice.tenant).values_list("kind", flat=True))
    assert kinds == {Notice.Kind.QUOTA_80, Notice.Kind.QUOTA_100}


def test_a_jump_past_both_thresholds_sends_only_the_100_percent_email(
    api, alice, running, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        units(alice, 4)
    quote(api, alice, "a")
    events = [
        {"type": "conversion", "visitor_id": "a", "product": "tea", "idempotency_key": f"o{i}"}
        for i in range(3)
    ]
    assert api.post("/api/v1/events/", {"events": events}, **alice.auth).json()["accepted"] == 3
    assert [m.subject for m in mail.outbox] == [f"{alice.tenant.name} has used all of this month's units"]


def test_the_daily_rollup_equals_the_raw_count_and_is_a_recount(api, alice, running):
    for visitor in ("a", "b", "c", "d", "e", "f", "g"):
        quote(api, alice, visitor)
    events = [{"type": "exposure", "visitor_id": v, "experiment": "tea-price"} for v in ("x", "y", "z")]
    events += [
        {"type": "conversion", "visitor_id": v, "product": "tea", "revenue": "10.00"} for v in ("a", "b")
    ]
    assert api.post("/api/v1/events/", {"events": events}, **alice.auth).json()["accepted"] == 5
    services.usage_rollup()
    services.usage_rollup()  # twice: a recount, not an increment
    rolled = dict(UsageMonthly.objects.for_tenant(alice.tenant).values_list("kind", "units"))
    exposures.flush()
    raw_events = (
        Exposure.objects.for_tenant(alice.tenant).filter(visitor_id__in=["x", "y", "z"]).count()
        + Conversion.objects.for_tenant(alice.tenant).count()
    )
    assert rolled == {"quote": 7, "event": raw_events} == {"quote": 7, "event": 5}
    quote(api, alice, "h")
    services.usage_rollup()
    assert UsageMonthly.objects.for_tenant(alice.tenant).get(kind="quote").units == 8


def test_a_month_counter_behind_the_database_is_topped_up_by_the_flush(api, alice, running, settings):
    if not settings.REDIS_URL:
        pytest.skip("the month counter lives in Redis")
    for visitor in ("a", "b", "c"):
        quote(api, alice, visitor)
    metering.flush()
    client = metering._redis()
    client.delete(metering._month_key(alice.tenant.pk, metering._today()[:7]))  # Redis lost it
    assert metering.month_total(tenant_id=alice.tenant.pk) == 0
    quote(api, alice, "d")
    metering.flush()
    assert metering.month_total(tenant_id=alice.tenant.pk) == 4


def test_signup_sends_the_welcome_email_once(client, django_capture_on_commit_callbacks):
    signup = {"name": "Ada", "email": "ada@example.com", "password": "a-long-and-unusual-passphrase",
              "tenant_name": "Ada's Teas"}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("signup"), signup).status_code == 302
    [welcome] = mail.outbox
    assert (welcome.subject, welcome.to) == ("Welcome to Pricelab", ["ada@example.com"])
    assert "1,000 metered units" in welcome.body
    assert "<ul>" in welcome.alternatives[0].content


def test_daily_alerts_warn_about_a_failed_payment_once(alice):
    account = BillingAccount.objects.for_tenant(alice.tenant).get()
    account.subscription_status = "past_due"
    account.save()
    Invoice.objects.for_tenant(alice.tenant).create(
        tenant=alice.tenant, stripe_id="in_failed1", stripe_customer_id="cus_1", status="open",
        amount_due=2900, currency="usd", hosted_invoice_url="https://invoice.stripe.com/i/in_failed1",
    )  # fmt: skip
    assert services.alerts_daily()["payment_failed"] == 1
    assert services.alerts_daily()["payment_failed"] == 0
    [email] = mail.outbox
    assert "29.00 USD" in email.body and "https://invoice.stripe.com/i/in_failed1" in email.body


def test_daily_alerts_warn_about_an_experiment_with_a_sample_ratio_mismatch(alice, running):
    variants = Variant.objects.for_tenant(alice.tenant).filter(experiment=running).order_by("position")
    now = timezone.now()
    rows = [
        Exposure(
            tenant=alice.tenant,
            experiment=running,
            phase=running.phase,
            variant=variant,
            visitor_id=f"{variant.key}{i}",
            exposed_at=now,
        )
        for variant, n in zip(variants, (700, 300), strict=True)
        for i in range(n)
    ]  # fmt: skip  (a 70/30 split of a 50/50 test)
    Exposure.objects.for_tenant(alice.tenant).bulk_create(rows)
    assert services.alerts_daily()["srm"] == 1
    assert services.alerts_daily()["srm"] == 0
    [email] = mail.outbox
    assert "Tea price" in email.subject and "sample ratio mismatch" in email.body
