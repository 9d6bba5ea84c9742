"""The finance side of the admin, over HTTP: what a finance person and staff see and may do."""

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import escape
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from billing import finance
from billing.groups import FINANCE, STAFF, groups_ensure
from billing.models import (
    BillingAccount,
    Invoice,
    MeterReport,
    Notice,
    Plan,
    StripeEvent,
    Subscription,
    UsageDaily,
    UsageMonthly,
)
from tenants.models import Tenant
from tenants.tests.factories import TenantFactory, UserFactory
from tenants.tests.helpers import log_in_staff

pytestmark = pytest.mark.django_db


# --- helpers ---------------------------------------------------------------------------


class _Tables(HTMLParser):
    """Every table of a page as rows of cell texts, by the table's id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "img" and self._cell is not None:  # the admin's yes/no icons
            self._cell.append(dict(attrs).get("alt") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(response) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(response.content.decode())
    return parser.tables


def result_rows(response) -> list[list[str]]:
    """The changelist's rows below its header."""
    assert response.status_code == 200
    return tables(response)["result_list"][1:]


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def account(tenant: Tenant, plan: str, **fields) -> BillingAccount:
    """Put the tenant's account (opened on Free with the tenant) on ``plan``."""
    account, _ = BillingAccount.objects.for_tenant(tenant).update_or_create(
        tenant=tenant, defaults={"plan": Plan.objects.get(code=plan), **fields}
    )
    return account


def subscription(tenant: Tenant, stripe_id: str, plan: str | None, **fields) -> Subscription:
    values = {"stripe_customer_id": f"cus_{tenant.slug}", "status": "active", "currency": "usd", **fields}
    return Subscription.objects.for_tenant(tenant).create(
        tenant=tenant,
        stripe_id=stripe_id,
        plan=Plan.objects.get(code=plan) if plan else None,
        **values,
    )


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def staff_in(*groups: str):
    user = UserFactory(is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=groups))
    return user


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture
def finance_client(client):
    log_in_staff(client, staff_in(FINANCE))
    return client


@pytest.fixture
def superuser_client(client):
    log_in_staff(client, UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def shops():
    """Alpha pays for Starter monthly, Beta for Pro yearly (past due) after cancelling Starter,
    Gamma tries Pro, Delta is on Free."""
    alpha = TenantFactory(name="Alpha Shop", slug="alpha")
    beta = TenantFactory(name="Beta Shop", slug="beta")
    gamma = TenantFactory(name="Gamma Shop", slug="gamma")
    delta = TenantFactory(name="Delta Shop", slug="delta")
    account(alpha, "starter")
    account(beta, "pro", monthly_units_override=250_000, override_reason="Launch week")
    account(gamma, "pro")
    subs = {
        "alpha": subscription(
            alpha, "sub_alpha", "starter", unit_amount=900, interval="month",
            current_period_start=at("2026-11-01"), current_period_end=at("2026-12-01"),
            cancel_at_period_end=True, created=at("2026-10-01"),
        ),
        "beta": subscription(
            beta, "sub_beta", "pro", status="past_due", unit_amount=34_800, interval="year",
            current_period_start=at("2026-06-15"), current_period_end=at("2027-06-15"), livemode=True,
            created=at("2026-06-15"),
        ),
        "beta_old": subscription(
            beta, "sub_beta_old", "starter", status="canceled", unit_amount=900, interval="month",
            ended_at=timezone.now(), canceled_at=timezone.now(), created=at("2026-01-15"),
        ),
        "gamma": subscription(
            gamma, "sub_gamma", "pro", status="trialing", unit_amount=2_900, interval="month",
            created=at("2026-11-20"),
        ),
    }  # fmt: skip
    return {"alpha": alpha, "beta": beta, "gamma": gamma, "delta": delta, "subs": subs}


# --- MRR ----------------------------------------------------------------------------------


def test_mrr_counts_active_and_past_due_subscriptions_normalized_to_a_month(shops):
    # Starter 9.00 a month + Pro 348.00 a year (29.00 a month); the trial and the canceled
    # subscription do not count.
    assert [(m.currency, m.amount, m.subscriptions, m.display) for m in finance.mrr_by_currency()] == [
        ("usd", Decimal(3800), 2, "38.00 USD")
    ]


def test_mrr_normalizes_every_interval_and_keeps_currencies_apart(shops):
    def monthly(unit_amount, interval, interval_count=1, quantity=1):
        return finance.monthly_amount(
            unit_amount=unit_amount, quantity=quantity, interval=interval, interval_count=interval_count
        )

    assert finance.money(monthly(29_000, "year"), "usd") == "24.17 USD"  # 2416.67 cents, rounded once
    assert finance.money(monthly(3_000, "month", interval_count=3), "eur") == "10.00 EUR"
    assert finance.money(monthly(1_000, "week"), "usd") == "43.33 USD"  # 52 weeks / 12 months
    assert finance.money(monthly(100, "day"), "usd") == "30.42 USD"  # 365 days / 12 months
    assert finance.money(monthly(500, "month", quantity=3), "usd") == "15.00 USD"
    assert finance.money(1_500_000, "jpy") == "1,500,000 JPY"  # zero-decimal in Stripe
    assert finance.money(100, "isk") == "1.00 ISK"  # zero-decimal in ISO 4217, two in Stripe's API
    assert finance.money(12_340, "kwd") == "12.340 KWD"

    subscription(shops["delta"], "sub_delta_eur", "pro", unit_amount=30_000, interval="year", currency="eur")
    assert [(m.currency, m.display) for m in finance.mrr_by_currency()] == [
        ("eur", "25.00 EUR"),
        ("usd", "38.00 USD"),
    ]


# --- Subscriptions ------------------------------------------------------------------------


def test_finance_sees_every_tenants_subscriptions_with_mrr_and_stripe_links(finance_client, shops):
    response = finance_client.get(reverse("admin:billing_subscription_changelist"))
    rows = {row[0]: row for row in result_rows(response)}
    assert len(rows) == 3  # the canceled Starter of Beta is listed too
    assert rows["Alpha Shop"] == [
        "Alpha Shop", "Starter", "Active", "2026-11-01 to 2026-12-01", "True", "9.00 USD", "sub_alpha",
    ]  # fmt: skip
    assert rows["Gamma Shop"][2] == "Trialing" and rows["Gamma Shop"][5] == "—"
    beta = [row for row in result_rows(response) if row[0] == "Beta Shop"]
    assert sorted((row[2], row[5]) for row in beta) == [("Canceled", "—"), ("Past Due", "29.00 USD")]
    html = response.content.decode()
    assert 'href="https://dashboard.stripe.com/test/subscriptions/sub_alpha"' in html
    assert 'href="https://dashboard.stripe.com/subscriptions/sub_beta"' in html  # live mode
    assert "trialing ones do not" in html  # the MRR definition is on the page


def test_subscriptions_filter_by_status_and_plan_and_search_by_tenant_or_stripe_id(finance_client, shops):
    url = reverse("admin:billing_subscription_changelist")
    assert [r[6] for r in result_rows(finance_client.get(url, {"status__exact": "past_due"}))] == ["sub_beta"]
    pro = Plan.objects.get(code="pro").pk
    assert sorted(r[6] for r in result_rows(finance_client.get(url, {"plan__id__exact": pro}))) == [
        "sub_beta",
        "sub_gamma",
    ]
    assert [r[6] for r in result_rows(finance_client.get(url, {"q": "gamma"}))] == ["sub_gamma"]
    assert [r[6] for r in result_rows(finance_client.get(url, {"q": "sub_beta_old"}))] == ["sub_beta_old"]


def test_subscriptions_are_read_only_even_for_superusers(superuser_client, shops):
    sub = shops["subs"]["alpha"]
    change = reverse("admin:billing_subscription_change", args=[sub.pk])
    page = superuser_client.get(change)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html
    assert "9.00 USD every month, quantity 1" in html and "trialing ones do not" in html
    assert superuser_client.post(change, {"status": "canceled"}).status_code == 403
    assert superuser_client.get(reverse("admin:billing_subscription_add")).status_code == 403
    assert (
        superuser_client.post(reverse("admin:billing_subscription_delete", args=[sub.pk])).status_code == 403
    )
    sub.refresh_from_db()
    assert sub.status == "active"


# --- Invoices -----------------------------------------------------------------------------


@pytest.fixture
def invoices(shops):
    paid = Invoice.objects.for_tenant(shops["alpha"]).create(
        tenant=shops["alpha"], stripe_id="in_alpha", stripe_customer_id="cus_alpha", number="ALPHA-0001",
        status="paid", amount_due=900, amount_paid=900, total=900, period_start=at("2026-10-01"),
        period_end=at("2026-11-01"), hosted_invoice_url="https://invoice.stripe.com/i/acct_1/in_alpha",
        created=at("2026-11-01"),
    )  # fmt: skip
    open_ = Invoice.objects.for_tenant(shops["beta"]).create(
        tenant=shops["beta"], stripe_id="in_beta", stripe_customer_id="cus_beta", number="BETA-0002",
        status="open", amount_due=3_480_000, amount_paid=0, total=3_480_000, period_start=at("2026-06-15"),
        period_end=at("2027-06-15"), created=at("2026-06-15"),
    )  # fmt: skip
    return paid, open_


def test_finance_sees_invoices_of_every_tenant_as_money(finance_client, invoices):
    url = reverse("admin:billing_invoice_changelist")
    response = finance_client.get(url)
    assert result_rows(response) == [
        ["ALPHA-0001", "Alpha Shop", "9.00 USD", "9.00 USD", "paid", "2026-10-01 to 2026-11-01", "Open",
         "Nov. 1, 2026, midnight"],
        ["BETA-0002", "Beta Shop", "34,800.00 USD", "0.00 USD", "open", "2026-06-15 to 2027-06-15", "—",
         "June 15, 2026, midnight"],
    ]  # fmt: skip
    assert 'href="https://invoice.stripe.com/i/acct_1/in_alpha" target="_blank"' in response.content.decode()
    assert [r[0] for r in result_rows(finance_client.get(url, {"status": "open"}))] == ["BETA-0002"]
    assert [r[0] for r in result_rows(finance_client.get(url, {"q": "alpha"}))] == ["ALPHA-0001"]


# --- Stripe events ------------------------------------------------------------------------


@pytest.fixture
def events(shops):
    invoice = {"id": "in_beta", "customer": "cus_beta", "description": "<b>not html</b>"}
    payload = {
        "id": "evt_failed",
        "object": "event",
        "type": "invoice.payment_failed",
        "data": {"object": invoice},
    }
    failed = StripeEvent.objects.create(
        stripe_id="evt_failed", type="invoice.payment_failed", created=at("2026-11-02"), payload=payload,
        tenant=shops["beta"], status="failed", attempts=3, last_error="KeyError: 'lines'",
        received_at=at("2026-11-02"),
    )  # fmt: skip
    processed = StripeEvent.objects.create(
        stripe_id="evt_done", type="customer.subscription.updated", created=at("2026-11-01"),
        payload={"id": "evt_done"}, tenant=shops["alpha"], status="processed", attempts=1,
        processed_at=at("2026-11-01"), received_at=at("2026-11-01"),
    )  # fmt: skip
    return failed, processed


def test_finance_sees_stripe_events_and_their_payload_pretty_printed(finance_client, events):
    failed, _ = events
    rows = result_rows(finance_client.get(reverse("admin:billing_stripeevent_changelist")))
    assert [(r[0], r[1], r[2], r[5], r[6], r[7]) for r in rows] == [
        ("invoice.payment_failed", "evt_failed", "Beta Shop", "Failed", "3", "KeyError: 'lines'"),
        ("customer.subscription.updated", "evt_done", "Alpha Shop", "Processed", "1", "—"),
    ]
    filtered = finance_client.get(
        reverse("admin:billing_stripeevent_changelist"), {"status__exact": "failed"}
    )
    assert [r[1] for r in result_rows(filtered)] == ["evt_failed"]
    page = finance_client.get(reverse("admin:billing_stripeevent_change", args=[failed.pk]))
    html = page.content.decode()
    assert escape(json.dumps(failed.payload, indent=2, sort_keys=True)) in html  # indented, and escaped
    assert "<b>not html</b>" not in html
    assert 'href="https://dashboard.stripe.com/test/events/evt_failed"' in html
    assert 'name="_save"' not in html


def test_retry_puts_a_failed_event_back_to_pending_and_queues_it(
    superuser_client, events, django_capture_on_commit_callbacks
):
    failed, processed = events
    url = reverse("admin:billing_stripeevent_changelist")
    assert "Retry processing" in superuser_client.get(url).content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        response = superuser_client.post(
            url, {"action": "retry", "_selected_action": [failed.pk, processed.pk]}, follow=True
        )
    assert "Queued 1 event(s) for processing again. Skipped 1 already processed or ignored." in (
        response.content.decode()
    )
    failed.refresh_from_db()
    processed.refresh_from_db()
    assert failed.status == StripeEvent.Status.PENDING
    assert len(callbacks) == 1  # the processing task, enqueued once the transaction commits
    assert processed.status == StripeEvent.Status.PROCESSED


def test_retry_is_also_on_the_events_own_page(superuser_client, events, django_capture_on_commit_callbacks):
    failed, _ = events
    url = reverse("admin:billing_stripeevent_change", args=[failed.pk])
    assert "Retry processing" in superuser_client.get(url).content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        response = superuser_client.post(url, {"CHANGE_FORM-action": "retry", "_selected_action": failed.pk})
    assert response.status_code == 302
    failed.refresh_from_db()
    assert (failed.status, failed.last_error, len(callbacks)) == (StripeEvent.Status.PENDING, "", 1)


def test_finance_cannot_retry_an_event(finance_client, events):
    failed, _ = events
    url = reverse("admin:billing_stripeevent_changelist")
    assert "Retry processing" not in finance_client.get(url).content.decode()
    assert (
        "Retry processing"
        not in finance_client.get(
            reverse("admin:billing_stripeevent_change", args=[failed.pk])
        ).content.decode()
    )
    finance_client.post(url, {"action": "retry", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (StripeEvent.Status.FAILED, 3)


# --- Usage ------------------------------------------------------------------------------


@pytest.fixture
def monthly_usage(shops):
    alpha, beta = shops["alpha"], shops["beta"]
    evil = TenantFactory(name="=1+2 Shop", slug="evil")
    BillingAccount.objects.for_tenant(evil).delete()  # read as on Free, like limits_effective does
    rows = [
        (evil, "2026-09-01", "event", 3),
        (alpha, "2026-10-01", "quote", 900),
        (alpha, "2026-10-01", "event", 100),
        (alpha, "2026-11-01", "quote", 50),
        (beta, "2026-11-01", "quote", 1000),
        (beta, "2026-11-01", "event", 10),
    ]
    for tenant, month, kind, units in rows:
        UsageMonthly.objects.for_tenant(tenant).create(
            tenant=tenant, month=date.fromisoformat(month), kind=kind, units=units
        )
    return {"alpha": alpha, "beta": beta, "evil": evil}


HEADER = "tenant_id,tenant_name,tenant_slug,plan,month,quote_units,event_units,total_units,monthly_limit"


def test_usage_export_is_one_csv_line_per_tenant_and_month(finance_client, monthly_usage):
    alpha, beta, evil = monthly_usage["alpha"].pk, monthly_usage["beta"].pk, monthly_usage["evil"].pk
    response = finance_client.get(reverse("admin:billing_usagemonthly_export"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = datetime.now(UTC).date().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="pricelab-usage-by-month-{today}.csv"'
    assert csv_rows(response) == [
        HEADER.split(","),
        # A name that a spreadsheet would run as a formula is defused.
        [str(evil), "'=1+2 Shop", "evil", "free", "2026-09", "0", "3", "3", "1000"],
        [str(alpha), "Alpha Shop", "alpha", "starter", "2026-10", "900", "100", "1000", "10000"],
        [str(alpha), "Alpha Shop", "alpha", "starter", "2026-11", "50", "0", "50", "10000"],
        [str(beta), "Beta Shop", "beta", "pro", "2026-11", "1000", "10", "1010", "250000"],  # override
    ]


def test_usage_export_takes_the_lists_filters_and_search(finance_client, monthly_usage):
    alpha, beta = str(monthly_usage["alpha"].pk), str(monthly_usage["beta"].pk)
    changelist = reverse("admin:billing_usagemonthly_changelist")
    export = reverse("admin:billing_usagemonthly_export")
    listed = finance_client.get(changelist, {"month__year": "2026", "month__month": "11"})
    assert f'href="{export}?month__month=11&amp;month__year=2026"' in listed.content.decode()

    november = csv_rows(finance_client.get(export, {"month__year": "2026", "month__month": "11"}))
    assert [(r[0], r[4], r[7]) for r in november[1:]] == [(alpha, "2026-11", "50"), (beta, "2026-11", "1010")]
    searched = csv_rows(finance_client.get(export, {"q": "alpha"}))
    assert [(r[0], r[4]) for r in searched[1:]] == [(alpha, "2026-10"), (alpha, "2026-11")]
    quotes = csv_rows(finance_client.get(export, {"kind__exact": "quote", "q": "beta"}))
    assert quotes[1:] == [[beta, "Beta Shop", "beta", "pro", "2026-11", "1000", "0", "1000", "250000"]]
    pro = Plan.objects.get(code="pro").pk
    assert [
        r[0] for r in csv_rows(finance_client.get(export, {"tenant__billing__plan__id__exact": pro}))[1:]
    ] == [beta]
    assert finance_client.get(export, {"no_such_field": "1"}).status_code == 400


def test_usage_lists_are_read_only(finance_client, superuser_client, monthly_usage):
    rows = result_rows(superuser_client.get(reverse("admin:billing_usagemonthly_changelist")))
    assert rows[0] == ["Alpha Shop", "2026-11", "Quote requests", "50", rows[0][4]]
    assert superuser_client.get(reverse("admin:billing_usagemonthly_add")).status_code == 403
    UsageDaily.objects.for_tenant(monthly_usage["alpha"]).create(
        tenant=monthly_usage["alpha"], day=date(2026, 11, 3), kind="quote", units=7
    )
    daily = result_rows(finance_client.get(reverse("admin:billing_usagedaily_changelist")))
    assert daily == [["Alpha Shop", "Nov. 3, 2026", "Quote requests", "7"]]
    assert finance_client.get(reverse("admin:billing_usagedaily_add")).status_code == 403


def test_finance_sees_meter_reports_and_the_emails_that_went_out(finance_client, shops):
    beta = shops["beta"]
    MeterReport.objects.for_tenant(beta).create(
        tenant=beta, period_start=date(2026, 11, 1), units=1200, covers_through=1200,
        identifier="beta-2026-11-1200", stripe_customer_id="cus_beta", sent_at=at("2026-11-20"),
    )  # fmt: skip
    MeterReport.objects.for_tenant(beta).create(
        tenant=beta, period_start=date(2026, 11, 1), units=300, covers_through=1500,
        identifier="beta-2026-11-1500", stripe_customer_id="cus_beta",
    )  # fmt: skip
    reports = reverse("admin:billing_meterreport_changelist")
    assert [(r[0], r[2], r[3]) for r in result_rows(finance_client.get(reports))] == [
        ("Beta Shop", "300", "1500"),
        ("Beta Shop", "1200", "1200"),
    ]
    assert [r[2] for r in result_rows(finance_client.get(reports, {"sent": "no"}))] == ["300"]

    Notice.objects.for_tenant(beta).create(
        tenant=beta, kind="payment_failed", ref="in_beta", recipients=["owner@beta.example"]
    )
    Notice.objects.for_tenant(shops["alpha"]).create(
        tenant=shops["alpha"],
        kind="quota_80",
        ref="2026-11",
        recipients=["a@alpha.example", "b@alpha.example"],
    )
    notices = reverse("admin:billing_notice_changelist")
    rows = result_rows(finance_client.get(notices, {"q": "b@alpha.example"}))
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("Alpha Shop", "Quota 80 %", "2026-11", "a@alpha.example, b@alpha.example")
    ]
    assert [r[0] for r in result_rows(finance_client.get(notices, {"kind__exact": "payment_failed"}))] == [
        "Beta Shop"
    ]


# --- Finance summary ----------------------------------------------------------------------


def test_finance_summary_shows_mrr_plans_usage_and_churn(finance_client, shops):
    today = datetime.now(UTC).date()
    month_start = today.replace(day=1)
    usage = [
        (shops["alpha"], today, "quote", 100),
        (shops["alpha"], month_start, "event", 20),
        (shops["beta"], month_start, "quote", 1000),
        (shops["beta"], month_start - timedelta(days=1), "quote", 5000),  # last month
        (shops["delta"], today, "event", 7),
    ]
    for tenant, day, kind, units in usage:
        UsageDaily.objects.for_tenant(tenant).create(tenant=tenant, day=day, kind=kind, units=units)

    response = finance_client.get(reverse("admin:billing_summary"))
    assert response.status_code == 200
    page = tables(response)
    assert page["mrr"] == [["Currency", "MRR", "Subscriptions counted"], ["USD", "38.00 USD", "2"]]
    assert page["subscription-health"] == [
        ["Past due", "1"],
        ["Trialing (not in MRR)", "1"],
        ["Set to cancel at period end (still in MRR)", "1"],
        ["Ended this month (churn)", "1"],
        ["MRR they brought, USD", "9.00 USD"],
    ]
    assert page["plans"] == [
        ["Plan", "Tenants", "Paying tenants"],
        ["Free", "1", "0"],
        ["Starter", "1", "1"],
        ["Pro", "2", "1"],
        ["Enterprise", "0", "0"],
    ]
    assert page["usage"] == [
        ["Plan", "Quote requests", "Accepted events", "Total units"],
        ["Free", "0", "7", "7"],
        ["Starter", "100", "20", "120"],
        ["Pro", "1,000", "0", "1,000"],
        ["Enterprise", "0", "0", "0"],
    ]
    html = response.content.decode()
    assert "<caption>Monthly recurring revenue</caption>" in html and '<th scope="col">Currency</th>' in html


def test_the_summary_is_linked_from_billing_and_the_subscriptions_for_those_who_may_see_it(
    client, finance_client, shops
):
    summary = reverse("admin:billing_summary")
    app = finance_client.get(reverse("admin:app_list", args=["billing"]))
    assert f'href="{summary}"' in app.content.decode()
    listed = finance_client.get(reverse("admin:billing_subscription_changelist"))
    assert f'href="{summary}"' in listed.content.decode()

    log_in_staff(client, staff_in(STAFF))
    assert f'href="{summary}"' not in client.get(reverse("admin:app_list", args=["billing"])).content.decode()
    assert (
        f'href="{summary}"'
        not in client.get(reverse("admin:billing_subscription_changelist")).content.decode()
    )


def test_staff_outside_finance_cannot_open_the_summary_or_the_export(client, shops):
    log_in_staff(client, UserFactory(is_staff=True))
    assert client.get(reverse("admin:billing_summary")).status_code == 403
    assert client.get(reverse("admin:billing_usagemonthly_export")).status_code == 403
    log_in_staff(client, staff_in(STAFF))  # sees subscriptions, but not usage: no summary
    assert client.get(reverse("admin:billing_subscription_changelist")).status_code == 200
    assert client.get(reverse("admin:billing_summary")).status_code == 403
    client.force_login(UserFactory())  # a customer
    assert client.get(reverse("admin:billing_summary")).status_code == 302  # to the admin login


# --- Groups -------------------------------------------------------------------------------


def permissions_of(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {
        f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")
    }


FINANCE_PERMISSIONS = {
    "billing.view_plan", "billing.view_billingaccount", "billing.view_subscription", "billing.view_invoice",
    "billing.view_stripeevent", "billing.view_meterreport", "billing.view_notice", "billing.view_usagedaily",
    "billing.view_usagemonthly", "tenants.view_tenant", "audit.view_auditentry",
}  # fmt: skip
STAFF_PERMISSIONS = {
    "tenants.view_tenant", "tenants.change_tenant", "tenants.view_membership", "tenants.change_membership",
    "tenants.view_apikey", "billing.view_billingaccount", "billing.change_billingaccount",
    "billing.view_plan", "billing.view_subscription", "billing.view_invoice", "billing.view_stripeevent",
    "audit.view_auditentry",
}  # fmt: skip


def test_migrate_creates_finance_and_staff_groups_with_exactly_their_permissions():
    assert permissions_of(FINANCE) == FINANCE_PERMISSIONS
    assert permissions_of(STAFF) == STAFF_PERMISSIONS


def test_migrate_puts_the_groups_back_in_step():
    finance = Group.objects.get(name=FINANCE)
    finance.permissions.add(*Group.objects.get(name=STAFF).permissions.filter(codename="change_tenant"))
    Group.objects.filter(name=STAFF).delete()
    call_command("migrate", verbosity=0)
    assert permissions_of(FINANCE) == FINANCE_PERMISSIONS  # a hand-added permission is gone again
    assert permissions_of(STAFF) == STAFF_PERMISSIONS
    groups_ensure()
    assert Group.objects.filter(name__in=[FINANCE, STAFF]).count() == 2


def test_finance_can_look_at_everything_in_billing_and_change_nothing(
    finance_client, shops, invoices, events
):
    sub = shops["subs"]["alpha"]
    for name in ("plan", "billingaccount", "subscription", "invoice", "stripeevent", "meterreport", "notice",
                 "usagedaily", "usagemonthly"):  # fmt: skip
        assert finance_client.get(reverse(f"admin:billing_{name}_changelist")).status_code == 200, name
        assert finance_client.get(reverse(f"admin:billing_{name}_add")).status_code == 403, name
    assert finance_client.get(reverse("admin:tenants_tenant_changelist")).status_code == 200

    account = BillingAccount.objects.for_tenant(shops["alpha"]).get()
    change = reverse("admin:billing_billingaccount_change", args=[account.pk])
    assert 'name="_save"' not in finance_client.get(change).content.decode()
    form = {"plan": Plan.objects.get(code="enterprise").pk, "monthly_units_override": "",
            "requests_per_minute_override": "", "override_reason": ""}  # fmt: skip
    assert finance_client.post(change, form).status_code == 403
    plan = Plan.objects.get(code="starter")
    assert finance_client.post(
        reverse("admin:billing_plan_change", args=[plan.pk]), {"name": "x"}
    ).status_code == (403)
    tenant_change = reverse("admin:tenants_tenant_change", args=[shops["alpha"].pk])
    assert finance_client.post(tenant_change, {"name": "Renamed"}).status_code == 403
    assert finance_client.get(reverse("admin:billing_subscription_change", args=[sub.pk])).status_code == 200
    account.refresh_from_db()
    plan.refresh_from_db()
    shops["alpha"].refresh_from_db()
    assert (account.plan.code, plan.name, shops["alpha"].name) == ("starter", "Starter", "Alpha Shop")


def test_finance_cannot_suspend_a_tenant(finance_client, shops):
    alpha = shops["alpha"]
    finance_client.post(
        reverse("admin:tenants_tenant_changelist"), {"action": "suspend", "_selected_action": [alpha.pk]}
    )
    alpha.refresh_from_db()
    assert alpha.status == Tenant.Status.ACTIVE
